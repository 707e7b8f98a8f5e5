"""How well the modular agent's STOP checks tell the goal from a look-alike, on DEVELOPMENT houses (< 9000).

    python benchmarks/study_stop_checks.py --seeds 1115-1164 --episodes-per-scene 2 [--json runs/stop_checks.jsonl]

Runs ObjectNav episodes exactly as `navstack eval` does, with the close look at the STOP switched on
(`search.close_look: true`, extra overrides from `--agent-config`), and records every verification: the
map's fused P(goal category | instance), what a fresh close-up crop of the instance in that frame says
(its arg-max category, P(goal) and pixel box) and whether the instance really is of the goal category
(matched to ground truth by 3D overlap: ground truth is read for this report only). Then prints, per rule,
how many looks at a right instance and at a wrong one each rule would keep.

The close look comes last, so only verifications that passed the other STOP checks (`verify_threshold`,
the shape check) are recorded: to study a lower threshold, pass it, e.g. an `--agent-config` file with
`search: {verify_threshold: 0.25}` (the default before the seventeenth session).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import require_development_seeds  # noqa: E402


def run_house(job):
    seed, episodes, override, workdir = job
    os.environ["NAVSTACK_TORCH_THREADS"] = "1"  # one torch thread per worker, as navstack eval's workers
    from navstack.config import load_sim_config
    from navstack.eval import EvalConfig, HouseRunner
    from navstack.sim.survey import match_instances

    cfg = EvalConfig(task="objectnav", agent="modular", scene_seeds=[seed], episodes_per_scene=episodes,
                     out=workdir, save_maps=False, agent_config=override).validate()
    hr = HouseRunner(seed, cfg, load_sim_config(None), threads=1)
    agent = hr.make_agent()
    search = agent.search
    objs = {o.id: o for o in hr.house.objects}
    events, episode = [], {}
    close_look = search._close_look_agrees

    def recorded(obs, iid):
        smap, goal = search.smap, search.goal_category
        looks = []  # the agent's own close look, reused below rather than computed twice
        smap.look_at = lambda o, i, own=smap.look_at: looks.append(own(o, i)) or looks[-1]
        try:
            ok = close_look(obs, iid)
        finally:
            del smap.look_at  # back to the class's method
        inst = smap.instance_map[iid]
        _, best = match_instances({iid: inst.points}, hr.house)
        overlap, oid = best[iid]
        probs = smap.object_probs(iid)
        ev = {"seed": seed, "episode": episode["id"], "step": agent.steps, "instance": iid, "goal": goal,
              "truth": objs[oid].category if oid is not None else None, "overlap": round(overlap, 3),
              "right": bool(oid is not None and overlap >= 0.3 and objs[oid].category == goal),
              "p_map": float(probs[smap.categories.index(goal)]) if probs is not None else None, "agreed": bool(ok)}
        look = looks[-1] if looks else smap.look_at(obs, iid)
        if look is not None:
            x0, y0, x1, y1 = look["bbox"]
            ev.update(look_category=look["category"], look_p_goal=float(look["probs"][smap.categories.index(goal)]),
                      box=[x0, y0, x1, y1], touches_edge=bool(x0 <= 0 or y0 <= 0 or x1 >= obs.rgb.shape[1]
                                                               or y1 >= obs.rgb.shape[0]))
        events.append(ev)
        return ok

    search._close_look_agrees = recorded
    dataset = hr.episodes()
    for ep in dataset.episodes:
        episode["id"] = ep.episode_id
        hr.run_episode(dataset, ep, agent)
    return events


RULES = {
    "close look as configured (the agent's own decision)": lambda e: e["agreed"],
    "close look P(goal) >= 0.1": lambda e: "look_category" not in e or e["look_p_goal"] >= 0.1,
    "map P(goal) >= 0.5": lambda e: (e["p_map"] or 0) >= 0.5,
    "map P(goal) >= 0.6": lambda e: (e["p_map"] or 0) >= 0.6,
    "map P(goal) >= 0.7": lambda e: (e["p_map"] or 0) >= 0.7,
}


def main(argv=None):
    from navstack.eval import parse_seed_range

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", required=True, help="development house seeds, e.g. 1115-1164")
    ap.add_argument("--episodes-per-scene", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--agent-config", help="YAML with more agent overrides (close_look is switched on anyway)")
    ap.add_argument("--json", help="write every recorded verification here (JSON lines)")
    args = ap.parse_args(argv)
    seeds = parse_seed_range(args.seeds)
    require_development_seeds(seeds)
    override = yaml.safe_load(Path(args.agent_config).read_text()) if args.agent_config else {}
    override.setdefault("search", {})["close_look"] = True
    import multiprocessing as mp
    import tempfile

    from tqdm import tqdm

    events = []
    with tempfile.TemporaryDirectory(prefix="navstack_stop_checks_") as tmp:  # one per run: runs side by side
        cfg_path = Path(tmp) / "agent.yaml"
        cfg_path.write_text(yaml.safe_dump(override))
        jobs = [(s, args.episodes_per_scene, str(cfg_path), tmp) for s in seeds]
        with mp.get_context("spawn").Pool(max(1, args.workers)) as pool:
            for evs in tqdm(pool.imap_unordered(run_house, jobs), total=len(jobs), desc="houses"):
                events.extend(evs)
    events.sort(key=lambda e: (e["seed"], e["episode"], e["step"]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text("".join(json.dumps(e) + "\n" for e in events))
    right = [e for e in events if e["right"]]
    wrong = [e for e in events if not e["right"]]
    print(f"{len(events)} verifications: {len(right)} at a right instance, {len(wrong)} at a wrong one")
    edge = [e for e in events if e.get("touches_edge")]
    print(f"close-up box touches the frame's edge in {len(edge)} of {sum('box' in e for e in events)}")
    for name, rule in RULES.items():
        print(f"  {name:50s} keeps right {sum(map(rule, right)):3d} / {len(right)}, "
              f"wrong {sum(map(rule, wrong)):3d} / {len(wrong)}")


if __name__ == "__main__":
    main()
