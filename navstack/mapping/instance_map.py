"""InstanceMap: every object instance the agent has seen, in 3D, with a fused CLIP feature.

Per instance (`Instance`):

* a voxelised point set: sorted unique int64 keys of `voxel` (5 cm) cells, capped at `max_points`
  (when over the cap the instance is re-voxelised at twice the cell size, deterministically);
* a fused CLIP feature: the view-weighted running sum of crop embeddings (renormalised on read);
  the weight of a view is its `Detection.weight` (SemanticMap: the fraction of the frame the
  segment covers, halved when it touches the border: big, whole views classify best);
* a category distribution: view-weighted mean of per-crop class probabilities (CLIP zero-shot over
  the category prompts), and likewise a room-type distribution from CLIP room prompts;
* best views: up to `max_views` (crop, camera pose, quality, stamp) kept by view quality
  (size x centredness, truncated views discounted);
* observation count, embedding count, first/last-seen stamps and frame indices, and the agent
  positions it was seen from (their weighted mean, used to place it in a room region).

Association (`associate`): for each instance whose box the detection touches, the overlap is the
fraction of the detection's voxels that have one of the instance's voxels in their 3x3x3
neighbourhood (points within about a voxel of the instance's surface); the best instance with
overlap >= `assoc_min_overlap` is taken unless both have features that disagree
(cosine < `assoc_min_similarity`, overridden by an overlap >= `assoc_override_overlap`).
Otherwise a new instance starts. Neighbouring objects (>= 5 cm apart) share only their boundary
voxels, so they stay apart.

Maintenance (`maintain`, every `merge_every` frames): duplicates are merged (the same overlap
measure on the smaller one >= `merge_overlap` with compatible features, or boxes that mostly
overlap / touch with very similar features and the same category); instances that turned out to
be structure (most voxels on wall cells of the proposer's `StructureMemory`, or a thin slab rising
from the floor to wall height: a door jamb or wall end) and tentative instances (seen fewer than `min_observations` times)
not seen for `forget_after` frames are dropped; above `max_instances` the least-observed, oldest
go first. Memory is bounded by max_instances x (max_points voxel keys + max_views crops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from navstack.mapping.shape_prior import ShapePrior
from navstack.perception.geometry import keys_to_points, voxel_keys


@dataclass
class InstanceMapConfig:
    voxel: float = 0.05
    max_points: int = 3000  # fine voxels per instance
    max_instances: int = 600
    max_views: int = 3
    view_size: int = 128  # stored crops are resized so their longer side is at most this
    assoc_min_overlap: float = 0.3
    assoc_min_similarity: float = 0.55  # below this cosine, overlapping detections do not associate
    assoc_override_overlap: float = 0.7  # ... unless the overlap is at least this
    split_min_overlap: float = 0.15  # a detection also this close to another instance gives it its part
    merge_every: int = 10
    merge_overlap: float = 0.3
    merge_min_similarity: float = 0.6
    merge_box_overlap: float = 0.5  # boxes overlapping this much (of the smaller) merge with similar features
    merge_touch_similarity: float = 0.85  # touching (not overlapping) same-category pieces merge above this
    merge_touch_gap: float = 0.06
    merge_stack_similarity: float = 0.7  # one piece on top of another, same category, this similar: merged
    merge_stack_gap: float = 0.12
    merge_stack_footprint: float = 0.5  # shared floor-plane area / the smaller footprint
    merge_under_fraction: float = 0.8  # lower piece's footprint inside the upper one's: merged (geometry alone)
    merge_fragment_ratio: float = 0.2  # a piece this small (voxels) inside a bigger one's box is merged into it
    merge_fragment_similarity: float = 0.5
    slab_max_thickness: float = 0.15  # floor-to-wall-height slabs thinner than this are structure
    slab_min_height: float = 1.5
    min_observations: int = 2
    forget_after: int = 60  # frames: tentative instances unseen this long are dropped
    wall_fraction: float = 0.6  # instances with this much of their footprint on wall cells are dropped

    def validate(self) -> "InstanceMapConfig":
        if not self.voxel > 0:
            raise ValueError(f"voxel must be > 0, got {self.voxel}")
        if self.max_points < 10 or self.max_instances < 1 or self.max_views < 1:
            raise ValueError("max_points >= 10, max_instances >= 1 and max_views >= 1 are required")
        return self


@dataclass
class View:
    crop: np.ndarray  # (h, w, 3) uint8
    position: np.ndarray  # camera position (3,)
    yaw: float
    quality: float
    stamp: float
    frame: int
    bbox: Tuple[int, int, int, int]


@dataclass
class Detection:
    """What the map is told about one proposal in one frame."""

    points: np.ndarray  # (N, 3) world
    quality: float  # view quality in (0, 1]
    crop: Optional[np.ndarray] = None
    bbox: Tuple[int, int, int, int] = (0, 0, 0, 0)
    embedding: Optional[np.ndarray] = None  # (D,) unit CLIP feature, or None (not embedded this frame)
    category_probs: Optional[np.ndarray] = None  # (C,)
    room_probs: Optional[np.ndarray] = None  # (R,)
    oracle_id: int = -1
    weight: Optional[float] = None  # fusion weight of feature/category/room (default: quality)


@dataclass
class Instance:
    id: int
    keys: np.ndarray  # sorted unique voxel keys (of cell size `voxel`)
    voxel: float
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    feature_sum: Optional[np.ndarray] = None
    feature_weight: float = 0.0
    category_sum: Optional[np.ndarray] = None
    category_weight: float = 0.0
    room_sum: Optional[np.ndarray] = None
    room_weight: float = 0.0
    views: List[View] = field(default_factory=list)
    observations: int = 0
    embeddings: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    first_frame: int = 0
    last_frame: int = 0
    last_embed_frame: int = -10**9
    last_embed_position: Optional[np.ndarray] = None
    last_embed_yaw: float = 0.0
    last_embed_quality: float = 0.0
    seen_from_sum: np.ndarray = field(default_factory=lambda: np.zeros(2))
    seen_from_weight: float = 0.0
    oracle_votes: Dict[int, int] = field(default_factory=dict)
    # the map's ShapePrior (or None); the shape's category log weights are derived from the points on the
    # first read after they changed (not every detection), never saved
    shape_prior: Optional[ShapePrior] = field(default=None, repr=False, compare=False)
    _shape_log: Optional[np.ndarray] = field(default=None, init=False, repr=False, compare=False)
    _shape_fresh: bool = field(default=False, init=False, repr=False, compare=False)

    # ---------------------------------------------------------------- derived
    @property
    def feature(self) -> Optional[np.ndarray]:
        if self.feature_sum is None:
            return None
        n = float(np.linalg.norm(self.feature_sum))
        return (self.feature_sum / n).astype(np.float32) if n > 0 else None

    @property
    def clip_category_probs(self) -> Optional[np.ndarray]:
        """The view-weighted mean of the crops' label probabilities (CLIP alone)."""
        if self.category_sum is None or self.category_weight <= 0:
            return None
        return (self.category_sum / self.category_weight).astype(np.float32)

    def points_changed(self) -> None:
        """Mark the shape weights stale (called whenever `keys` or `voxel` change)."""
        self._shape_fresh = False

    @property
    def shape_log(self) -> Optional[np.ndarray]:
        """(C,) log weights of the categories from the 3D shape, or None without a prior or points."""
        if self.shape_prior is None or not len(self.keys):
            return None
        if not self._shape_fresh:
            self._shape_log = self.shape_prior.log_weights(self.points, self.voxel)
            self._shape_fresh = True
        return self._shape_log

    @property
    def category_probs(self) -> Optional[np.ndarray]:
        """CLIP's label probabilities reweighted over the categories by the shape prior (if the map has one)."""
        p = self.clip_category_probs
        if p is None:
            return p
        w = self.shape_log
        return p if w is None or len(w) > len(p) else ShapePrior.apply(p, w)

    @property
    def room_probs(self) -> Optional[np.ndarray]:
        if self.room_sum is None or self.room_weight <= 0:
            return None
        return (self.room_sum / self.room_weight).astype(np.float32)

    @property
    def points(self) -> np.ndarray:
        return keys_to_points(self.keys, self.voxel)

    @property
    def centre(self) -> np.ndarray:
        return self.points.mean(axis=0) if len(self.keys) else (self.bbox_min + self.bbox_max) / 2

    @property
    def size(self) -> np.ndarray:
        return self.bbox_max - self.bbox_min

    @property
    def seen_from(self) -> Optional[np.ndarray]:
        """Weighted mean (x, z) of the camera positions this instance was seen from."""
        if self.seen_from_weight <= 0:
            return None
        return self.seen_from_sum / self.seen_from_weight

    @property
    def oracle_id(self) -> int:
        if not self.oracle_votes:
            return -1
        return max(self.oracle_votes.items(), key=lambda kv: kv[1])[0]

    def nbytes(self) -> int:
        n = self.keys.nbytes + 64
        for a in (self.feature_sum, self.category_sum, self.room_sum):
            n += 0 if a is None else a.nbytes
        n += sum(v.crop.nbytes + 64 for v in self.views)
        return n


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    return np.unique(keys)


