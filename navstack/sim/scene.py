"""A generated house: floor plan + placed furniture + navigable grid + meshes, saved and loaded.

`generate_house(seed)` is deterministic. `House.save(dir)` writes `<dir>/house.mesh.npz` (all
geometry and textures) and `<dir>/house.semantic.json` (rooms, objects with oriented boxes and
attributes, attribution), both atomically; `House.load(dir)` reads them back without the furniture
package installed.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from navstack.fileio import atomic_write, read_versioned_json
from navstack.sim import textures
from navstack.sim.furnish import Furnisher, PlacedObject
from navstack.sim.layout import Door, FloorPlan, Room, WallSegment, generate_floor_plan
from navstack.sim.mesh import Material, TexturedMesh, box_mesh
from navstack.sim.navgrid import NavGrid
from navstack.types import quat_from_yaw

SCENE_FORMAT = "navstack-scene"
SCENE_VERSION = 1
OBSTACLE_MAX_ELEVATION = 1.2  # furniture starting above this (wall shelves) does not block the agent


@dataclass
class HouseConfig:
    num_rooms: Optional[int] = None
    min_rooms: int = 4
    max_rooms: int = 10
    agent_radius: float = 0.18
    grid_resolution: float = 0.05
    wall_height: float = 2.6
    wall_thickness: float = 0.1
    # Hold-out furniture models are never rendered in training houses (seeds < 1000 by default).
    include_holdout: Optional[bool] = None
    min_reach: float = 1.0  # an object must have navigable floor within this distance


@dataclass
class House:
    seed: int
    plan: FloorPlan
    objects: List[PlacedObject]
    config: HouseConfig
    navgrid: NavGrid
    attribution: List[Dict] = field(default_factory=list)
    _meshes: Optional[List[Tuple[TexturedMesh, int]]] = None

    # ------------------------------------------------------------------ queries
    def object(self, object_id: int) -> PlacedObject:
        for o in self.objects:
            if o.id == object_id:
                return o
        raise KeyError(f"house {self.seed} has no object {object_id}")

    def objects_of(self, category: str) -> List[PlacedObject]:
        return [o for o in self.objects if o.category == category]

    @property
    def categories(self) -> List[str]:
        return sorted({o.category for o in self.objects})

    def room(self, room_id: int) -> Room:
        return self.plan.rooms[room_id]

    # ------------------------------------------------------------------ geometry
    def meshes(self) -> List[Tuple[TexturedMesh, int]]:
        """(mesh, instance id) pairs: structure first with id 0, then one mesh per object."""
        if self._meshes is None:
            from navstack.sim.furniture import load_catalog, load_model

            by_id = {e.id: e for e in load_catalog()}
            out = structure_meshes(self.plan, self.seed)
            for o in self.objects:
                out.append((object_mesh(o, load_model(by_id[o.entry_id])), o.id))
            self._meshes = out
        return self._meshes

    def renderer(self, **kwargs):
        from navstack.sim.render import Renderer

        meshes = self.meshes()
        return Renderer([m for m, _ in meshes], [i for _, i in meshes], **kwargs)

    # ------------------------------------------------------------------ persistence
    def semantic(self) -> Dict:
        return {
            "format": SCENE_FORMAT,
            "version": SCENE_VERSION,
            "seed": self.seed,
            "config": asdict(self.config),
            "wall_height": self.plan.wall_height,
            "wall_thickness": self.plan.wall_thickness,
            "rooms": [asdict(r) | {"name": r.name} for r in self.plan.rooms],
            "doors": [asdict(d) for d in self.plan.doors],
            "walls": [asdict(w) for w in self.plan.walls],
            "objects": [object_record(o, self.plan) for o in self.objects],
            "attribution": self.attribution,
        }

    def save(self, directory) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / "house.mesh.npz", lambda f: np.savez_compressed(f, **pack_meshes(self.meshes())))
        atomic_write(directory / "house.semantic.json", json.dumps(self.semantic(), indent=1))
        return directory

    @classmethod
    def load(cls, directory) -> "House":
        directory = Path(directory)
        sem_path = directory / "house.semantic.json"
        sem = read_versioned_json(sem_path, SCENE_FORMAT, SCENE_VERSION, "saved house")
        try:
            plan = FloorPlan(
                seed=sem["seed"],
                rooms=[Room(**{k: v for k, v in r.items() if k != "name"}) for r in sem["rooms"]],
                doors=[Door(**(d | {"rooms": tuple(d["rooms"])})) for d in sem["doors"]],
                walls=[WallSegment(**w) for w in sem["walls"]],
                wall_height=sem["wall_height"],
                wall_thickness=sem["wall_thickness"],
            )
            objects = [PlacedObject(**{k: (tuple(v) if k == "tint" else v) for k, v in o["placement"].items()})
                       for o in sem["objects"]]
            config = HouseConfig(**sem["config"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"{sem_path}: missing or malformed field ({e})") from None
        house = cls(sem["seed"], plan, objects, config, build_navgrid(plan, objects, config), sem.get("attribution", []))
        mesh_path = directory / "house.mesh.npz"
        try:
            with np.load(mesh_path, allow_pickle=False) as z:
                house._meshes = unpack_meshes(dict(z))
        except FileNotFoundError:
            raise FileNotFoundError(f"{mesh_path}: missing (the semantic file is there but not the mesh)") from None
        except Exception as e:  # zip/npz corruption surfaces as many exception types
            raise ValueError(f"{mesh_path}: cannot read mesh file ({type(e).__name__}: {e})") from None
        return house


def object_record(o: PlacedObject, plan: FloorPlan) -> Dict:
    """Habitat-semantic-scene-like record of an object, plus what is needed to rebuild it."""
    hx, hz = o.half_extents_xz
    return {
        "id": o.id,
        "category": o.category,
        "room_id": o.room_id,
        "room": plan.rooms[o.room_id].type,
        "obb": {
            "center": [o.x, o.elevation + o.height / 2, o.z],
            "half_extents": [o.width / 2, o.height / 2, o.depth / 2],
            "rotation": quat_from_yaw(o.yaw).tolist(),
        },
        "aabb_xz": [o.x - hx, o.z - hz, o.x + hx, o.z + hz],
        "model": {"id": o.entry_id, "name": o.model_name},
        "attributes": dict(o.attributes),
        "placement": asdict(o),
    }


# ---------------------------------------------------------------------- building
def build_navgrid(plan: FloorPlan, objects: List[PlacedObject], config: HouseConfig) -> NavGrid:
    t = plan.wall_thickness
    obstacles = []
    for w in plan.walls:
        if w.axis == "x":
            obstacles.append(((w.lo + w.hi) / 2, w.c, (w.hi - w.lo) / 2 + t / 2, t / 2, 0.0))
        else:
            obstacles.append((w.c, (w.lo + w.hi) / 2, t / 2, (w.hi - w.lo) / 2 + t / 2, 0.0))
    for o in objects:
        if o.elevation < OBSTACLE_MAX_ELEVATION:
            hx, hz = o.half_extents_xz
            obstacles.append((o.x, o.z, hx, hz, 0.0))
    free = [(r.x0, r.z0, r.x1, r.z1) for r in plan.rooms]
    return NavGrid(plan.bounds, free, obstacles, config.agent_radius, config.grid_resolution)


def reachable(grid: NavGrid, o: PlacedObject, reach: float) -> bool:
    """Whether some island cell lies within `reach` of the object's footprint."""
    x0, z0, x1, z1 = o.footprint
    r0, c0 = grid.spec.to_cell(x0 - reach, z0 - reach)
    r1, c1 = grid.spec.to_cell(x1 + reach, z1 + reach)
    r0, c0 = max(int(r0), 0), max(int(c0), 0)
    sub = grid.island[r0 : int(r1) + 1, c0 : int(c1) + 1]
    if not sub.any():
        return False
    rr, cc = np.nonzero(sub)
    x, z = grid.spec.to_world(rr + r0, cc + c0)
    dx = np.maximum(np.maximum(x0 - x, x - x1), 0)
    dz = np.maximum(np.maximum(z0 - z, z - z1), 0)
    return bool((np.hypot(dx, dz) <= reach).any())


