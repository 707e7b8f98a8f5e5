#!/usr/bin/env python
"""Speed of the embedded simulator's ray-casting renderer (navstack.sim.render).

Prints bare ``cast_rays`` frames/s on the render's own rays, full render (RGB + depth + instance
ids, ray generation included) frames/s, their ratio, and the machine. Acceptance target at
320x240 on 2 cores: full >= 40 fps and full / bare >= 0.6.

    python benchmarks/bench_render.py --width 320 --height 240 --frames 200 --scene synthetic
    python benchmarks/bench_render.py --json out/bench_render.json

Scenes:
  synthetic  a 10 x 3 x 8 m room (tiled wall / floor textures) with 40 random boxes (most textured)
             and four UV spheres (~80k triangles in all); cameras inside, so every ray hits.
  house      HOOK: the lead's procedural house (navstack.sim.scene.generate_house, real furniture),
             cameras at random navigable points; imported only when asked for (see `house_scene`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from navstack.eval import machine_info

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from navstack.sim.mesh import Material, TexturedMesh, box_mesh  # noqa: E402
from navstack.types import Intrinsics, quat_from_yaw  # noqa: E402


def _random_texture(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A checker / stripe / noise texture with random colours."""
    kind = rng.integers(3)
    yy, xx = np.mgrid[0:size, 0:size]
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    if kind == 0:
        k = int(rng.integers(2, 9))
        m = ((xx * k // size) + (yy * k // size)) % 2
    elif kind == 1:
        k = int(rng.integers(2, 12))
        m = (yy * k // size) % 2
    else:
        m = rng.random((size, size)) > 0.5
    return np.where(m[..., None] > 0, c0, c1).astype(np.uint8)


def uv_sphere(center, radius: float, n_lat: int, n_lon: int, material: Material) -> TexturedMesh:
    """UV sphere with 2 * n_lat * n_lon triangles (poles included as degenerate-free fans)."""
    lat = np.linspace(0, math.pi, n_lat + 1)
    lon = np.linspace(0, 2 * math.pi, n_lon + 1)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    verts = np.stack([np.sin(la) * np.cos(lo), np.cos(la), np.sin(la) * np.sin(lo)], -1) * radius + center
    uvs = np.stack([lo / (2 * math.pi), 1 - la / math.pi], -1)
    idx = np.arange((n_lat + 1) * (n_lon + 1)).reshape(n_lat + 1, n_lon + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    tris = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    flat_uv = uvs.reshape(-1, 2)
    return TexturedMesh(verts.reshape(-1, 3), tris, flat_uv[tris], np.zeros(len(tris)), [material])


def synthetic_scene(seed: int = 0, n_boxes: int = 40, sphere_tris: int = 20000):
    """(meshes, instance_ids, room (lo, hi)) of a furnished room; deterministic for `seed`."""
    rng = np.random.default_rng(seed)
    lo, hi = np.array([0.0, 0.0, 0.0]), np.array([10.0, 3.0, 8.0])
    wall = Material(np.array([0.9, 0.88, 0.8]), _random_texture(rng, 128), "wall")
    floor = Material(np.ones(3), _random_texture(rng, 256), "floor")
    ceiling = Material(np.array([0.95, 0.95, 0.95]), None, "ceiling")
    meshes = [
        box_mesh(lo, hi, wall, uv_scale=1.0, faces="xXzZ"),
        box_mesh(lo, hi, floor, uv_scale=0.5, faces="y"),
        box_mesh(lo, hi, ceiling, faces="Y"),
    ]
    ids = [0, 0, 0]
    for k in range(n_boxes):
        size = rng.uniform([0.3, 0.3, 0.3], [1.5, 1.8, 1.5])
        pos = rng.uniform(lo + 0.2, hi - 0.2 - size) * np.array([1, 0, 1])
        tex = _random_texture(rng, 64) if rng.random() < 0.75 else None
        mat = Material(rng.uniform(0.3, 1.0, 3), tex, f"box{k}")
        meshes.append(box_mesh(pos, pos + size, mat, uv_scale=2.0))
        ids.append(len(ids))
    n = int(round(math.sqrt(sphere_tris / 4)))
    for k in range(4):
        c = np.array([rng.uniform(1.5, 8.5), rng.uniform(0.5, 2.0), rng.uniform(1.5, 6.5)])
        mat = Material(np.ones(3), _random_texture(rng, 64), f"sphere{k}")
        meshes.append(uv_sphere(c, rng.uniform(0.3, 0.7), n, 2 * n, mat))
        ids.append(len(ids))
    return meshes, ids, (lo, hi)


def house_scene(seed: int = 0):
    """HOOK (lead's code): the procedural house of `seed` via navstack.sim.scene.generate_house.

    Imported lazily so the default `synthetic` path never depends on the house / furniture code.
    Returns (meshes, instance_ids, None, poses_fn) where poses_fn(n, seed) samples navigable poses.
    If navstack.sim.scene changes its API, this function is the only place to adapt.
    """
    try:
        from navstack.sim.scene import generate_house
    except ImportError as exc:
        raise SystemExit(f"--scene house needs navstack.sim.scene ({exc})")
    house = generate_house(seed)
    pairs = house.meshes()

    def poses_fn(n: int, pose_seed: int, height: float = 0.88):
        rng = np.random.default_rng(pose_seed)
        xz = house.navgrid.sample_navigable(rng, n)
        yaws = rng.uniform(-math.pi, math.pi, n)
        return [(np.array([x, height, z]), quat_from_yaw(y)) for (x, z), y in zip(xz, yaws)]

    return [m for m, _ in pairs], [i for _, i in pairs], poses_fn


def camera_poses(lo, hi, n: int, seed: int = 1, height: float = 0.88):
    rng = np.random.default_rng(seed)
    poses = []
    for _ in range(n):
        x = rng.uniform(lo[0] + 0.5, hi[0] - 0.5)
        z = rng.uniform(lo[2] + 0.5, hi[2] - 0.5)
        poses.append((np.array([x, height, z]), quat_from_yaw(rng.uniform(-math.pi, math.pi))))
    return poses


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--hfov", type=float, default=79.0)
    ap.add_argument("--scene", choices=["synthetic", "house"], default="synthetic")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="cast_rays threads (0 = all cores)")
    ap.add_argument("--repeats", type=int, default=3, help="passes over the frames")
    ap.add_argument("--block", type=int, default=10, help="frames per alternating bare / full block")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)

    import open3d as o3d

    from navstack.sim.render import Renderer

    t0 = time.perf_counter()
    if args.scene == "synthetic":
        meshes, ids, (lo, hi) = synthetic_scene(args.seed)
        poses = camera_poses(lo, hi, args.frames, seed=args.seed + 1)
    else:
        meshes, ids, poses_fn = house_scene(args.seed)
        poses = poses_fn(args.frames, args.seed + 1)
    t_scene = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = Renderer(meshes, ids, threads=args.threads)
    t_build = time.perf_counter() - t0

    intr = Intrinsics.from_hfov(args.width, args.height, args.hfov)
    rays = [r.rays(p, q, intr) for p, q in poses]
    hits = float(np.mean([np.isfinite(r.cast_bare(x)["t_hit"].numpy()).mean() for x in rays[:10]]))

    for i in range(min(5, len(poses))):  # warm up
        r.cast_bare(rays[i])
        r.render(*poses[i], intr)

    # Bare casts and full renders alternate in blocks of `--block` frames (each block of renders
    # re-renders the block's poses), so load from other processes hits both alike while
    # consecutive casts still see different views (no cache warming by an identical previous cast).
    # Frame rates come from the median per-block frame time (robust to bursts of contention on a
    # shared machine); mean-based rates are reported too.
    bare_t, full_t = [], []
    n, blk = len(poses), max(1, args.block)
    for _ in range(max(1, args.repeats)):
        for s0 in range(0, n, blk):
            idx = range(s0, min(n, s0 + blk))
            t0 = time.perf_counter()
            for i in idx:
                r.cast_bare(rays[i])
            t1 = time.perf_counter()
            for i in idx:
                r.render(poses[i][0], poses[i][1], intr)
            t2 = time.perf_counter()
            bare_t.append((t1 - t0) / len(idx))
            full_t.append((t2 - t1) / len(idx))
    bare_t, full_t = np.array(bare_t), np.array(full_t)
    bare, full = 1.0 / np.median(bare_t), 1.0 / np.median(full_t)
    ratios = bare_t / full_t
    result = {
        "scene": args.scene,
        "width": args.width,
        "height": args.height,
        "frames": args.frames,
        "triangles": int(r.scene_triangles),
        "meshes": len(meshes),
        "materials": int(r.scene_materials),
        "hit_fraction": hits,
        "scene_build_s": round(t_scene, 3),
        "renderer_build_s": round(t_build, 3),
        "bare_cast_fps": round(bare, 1),
        "full_render_fps": round(full, 1),
        "ratio": round(full / bare, 3),
        "bare_mrays_per_s": round(bare * args.width * args.height / 1e6, 2),
        "bare_fps_mean": round(1.0 / bare_t.mean(), 1),
        "full_render_fps_mean": round(1.0 / full_t.mean(), 1),
        "ratio_mean": round(bare_t.mean() / full_t.mean(), 3),
        "ratio_median_per_block": round(float(np.median(ratios)), 3),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "open3d": o3d.__version__,
        "machine": machine_info(),
    }
    print(
        f"{args.scene} scene: {result['triangles']} triangles, {result['meshes']} meshes, "
        f"{result['materials']} atlas entries, hit fraction {hits:.3f}"
    )
    print(f"{args.width}x{args.height}, {args.frames} frames x {args.repeats} rounds (median of per-block frame times; mean)")
    print(f"bare cast_rays : {bare:7.1f} fps ({result['bare_mrays_per_s']} Mrays/s); mean {result['bare_fps_mean']}")
    print(f"full render    : {full:7.1f} fps (rgb + depth + instance); mean {result['full_render_fps_mean']}")
    print(f"ratio          : {full / bare:7.3f}; mean {result['ratio_mean']}")
    print(
        f"machine        : {result['machine']['cpu']}, {result['machine']['cores']} cores, "
        f"open3d {o3d.__version__}, load average {result['load_average']}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
