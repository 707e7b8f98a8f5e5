"""Crop datasets for the embedded-world CLIP model: object crops rendered in generated houses, with captions.

Training crops (``mode="train"``) come from training-seed houses (seeds < 1000 never contain hold-out
furniture models). Each object is seen from several random nearby navigable positions at varied camera
heights, fields of view, distances and aim points; the simulator's ground-truth instance mask gives the
bounding box (training data only), padded with some context, then :func:`square_resize` (the encoder's
own preprocessing) makes an ``image_size`` square crop. A few "background" crops (wall, floor, ceiling
patches) let downstream code reject non-objects. Rendering only a window around the object, at the
pixel density of a 320x240 agent frame, keeps a view to ~2 ms.

Evaluation crops (``mode="eval"``) are what the agent sees: a full 320x240, 79 degree frame from the
sensor height (0.88 m) at pitch 0, 1-3 m from the object, facing it, the object at least half visible;
the crop is the mask's box plus 10%.

Datasets are cached as ``.npz`` (uint8 crops + string/number metadata columns, no pickle) under
``$NAVSTACK_CACHE/clip_data/`` (default ``~/.cache/navstack/clip_data``), keyed by every parameter.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from navstack.perception.clip_encoder import CATEGORY_WORDS, PROMPT_TEMPLATES, article, square_resize

DATA_VERSION = 2
#: Pad colour of non-square crops: the CLIP mean colour (OpenAI's, used by navstack-clip-small) in uint8.
FILL = (123, 117, 104)
AGENT_WIDTH, AGENT_HEIGHT, AGENT_HFOV, SENSOR_HEIGHT = 320, 240, 79.0, 0.88
META_STR = ("kind", "category", "color", "material", "size", "room", "near", "entry_id")
META_NUM = ("seed", "object_id", "holdout", "distance", "pixels")
BACKGROUND_KINDS = ("wall", "floor", "ceiling")


@dataclass(frozen=True)
class CropSetConfig:
    seeds: Tuple[int, ...]
    mode: str = "train"  # "train": varied random views; "eval": agent views
    views_per_object: int = 6
    background_per_house: int = 6
    image_size: int = 64
    sample_seed: int = 0
    include_holdout: Optional[bool] = None  # HouseConfig.include_holdout (None: seeds >= 1000 may hold them)

    def __post_init__(self):
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if self.mode not in ("train", "eval"):
            raise ValueError(f"crop set mode must be 'train' or 'eval', got {self.mode!r}")
        if not self.seeds:
            raise ValueError("crop set needs at least one house seed")
        if any(s < 0 for s in self.seeds):
            raise ValueError(f"house seeds must be non-negative, got {min(self.seeds)}")
        if self.image_size < 8 or self.views_per_object < 1 or self.background_per_house < 0:
            raise ValueError(f"bad crop set sizes: image_size={self.image_size}, views_per_object="
                             f"{self.views_per_object}, background_per_house={self.background_per_house}")

    def key(self) -> str:
        text = json.dumps({"v": DATA_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class CropSet:
    images: np.ndarray  # (N, S, S, 3) uint8
    meta: Dict[str, np.ndarray]  # one column per META_STR / META_NUM name, length N
    config: CropSetConfig
    stats: Dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> "CropSet":
        index = np.asarray(index)
        return CropSet(self.images[index], {k: v[index] for k, v in self.meta.items()}, self.config, dict(self.stats))

    def row(self, i: int) -> Dict[str, object]:
        return {k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in self.meta.items()}

    @property
    def objects(self) -> np.ndarray:
        return np.nonzero(self.meta["kind"] == "object")[0]


# ----------------------------------------------------------------------------------------------
# captions
# ----------------------------------------------------------------------------------------------

_ROOM_TEMPLATES = ("the {p} in the {room}", "find the {p} in the {room}", "go to the {p} in the {room}",
                   "{ap} in the {room}", "a photo of {ap} in the {room}")
_NEAR_TEMPLATES = ("the {p} in the {room} next to the {near}", "the {p} next to the {near} in the {room}",
                   "find the {p} in the {room} next to the {near}", "go to the {p} next to the {near}",
                   "the {p} next to the {near}")
#: How often a training caption says each attribute / takes each form.
CAPTION_PROBS = {"canonical_noun": 0.5, "size": 0.4, "color": 0.5, "material": 0.25, "template": 0.4, "room": 0.35}


def object_phrase(category: str, color: str = "", material: str = "", size: str = "", noun: Optional[str] = None) -> str:
    """'large red wooden chair' (size, colour, material, noun; medium size is not said)."""
    words = [w for w in (size if size != "medium" else "", color, material) if w]
    return " ".join(words + [noun or CATEGORY_WORDS.get(category, (category.replace("_", " "),))[0]])


def retrieval_caption(row: Dict[str, object]) -> str:
    """The deterministic description of an instance used by the retrieval benchmark."""
    p = object_phrase(str(row["category"]), str(row["color"]), str(row["material"]), str(row["size"]))
    return f"the {p} in the {row['room']}"


def training_caption(row: Dict[str, object], rng: np.random.Generator) -> str:
    """A random caption of a crop: prompt variety over category words and attribute subsets."""
    kind = str(row["kind"])
    room = str(row["room"])
    if kind != "object":
        w = kind
        r = rng.random()
        if r < 0.4:
            return str(rng.choice(PROMPT_TEMPLATES)).format(article(w))
        if r < 0.7:
            return f"the {w}"
        return f"the {w} in the {room}" if room else f"the {w}"
    cat = str(row["category"])
    words = CATEGORY_WORDS.get(cat, (cat.replace("_", " "),))
    pr = CAPTION_PROBS
    noun = words[0] if rng.random() < pr["canonical_noun"] else str(rng.choice(words))
    size = str(row["size"]) if rng.random() < pr["size"] else ""
    color = str(row["color"]) if rng.random() < pr["color"] else ""
    material = str(row["material"]) if rng.random() < pr["material"] else ""
    p = object_phrase(cat, color, material, size, noun)
    r = rng.random()
    near = str(row["near"])
    if r < pr["template"]:
        return str(rng.choice(PROMPT_TEMPLATES)).format(article(p))
    if r < pr["template"] + pr["room"] or not near:
        return str(rng.choice(_ROOM_TEMPLATES)).format(p=p, ap=article(p), room=room)
    return str(rng.choice(_NEAR_TEMPLATES)).format(p=p, room=room, near=near)


# ----------------------------------------------------------------------------------------------
# rendering one house
# ----------------------------------------------------------------------------------------------


def _room_at(house, x: float, z: float) -> str:
    for r in house.plan.rooms:
        if r.x0 <= x <= r.x1 and r.z0 <= z <= r.z1:
            return r.name
    return ""


def _pad_box(mask: np.ndarray, pads: Sequence[float]) -> Optional[Tuple[int, int, int, int]]:
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    bh, bw = y1 - y0, x1 - x0
    h, w = mask.shape
    y0 = max(0, int(round(y0 - pads[0] * bh)))
    y1 = min(h, int(round(y1 + pads[1] * bh)))
    x0 = max(0, int(round(x0 - pads[2] * bw)))
    x1 = min(w, int(round(x1 + pads[3] * bw)))
    return y0, y1, x0, x1


def _object_views(house, renderer, oracle, obj, rng: np.random.Generator, cfg: CropSetConfig, points: np.ndarray):
    """Yield (crop, distance, pixels) for up to cfg.views_per_object views of one object."""
    from navstack.sim.backend import camera_rotation
    from navstack.tasks.views import look_at_rotation
    from navstack.types import Intrinsics

    train = cfg.mode == "train"
    center = obj.center
    d = np.hypot(points[:, 0] - center[0], points[:, 1] - center[2])
    lo, hi = (0.5, 3.5) if train else (1.0, 3.0)
    cand = points[(d > lo) & (d < hi)]
    if len(cand) == 0:
        cand = points[np.argsort(d)[:40]]
    if len(cand) == 0:
        return
    extent = np.array([obj.width, obj.height, obj.depth])
    radius = 0.5 * float(np.linalg.norm(extent))
    made = 0
    for _ in range(cfg.views_per_object * 4):
        if made >= cfg.views_per_object:
            break
        x, z = cand[rng.integers(len(cand))]
        if train:
            height = SENSOR_HEIGHT if rng.random() < 0.4 else float(rng.uniform(0.4, 1.7))
        else:
            height = SENSOR_HEIGHT
        eye = np.array([x, height, z])
        if oracle.visible_fraction(eye[None], obj.id)[0] < (0.25 if train else 0.5):
            continue
        dist = float(np.linalg.norm(center - eye))
        if train:
            hfov = float(rng.uniform(55.0, 100.0))
            f = (AGENT_WIDTH / 2) / math.tan(math.radians(hfov) / 2)
            if rng.random() < 0.25:
                f *= float(rng.uniform(0.35, 0.7))  # a lower-resolution (farther / smaller) view
            target = center + rng.uniform(-0.3, 0.3, 3) * extent / 2
            rot = look_at_rotation(eye, target)
            px = f * radius / max(dist, 0.3)
            side = int(np.clip(2.6 * px, 24, 240))
            intr = Intrinsics(side, side, f, f, side / 2, side / 2)
            pads = rng.uniform(0.0, 0.3, 4)
        else:
            yaw = math.atan2(-(center[0] - eye[0]), -(center[2] - eye[2]))
            rot = camera_rotation(yaw, 0.0)
            intr = Intrinsics.from_hfov(AGENT_WIDTH, AGENT_HEIGHT, AGENT_HFOV)
            pads = (0.1, 0.1, 0.1, 0.1)
        r = renderer.render(eye, rot, intr)
        mask = r.instance == obj.id
        pixels = int(mask.sum())
        if pixels < (30 if train else 100):
            continue
        box = _pad_box(mask, pads)
        y0, y1, x0, x1 = box
        crop = square_resize(r.rgb[y0:y1, x0:x1], cfg.image_size, FILL)
        made += 1
        yield crop, dist, pixels


def _background_views(house, renderer, rng: np.random.Generator, cfg: CropSetConfig, points: np.ndarray):
    """Yield (crop, kind, room) patches that show only wall, floor or ceiling."""
    from navstack.sim.backend import camera_rotation
    from navstack.types import Intrinsics, quat_to_matrix

    intr = Intrinsics.from_hfov(160, 120, AGENT_HFOV)
    made = 0
    for _ in range(cfg.background_per_house * 6):
        if made >= cfg.background_per_house:
            break
        x, z = points[rng.integers(len(points))]
        eye = np.array([x, SENSOR_HEIGHT, z])
        pitch = float(rng.uniform(-0.7, 0.5))
        rot = camera_rotation(float(rng.uniform(-math.pi, math.pi)), pitch)
        r = renderer.render(eye, rot, intr)
        side = int(rng.integers(24, 80))
        y0 = int(rng.integers(0, intr.height - side + 1))
        x0 = int(rng.integers(0, intr.width - side + 1))
        win = (slice(y0, y0 + side), slice(x0, x0 + side))
        depth = r.depth[win]
        if (r.instance[win] != 0).mean() > 0.03 or not np.isfinite(depth).all():
            continue
        # world height of every hit point: floor (y ~ 0), ceiling (y ~ wall height) or wall
        vv, uu = np.mgrid[y0 : y0 + side, x0 : x0 + side] + 0.5
        dirs = np.stack([(uu - intr.cx) / intr.fx, -(vv - intr.cy) / intr.fy, -np.ones_like(uu)], -1)
        y = eye[1] + (dirs * depth[..., None]) @ quat_to_matrix(rot)[1]
        if (y < 0.02).mean() > 0.95:
            kind = "floor"
        elif (y > house.plan.wall_height - 0.02).mean() > 0.95:
            kind = "ceiling"
        elif ((y > 0.02) & (y < house.plan.wall_height - 0.02)).mean() > 0.95:
            kind = "wall"
        else:
            continue
        made += 1
        yield square_resize(r.rgb[win], cfg.image_size, FILL), kind, _room_at(house, x, z)


def house_crops(seed: int, cfg: CropSetConfig) -> Tuple[np.ndarray, Dict[str, list], Dict[str, int]]:
    """All crops of one house: (images, metadata columns, counts)."""
    from navstack.sim.furniture import load_catalog
    from navstack.sim.scene import HouseConfig, generate_house
    from navstack.tasks.describe import nearest_other
    from navstack.tasks.views import VisibilityOracle

    holdout = {e.id: e.holdout for e in load_catalog()}
    house = generate_house(int(seed), HouseConfig(include_holdout=cfg.include_holdout))
    renderer = house.renderer(threads=1)
    oracle = VisibilityOracle(house, renderer, SENSOR_HEIGHT)
    rng = np.random.default_rng([cfg.sample_seed, int(seed), 4242])
    points = house.navgrid.navigable_points()
    images: List[np.ndarray] = []
    meta: Dict[str, list] = {k: [] for k in META_STR + META_NUM}
    counts = {"objects": 0, "objects_without_view": 0}

    def add(img, **kw):
        images.append(img)
        for k in META_STR:
            meta[k].append(str(kw.get(k, "")))
        for k in META_NUM:
            meta[k].append(kw.get(k, 0))

    for o in house.objects:
        counts["objects"] += 1
        near = nearest_other(house, o)
        a = o.attributes
        info = dict(kind="object", category=o.category, color=a.get("color", ""), material=a.get("material", ""),
                    size=a.get("size", ""), room=house.room(o.room_id).name, entry_id=o.entry_id,
                    near=(CATEGORY_WORDS.get(near.category, (near.category,))[0] if near else ""),
                    seed=int(seed), object_id=o.id, holdout=int(holdout.get(o.entry_id, False)))
        n = 0
        for crop, dist, pixels in _object_views(house, renderer, oracle, o, rng, cfg, points):
            add(crop, distance=dist, pixels=pixels, **info)
            n += 1
        if n == 0:
            counts["objects_without_view"] += 1
    if cfg.mode == "train":
        for crop, kind, room in _background_views(house, renderer, rng, cfg, points):
            add(crop, kind=kind, room=room, seed=int(seed), object_id=0)
    s = cfg.image_size
    arr = np.stack(images) if images else np.zeros((0, s, s, 3), np.uint8)
    return arr, meta, counts


def _house_job(args):
    seed, cfg = args
    return seed, house_crops(seed, cfg)


# ----------------------------------------------------------------------------------------------
# whole datasets, cached
# ----------------------------------------------------------------------------------------------


def cache_path(cfg: CropSetConfig) -> Path:
    from navstack.sim.catalog import cache_dir

    return cache_dir() / "clip_data" / f"{cfg.mode}_{cfg.key()}.npz"


def render_crop_set(cfg: CropSetConfig, workers: int = 1, progress: bool = True) -> CropSet:
    """Render every house of `cfg` (in `workers` processes, each ray casting on one thread)."""
    from tqdm import tqdm

    t0 = time.time()
    jobs = [(s, cfg) for s in cfg.seeds]
    results = {}
    bar = tqdm(total=len(jobs), desc=f"render {cfg.mode} crops", unit="house", disable=not progress)
    if workers <= 1 or len(jobs) == 1:
        for job in jobs:
            seed, res = _house_job(job)
            results[seed] = res
            bar.update(1)
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            for seed, res in pool.imap_unordered(_house_job, jobs):
                results[seed] = res
                bar.update(1)
    bar.close()
    images, meta = [], {k: [] for k in META_STR + META_NUM}
    stats = {"houses": len(jobs), "objects": 0, "objects_without_view": 0}
    for seed in cfg.seeds:
        arr, m, counts = results[seed]
        images.append(arr)
        for k in meta:
            meta[k].extend(m[k])
        for k in counts:
            stats[k] += counts[k]
    s = cfg.image_size
    all_images = np.concatenate(images) if images else np.zeros((0, s, s, 3), np.uint8)
    cols = {k: np.asarray(meta[k], dtype=str) for k in META_STR}
    cols.update({k: np.asarray(meta[k], dtype=np.float32 if k == "distance" else np.int64) for k in META_NUM})
    stats["crops"] = len(all_images)
    stats["render_s"] = round(time.time() - t0, 1)
    stats["render_workers"] = workers
    stats["object_crops"] = int((cols["kind"] == "object").sum())
    return CropSet(all_images, cols, cfg, stats)


def save_crop_set(ds: CropSet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, images=ds.images, config=np.asarray(json.dumps(asdict(ds.config))),
                     stats=np.asarray(json.dumps(ds.stats)), **{f"meta_{k}": v for k, v in ds.meta.items()})
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_crop_set(path: Path, cfg: CropSetConfig) -> CropSet:
    with np.load(path, allow_pickle=False) as z:
        stored = json.loads(str(z["config"]))
        stored["seeds"] = tuple(stored["seeds"])
        if CropSetConfig(**stored) != cfg:
            raise ValueError(f"{path}: cached crop set was made with other parameters")
        meta = {k[5:]: z[k] for k in z.files if k.startswith("meta_")}
        return CropSet(z["images"], meta, cfg, json.loads(str(z["stats"])))


def load_crop_set(cfg: CropSetConfig, workers: int = 1, progress: bool = True, cache: bool = True) -> CropSet:
    """The crop set of `cfg` from the cache, or rendered (and cached)."""
    path = cache_path(cfg)
    if cache and path.is_file():
        try:
            return read_crop_set(path, cfg)
        except Exception:  # unreadable / stale cache: render again
            pass
    ds = render_crop_set(cfg, workers=workers, progress=progress)
    if cache:
        try:
            save_crop_set(ds, path)
        except OSError:
            pass
    return ds