def generate_house(seed: int, config: Optional[HouseConfig] = None, catalog=None) -> House:
    """The deterministic house of `seed`: floor plan, furniture, navigable grid (meshes built lazily)."""
    from navstack.sim.furniture import entries_by_category, load_catalog

    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"house seed must be a non-negative integer, got {seed!r}")
    config = config or HouseConfig()
    plan = generate_floor_plan(seed, config.num_rooms, config.min_rooms, config.max_rooms)
    plan.wall_height, plan.wall_thickness = config.wall_height, config.wall_thickness
    catalog = catalog if catalog is not None else load_catalog()
    include_holdout = config.include_holdout if config.include_holdout is not None else seed >= 1000
    by_cat = entries_by_category([e for e in catalog if include_holdout or not e.holdout])
    rng = np.random.default_rng([seed, 202])
    objects = Furnisher(plan, by_cat, rng, config.wall_thickness).furnish()
    grid = build_navgrid(plan, objects, config)
    # Drop furniture the agent could not get near (it would make unreachable goals), then renumber.
    kept = [o for o in objects if reachable(grid, o, config.min_reach)]
    if len(kept) != len(objects):
        grid = build_navgrid(plan, kept, config)
        kept = [o for o in kept if reachable(grid, o, config.min_reach)]
    for i, o in enumerate(kept):
        o.id = i + 1
    entries = {e.id: e for e in catalog}
    used = sorted({o.entry_id for o in kept})
    from navstack.sim.furniture import attribution_rows

    return House(seed, plan, kept, config, grid, attribution_rows([entries[i] for i in used]))


