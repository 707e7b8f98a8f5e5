"""Failure analysis of one house's episodes: what the modular agent did, and what its map held at the end.

    python benchmarks/trace_episode.py --task textnav --seed 1118 [--episodes 1] [--agent modular]

For each episode, prints the agent's mode changes (step, mode, target), the outcome, the goal object's
facts (category, colour, material, room, nearby object), and the map's top-ranked candidates with their
score parts, whether GoalSearch.accept() takes them, their room distribution and the ground-truth object
each is matched to by 3D overlap (navstack.sim.survey.match_instances). Ground truth is only read for this
report; the agent runs exactly as in `navstack eval`. Use development seeds (< 9000).
`--occupancy-png DIR` also draws, per episode, the agent's occupancy map against the house's true
obstacles with its collision cells and path (where bumps walled it in, what the camera missed).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import require_development_seeds  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="textnav", choices=["objectnav", "instance_imagenav", "textnav", "goat"])
    ap.add_argument("--seed", type=int, required=True, help="development house seed (< 9000)")
    ap.add_argument("--episodes", type=int, default=1, help="episodes in the house (as --episodes-per-scene)")
    ap.add_argument("--agent", default="modular")
    ap.add_argument("--agent-config", help="configs/agent name or YAML path (as navstack eval --agent-config)")
    ap.add_argument("--top", type=int, default=8, help="candidates listed per episode")
    ap.add_argument("--steps", help="also print every step in this range, e.g. 40-200 (pose, action, mode)")
    ap.add_argument("--save-map", help="save the agent's map after each episode under DIR/episode_<id>")
    ap.add_argument("--occupancy-png", metavar="DIR",
                    help="per episode, a picture of the agent's occupancy map against the house's true obstacles, "
                         "with its collision cells and path (DIR/episode_<id>_occupancy.png)")
    args = ap.parse_args(argv)
    require_development_seeds([args.seed], "tracing")

    from navstack.config import load_sim_config
    from navstack.eval import EvalConfig, HouseRunner
    from navstack.sim.survey import match_instances, object_boxes
    from navstack.tasks.describe import facts, nearest_other

    cfg = EvalConfig(task=args.task, agent=args.agent, scene_seeds=[args.seed], episodes_per_scene=args.episodes,
                     out="/tmp/navstack_trace", save_maps=False, agent_config=args.agent_config).validate()
    hr = HouseRunner(args.seed, cfg, load_sim_config(None), threads=2)
    agent = hr.make_agent()
    objs = {o.id: o for o in hr.house.objects}
    log = []
    act = agent.act

    lo_step, hi_step = (int(v) for v in args.steps.split("-")) if args.steps else (0, -1)

    def traced(obs):
        a = act(obs)
        s = getattr(agent, "search", None)
        key = (s.mode, s.target_desc) if s is not None else None
        if lo_step <= agent.steps <= hi_step:
            p = obs.pose.position
            print(f"    {agent.steps:4d} x {p[0]:.2f} z {p[2]:.2f} yaw {math.degrees(obs.pose.yaw):6.1f} "
                  f"{getattr(a, 'name', a)} {key} collisions {getattr(agent, 'collisions', '-')}")
        if not log or log[-1][1] != key:
            log.append((agent.steps, key))
        return a

    agent.act = traced
    dataset = hr.episodes()
    for ep in dataset.episodes:
        log.clear()
        rec = hr.run_episode(dataset, ep, agent)
        print(f"\n=== house {args.seed} episode {rec['episode_id']}: success {rec['success']:.0f} "
              f"spl {rec['spl']:.2f} steps {rec['steps']} distance_to_goal {rec['distance_to_goal']:.2f}")
        for text in rec.get("goal_text") or []:
            print(f"goal: {text}")
        for step, key in log:
            print(f"  step {step:4d}: {key}")
        for oid in rec["_goal_objects"]:
            o = objs[oid]
            near = nearest_other(hr.house, o)
            print(f"goal object {oid}: {facts(hr.house, o)}; nearest other: {near.category if near else None}")
        if not hasattr(agent, "smap"):
            continue
        smap, search = agent.smap, agent.search
        if args.save_map:
            where = smap.save(Path(args.save_map) / f"episode_{rec['episode_id']}")
            print(f"map saved: {where}")
        if args.occupancy_png:
            where = Path(args.occupancy_png) / f"episode_{rec['episode_id']}_occupancy.png"
            write_occupancy_picture(smap.occupancy, hr.house, rec["_trajectory"], where)
            print(f"occupancy picture: {where}")
        conf = smap.instance_map.confirmed()
        match, _ = match_instances({i.id: i.points for i in conf}, hr.house)
        mapped = [iid for iid, oid in match.items() if oid in rec["_goal_objects"]]
        print(f"goal mapped as instance(s): {mapped or 'never'}")
        boxes = object_boxes(hr.house)
        traj = rec["_trajectory"]
        for oid in rec["_goal_objects"]:
            lo, hi = boxes[oid]
            centre = (lo + hi) / 2
            closest = float(np.min(np.hypot(traj[:, 0] - centre[0], traj[:, 1] - centre[2])))
            end = traj[-1]
            gap = float(np.hypot(max(lo[0] - end[0], end[0] - hi[0], 0), max(lo[2] - end[1], end[1] - hi[2], 0)))
            print(f"goal object {oid} box {np.round(lo, 2)} .. {np.round(hi, 2)}; closest approach {closest:.2f} m; "
                  f"ended at {np.round(end, 2)}, {gap:.2f} m from its box")
            for inst in smap.instance_map:  # every instance (unconfirmed too) with points in the goal's box
                inside = float(np.all((inst.points >= lo) & (inst.points <= hi), axis=1).mean()) if len(inst.points) else 0
                if inside > 0.05:
                    probs = smap.object_probs(inst.id)
                    cat = smap.categories[int(np.argmax(probs))] if probs is not None else "?"
                    print(f"  instance {inst.id} ({cat}, obs {inst.observations}, {len(inst.points)} points): "
                          f"{inside:.0%} of its points in the goal's box; matched to {match.get(inst.id)}")
        rooms = list(smap.room_types)
        for c in search.ranked()[: args.top]:
            inst = smap.instance_map[c.instance_id]
            p = smap.room_distribution(c.instance_id)
            room = f"{rooms[int(np.argmax(p))]} {float(np.max(p)):.2f}" if p is not None else "?"
            gt = match.get(c.instance_id)
            gt_desc = f"{gt} {objs[gt].category} {facts(hr.house, objs[gt])}" if gt is not None else "unmatched"
            parts = {k: round(float(v), 2) for k, v in c.parts.items()}
            lo_i, hi_i = inst.points.min(axis=0), inst.points.max(axis=0)
            search.debug["shape_distance2"] = None
            fits = search._shape_fits(c.instance_id)  # the STOP's shape check (squared Mahalanobis distance)
            shape = f"{search.debug['shape_distance2']} ({'fits' if fits else 'no fit'})"
            print(f"  #{c.instance_id} {c.category} score {c.score:.2f} accept {search.accept(c)} shape d2 {shape} "
                  f"obs {inst.observations} room {room} "
                  f"extent {np.round(lo_i, 2)} .. {np.round(hi_i, 2)}\n      parts {parts}\n      truth {gt_desc}")


# BGR colours of the occupancy picture
_UNKNOWN, _FREE, _BOTH = (150, 150, 150), (255, 255, 255), (0, 0, 0)
_MISSED, _UNSEEN, _EXTRA = (0, 0, 255), (110, 110, 170), (255, 80, 0)  # truth only (seen free / unseen); map only
_BUMPS, _PATH = (0, 190, 255), (0, 150, 0)


def write_occupancy_picture(occ, house, trajectory, path, pixels_per_cell: int = 4):
    """The agent's occupancy grid against the house's true obstacle raster (walls and furniture footprints,
    NavGrid.occupied), on the agent's own grid: black where both say obstacle, red where the truth has one
    the map calls free, dull red where the map never looked, blue where only the map has one, orange for
    collision cells, grey unknown, white free; the path in green. Cropped to the observed area."""
    import cv2

    from navstack.fileio import atomic_write

    if occ.logodds.size == 0 or not occ.observed.any():
        return None
    rows, cols = np.nonzero(occ.observed)
    r0, r1 = max(int(rows.min()) - 4, 0), min(int(rows.max()) + 5, occ.shape[0])
    c0, c1 = max(int(cols.min()) - 4, 0), min(int(cols.max()) + 5, occ.shape[1])
    rr, cc = np.mgrid[r0:r1, c0:c1]
    truth = house.navgrid.is_occupied(*occ.to_world(rr, cc))
    seen = occ.observed[r0:r1, c0:c1]
    mapped = occ.occupied(collisions=False)[r0:r1, c0:c1]
    img = np.empty(rr.shape + (3,), np.uint8)
    img[:] = _UNKNOWN
    img[seen] = _FREE
    img[truth & mapped] = _BOTH
    img[truth & ~mapped & seen] = _MISSED
    img[truth & ~seen] = _UNSEEN
    img[~truth & mapped] = _EXTRA
    img[occ.blocked[r0:r1, c0:c1]] = _BUMPS
    k = pixels_per_cell
    img = cv2.resize(img, (img.shape[1] * k, img.shape[0] * k), interpolation=cv2.INTER_NEAREST)
    traj = np.asarray(trajectory, float)
    if len(traj):
        pr, pc = occ.to_cell(traj[:, 0], traj[:, 1])
        pts = np.stack([(np.asarray(pc) - c0) * k + k // 2, (np.asarray(pr) - r0) * k + k // 2], 1).astype(np.int32)
        cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, _PATH, 1, cv2.LINE_AA)
        cv2.circle(img, tuple(int(v) for v in pts[-1]), 2 * k, _PATH, -1)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    atomic_write(path, buf.tobytes())
    return Path(path)


if __name__ == "__main__":
    main()
