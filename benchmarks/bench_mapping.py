"""Semantic-map quality and speed on held-out houses, default config, no ground-truth semantics.

    python benchmarks/bench_mapping.py --seeds 9000-9004 [--modes geometry,oracle_semantics]
                                       [--memory-steps 2000] [--json out.json]

A scripted exploration drives each house (`navstack.sim.survey`: ground truth is used only to DRIVE,
the house's nav grid gives waypoints covering every room and shortest paths between them; the map
sees observations only).

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
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_clip_args, clip_config, machine, write_json  # noqa: E402

from navstack.sim.survey import match_instances  # noqa: E402

MIN_SIZE = 0.3
SEEN_PIXELS = 200
SEEN_RANGE = 4.5


# ---------------------------------------------------------------------- evaluation
def evaluate(smap, house, seen_ids, categories):
    objs = {o.id: o for o in house.objects}
    big = {i for i in seen_ids if max(objs[i].width, objs[i].height, objs[i].depth) > MIN_SIZE}
    insts = smap.instance_map.confirmed()
    match, best_of = match_instances({i.id: i.points for i in insts}, house)
    used_o = set(match.values())
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
    from navstack.sim.scene import generate_house
    from navstack.sim.survey import survey_map

    house = generate_house(seed, house_config)
    cfg = mapping_config or MappingConfig()
    cfg.mode = mode
    smap = SemanticMap(encoder, cfg)

    def first_frame(step, _seconds):
        if step == 0:
            smap.reset_timings()  # the first frame builds the text embeddings

    seen, steps, backend = survey_map(house, smap, max_steps=max_steps, loops=loops,
                                      keep_instance_ids=mode == "oracle_semantics", seen_range=SEEN_RANGE,
                                      on_frame=first_frame)
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
    add_clip_args(ap)
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
        from navstack.perception.clip_encoder import load_encoder

        encoder = load_encoder(clip_config(args, threads=args.threads))
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