# ---------------------------------------------------------------------- meshes
WALL_PAINTS = [(0.92, 0.90, 0.85), (0.85, 0.88, 0.92), (0.93, 0.88, 0.80), (0.86, 0.91, 0.86), (0.90, 0.86, 0.88)]
FLOOR_COLOURS = {
    "living_room": (0.62, 0.42, 0.25), "dining_room": (0.55, 0.36, 0.20), "hallway": (0.70, 0.55, 0.38),
    "kitchen": (0.85, 0.85, 0.82), "bathroom": (0.70, 0.82, 0.88), "bedroom": (0.55, 0.50, 0.65),
    "office": (0.45, 0.55, 0.50),
}


def structure_meshes(plan: FloorPlan, seed: int) -> List[Tuple[TexturedMesh, int]]:
    """Floors (textured per room type), walls and ceiling, all with instance id 0."""
    rng = np.random.default_rng([seed, 303])
    t, h = plan.wall_thickness, plan.wall_height
    out = []
    for r in plan.rooms:
        colour = np.clip(np.asarray(FLOOR_COLOURS[r.type]) * rng.uniform(0.85, 1.1, 3), 0, 1)
        tex = textures.FLOOR_STYLE[r.type](rng, colour)
        out.append((box_mesh([r.x0, -0.05, r.z0], [r.x1, 0.0, r.z1], Material(np.ones(3), tex, f"floor_{r.type}"),
                             uv_scale=0.5, faces="Y"), 0))
    wall_tex = textures.paint(rng, WALL_PAINTS[seed % len(WALL_PAINTS)])
    wall_mat = Material(np.ones(3), wall_tex, "wall")
    walls = []
    for w in plan.walls:
        if w.axis == "x":
            lo, hi = [w.lo - t / 2, 0.0, w.c - t / 2], [w.hi + t / 2, h, w.c + t / 2]
        else:
            lo, hi = [w.c - t / 2, 0.0, w.lo - t / 2], [w.c + t / 2, h, w.hi + t / 2]
        walls.append(box_mesh(lo, hi, wall_mat, uv_scale=0.5, faces="xXzZ"))
    from navstack.sim.mesh import concatenate

    out.append((concatenate(walls), 0))
    x0, z0, x1, z1 = plan.bounds
    ceiling = Material(np.array([0.96, 0.96, 0.95]), None, "ceiling")
    out.append((box_mesh([x0, h, z0], [x1, h + 0.05, z1], ceiling, faces="y"), 0))
    return out


