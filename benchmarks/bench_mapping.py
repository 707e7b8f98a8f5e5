"""Semantic-map quality and speed on held-out houses, default config, no ground-truth semantics.

    python benchmarks/bench_mapping.py --seeds 9000-9004 [--modes geometry,oracle_semantics]
                                       [--memory-steps 2000] [--json out.json]

A scripted exploration drives each house (ground truth is used only to DRIVE: the house's nav grid
gives waypoints covering every room and shortest paths between them; the map sees observations
only): waypoints are the navigable point nearest each room's centre plus farthest-point samples
2.5 m apart in large rooms; the agent turns 360 degrees in 30-degree steps at each and moves along
the geodesic path in 0.25 m steps, turning in 30-degree steps, like Habitat's discrete actions.

Figures (per mode, `geometry` = default, `oracle_semantics` = proposals from the simulator's
instance ids, the ablation):

* instance recall: ground-truth objects larger than 0.3 m (largest side) that were seen during the
  exploration (>= 200 pixels within 4.5 m in some 320x240 frame) and are matched by a mapped
  instance; precision: mapped (confirmed) instances matched to such an object. Matching is
  one-to-one and greedy by 3D overlap: the fraction of an instance's voxels inside the object's
  box (grown by 5 cm); a pair counts at >= 0.5. Instances whose best match is a small (<= 0.3 m)
  object are left out of precision (neither right nor wrong); a duplicate counts as a false positive.
* category accuracy: matched instances whose arg-max category is the object's category.
* per-frame update latency (proposals + occupancy + CLIP + map) at 320x240, median.
* memory after `--memory-steps` steps in a 10-room house (HouseConfig(num_rooms=10)).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_json  # noqa: E402

from navstack.types import quat_from_yaw  # noqa: E402

MIN_SIZE = 0.3
SEEN_PIXELS = 200
SEEN_RANGE = 4.5


# ---------------------------------------------------------------------- exploration (ground truth drives)
def exploration_waypoints(house, spacing: float = 2.5) -> np.ndarray:
    """(N, 2) navigable (x, z) covering every room: one near each room's centre + farthest-point
    samples `spacing` apart in big rooms; ordered greedily by straight-line distance."""
    grid = house.navgrid
    pts = grid.navigable_points()
    out = []
    for room in house.plan.rooms:
        inside = pts[(pts[:, 0] > room.x0) & (pts[:, 0] < room.x1) & (pts[:, 1] > room.z0) & (pts[:, 1] < room.z1)]
        if len(inside) == 0:
            continue
        c = np.array(room.center)
        chosen = [inside[int(np.argmin(np.linalg.norm(inside - c, axis=1)))]]
        d = np.linalg.norm(inside - chosen[0], axis=1)
        while d.max() > spacing:
            k = int(np.argmax(d))
            chosen.append(inside[k])
            d = np.minimum(d, np.linalg.norm(inside - inside[k], axis=1))
        out.extend(chosen)
    out = np.array(out)
    order = [0]
    left = set(range(1, len(out)))
    while left:
        last = out[order[-1]]
        k = min(left, key=lambda i: float(np.linalg.norm(out[i] - last)))
        order.append(k)
        left.remove(k)
    return out[order]


def _turns(yaw_from: float, yaw_to: float, step: float):
    """Intermediate headings from yaw_from to yaw_to in `step` increments (the last is yaw_to)."""
    diff = (yaw_to - yaw_from + math.pi) % (2 * math.pi) - math.pi
    n = int(math.ceil(abs(diff) / step - 1e-6))
    return [yaw_from + diff * (k + 1) / n for k in range(n)] if n else []


def exploration_poses(house, max_steps: int = 10**9, step: float = 0.25, turn_deg: float = 30.0, loops: int = 1):
    """Yield (x, z, yaw) poses: spin at each waypoint, walk geodesic paths between them."""
    turn = math.radians(turn_deg)
    wps = exploration_waypoints(house)
    grid = house.navgrid
    n = 0
    x, z = wps[0]
    yaw = 0.0
    for _ in range(loops):
        for i, wp in enumerate(wps):
            if i > 0 or n > 0:
                path = grid.shortest_path([x, z], wp[None], step=0.05)
                if len(path) == 0:
                    continue
                path = np.vstack([path, wp[None]])
                # resample at `step`
                seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
                s = np.concatenate([[0], np.cumsum(seg)])
                if s[-1] < 1e-6:
                    continue
                targets = np.arange(step, s[-1] + 1e-9, step)
                if len(targets) == 0 or targets[-1] < s[-1] - 1e-6:
                    targets = np.append(targets, s[-1])
                for t in targets:
                    nx = np.interp(t, s, path[:, 0])
                    nz = np.interp(t, s, path[:, 1])
                    heading = math.atan2(-(nx - x), -(nz - z))
                    for yy in _turns(yaw, heading, turn):
                        yaw = yy
                        yield x, z, yaw
                        n += 1
                        if n >= max_steps:
                            return
                    x, z = nx, nz
                    yield x, z, yaw
                    n += 1
                    if n >= max_steps:
                        return
            for _ in range(int(round(2 * math.pi / turn))):
                yaw = (yaw + turn + math.pi) % (2 * math.pi) - math.pi
                yield x, z, yaw
                n += 1
                if n >= max_steps:
                    return


# ---------------------------------------------------------------------- evaluation
def object_boxes(house, grow: float = 0.05):
    out = {}
    for o in house.objects:
        x0, z0, x1, z1 = o.footprint
        out[o.id] = (np.array([x0 - grow, o.elevation - grow, z0 - grow]),
                     np.array([x1 + grow, o.elevation + o.height + grow, z1 + grow]))
    return out


def evaluate(smap, house, seen_ids, categories):
    boxes = object_boxes(house)
    objs = {o.id: o for o in house.objects}
    big = {i for i in seen_ids if max(objs[i].width, objs[i].height, objs[i].depth) > MIN_SIZE}
    insts = smap.instance_map.confirmed()
    pairs = []
    best_of = {}
    for inst in insts:
        pts = inst.points
        best = (0.0, None)
        for oid, (lo, hi) in boxes.items():
            f = float(np.all((pts >= lo) & (pts <= hi), axis=1).mean())
            if f > 0:
                pairs.append((f, inst.id, oid))
                if f > best[0]:
                    best = (f, oid)
        best_of[inst.id] = best
    pairs.sort(key=lambda t: -t[0])
    used_i, used_o, match = set(), set(), {}
    for f, iid, oid in pairs:
        if f < 0.5 or iid in used_i or oid in used_o:
            continue
        used_i.add(iid)
        used_o.add(oid)
        match[iid] = oid
    counted = [i for i in insts if not (i.id not in match and best_of[i.id][1] is not None and best_of[i.id][0] >= 0.5
                                        and best_of[i.id][1] not in big
                                        and max(objs[best_of[i.id][1]].width, objs[best_of[i.id][1]].height,
                                                objs[best_of[i.id][1]].depth) <= MIN_SIZE)]
    counted = [i for i in counted if not (i.id in match and match[i.id] not in big)]
    tp = [i for i in counted if i.id in match]
    recalled = {match[i.id] for i in tp}
    correct = 0
    labelled = 0
    for i in tp:
        p = i.category_probs
        if p is None:
            continue
        labelled += 1
        correct += int(categories[int(np.argmax(p[: len(categories)]))] == objs[match[i.id]].category)
    fp = [i for i in counted if i.id not in match]
    fp_kinds = {"structure": 0, "duplicate": 0, "other": 0}
    for i in fp:
        f, oid = best_of[i.id]
        if oid is None or f < 0.2:
            fp_kinds["structure"] += 1
        elif oid in used_o:
            fp_kinds["duplicate"] += 1
        else:
            fp_kinds["other"] += 1
    return {
        "gt_objects": len(big),
        "instances": len(counted),
        "true_positives": len(tp),
        "recall": len(recalled) / max(len(big), 1),
        "precision": len(tp) / max(len(counted), 1),
        "category_accuracy": correct / max(labelled, 1) if labelled else float("nan"),
        "labelled": labelled,
        "false_positives": fp_kinds,
        "missed": sorted(objs[i].category for i in big - recalled),
        "_match": {i.id: match[i.id] for i in tp},
    }


def goal_photo(oracle, renderer, object_id: int, rng):
    """(RGB, None, hfov): an IIN-style goal photo of one object (the episode generator's camera), or None."""
    from navstack.tasks.views import goal_camera
    from navstack.types import Intrinsics

    cam = goal_camera(oracle, object_id, rng, size=256)
    if cam is None:
        return None
    w, h = cam["image_dimensions"]
    img = renderer.render(np.asarray(cam["position"]), np.asarray(cam["rotation"]),
                          Intrinsics.from_hfov(w, h, cam["hfov"])).rgb
    return img, None, cam["hfov"]


def evaluate_goals(smap, house, match_ids, renderer, max_images: int = 15, seed: int = 0):
    """Goal matching on the built map (informative figures for the agent): top-1 of `match` for a
    category goal of every matched category, the task generator's description of every matched object
    (same-category distractors present), and IIN-style goal photos; plus room-label accuracy."""
    from navstack.perception.goal_encoding import GoalEncoder
    from navstack.tasks.describe import describe
    from navstack.tasks.views import VisibilityOracle
    from navstack.types import CategoryGoal, ImageGoal, TextGoal

    rng = np.random.default_rng(seed)
    objs = {o.id: o for o in house.objects}
    genc = GoalEncoder(smap.encoder, smap.categories)
    inst_of = {oid: iid for iid, oid in match_ids.items()}
    out = {"room_correct": 0, "room_total": 0, "category_correct": 0, "category_total": 0,
           "text_correct": 0, "text_total": 0, "text_distractors": 0, "image_correct": 0, "image_total": 0,
           "image_verified": 0}
    for iid, oid in match_ids.items():
        out["room_total"] += 1
        out["room_correct"] += int(smap.room_of(iid)[0] == house.room(objs[oid].room_id).name)
    for cat in sorted({objs[o].category for o in match_ids.values()}):
        c = genc.match(CategoryGoal(cat), smap, top_k=1)
        out["category_total"] += 1
        out["category_correct"] += int(bool(c) and objs.get(match_ids.get(c[0].instance_id, -1)) is not None
                                       and objs[match_ids[c[0].instance_id]].category == cat)
    for oid, iid in inst_of.items():
        o = objs[oid]
        text = describe(house, o, rng)
        c = genc.match(TextGoal(text), smap, top_k=1)
        out["text_total"] += 1
        out["text_correct"] += int(bool(c) and c[0].instance_id == iid)
        out["text_distractors"] += sum(1 for p in house.objects if p.category == o.category and p.id != o.id)
    if max_images and renderer is not None:
        oracle = VisibilityOracle(house, renderer)
        for oid in list(inst_of)[:max_images]:
            photo = goal_photo(oracle, renderer, oid, rng)
            if photo is None:
                continue
            c = genc.match(ImageGoal(*photo), smap)
            out["image_total"] += 1
            out["image_correct"] += int(bool(c) and c[0].instance_id == inst_of[oid])
            out["image_verified"] += int(bool(c) and c[0].instance_id == inst_of[oid] and bool(c[0].verified))
    return out


def run_house(seed, encoder, mode, house_config=None, max_steps=10**9, loops=1, verbose=False, mapping_config=None):
    from navstack.mapping.semantic_map import MappingConfig, SemanticMap
    from navstack.sim.backend import EmbeddedBackend
    from navstack.sim.scene import generate_house

    house = generate_house(seed, house_config)
    backend = EmbeddedBackend(house)
    cfg = mapping_config or MappingConfig()
    cfg.mode = mode
    smap = SemanticMap(encoder, cfg)
    seen = {}
    t_first = None
    steps = 0
    for x, z, yaw in exploration_poses(house, max_steps=max_steps, loops=loops):
        backend.reset(position=[x, 0.0, z], rotation=quat_from_yaw(yaw))
        backend.time = float(steps)
        obs = backend.observe()
        obs.stamp = float(steps)
        if mode != "oracle_semantics":
            # the default map must not use ground truth: keep it only for the evaluation
            gt, obs.instance = obs.instance, None
        else:
            gt = obs.instance
        ok = (obs.depth < SEEN_RANGE) & (gt > 0)
        ids, counts = np.unique(gt[ok], return_counts=True)
        for i, c in zip(ids, counts):
            seen[int(i)] = max(seen.get(int(i), 0), int(c))
        t0 = time.perf_counter()
        smap.update(obs)
        if t_first is None:
            t_first = time.perf_counter() - t0
            smap.reset_timings()  # the first frame builds the text embeddings
        steps += 1
    smap.instance_map.maintain(smap.structure)
    seen_ids = {i for i, c in seen.items() if c >= SEEN_PIXELS}
    smap._bench_renderer = backend.renderer
    return house, smap, seen_ids, steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="9000-9004")
    ap.add_argument("--modes", default="geometry,oracle_semantics")
    ap.add_argument("--memory-steps", type=int, default=2000, help="0 skips the memory run")
    ap.add_argument("--memory-seed", type=int, default=9100)
    ap.add_argument("--no-clip", action="store_true", help="geometry only (no encoder): recall/precision, no categories")
    ap.add_argument("--clip-weights", help="CLIP weights file (default: the shipped assets/clip model)")
    ap.add_argument("--clip-config", help="CLIP model config JSON for --clip-weights")
    ap.add_argument("--no-goals", action="store_true", help="skip the goal-matching figures")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    from navstack.eval import parse_seed_range
    from navstack.mapping.semantic_map import DEFAULT_CATEGORIES
    from navstack.sim.scene import HouseConfig

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    encoder = None
    enc_name = "none"
    if not args.no_clip:
        from navstack.perception.clip_encoder import ClipConfig, load_encoder

        cc = ClipConfig(threads=args.threads)
        if args.clip_weights:
            cc.weights = args.clip_weights
            cc.model_config = args.clip_config or str(Path(args.clip_weights).with_suffix(".json"))
        encoder = load_encoder(cc)
        enc_name = f"{encoder.config.model_name} ({Path(encoder.config.weights).name if encoder.config.weights else encoder.config.pretrained})"
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores; encoder: {enc_name}")
    seeds = parse_seed_range(args.seeds)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results = {"machine": info, "encoder": enc_name, "seeds": args.seeds, "modes": {}}
    for mode in modes:
        per = []
        lat = []
        for seed in seeds:
            t0 = time.perf_counter()
            house, smap, seen_ids, steps = run_house(seed, encoder, mode, verbose=args.verbose)
            ev = evaluate(smap, house, seen_ids, list(DEFAULT_CATEGORIES))
            mids = ev.pop("_match")
            if encoder is not None and not args.no_goals:
                ev["goals"] = evaluate_goals(smap, house, mids, smap._bench_renderer, seed=seed)
            ms = smap.median_ms()
            lat.extend(smap.timings["total"])
            ev.update(seed=seed, steps=steps, rooms=len(house.plan.rooms), median_ms=ms,
                      seconds=time.perf_counter() - t0)
            per.append(ev)
            print(f"[{mode}] seed {seed}: rooms {ev['rooms']} steps {steps} gt {ev['gt_objects']} inst {ev['instances']} "
                  f"recall {ev['recall']:.3f} precision {ev['precision']:.3f} cat-acc {ev['category_accuracy']:.3f} "
                  f"fp {ev['false_positives']} update {ms['total']:.1f} ms "
                  f"(prop {ms['proposals']:.1f} occ {ms['occupancy']:.1f} clip {ms['clip']:.1f} map {ms['map']:.1f}) "
                  f"[{ev['seconds']:.0f} s]", flush=True)
            if args.verbose:
                print("   missed:", ev["missed"])
                if "goals" in ev:
                    print("   goals:", ev["goals"])
        gt = sum(e["gt_objects"] for e in per)
        tp = sum(e["true_positives"] for e in per)
        inst = sum(e["instances"] for e in per)
        lab = sum(e["labelled"] for e in per)
        cor = sum(round(e["category_accuracy"] * e["labelled"]) for e in per if e["labelled"])
        summary = {
            "recall": sum(e["recall"] * e["gt_objects"] for e in per) / max(gt, 1),
            "precision": tp / max(inst, 1),
            "category_accuracy": cor / lab if lab else float("nan"),
            "median_update_ms": 1000 * float(np.median(lat)) if lat else float("nan"),
            "p90_update_ms": 1000 * float(np.percentile(lat, 90)) if lat else float("nan"),
            "gt_objects": gt, "instances": inst,
        }
        gl = [e["goals"] for e in per if "goals" in e]
        if gl:
            tot = {k: sum(g[k] for g in gl) for k in gl[0]}
            summary.update({
                "room_accuracy": tot["room_correct"] / max(tot["room_total"], 1),
                "category_goal_top1": tot["category_correct"] / max(tot["category_total"], 1),
                "text_goal_top1": tot["text_correct"] / max(tot["text_total"], 1),
                "text_goal_mean_distractors": tot["text_distractors"] / max(tot["text_total"], 1),
                "image_goal_top1": tot["image_correct"] / max(tot["image_total"], 1),
                "image_goal_verified": tot["image_verified"] / max(tot["image_total"], 1),
            })
        results["modes"][mode] = {"summary": summary, "houses": per}
    if args.memory_steps:
        mode = modes[0]
        t0 = time.perf_counter()
        house, smap, _, steps = run_house(args.memory_seed, encoder, mode, HouseConfig(num_rooms=10),
                                          max_steps=args.memory_steps, loops=50)
        mem = smap.memory_bytes()
        results["memory"] = {"seed": args.memory_seed, "rooms": len(house.plan.rooms), "steps": steps,
                             "instances": len(smap.instance_map), "confirmed": len(smap.instance_map.confirmed()),
                             "bytes": mem, "mib": mem["total"] / 2**20, "median_update_ms": smap.median_ms()["total"],
                             "seconds": time.perf_counter() - t0}
        print(f"memory after {steps} steps in a {len(house.plan.rooms)}-room house (seed {args.memory_seed}): "
              f"{mem['total'] / 2**20:.1f} MiB ({len(smap.instance_map)} instances; {mem})")

    print()
    print(f"{'figure':28s}" + "".join(f"{m:>18s}" for m in modes) + "      goal")
    goals = {"recall": ">= 0.90", "precision": ">= 0.85", "category_accuracy": ">= 0.85", "median_update_ms": "<= 60"}
    for key in ("recall", "precision", "category_accuracy", "median_update_ms", "p90_update_ms", "room_accuracy",
                "category_goal_top1", "text_goal_top1", "image_goal_top1", "image_goal_verified"):
        if not all(key in results["modes"][m]["summary"] for m in modes):
            continue
        row = "".join(f"{results['modes'][m]['summary'][key]:18.3f}" for m in modes)
        print(f"{key:28s}{row}      {goals.get(key, '')}")
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
