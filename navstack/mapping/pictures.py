"""Pictures of the semantic map: a top-down PNG and PLY point clouds for Open3D / MeshLab viewers.

`render_topdown(smap)` returns an RGB uint8 image (fast, OpenCV drawing: usable every step for a
GIF): occupancy (unknown grey, free white, occupied dark), instance voxels coloured by category with
"category #id" labels, frontier cells and centroids, the trajectory and the agent's current pose.
`save_topdown_png` writes it atomically. `export_ply` writes all instance points (binary PLY,
x y z float + red green blue uchar, coloured by category or instance) and optionally one file per
instance.
"""

from __future__ import annotations

import colorsys
import math
from pathlib import Path

import numpy as np

from navstack.fileio import atomic_write

UNKNOWN_RGB = (205, 205, 205)
FREE_RGB = (255, 255, 255)
OCCUPIED_RGB = (70, 70, 70)
FRONTIER_RGB = (40, 120, 255)
AGENT_RGB = (220, 20, 20)
TRAJ_RGB = (255, 140, 0)


def palette(n: int) -> np.ndarray:
    """n distinct RGB uint8 colours (golden-ratio hues)."""
    out = []
    for i in range(max(n, 1)):
        h = (i * 0.618033988749895) % 1.0
        r, g, b = colorsys.hsv_to_rgb(h, 0.75, 0.85)
        out.append((int(r * 255), int(g * 255), int(b * 255)))
    return np.array(out, np.uint8)


def _label_of(smap, inst):
    p = inst.category_probs
    if p is None:
        return "?", -1
    k = int(np.argmax(p[: len(smap.categories)]))
    return smap.categories[k], k


