"""Episode runner: generated houses x Habitat-schema episodes x an agent -> Habitat metrics.

`evaluate(EvalConfig)` writes DIR/summary.json, DIR/episodes.jsonl, the evaluated episode files
(DIR/datasets/<task>/content/house_<seed>.json.gz, Habitat schema) and a top-down PNG per episode
(DIR/maps/). Houses run serially, in a process pool (`workers`), or on a Ray cluster (`ray_address`);
a house is the unit of work (its renderer and episodes are built once).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from navstack.agent import PrivilegedInfo, available_agents, make_agent
from navstack.config import SimConfig, load_sim_config
from navstack.tasks.generate import SCHEMA_OF_TASK, SUCCESS_DISTANCE, TASKS
from navstack.types import CategoryGoal, DiscreteAction, ImageGoal, Intrinsics, TextGoal

SUMMARY_KEYS = ("success", "spl", "soft_spl", "distance_to_goal")


@dataclass
class EvalConfig:
    task: str = "objectnav"
    scene_seeds: Sequence[int] = (9000,)
    episodes_per_scene: int = 5
    agent: str = "oracle"
    out: str = "runs/eval"
    workers: int = 1
    ray_address: Optional[str] = None
    sim_config: Optional[str] = None  # name under configs/sim/ or a YAML path; default: embedded 320x240
    episode_seed: int = 0  # episodes of house s are drawn with rng([episode_seed, s])
    save_maps: bool = True
    render_threads: int = 0  # 0 = all cores (serial); workers use 1 each
    categories: Optional[Sequence[str]] = None
    progress: bool = True
    keep_map: bool = False  # lifelong: the agent keeps its map across the episodes of one house
    agent_config: Optional[str] = None  # configs/agent name or YAML path for agents that take one

    def validate(self) -> "EvalConfig":
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        if not self.scene_seeds:
            raise ValueError("no scene seeds given")
        if any((not isinstance(s, (int, np.integer))) or s < 0 for s in self.scene_seeds):
            raise ValueError(f"scene seeds must be non-negative integers, got {list(self.scene_seeds)}")
        if self.episodes_per_scene <= 0:
            raise ValueError(f"episodes per scene must be positive, got {self.episodes_per_scene}")
        if self.workers <= 0:
            raise ValueError(f"workers must be positive, got {self.workers}")
        return self


def parse_seed_range(text: str) -> List[int]:
    """'9000-9009' -> [9000..9009]; '1,5,7-8' -> [1, 5, 7, 8]."""
    seeds: List[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                a, b = (int(v) for v in part.split("-", 1))
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise ValueError(f"bad seed range {text!r}: use A-B, a list A,B,C, or both (e.g. 9000-9004,9010)") from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"bad seed range {text!r}: seeds must be non-negative integers")
    return seeds


# ---------------------------------------------------------------------------- one house
class HouseRunner:
    """Everything needed to run episodes in one house: backend, renderer, episodes, goal rendering."""

    def __init__(self, seed: int, cfg: EvalConfig, sim: SimConfig, threads: int):
        from navstack.sim.backend import EmbeddedBackend
        from navstack.sim.scene import HouseConfig, generate_house
        from navstack.tasks.generate import EpisodeGenerator

        self.seed = seed
        self.cfg = cfg
        self.sim = sim
        self.house = generate_house(seed, HouseConfig(agent_radius=sim.agent_radius))
        self.renderer = self.house.renderer(threads=threads)
        self.backend = EmbeddedBackend(self.house, sim, self.renderer)
        self.generator = EpisodeGenerator(self.house, self.renderer, sim.sensor_height)

    def episodes(self):
        from navstack.tasks.episodes import dataset_from_dict

        rng = np.random.default_rng([self.cfg.episode_seed, self.seed])
        kw = {"categories": self.cfg.categories} if self.cfg.task == "objectnav" and self.cfg.categories else {}
        raw = self.generator.generate(self.cfg.task, self.cfg.episodes_per_scene, rng, **kw)
        return dataset_from_dict(raw, SCHEMA_OF_TASK[self.cfg.task], source=f"house_{self.seed}:{self.cfg.task}")

    def goal_image(self, params) -> np.ndarray:
        w, h = (int(v) for v in params.image_dimensions)
        intr = Intrinsics.from_hfov(w, h, float(params.hfov))
        return self.renderer.render(np.asarray(params.position, float), np.asarray(params.rotation, float), intr).rgb

    def make_goal(self, kind: str, goals, category: str, image_index: Optional[int]):
        """The agent-facing goal of a (sub)task; never carries ground-truth positions."""
        if kind == "object":
            return CategoryGoal(category)
        if kind == "description":
            return TextGoal(goals[0].lang_desc)
        if kind == "image":
            params = goals[0].image_goals[image_index or 0]
            return ImageGoal(self.goal_image(params), None, float(params.hfov))
        raise ValueError(f"unknown goal type {kind!r}")

    def subtasks(self, dataset, episode):
        """[(kind, goals, category, image_index)] for an episode of any schema."""
        from navstack.tasks.episodes import goals_for_episode

        goals = goals_for_episode(dataset, episode)
        if self.cfg.task == "objectnav":
            return [("object", goals, episode.object_category, None)]
        if self.cfg.task == "instance_imagenav":
            return [("image", goals, episode.object_category, episode.goal_image_id)]
        return [(st.task_type, g, st.category, st.image_index) for st, g in zip(episode.subtasks, goals)]

    def goal_distance(self, x: float, z: float, targets: np.ndarray) -> float:
        """Geodesic distance to the nearest goal view point; where the grid reaches none even after snapping
        (a GOAT subtask that begins, or an episode that ends, where the body squeezed closer to furniture
        than the grid's clearance) the straight line, which bounds the path from below: SPL stays
        conservative, and neither a crash nor an infinite mean distance in summary.json (held-out GOAT
        house 9015 ended an image subtask in such a pocket)."""
        d = self.house.navgrid.geodesic_distance((x, z), targets)
        if math.isfinite(d) or len(targets) == 0:
            return d
        return float(np.min(np.hypot(targets[:, 0] - x, targets[:, 1] - z)))

    def make_agent(self):
        """The configured agent, with the ground truth harness agents may use (`run_episode` points its
        distance at each subtask's goal)."""
        self._privileged = PrivilegedInfo(distance_to_goal=lambda x, z: math.inf, forward=self.backend.simulate_forward)
        options = {"keep_map": True} if self.cfg.keep_map else {}
        if self.cfg.agent_config:
            options["config"] = self.cfg.agent_config
        return make_agent(self.cfg.agent, self.sim, self._privileged, seed=self.seed, **options)

    def run_episode(self, dataset, episode, agent) -> Dict:
        from navstack.tasks.episodes import view_point_positions
        from navstack.tasks.metrics import EpisodeMetrics, goat_metrics

        sim, backend = self.sim, self.backend
        backend.reset(episode)
        trajectory = [backend.position[[0, 2]].copy()]
        results, goal_objects, all_targets = [], [], []
        steps_total, collisions = 0, 0
        act_ms: List[float] = []
        t0 = time.perf_counter()
        success_distance = SUCCESS_DISTANCE[self.cfg.task]
        for i, (kind, goals, category, image_index) in enumerate(self.subtasks(dataset, episode)):
            targets = view_point_positions(goals)[:, [0, 2]]
            all_targets.append(targets)
            goal_objects.extend(int(g.object_id) for g in goals)
            dist = lambda x, z, t=targets: self.goal_distance(x, z, t)  # noqa: E731
            self._privileged.distance_to_goal = dist
            goal = self.make_goal(kind, goals, category, image_index)
            if i == 0:
                agent.reset(goal)
            else:
                agent.next_goal(goal)
            m = EpisodeMetrics(success_distance)
            d0 = dist(*backend.position[[0, 2]])
            m.reset(backend.position, d0)
            for _ in range(sim.max_episode_steps):
                obs = backend.observe()
                ta = time.perf_counter()
                action = agent.act(obs)
                act_ms.append(1000 * (time.perf_counter() - ta))
                stop = isinstance(action, DiscreteAction) and action == DiscreteAction.STOP
                if not stop:
                    backend.act(action)
                    collisions += int(backend.collided)
                    trajectory.append(backend.position[[0, 2]].copy())
                m.update(backend.position, dist(*backend.position[[0, 2]]), called_stop=stop)
                if stop:
                    break
            r = m.result()
            info = getattr(agent, "last_info", None) or {}  # why the agent ended this subtask, when it says
            r.update(type=kind, category=category, called_stop=m.done, agent_mode=str(info.get("mode", "")) or None,
                     agent_target=info.get("target"), last_resort=bool(info.get("last_resort")), geodesic_distance=d0)
            results.append(r)
            steps_total += r["steps"]
        wall = time.perf_counter() - t0
        rec = {
            "episode_id": str(episode.episode_id), "scene_id": episode.scene_id, "scene_seed": self.seed,
            "task": self.cfg.task, "agent": self.cfg.agent,
            "geodesic_distance": (episode.info or {}).get("geodesic_distance"),
        }
        if self.cfg.task in ("goat", "textnav"):
            g = goat_metrics(results)
            rec.update({k: g[k] for k in ("success", "spl", "soft_spl")})
            rec["distance_to_goal"] = results[-1]["distance_to_goal"]
            rec["subtask_types"] = g["subtask_types"]
            rec["subtask_success"] = g["subtask_success"]
            rec["subtask_spl"] = g["subtask_spl"]
            # per subtask, also why the agent ended it and at what (failure analysis of later vs first subtasks)
            rec["subtasks"] = [{k: r[k] for k in ("type", "category", "success", "spl", "distance_to_goal", "steps",
                                                  "path_length", "geodesic_distance", "called_stop", "agent_mode",
                                                  "agent_target", "last_resort")} for r in results]
            rec["goal_text"] = [str(getattr(gl[0], "lang_desc", "")) if k == "description" else k
                                for (k, gl, _, _) in self.subtasks(dataset, episode)]
        else:
            rec.update({k: results[0][k] for k in SUMMARY_KEYS})
            rec["category"] = results[0]["category"]
        rec.update({
            "path_length": float(sum(r["path_length"] for r in results)),
            "steps": steps_total, "collisions": collisions,
            "called_stop": bool(results[-1]["called_stop"]),
            # why the agent ended, when it says (the modular agent: stopped / done / explore ...)
            "agent_mode": results[-1]["agent_mode"],
            "last_resort": results[-1]["last_resort"],
            # and what it was looking at then (target, verification score, top candidates), for failure analysis
            "agent_info": {k: v for k, v in info.items() if k in ("target", "verify_score", "candidates", "frontiers")} or None,
            "wall_time_s": round(wall, 4),
            "decision_ms_median": round(float(np.median(act_ms)), 3) if act_ms else None,
            "decision_ms_p90": round(float(np.percentile(act_ms, 90)), 3) if act_ms else None,
        })
        rec["_act_ms"] = act_ms
        rec["_trajectory"] = np.array(trajectory)
        rec["_targets"] = np.concatenate(all_targets) if all_targets else np.zeros((0, 2))
        rec["_goal_objects"] = sorted(set(goal_objects))
        return rec

    def run(self, on_episode=None) -> List[Dict]:
        from navstack.tasks.episodes import save_dataset

        dataset = self.episodes()
        out = Path(self.cfg.out)
        save_dataset(dataset, out / "datasets" / self.cfg.task / "content" / f"house_{self.seed}.json.gz")
        agent = self.make_agent()
        topdown = None
        if self.cfg.save_maps:
            from navstack.sim.topdown import TopDownMap

            topdown = TopDownMap(self.house)
            (out / "maps").mkdir(parents=True, exist_ok=True)
        records = []
        for ep in dataset.episodes:
            rec = self.run_episode(dataset, ep, agent)
            if topdown is not None:
                name = f"{self.cfg.task}_house{self.seed}_ep{rec['episode_id']}.png"
                title = f"{self.cfg.agent} {self.cfg.task} house {self.seed} ep {rec['episode_id']}: " \
                        f"success {rec['success']:.0f} spl {rec['spl']:.2f}"
                img = topdown.draw_episode(rec["_trajectory"], view_points=rec["_targets"],
                                           goal_objects=rec["_goal_objects"], stopped=rec["called_stop"],
                                           success=rec["success"] > 0, title=title)
                topdown.save(out / "maps" / name, img)
                rec["map_png"] = str(Path("maps") / name)
            for k in [k for k in rec if k.startswith("_")]:
                rec.pop(k)
            records.append(rec)
            if on_episode:
                on_episode(rec)
        return records


def run_house(seed: int, cfg: EvalConfig, sim: SimConfig, threads: int) -> List[Dict]:
    """Process-pool / Ray entry point: one house, all its episodes (one torch thread per worker)."""
    os.environ.setdefault("NAVSTACK_TORCH_THREADS", "1")
    return HouseRunner(seed, cfg, sim, threads).run()


# ---------------------------------------------------------------------------- the whole evaluation
def machine_info() -> Dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {"cpu": cpu, "cores": cores, "python": platform.python_version(), "platform": platform.platform()}


def summarize(cfg: EvalConfig, records: List[Dict], wall: float) -> Dict:
    from navstack.tasks.metrics import aggregate, outcome_breakdown

    agg = aggregate([{k: r[k] for k in SUMMARY_KEYS + ("path_length", "steps", "collisions")} for r in records])
    steps = sum(r["steps"] for r in records)
    busy = sum(r["wall_time_s"] for r in records)
    summary = {
        "task": cfg.task, "agent": cfg.agent, "episodes": len(records),
        **{k: agg.get(k) for k in SUMMARY_KEYS},
        "path_length": agg.get("path_length"), "steps": agg.get("steps"), "collisions": agg.get("collisions"),
        "steps_per_second": steps / busy if busy > 0 else None,
        # Per-step decision latency (observation in -> action out), median over episodes' medians.
        "decision_ms_median": float(np.median([r["decision_ms_median"] for r in records if r.get("decision_ms_median") is not None]))
        if records else None,
        "wall_time_s": round(wall, 2),
        "scene_seeds": list(map(int, cfg.scene_seeds)), "episodes_per_scene": cfg.episodes_per_scene,
        "workers": cfg.workers, "sim_config": cfg.sim_config or "embedded (defaults)", "keep_map": cfg.keep_map,
        "machine": machine_info(),
        # how the episodes (GOAT / textnav: the subtasks) ended, with the SPL and detour of each kind
        "outcomes": outcome_breakdown(st for r in records for st in (r.get("subtasks") or [r])),
    }
    if cfg.task in ("goat", "textnav"):
        # Success by subtask position: later subtasks can use what was mapped during earlier ones.
        by_pos: Dict[int, List[float]] = {}
        spl_pos: Dict[int, List[float]] = {}
        for r in records:
            for i, (s, p) in enumerate(zip(r["subtask_success"], r["subtask_spl"])):
                by_pos.setdefault(i, []).append(s)
                spl_pos.setdefault(i, []).append(p)
        summary["success_by_subtask_index"] = {str(i): float(np.mean(v)) for i, v in sorted(by_pos.items())}
        summary["spl_by_subtask_index"] = {str(i): float(np.mean(v)) for i, v in sorted(spl_pos.items())}
        firsts = by_pos.get(0, [])
        later = [s for i, v in by_pos.items() if i > 0 for s in v]
        summary["first_subtask_success"] = float(np.mean(firsts)) if firsts else None
        summary["later_subtask_success"] = float(np.mean(later)) if later else None
        types: Dict[str, List[float]] = {}
        for r in records:
            for t, s in zip(r["subtask_types"], r["subtask_success"]):
                types.setdefault(t, []).append(s)
        summary["success_by_type"] = {t: float(np.mean(v)) for t, v in sorted(types.items())}
    return summary


def format_table(summary: Dict) -> str:
    rows = [("task", summary["task"]), ("agent", summary["agent"]), ("episodes", summary["episodes"])]
    for k in SUMMARY_KEYS + ("path_length", "steps_per_second"):
        v = summary.get(k)
        rows.append((k, "n/a" if v is None else f"{v:.3f}"))
    for k in ("first_subtask_success", "later_subtask_success"):
        if summary.get(k) is not None:
            rows.append((k, f"{summary[k]:.3f}"))
    w = max(len(k) for k, _ in rows)
    line = "+" + "-" * (w + 2) + "+" + "-" * 14 + "+"
    body = [f"| {k:<{w}} | {str(v):>12} |" for k, v in rows]
    table = "\n".join([line, *body, line])
    outcomes = summary.get("outcomes") or {}
    if outcomes:
        table += "\nhow they ended: " + "; ".join(
            f"{name} {o['n']} (SPL {o['spl']:.2f}" + (f", path {o['path_ratio']:.1f}x the shortest)" if o.get("path_ratio") else ")")
            for name, o in outcomes.items())
    return table


def evaluate(cfg: EvalConfig) -> Dict:
    cfg.validate()
    sim = load_sim_config(cfg.sim_config)
    if cfg.agent not in available_agents():  # fail fast, before any house is built
        raise ValueError(f"unknown agent {cfg.agent!r}; available: {', '.join(available_agents())}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    total = len(cfg.scene_seeds) * cfg.episodes_per_scene
    bar = tqdm(total=total, desc=f"{cfg.agent} {cfg.task}", unit="ep", disable=not cfg.progress)
    records: List[Dict] = []
    t0 = time.perf_counter()

    def done(rec):
        records.append(rec)
        bar.update(1)
        bar.set_postfix(success=f"{np.mean([r['success'] for r in records]):.2f}",
                        spl=f"{np.mean([r['spl'] for r in records]):.2f}")

    if cfg.ray_address:
        try:
            import ray
        except ImportError:
            raise RuntimeError("--ray needs Ray: pip install 'navstack[ray]'") from None
        ray.init(address=cfg.ray_address)
        remote = ray.remote(run_house)
        pending = [remote.remote(s, cfg, sim, 1) for s in cfg.scene_seeds]
        while pending:
            ready, pending = ray.wait(pending)
            for recs in ray.get(ready):
                for r in recs:
                    done(r)
    elif cfg.workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(cfg.workers, mp_context=mp.get_context("spawn")) as pool:
            futs = [pool.submit(run_house, s, cfg, sim, 1) for s in cfg.scene_seeds]
            for f in as_completed(futs):
                for r in f.result():
                    done(r)
    else:
        for s in cfg.scene_seeds:
            HouseRunner(s, cfg, sim, cfg.render_threads).run(on_episode=done)
    bar.close()
    records.sort(key=lambda r: (r["scene_seed"], int(r["episode_id"]) if r["episode_id"].isdigit() else 0))
    summary = summarize(cfg, records, time.perf_counter() - t0)
    _write_json(out / "summary.json", summary)
    tmp = out / ".episodes.jsonl.tmp"
    with open(tmp, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    os.replace(tmp, out / "episodes.jsonl")
    return summary


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)