def object_mesh(o: PlacedObject, model: TexturedMesh) -> TexturedMesh:
    """The catalogue-fitted model scaled to the instance size, turned by its yaw, moved into place, tinted."""
    bounds = model.bounds()
    size = np.maximum(bounds[1] - bounds[0], 1e-6)
    s = np.array([o.width, o.height, o.depth]) / size
    cs, sn = math.cos(o.yaw), math.sin(o.yaw)
    rot = np.array([[cs, 0, sn], [0, 1, 0], [-sn, 0, cs]])
    m = np.eye(4)
    m[:3, :3] = rot @ np.diag(s)
    m[:3, 3] = [o.x, o.elevation, o.z]
    return model.transformed(m).tinted(np.asarray(o.tint) * 0.7 + 0.3)


def pack_meshes(meshes: List[Tuple[TexturedMesh, int]]) -> Dict[str, np.ndarray]:
    """Flatten meshes + materials + textures into plain arrays for np.savez (no pickling)."""
    verts, tris, uvs, mats, vcount, tcount, ids, mcount = [], [], [], [], [], [], [], []
    diffuse, tex_index, tex_shapes, tex_data = [], [], [], []
    for mesh, inst in meshes:
        verts.append(mesh.vertices)
        tris.append(mesh.triangles)
        uvs.append(mesh.triangle_uvs)
        mats.append(mesh.triangle_material)
        vcount.append(len(mesh.vertices))
        tcount.append(len(mesh.triangles))
        mcount.append(len(mesh.materials))
        ids.append(inst)
        for m in mesh.materials:
            diffuse.append(m.diffuse)
            if m.texture is None:
                tex_index.append(-1)
            else:
                tex_index.append(len(tex_shapes))
                tex_shapes.append(m.texture.shape)
                tex_data.append(m.texture.reshape(-1))
    cat = lambda xs, shape, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(shape, dt)  # noqa: E731
    return {
        "vertices": cat(verts, (0, 3), np.float32), "triangles": cat(tris, (0, 3), np.int32),
        "triangle_uvs": cat(uvs, (0, 3, 2), np.float32), "triangle_material": cat(mats, (0,), np.int32),
        "vertex_counts": np.array(vcount, np.int64), "triangle_counts": np.array(tcount, np.int64),
        "material_counts": np.array(mcount, np.int64), "instance_ids": np.array(ids, np.int64),
        "diffuse": np.array(diffuse, np.float32).reshape(-1, 3), "texture_index": np.array(tex_index, np.int64),
        "texture_shapes": np.array(tex_shapes, np.int64).reshape(-1, 3),
        "texture_data": cat(tex_data, (0,), np.uint8),
    }


def unpack_meshes(z: Dict[str, np.ndarray]) -> List[Tuple[TexturedMesh, int]]:
    shapes = z["texture_shapes"]
    offsets = np.concatenate([[0], np.cumsum(np.prod(shapes, axis=1))]) if len(shapes) else np.zeros(1, np.int64)
    if offsets[-1] != len(z["texture_data"]):
        raise ValueError("texture data is cut short")
    textures_ = [z["texture_data"][offsets[i] : offsets[i + 1]].reshape(shapes[i]) for i in range(len(shapes))]
    materials = [Material(d.astype(np.float64), textures_[k] if k >= 0 else None) for d, k in zip(z["diffuse"], z["texture_index"])]
    out = []
    v = t = m = 0
    for nv, nt, nm, inst in zip(z["vertex_counts"], z["triangle_counts"], z["material_counts"], z["instance_ids"]):
        mesh = TexturedMesh(z["vertices"][v : v + nv], z["triangles"][t : t + nt], z["triangle_uvs"][t : t + nt],
                            z["triangle_material"][t : t + nt], materials[m : m + nm])
        if len(mesh.triangles) and (mesh.triangles.max() >= nv or mesh.triangle_material.max() >= nm):
            raise ValueError("mesh indices out of range (file corrupt or cut short)")
        out.append((mesh, int(inst)))
        v, t, m = v + nv, t + nt, m + nm
    if v != len(z["vertices"]) or t != len(z["triangles"]):
        raise ValueError("mesh arrays do not add up (file corrupt or cut short)")
    return out
