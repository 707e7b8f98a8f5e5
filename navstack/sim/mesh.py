"""The triangle-mesh format shared by the furniture loader, the house builder and the renderer.

Plain numpy so scenes can be cached to .npz and built without open3d; the renderer turns a list of
these into one Open3D RaycastingScene.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np


@dataclass
class Material:
    """Surface colour = diffuse * texture / 255 (texture optional), so a tint is a diffuse scale."""

    diffuse: np.ndarray  # (3,) float in [0, 1]; (1, 1, 1) for plain textured surfaces
    texture: Optional[np.ndarray] = None  # (H, W, 3) uint8, sampled through triangle_uvs (repeat wrap)
    name: str = ""


@dataclass
class TexturedMesh:
    vertices: np.ndarray  # (V, 3) float32, metres, Habitat frame (y up)
    triangles: np.ndarray  # (T, 3) int32
    triangle_uvs: np.ndarray  # (T, 3, 2) float32; zeros for untextured materials
    triangle_material: np.ndarray  # (T,) int32 index into materials
    materials: List[Material] = field(default_factory=list)

    def __post_init__(self):
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32).reshape(-1, 3)
        self.triangles = np.ascontiguousarray(self.triangles, dtype=np.int32).reshape(-1, 3)
        self.triangle_uvs = np.ascontiguousarray(self.triangle_uvs, dtype=np.float32).reshape(-1, 3, 2)
        self.triangle_material = np.ascontiguousarray(self.triangle_material, dtype=np.int32).reshape(-1)
        t = len(self.triangles)
        if len(self.triangle_uvs) != t or len(self.triangle_material) != t:
            raise ValueError(
                f"mesh arrays disagree: {t} triangles, {len(self.triangle_uvs)} uv triples, "
                f"{len(self.triangle_material)} material ids"
            )

    @property
    def num_triangles(self) -> int:
        return len(self.triangles)

    def bounds(self) -> np.ndarray:
        """(2, 3) min and max corner."""
        return np.stack([self.vertices.min(0), self.vertices.max(0)])

    def transformed(self, matrix: np.ndarray) -> "TexturedMesh":
        """A copy with vertices mapped by a 4x4 (or 3x4) affine matrix."""
        m = np.asarray(matrix, dtype=np.float64)
        v = self.vertices.astype(np.float64) @ m[:3, :3].T + m[:3, 3]
        tris = self.triangles
        if np.linalg.det(m[:3, :3]) < 0:  # a mirror flips winding; keep normals outward
            tris = tris[:, ::-1]
        return TexturedMesh(v, tris, self.triangle_uvs, self.triangle_material, self.materials)

    def tinted(self, rgb_scale: np.ndarray) -> "TexturedMesh":
        """A copy whose materials are multiplied by a colour tint (textures keep their pattern)."""
        scale = np.asarray(rgb_scale, dtype=np.float64).reshape(3)
        mats = [Material(np.clip(m.diffuse * scale, 0, 1), m.texture, m.name) for m in self.materials]
        return TexturedMesh(self.vertices, self.triangles, self.triangle_uvs, self.triangle_material, mats)


def concatenate(meshes: List[TexturedMesh]) -> TexturedMesh:
    """One mesh holding all triangles and materials of `meshes`."""
    verts, tris, uvs, mids, mats = [], [], [], [], []
    v_off = 0
    for m in meshes:
        verts.append(m.vertices)
        tris.append(m.triangles + v_off)
        uvs.append(m.triangle_uvs)
        mids.append(m.triangle_material + len(mats))
        mats.extend(m.materials)
        v_off += len(m.vertices)
    if not meshes:
        return TexturedMesh(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3, 2)), np.zeros(0), [])
    return TexturedMesh(np.concatenate(verts), np.concatenate(tris), np.concatenate(uvs), np.concatenate(mids), mats)


def box_mesh(
    lo, hi, material: Material, uv_scale: float = 1.0, faces: str = "xXyYzZ"
) -> TexturedMesh:
    """Axis-aligned box from corner `lo` to `hi` with outward faces; UVs in metres * uv_scale (tiles textures).

    `faces` selects which of the six faces to emit: x/X = -x/+x, y/Y = -y/+y, z/Z = -z/+z.
    """
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    corners = np.array([[hi[i] if (k >> i) & 1 else lo[i] for i in range(3)] for k in range(8)])
    # Each face: 4 corner indices (bit0 = x, bit1 = y, bit2 = z), counter-clockwise seen from outside,
    # and the two axes used for UVs.
    spec = {
        "x": ([0, 4, 6, 2], (2, 1)),
        "X": ([1, 3, 7, 5], (2, 1)),
        "y": ([0, 1, 5, 4], (0, 2)),
        "Y": ([2, 6, 7, 3], (0, 2)),
        "z": ([0, 2, 3, 1], (0, 1)),
        "Z": ([4, 5, 7, 6], (0, 1)),
    }
    verts, tris, uvs = [], [], []
    for f in faces:
        idx, (a, b) = spec[f]
        base = len(verts)
        quad = corners[idx]
        verts.extend(quad)
        quv = quad[:, [a, b]] * uv_scale
        for t in ([0, 1, 2], [0, 2, 3]):
            tris.append([base + t[0], base + t[1], base + t[2]])
            uvs.append(quv[t])
    n = len(tris)
    return TexturedMesh(np.array(verts), np.array(tris), np.array(uvs), np.zeros(n), [material])