def _in_sorted(sorted_keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(len(query), bool)
    i = np.searchsorted(sorted_keys, query).clip(0, len(sorted_keys) - 1)
    return sorted_keys[i] == query


_OFFSETS = np.array([(dx << 42) + (dy << 21) + dz for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)],
                    np.int64)


def near_mask(query_keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Per query voxel: whether `sorted_keys` holds a voxel in its 3x3x3 neighbourhood."""
    if len(query_keys) == 0 or len(sorted_keys) == 0:
        return np.zeros(len(query_keys), bool)
    nb = (query_keys[:, None] + _OFFSETS[None, :]).ravel()
    i = np.searchsorted(sorted_keys, nb).clip(0, len(sorted_keys) - 1)
    return (sorted_keys[i] == nb).reshape(len(query_keys), 27).any(axis=1)


def near_fraction(query_keys: np.ndarray, sorted_keys: np.ndarray, max_query: int = 400) -> float:
    """Fraction of `query_keys` voxels with a voxel of `sorted_keys` (same grid) in their 3x3x3
    neighbourhood, i.e. points within about one voxel of the other set (evenly subsampled query)."""
    if len(query_keys) == 0 or len(sorted_keys) == 0:
        return 0.0
    if len(query_keys) > max_query:
        query_keys = query_keys[np.linspace(0, len(query_keys) - 1, max_query).astype(np.int64)]
    nb = (query_keys[:, None] + _OFFSETS[None, :]).ravel()
    i = np.searchsorted(sorted_keys, nb).clip(0, len(sorted_keys) - 1)
    hit = (sorted_keys[i] == nb).reshape(len(query_keys), 27).any(axis=1)
    return float(hit.mean())


def _resize_view(crop: np.ndarray, size: int) -> np.ndarray:
    h, w = crop.shape[:2]
    if max(h, w) <= size:
        return np.ascontiguousarray(crop)
    import cv2

    s = size / max(h, w)
    return cv2.resize(np.ascontiguousarray(crop), (max(1, round(w * s)), max(1, round(h * s))),
                      interpolation=cv2.INTER_AREA)


class InstanceMap:
    def __init__(self, config: Optional[InstanceMapConfig] = None, feature_dim: Optional[int] = None,
                 num_categories: Optional[int] = None, num_rooms: Optional[int] = None):
        self.config = (config or InstanceMapConfig()).validate()
        self.instances: Dict[int, Instance] = {}
        self.next_id = 1
        self.frame = 0
        self.feature_dim = feature_dim
        self.num_categories = num_categories
        self.shape_prior = None  # a ShapePrior over the map's categories (set by SemanticMap), or None
        self.num_rooms = num_rooms
        self.merges = 0
        self.removed = 0

    # ---------------------------------------------------------------- basics
    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self):
        return iter(self.instances.values())

    def __getitem__(self, instance_id: int) -> Instance:
        return self.instances[instance_id]

    def confirmed(self) -> List[Instance]:
        """Instances seen at least `min_observations` times (the ones to plan with)."""
        m = self.config.min_observations
        return [i for i in self.instances.values() if i.observations >= m]

    def memory_bytes(self) -> int:
        return sum(i.nbytes() for i in self.instances.values())

    def clear(self) -> None:
        self.instances.clear()

    def discount_evidence(self, factor: float) -> None:
        """Scale every instance's fused evidence (feature, category and room sums with their weights) by
        `factor` in (0, 1]: what the map says now is unchanged, but what is observed from here on outweighs
        it (a remembered instance is judged by fresh views once it is seen again)."""
        if not (0 < factor <= 1):
            raise ValueError(f"evidence discount factor must be in (0, 1], got {factor}")
        for inst in self.instances.values():
            for name in ("feature", "category", "room"):
                total = getattr(inst, f"{name}_sum")
                if total is not None:
                    setattr(inst, f"{name}_sum", (total * factor).astype(total.dtype))
                    setattr(inst, f"{name}_weight", getattr(inst, f"{name}_weight") * factor)

    def _boxes(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids = np.fromiter(self.instances.keys(), np.int64, len(self.instances))
        if len(ids) == 0:
            return ids, np.zeros((0, 3)), np.zeros((0, 3))
        lo = np.stack([self.instances[i].bbox_min for i in ids])
        hi = np.stack([self.instances[i].bbox_max for i in ids])
        return ids, lo, hi

    # ---------------------------------------------------------------- keys
    def detection_keys(self, points: np.ndarray, voxel: Optional[float] = None) -> np.ndarray:
        pts = np.asarray(points, np.float32).reshape(-1, 3)
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        return _sorted_unique(voxel_keys(pts, self.config.voxel if voxel is None else voxel))

    def overlap(self, keys: np.ndarray, key_voxel: float, inst: Instance) -> float:
        """Fraction of `keys` (cells of `key_voxel`) within about a voxel of the instance's voxels."""
        if key_voxel != inst.voxel:
            keys = _sorted_unique(voxel_keys(keys_to_points(keys, key_voxel), inst.voxel))
        return near_fraction(keys, inst.keys)

    # ---------------------------------------------------------------- association
    def associate(self, points_list: Sequence[np.ndarray], embeddings: Optional[Sequence[Optional[np.ndarray]]] = None,
                  oracle_ids: Optional[Sequence[int]] = None) -> List[Tuple[Optional[int], float]]:
        """For each detection's points: (instance id or None, overlap) without changing the map.

        `oracle_ids` (oracle_semantics ablation only): ground-truth ids of the detections; a detection
        then goes to the instance holding that id, whatever the geometry says."""
        cfg = self.config
        ids, lo, hi = self._boxes()
        out: List[Tuple[Optional[int], float]] = []
        margin = 2 * cfg.voxel
        by_oracle = {}
        if oracle_ids is not None:
            by_oracle = {i.oracle_id: i.id for i in self.instances.values() if i.oracle_id >= 0}
        for k, pts in enumerate(points_list):
            if oracle_ids is not None and oracle_ids[k] >= 0:
                out.append((by_oracle.get(int(oracle_ids[k])), 1.0))
                continue
            pts = np.asarray(pts, np.float32).reshape(-1, 3)
            pts = pts[np.all(np.isfinite(pts), axis=1)]
            if len(pts) == 0 or len(ids) == 0:
                out.append((None, 0.0))
                continue
            pmin, pmax = pts.min(axis=0), pts.max(axis=0)
            touch = np.all((lo - margin <= pmax) & (hi + margin >= pmin), axis=1)
            if not touch.any():
                out.append((None, 0.0))
                continue
            keys = self.detection_keys(pts)
            emb = None if embeddings is None else embeddings[k]
            best, best_score, best_ov = None, -1.0, 0.0
            for iid in ids[touch]:
                inst = self.instances[int(iid)]
                ov = self.overlap(keys, cfg.voxel, inst)
                if ov < cfg.assoc_min_overlap:
                    continue
                sim = None
                f = inst.feature
                if emb is not None and f is not None:
                    sim = float(np.dot(emb, f))
                    if sim < cfg.assoc_min_similarity and ov < cfg.assoc_override_overlap:
                        continue
                score = ov + (0.5 * sim if sim is not None else 0.0)
                if score > best_score:
                    best, best_score, best_ov = int(iid), score, ov
            out.append((best, best_ov))
        return out

    # ---------------------------------------------------------------- integration
    def integrate(self, detections: Sequence[Detection], stamp: float = 0.0, camera_position=None,
                  camera_yaw: float = 0.0, assignments: Optional[List[Tuple[Optional[int], float]]] = None,
                  structure=None) -> List[int]:
        """Fuse one frame's detections; returns the instance id each detection went to."""
        self.frame += 1
        cam = np.zeros(3) if camera_position is None else np.asarray(camera_position, float)
        if assignments is None:
            oracle = [d.oracle_id for d in detections]
            assignments = self.associate([d.points for d in detections], [d.embedding for d in detections],
                                         oracle if any(o >= 0 for o in oracle) else None)
        out = []
        for det, (iid, _) in zip(detections, assignments):
            if iid is not None and iid not in self.instances:
                iid = None  # merged away meanwhile
            fine = self.detection_keys(det.points)
            if len(fine) == 0:
                out.append(-1)
                continue
            if iid is None:
                iid = self._new_instance(fine, stamp)
            elif det.oracle_id < 0:
                fine = self._split_off(iid, fine, det.points)
            inst = self.instances[iid]
            self._add_points(inst, fine)
            self._add_observation(inst, det, stamp, cam, camera_yaw)
            out.append(iid)
        if self.config.merge_every and self.frame % self.config.merge_every == 0:
            self.maintain(structure)
        return out

    def _split_off(self, iid: int, fine: np.ndarray, points: np.ndarray) -> np.ndarray:
        """A detection that also covers other instances that look different (an under-segmented frame:
        two objects in one segment) gives the voxels next to those instances, and not to `iid`, to
        them; returns the rest."""
        cfg = self.config
        ids, lo, hi = self._boxes()
        pts = np.asarray(points, np.float32)
        pmin, pmax = pts.min(axis=0), pts.max(axis=0)
        margin = 2 * cfg.voxel
        touch = np.all((lo - margin <= pmax) & (hi + margin >= pmin), axis=1) & (ids != iid)
        if not touch.any():
            return fine
        main = self.instances[iid]
        if main.voxel != cfg.voxel:
            return fine
        fm = main.feature
        if fm is None:
            return fine
        keep = np.ones(len(fine), bool)
        near_main = near_mask(fine, main.keys)
        for j in ids[touch]:
            other = self.instances[int(j)]
            fo = other.feature
            # only instances that look different (two objects, not two pieces of one)
            if other.voxel != cfg.voxel or fo is None or float(fm @ fo) >= cfg.merge_min_similarity:
                continue
            m = near_mask(fine, other.keys)
            if m.mean() < cfg.split_min_overlap:
                continue
            give = m & ~near_main & keep
            if give.any():
                self._add_points(other, fine[give])
                other.last_frame = self.frame
                keep &= ~give
        return fine[keep] if keep.any() else fine

    def _new_instance(self, fine, stamp) -> int:
        iid = self.next_id
        self.next_id += 1
        pts = keys_to_points(fine, self.config.voxel)
        self.instances[iid] = Instance(iid, np.zeros(0, np.int64), self.config.voxel, pts.min(axis=0),
                                       pts.max(axis=0), first_seen=stamp, first_frame=self.frame,
                                       shape_prior=self.shape_prior)
        return iid

    def _add_points(self, inst: Instance, fine: np.ndarray, fine_voxel: Optional[float] = None) -> None:
        cfg = self.config
        fine_voxel = cfg.voxel if fine_voxel is None else fine_voxel
        if inst.voxel != fine_voxel:
            fine = _sorted_unique(voxel_keys(keys_to_points(fine, fine_voxel), inst.voxel))
        inst.keys = np.union1d(inst.keys, fine)
        while len(inst.keys) > cfg.max_points:
            # Re-voxelise at twice the cell: deterministic, keeps the shape, bounds memory.
            pts = keys_to_points(inst.keys, inst.voxel)
            inst.voxel *= 2
            inst.keys = _sorted_unique(voxel_keys(pts, inst.voxel))
        pts = keys_to_points(inst.keys, inst.voxel)
        half = inst.voxel / 2
        inst.bbox_min = pts.min(axis=0) - half
        inst.bbox_max = pts.max(axis=0) + half
        inst.points_changed()

    def set_shape_prior(self, prior) -> None:
        """Use `prior` (a ShapePrior over the map's categories, or None) for every instance, old and new."""
        self.shape_prior = prior
        for inst in self.instances.values():
            inst.shape_prior = prior
            inst.points_changed()

    def _add_observation(self, inst: Instance, det: Detection, stamp: float, cam: np.ndarray, yaw: float) -> None:
        cfg = self.config
        w = float(max(det.quality, 1e-3))  # view ranking and viewpoint weighting
        fw = float(max(det.weight, 1e-6)) if det.weight is not None else w  # feature / class fusion
        inst.observations += 1
        inst.last_seen = stamp
        inst.last_frame = self.frame
        inst.seen_from_sum = inst.seen_from_sum + w * cam[[0, 2]]
        inst.seen_from_weight += w
        if det.oracle_id >= 0:
            inst.oracle_votes[det.oracle_id] = inst.oracle_votes.get(det.oracle_id, 0) + int(len(det.points))
        if det.embedding is not None:
            e = np.asarray(det.embedding, np.float32)
            inst.feature_sum = fw * e if inst.feature_sum is None else inst.feature_sum + fw * e
            inst.feature_weight += fw
            inst.embeddings += 1
            inst.last_embed_frame = self.frame
            inst.last_embed_position = cam.copy()
            inst.last_embed_yaw = yaw
            inst.last_embed_quality = w
        if det.category_probs is not None:
            p = np.asarray(det.category_probs, np.float32)
            inst.category_sum = fw * p if inst.category_sum is None else inst.category_sum + fw * p
            inst.category_weight += fw
        if det.room_probs is not None:
            p = np.asarray(det.room_probs, np.float32)
            inst.room_sum = fw * p if inst.room_sum is None else inst.room_sum + fw * p
            inst.room_weight += fw
        if det.crop is not None and det.crop.size:
            views = inst.views
            if len(views) < cfg.max_views or w > min(v.quality for v in views):
                v = View(_resize_view(det.crop, cfg.view_size), cam.copy(), float(yaw), w, stamp, self.frame, det.bbox)
                views.append(v)
                views.sort(key=lambda v: -v.quality)
                del views[cfg.max_views:]

    def needs_embedding(self, iid: Optional[int], quality: float, camera_position, camera_yaw: float,
                        interval: int, min_move: float, min_turn_deg: float) -> bool:
        """Whether a detection associated with `iid` should be CLIP-embedded this frame."""
        if iid is None or iid not in self.instances:
            return True
        inst = self.instances[iid]
        if inst.feature_sum is None:
            return True
        if self.frame + 1 - inst.last_embed_frame >= interval:
            return True
        if quality > 1.5 * inst.last_embed_quality:
            return True
        if inst.last_embed_position is not None:
            cam = np.asarray(camera_position, float)
            if float(np.hypot(*(cam - inst.last_embed_position)[[0, 2]])) >= min_move:
                return True
        turn = abs((camera_yaw - inst.last_embed_yaw + math.pi) % (2 * math.pi) - math.pi)
        return math.degrees(turn) >= min_turn_deg

    # ---------------------------------------------------------------- maintenance
    def maintain(self, structure=None) -> dict:
        """Merge duplicates, drop wall-borne and stale tentative instances, enforce the caps."""
        stats = {"merged": self._merge_duplicates(), "walls": 0, "stale": 0, "evicted": 0}
        cfg = self.config
        has_walls = structure is not None and len(getattr(structure, "keys", ()))
        for iid in list(self.instances):
            inst = self.instances[iid]
            size = inst.size
            if (inst.bbox_min[1] < 0.3 and size[1] >= cfg.slab_min_height
                    and min(size[0], size[2]) <= cfg.slab_max_thickness):
                del self.instances[iid]  # a door jamb / wall end / wall piece
                stats["walls"] += 1
                continue
            if has_walls:
                pts = inst.points
                if structure.contains(pts[:, 0], pts[:, 2]).mean() >= cfg.wall_fraction:
                    del self.instances[iid]
                    stats["walls"] += 1
        for iid in list(self.instances):
            inst = self.instances[iid]
            if inst.observations < cfg.min_observations and self.frame - inst.last_frame > cfg.forget_after:
                del self.instances[iid]
                stats["stale"] += 1
        if len(self.instances) > cfg.max_instances:
            order = sorted(self.instances.values(), key=lambda i: (i.observations >= cfg.min_observations,
                                                                   i.observations, i.last_frame))
            for inst in order[: len(self.instances) - cfg.max_instances]:
                del self.instances[inst.id]
                stats["evicted"] += 1
        self.removed += stats["walls"] + stats["stale"] + stats["evicted"]
        return stats

    def _merge_duplicates(self) -> int:
        cfg = self.config
        merged = 0
        changed = True
        while changed:
            changed = False
            ids, lo, hi = self._boxes()
            if len(ids) < 2:
                break
            g = cfg.merge_touch_gap
            touch = np.all((lo[:, None] - g <= hi[None]) & (hi[:, None] + g >= lo[None]), axis=2)
            np.fill_diagonal(touch, False)
            pairs = np.argwhere(np.triu(touch))
            for a, b in pairs:
                ia, ib = int(ids[a]), int(ids[b])
                if ia not in self.instances or ib not in self.instances:
                    continue
                A, B = self.instances[ia], self.instances[ib]
                if self._should_merge(A, B):
                    self._merge(A, B)
                    merged += 1
                    changed = True
        self.merges += merged
        return merged

    def _should_merge(self, A: Instance, B: Instance) -> bool:
        cfg = self.config
        if A.oracle_votes or B.oracle_votes:  # oracle_semantics: identity is given
            return A.oracle_id == B.oracle_id
        small, big = (A, B) if len(A.keys) <= len(B.keys) else (B, A)
        ov = self.overlap(small.keys, small.voxel, big)
        fa, fb = A.feature, B.feature
        sim = float(np.dot(fa, fb)) if fa is not None and fb is not None else None
        ca, cb = A.category_probs, B.category_probs
        same_cat = ca is None or cb is None or int(np.argmax(ca)) == int(np.argmax(cb))
        if ov >= cfg.merge_overlap:
            if sim is None or sim >= cfg.merge_min_similarity or ov >= 0.8:
                return True
            return same_cat and ov >= 0.5
        if self._fragment_inside(A, B) and (sim is None or sim >= cfg.merge_fragment_similarity):
            return True  # a few voxels of a leg or an edge, seen apart from the body
        if self._under_top(A, B) and (sim is None or sim >= cfg.merge_min_similarity) and same_cat:
            return True  # legs / pedestal / stand under the top, shade or basin that covers them
        if sim is None or not same_cat:
            return False
        lo = np.maximum(A.bbox_min, B.bbox_min)
        hi = np.minimum(A.bbox_max, B.bbox_max)
        inter = float(np.prod(np.clip(hi - lo, 0, None)))
        vol = min(float(np.prod(A.size)), float(np.prod(B.size)))
        if vol > 0 and inter / vol >= cfg.merge_box_overlap and sim >= cfg.merge_min_similarity:
            return True
        if sim >= cfg.merge_stack_similarity and self._stacked(A, B):
            return True  # a table top and its legs, a lamp shade and its stand, a basin and its pedestal
        return sim >= cfg.merge_touch_similarity and (ov > 0 or self._touching(A, B))

    def _fragment_inside(self, A: Instance, B: Instance) -> bool:
        """The smaller has at most `merge_fragment_ratio` of the larger's voxels and its box lies
        (>= 80 % of its volume) inside the larger's box grown by 5 cm."""
        cfg = self.config
        small, big = (A, B) if len(A.keys) * (A.voxel ** 3) <= len(B.keys) * (B.voxel ** 3) else (B, A)
        if len(small.keys) * small.voxel ** 3 > cfg.merge_fragment_ratio * len(big.keys) * big.voxel ** 3:
            return False
        g = 0.05
        lo = np.maximum(small.bbox_min, big.bbox_min - g)
        hi = np.minimum(small.bbox_max, big.bbox_max + g)
        inter = float(np.prod(np.clip(hi - lo, 0, None)))
        vol = float(np.prod(np.maximum(small.size, small.voxel)))
        return vol > 0 and inter / vol >= 0.8

    def _under_top(self, A: Instance, B: Instance) -> bool:
        """The lower piece stands right under the upper one (vertical gap <= merge_stack_gap) and its
        footprint lies (>= merge_under_fraction) inside the upper one's: a table top over its legs.
        (A TV on a cabinet is the other way round: the upper footprint inside the lower one.)"""
        cfg = self.config
        lo, hi = (A, B) if A.bbox_min[1] <= B.bbox_min[1] else (B, A)
        if hi.bbox_min[1] - lo.bbox_max[1] > cfg.merge_stack_gap or hi.bbox_min[1] < lo.bbox_min[1] + 0.1:
            return False
        g = 0.05
        ix = min(lo.bbox_max[0], hi.bbox_max[0] + g) - max(lo.bbox_min[0], hi.bbox_min[0] - g)
        iz = min(lo.bbox_max[2], hi.bbox_max[2] + g) - max(lo.bbox_min[2], hi.bbox_min[2] - g)
        area = float(np.prod(lo.size[[0, 2]]))
        return ix > 0 and iz > 0 and area > 0 and ix * iz / area >= cfg.merge_under_fraction

    def _stacked(self, A: Instance, B: Instance) -> bool:
        """One box right above the other (vertical gap <= merge_stack_gap) with mostly shared footprints."""
        cfg = self.config
        lo, hi = (A, B) if A.bbox_min[1] <= B.bbox_min[1] else (B, A)
        gap = hi.bbox_min[1] - lo.bbox_max[1]
        if gap > cfg.merge_stack_gap:
            return False
        ix = min(A.bbox_max[0], B.bbox_max[0]) - max(A.bbox_min[0], B.bbox_min[0])
        iz = min(A.bbox_max[2], B.bbox_max[2]) - max(A.bbox_min[2], B.bbox_min[2])
        if ix <= 0 or iz <= 0:
            return False
        area = min(float(np.prod(A.size[[0, 2]])), float(np.prod(B.size[[0, 2]])))
        return area > 0 and ix * iz / area >= cfg.merge_stack_footprint

    def _touching(self, A: Instance, B: Instance) -> bool:
        """Whether some fine voxel of one lies within `merge_touch_gap` of the other's."""
        g = self.config.merge_touch_gap
        lo = np.maximum(A.bbox_min, B.bbox_min) - g
        hi = np.minimum(A.bbox_max, B.bbox_max) + g
        if np.any(lo > hi):
            return False
        pa = A.points
        pb = B.points
        pa = pa[np.all((pa >= lo) & (pa <= hi), axis=1)]
        pb = pb[np.all((pb >= lo) & (pb <= hi), axis=1)]
        if len(pa) == 0 or len(pb) == 0:
            return False
        from scipy.spatial import cKDTree

        d, _ = cKDTree(pb).query(pa, k=1, distance_upper_bound=g + max(A.voxel, B.voxel))
        return bool(np.isfinite(d).any())

    def _merge(self, A: Instance, B: Instance) -> None:
        """Fold B into A (keeps A's id: the older instance when ids grow)."""
        if B.id < A.id:
            A, B = B, A
        self._add_points(A, B.keys, B.voxel)
        for name in ("feature", "category", "room"):
            sa, sb = getattr(A, f"{name}_sum"), getattr(B, f"{name}_sum")
            if sb is not None:
                setattr(A, f"{name}_sum", sb.copy() if sa is None else sa + sb)
            wname = "feature_weight" if name == "feature" else f"{name}_weight"
            setattr(A, wname, getattr(A, wname) + getattr(B, wname))
        A.views = sorted(A.views + B.views, key=lambda v: -v.quality)[: self.config.max_views]
        A.observations += B.observations
        A.embeddings += B.embeddings
        A.first_seen = min(A.first_seen, B.first_seen)
        A.first_frame = min(A.first_frame, B.first_frame)
        if B.last_frame > A.last_frame:
            A.last_seen, A.last_frame = B.last_seen, B.last_frame
        if B.last_embed_frame > A.last_embed_frame:
            A.last_embed_frame, A.last_embed_position = B.last_embed_frame, B.last_embed_position
            A.last_embed_yaw, A.last_embed_quality = B.last_embed_yaw, B.last_embed_quality
        A.seen_from_sum = A.seen_from_sum + B.seen_from_sum
        A.seen_from_weight += B.seen_from_weight
        for k, v in B.oracle_votes.items():
            A.oracle_votes[k] = A.oracle_votes.get(k, 0) + v
        del self.instances[B.id]

    # ---------------------------------------------------------------- queries
    def nearest(self, position, k: int = 5, confirmed: bool = True) -> List[Tuple[Instance, float]]:
        """The `k` instances whose centres are nearest (floor-plane distance) to `position` (x, y, z)."""
        pool = self.confirmed() if confirmed else list(self.instances.values())
        p = np.asarray(position, float)
        d = [(i, float(np.hypot(*(i.centre - p)[[0, 2]]))) for i in pool]
        d.sort(key=lambda t: t[1])
        return d[:k]


def instances_near(instances: Iterable[Instance], centre, radius: float) -> List[Instance]:
    c = np.asarray(centre, float)
    return [i for i in instances if float(np.hypot(*(i.centre - c)[[0, 2]])) <= radius]
