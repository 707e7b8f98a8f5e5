"""Where a successful ObjectNav episode's extra path goes, on DEVELOPMENT houses (< 9000).

    python benchmarks/study_path_overhead.py --seeds 1200-1249 --episodes-per-scene 2 [--agent-config F] [--json out.json]

Runs episodes exactly as `navstack eval` does and splits each success's path at the step the agent first
set out for the instance it finally stopped at (GoalSearch mode "approach" with that instance):

* exploring: the path walked before that step, against what it gained - the geodesic distance to the
  goal's view points at the start minus at that step (walking straight at the goal gains every metre);
* approaching: the path walked from that step to the STOP, against the geodesic distance at that step.

SPL = geodesic / path, so the two excesses say whether the lost SPL is in finding the goal or in getting
to it once found. Two more measures of finding it: the first step at which a goal object covers
`--seen-pixels` pixels of a frame within the map's proposal range (in view, close enough to be mapped), and
the first step at which the agent set out for an instance that is a piece of a goal object (half its
points in the object's box) - if that is long before the final approach, the agent had the goal and turned
it down or went elsewhere. Ground truth (geodesics, instance ids, boxes) is read for this report only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import require_development_seeds, write_json  # noqa: E402


def run_house(job):
    seed, episodes, override, workdir, seen_pixels = job
    os.environ["NAVSTACK_TORCH_THREADS"] = "1"  # one torch thread per worker, as navstack eval's workers
    import numpy as np

    from navstack.config import load_sim_config
    from navstack.eval import EvalConfig, HouseRunner
    from navstack.sim.survey import object_boxes

    cfg = EvalConfig(task="objectnav", agent="modular", scene_seeds=[seed], episodes_per_scene=episodes,
                     out=workdir, save_maps=False, agent_config=override).validate()
    hr = HouseRunner(seed, cfg, load_sim_config(None), threads=1)
    agent = hr.make_agent()
    modes = []
    goal_boxes = []
    boxes = object_boxes(hr.house)
    act = agent.act
    max_range = agent.smap.config.proposals.max_range

    seen = []  # per step: {object id: pixels} within the map's proposal range (ground truth, for this report)

    def recorded(obs):
        a = act(obs)
        iid = agent.search.instance
        on_goal = False  # is the instance it heads for a piece of a goal object (half its points in the box)?
        if agent.search.mode == "approach" and iid is not None and iid in agent.smap.instance_map.instances:
            pts = agent.smap.instance_map[iid].points
            on_goal = len(pts) > 0 and any(np.mean(np.all((pts >= lo) & (pts <= hi), axis=1)) >= 0.5
                                           for lo, hi in goal_boxes)
        modes.append((agent.search.mode, iid, on_goal))
        ids, counts = np.unique(obs.instance[(obs.depth > 0) & (obs.depth <= max_range)], return_counts=True)
        seen.append(dict(zip(ids.tolist(), counts.tolist())))
        return a

    agent.act = recorded
    dataset = hr.episodes()
    rows = []
    for ep in dataset.episodes:
        modes.clear()
        seen.clear()
        cat = ep.object_category  # every object of the goal category is a goal (ObjectNav)
        goal_boxes[:] = [boxes[o.id] for o in hr.house.objects if o.category == cat]
        rec = hr.run_episode(dataset, ep, agent)
        traj = rec["_trajectory"]  # position before the i-th action is traj[i]
        targets = rec["_targets"]  # the goal view points the evaluation measured against
        seg = np.hypot(*np.diff(traj, axis=0).T) if len(traj) > 1 else np.zeros(0)
        walked = np.concatenate([[0.0], np.cumsum(seg)])
        row = {"seed": seed, "episode_id": rec["episode_id"], "category": rec["category"], "success": rec["success"],
               "spl": rec["spl"], "steps": rec["steps"], "geodesic": rec["geodesic_distance"],
               "path": rec["path_length"], "last_resort": rec["last_resort"]}
        final = modes[-1][1] if modes and modes[-1][0] == "stopped" else None
        first = next((i for i, (m, iid, _) in enumerate(modes) if m == "approach" and iid == final), None)
        if rec["success"] and final is not None and first is not None:
            i = min(first, len(traj) - 1)
            g_at = hr.goal_distance(float(traj[i, 0]), float(traj[i, 1]), targets)
            goal_ids = set(rec["_goal_objects"])
            row["first_seen_step"] = next((k for k, c in enumerate(seen)
                                           if sum(n for o, n in c.items() if o in goal_ids) >= seen_pixels), None)
            row["first_goal_approach_step"] = next((k for k, (_, _, g) in enumerate(modes) if g), None)
            row.update(first_target_step=first, explore_path=float(walked[i]), geodesic_at_target=g_at,
                       approach_path=float(walked[-1] - walked[i]))
        rows.append(row)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="1200-1249", help="development house seeds (< 9000)")
    p.add_argument("--episodes-per-scene", type=int, default=2)
    p.add_argument("--agent-config", help="override file, as navstack eval --agent-config")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seen-pixels", type=int, default=300,
                   help="a goal counts as seen once this many of its pixels lie within the proposal range "
                        "(300: the map's min_embed_pixels at 320x240)")
    p.add_argument("--json", metavar="PATH", help="also write every episode's split")
    args = p.parse_args(argv)

    from navstack.eval import parse_seed_range

    seeds = parse_seed_range(args.seeds)
    require_development_seeds(seeds)
    import multiprocessing as mp

    from tqdm import tqdm

    jobs = [(s, args.episodes_per_scene, args.agent_config, f"/tmp/navstack_path_overhead/{s}", args.seen_pixels)
            for s in seeds]
    rows = []
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for r in tqdm(pool.imap_unordered(run_house, jobs), total=len(jobs), desc="houses"):
            rows.extend(r)
    rows.sort(key=lambda r: (r["seed"], r["episode_id"]))
    split = [r for r in rows if "explore_path" in r]
    n = len(rows)
    print(f"{n} episodes: success {sum(r['success'] for r in rows) / n:.3f}, SPL {sum(r['spl'] for r in rows) / n:.3f}; "
          f"{len(split)} successes split at the first approach of the instance stopped at")
    if split:
        mean = lambda k: statistics.fmean(r[k] for r in split)  # noqa: E731
        gain = statistics.fmean(r["geodesic"] - r["geodesic_at_target"] for r in split)
        print(f"  geodesic {mean('geodesic'):.2f} m, path {mean('path'):.2f} m, SPL {mean('spl'):.3f}")
        print(f"  exploring: walked {mean('explore_path'):.2f} m to gain {gain:.2f} m "
              f"(excess {mean('explore_path') - gain:.2f} m), first approach at step {mean('first_target_step'):.0f}")
        print(f"  approaching: walked {mean('approach_path'):.2f} m for {mean('geodesic_at_target'):.2f} m "
              f"(excess {mean('approach_path') - mean('geodesic_at_target'):.2f} m)")
        both = [r for r in split if r.get("first_seen_step") is not None]
        if both:
            print(f"  goal first in view ({args.seen_pixels}+ pixels within the proposal range) at step "
                  f"{statistics.fmean(r['first_seen_step'] for r in both):.0f}, first approached at "
                  f"{statistics.fmean(r['first_target_step'] for r in both):.0f} (median gap "
                  f"{statistics.median(r['first_target_step'] - r['first_seen_step'] for r in both):.0f} steps; "
                  f"{sum(r['first_target_step'] - r['first_seen_step'] > 20 for r in both)} of {len(both)} over 20)")
        early = [r for r in split if r["first_goal_approach_step"] is not None
                 and r["first_goal_approach_step"] < r["first_target_step"] - 20]
        if early:
            print(f"  {len(early)} of {len(split)} had set out for (a piece of) a goal object more than 20 steps before "
                  f"(turned it down, or went elsewhere): SPL {statistics.fmean(r['spl'] for r in early):.3f}")
        ideal_explore = statistics.fmean(min(1.0, r["geodesic"] / max(r["geodesic"] - r["geodesic_at_target"]
                                                                     + r["approach_path"], 1e-9)) for r in split)
        ideal_approach = statistics.fmean(min(1.0, r["geodesic"] / max(r["explore_path"] + r["geodesic_at_target"],
                                                                       1e-9)) for r in split)
        print(f"  their SPL with exploring as straight as the geodesic: {ideal_explore:.3f}; "
              f"with approaching as straight: {ideal_approach:.3f}")
    write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