def render_topdown(smap, pixels_per_metre: float = 40.0, labels: bool = True, frontiers: bool = True,
                   trajectory: bool = True, confirmed_only: bool = True, margin: float = 0.5,
                   max_side: int = 2000) -> np.ndarray:
    """Top-down RGB image of a SemanticMap (x to the right, z downwards, as seen from above)."""
    import cv2

    occ = smap.occupancy
    res = occ.resolution
    if occ.logodds.size == 0 or not occ.observed.any():
        return np.full((64, 64, 3), UNKNOWN_RGB, np.uint8)
    rows, cols = np.nonzero(occ.observed)
    m = int(math.ceil(margin / res))
    r0, r1 = max(rows.min() - m, 0), min(rows.max() + m + 1, occ.shape[0])
    c0, c1 = max(cols.min() - m, 0), min(cols.max() + m + 1, occ.shape[1])
    scale = pixels_per_metre * res  # pixels per cell
    if max(r1 - r0, c1 - c0) * scale > max_side:
        scale = max_side / max(r1 - r0, c1 - c0)
    state = occ.state()[r0:r1, c0:c1]
    img = np.empty(state.shape + (3,), np.uint8)
    img[...] = UNKNOWN_RGB
    img[state == occ.FREE] = FREE_RGB
    img[state == occ.OCCUPIED] = OCCUPIED_RGB
    if frontiers:
        for f in occ.frontiers():
            rr, cc = f.cells[:, 0] - r0, f.cells[:, 1] - c0
            ok = (rr >= 0) & (rr < img.shape[0]) & (cc >= 0) & (cc < img.shape[1])
            img[rr[ok], cc[ok]] = FRONTIER_RGB
    pal = palette(len(smap.categories))
    insts = smap.instance_map.confirmed() if confirmed_only else list(smap.instance_map)
    for inst in insts:
        _, k = _label_of(smap, inst)
        col = pal[k] if k >= 0 else np.array([150, 150, 150], np.uint8)
        pts = inst.points
        rr, cc = occ.to_cell(pts[:, 0], pts[:, 2])
        rr, cc = rr - r0, cc - c0
        ok = (rr >= 0) & (rr < img.shape[0]) & (cc >= 0) & (cc < img.shape[1])
        img[rr[ok], cc[ok]] = col
    out = cv2.resize(img, (max(1, int(round(img.shape[1] * scale))), max(1, int(round(img.shape[0] * scale)))),
                     interpolation=cv2.INTER_NEAREST)

    def px(x, z):
        return (int(round(((x - occ.x0) / res - c0) * scale)), int(round(((z - occ.z0) / res - r0) * scale)))

    if frontiers:
        for f in occ.frontiers():
            cv2.circle(out, px(*f.centroid), max(2, int(scale * 1.5)), FRONTIER_RGB, -1, cv2.LINE_AA)
    if trajectory and smap.trajectory:
        t = np.array([px(x, z) for x, z, _, _ in smap.trajectory], np.int32)
        if len(t) > 1:
            cv2.polylines(out, [t.reshape(-1, 1, 2)], False, TRAJ_RGB, 1, cv2.LINE_AA)
        x, z, yaw, _ = smap.trajectory[-1]
        p = px(x, z)
        L = max(8, int(0.5 * pixels_per_metre * scale / (pixels_per_metre * res)))
        tip = (int(p[0] - math.sin(yaw) * L), int(p[1] - math.cos(yaw) * L))
        cv2.arrowedLine(out, p, tip, AGENT_RGB, 2, cv2.LINE_AA, tipLength=0.4)
        cv2.circle(out, p, max(3, L // 3), AGENT_RGB, -1, cv2.LINE_AA)
    if labels:
        fs = 0.35 if scale < 3 else 0.45
        for inst in insts:
            name, _ = _label_of(smap, inst)
            c = inst.centre
            p = px(float(c[0]), float(c[2]))
            text = f"{name} #{inst.id}"
            cv2.putText(out, text, (p[0] + 3, p[1] - 3), cv2.FONT_HERSHEY_SIMPLEX, fs, (255, 255, 255), 3, cv2.LINE_AA)
            cv2.putText(out, text, (p[0] + 3, p[1] - 3), cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def save_topdown_png(smap, path, **kwargs) -> Path:
    import cv2

    img = render_topdown(smap, **kwargs)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[:, :, ::-1]))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    path = Path(path)
    atomic_write(path, buf.tobytes())
    return path


def ply_bytes(points: np.ndarray, colours: np.ndarray) -> bytes:
    """Binary little-endian PLY of points (N, 3) with uint8 colours (N, 3)."""
    points = np.asarray(points, np.float32).reshape(-1, 3)
    colours = np.asarray(colours, np.uint8).reshape(-1, 3)
    if len(points) != len(colours):
        raise ValueError(f"{len(points)} points but {len(colours)} colours")
    header = ("ply\nformat binary_little_endian 1.0\ncomment navstack semantic map\n"
              f"element vertex {len(points)}\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n").encode("ascii")
    rec = np.empty(len(points), dtype=[("p", "<f4", 3), ("c", "u1", 3)])
    rec["p"] = points
    rec["c"] = colours
    return header + rec.tobytes()


def export_ply(smap, path, per_instance_dir=None, colour_by: str = "category", confirmed_only: bool = True) -> Path:
    """All instance points in one PLY (and one PLY per instance in `per_instance_dir`, named
    `<id>_<category>.ply`). colour_by: "category" or "instance"."""
    if colour_by not in ("category", "instance"):
        raise ValueError(f"colour_by must be 'category' or 'instance', got {colour_by!r}")
    insts = smap.instance_map.confirmed() if confirmed_only else list(smap.instance_map)
    cat_pal = palette(len(smap.categories))
    inst_pal = palette(max(len(insts), 1))
    all_p, all_c = [np.zeros((0, 3), np.float32)], [np.zeros((0, 3), np.uint8)]
    for j, inst in enumerate(insts):
        name, k = _label_of(smap, inst)
        col = (cat_pal[k] if k >= 0 else np.array([150, 150, 150], np.uint8)) if colour_by == "category" else inst_pal[j]
        pts = inst.points
        cols = np.repeat(col[None], len(pts), axis=0)
        all_p.append(pts)
        all_c.append(cols)
        if per_instance_dir is not None:
            atomic_write(Path(per_instance_dir) / f"{inst.id}_{name.replace('?', 'unknown')}.ply", ply_bytes(pts, cols))
    path = Path(path)
    atomic_write(path, ply_bytes(np.concatenate(all_p), np.concatenate(all_c)))
    return path
