"""A scripted survey of a generated house (ground truth drives) and ground-truth matching of mapped instances.

Used where a map must be built without an agent deciding anything: the mapping benchmark, goal
calibration and the fitting of the shape prior (`navstack train shape-prior`). Ground truth only
chooses the route (the house's nav grid); whatever is mapped from it sees observations only.

The route: waypoints are the navigable point nearest each room's centre plus farthest-point samples
2.5 m apart in large rooms; the agent turns 360 degrees in 30-degree steps at each and moves along
the geodesic path in 0.25 m steps, turning in 30-degree steps, like Habitat's discrete actions.
Matching: an instance covers an object when >= `min_overlap` of its voxels lie in the object's box
(grown by 5 cm); pairs are taken one-to-one, greedily by that fraction.
"""

from __future__ import annotations

import math
from typing import Dict, Mapping, Tuple

import numpy as np


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


def object_boxes(house, grow: float = 0.05):
    out = {}
    for o in house.objects:
        x0, z0, x1, z1 = o.footprint
        out[o.id] = (np.array([x0 - grow, o.elevation - grow, z0 - grow]),
                     np.array([x1 + grow, o.elevation + o.height + grow, z1 + grow]))
    return out


def match_instances(instance_points: Mapping[int, np.ndarray], house, min_overlap: float = 0.5):
    """(match {instance id: object id}, best {instance id: (fraction, object id or None)}) for
    instances given as {id: (N, 3) points}."""
    boxes = object_boxes(house)
    pairs = []
    best: Dict[int, Tuple[float, object]] = {}
    for iid, pts in instance_points.items():
        b = (0.0, None)
        for oid, (lo, hi) in boxes.items():
            f = float(np.all((pts >= lo) & (pts <= hi), axis=1).mean())
            if f > 0:
                pairs.append((f, iid, oid))
                if f > b[0]:
                    b = (f, oid)
        best[iid] = b
    pairs.sort(key=lambda t: -t[0])
    used_i, used_o, match = set(), set(), {}
    for f, iid, oid in pairs:
        if f < min_overlap or iid in used_i or oid in used_o:
            continue
        used_i.add(iid)
        used_o.add(oid)
        match[iid] = oid
    return match, best


def survey_map(house, smap, max_steps: int = 10**9, loops: int = 1, keep_instance_ids: bool = False,
               seen_range: float = 4.5, on_frame=None):
    """Drive `exploration_poses` through `house` and feed each observation to `smap.update` (anything
    with that method). The simulator's instance ids are removed from the observations unless
    `keep_instance_ids` (an oracle-segmentation ablation); they are only counted: returns (pixels
    {object id: most pixels within `seen_range` in one frame}, steps, backend). `on_frame(step, seconds)`
    is told each update's time."""
    import time

    from navstack.sim.backend import EmbeddedBackend
    from navstack.types import quat_from_yaw

    backend = EmbeddedBackend(house)
    seen: Dict[int, int] = {}
    steps = 0
    for x, z, yaw in exploration_poses(house, max_steps=max_steps, loops=loops):
        backend.reset(position=[x, 0.0, z], rotation=quat_from_yaw(yaw))
        backend.time = float(steps)
        obs = backend.observe()
        obs.stamp = float(steps)
        gt = obs.instance
        if not keep_instance_ids:
            obs.instance = None  # the map must not see ground truth
        ok = (obs.depth < seen_range) & (gt > 0)
        ids, counts = np.unique(gt[ok], return_counts=True)
        for i, c in zip(ids, counts):
            seen[int(i)] = max(seen.get(int(i), 0), int(c))
        t0 = time.perf_counter()
        smap.update(obs)
        if on_frame is not None:
            on_frame(steps, time.perf_counter() - t0)
        steps += 1
    return seen, steps, backend
