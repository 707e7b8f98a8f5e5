"""SemanticMap: one `update(obs)` per control step — proposals + CLIP + InstanceMap + OccupancyGrid.

    enc = load_encoder()                          # navstack.perception.clip_encoder
    smap = SemanticMap(enc, load_mapping_config())
    stats = smap.update(obs)                      # every step
    smap.instance_map.confirmed(), smap.occupancy.frontiers(), smap.room_of(instance_id)

Per frame:

1. proposals (`GeometricProposer`, or `OracleProposer` in `oracle_semantics` mode) at the working
   resolution; the proposer's wall memory (`StructureMemory`) is shared with the instance map's
   maintenance so instances that turn out to be walls are dropped;
2. the occupancy grid is updated from the same world points (no second back-projection);
3. proposals are associated geometrically with existing instances; a proposal is CLIP-embedded
   only when its instance has no feature yet, was last embedded `embed_interval` frames ago or
   more, the camera moved `embed_min_move` m / turned `embed_min_turn_deg` since, or the view is
   much better (quality x1.5) — at most `max_embed_per_frame` crops, best views first, in ONE
   `encode_images` batch. Category and room probabilities come from the same embeddings
   (softmax at the encoder's logit scale against cached prompt-ensemble text embeddings), so
   classification costs one matrix product;
4. detections are fused into the InstanceMap (association again, now with features).

Rooms: the agent has no ground-truth rooms. The free space of the occupancy grid is split into
room-like regions (`OccupancyGrid.regions`: erosion closes doorways); each instance belongs to the
region at (or nearest to) its centre; a region's room type is a vote of its instances: a
common-sense prior P(room | category) (a toilet says bathroom, an oven kitchen) plus CLIP's
"a {category} in the {room}" scores of their crops. `room_of(iid)` returns (room type, probability).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from navstack.mapping.instance_map import Detection, InstanceMap, InstanceMapConfig
from navstack.mapping.occupancy import OccupancyConfig, OccupancyGrid
from navstack.perception import geometry as geo
from navstack.perception.goal_encoding import DEFAULT_CATEGORIES, ROOM_TYPES, label_matrix
from navstack.perception.proposals import ProposalConfig, StructureMemory, make_crop, make_proposer
from navstack.types import Observation

# Common-sense P(room | category), for room votes (rows need not cover every room; they are smoothed).
ROOM_PRIOR: Dict[str, Dict[str, float]] = {
    "toilet": {"bathroom": 0.95},
    "bathtub": {"bathroom": 0.95},
    "sink": {"bathroom": 0.5, "kitchen": 0.45},
    "bed": {"bedroom": 0.95},
    "wardrobe": {"bedroom": 0.7},
    "refrigerator": {"kitchen": 0.95},
    "oven": {"kitchen": 0.95},
    "sofa": {"living room": 0.85},
    "tv_monitor": {"living room": 0.45, "bedroom": 0.3, "office": 0.2},
    "desk": {"office": 0.6, "bedroom": 0.35},
    "bookshelf": {"office": 0.55, "living room": 0.35},
    "table": {"dining room": 0.45, "kitchen": 0.25, "living room": 0.25},
    "chair": {"dining room": 0.4, "office": 0.25, "kitchen": 0.15, "living room": 0.1},
    "stool": {"kitchen": 0.5, "dining room": 0.3},
}


@dataclass
class MappingConfig:
    mode: str = "geometry"  # or "oracle_semantics" (ablation: proposals from ground-truth instance ids)
    embed_interval: int = 15  # frames between re-embeddings of one instance from a similar view
    embed_min_move: float = 1.0  # metres the camera moved since the last embedding
    embed_min_turn_deg: float = 45.0
    max_embed_per_frame: int = 6
    min_embed_pixels: int = 300  # mask pixels (of a 320x240 frame; scaled) below which a crop is not embedded
    crop_from_instance: bool = True  # embed the box of the whole instance visible in the frame, not just the segment
    room_clip_weight: float = 0.5  # weight of CLIP room scores vs. the category prior in room votes
    categories: List[str] = field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    # extra zero-shot labels for non-objects; an instance whose CLIP scores favour them is dropped
    background_labels: List[str] = field(default_factory=lambda: ["wall", "floor", "ceiling"])
    background_max: float = 0.5  # drop instances with more background probability than this ...
    background_min_embeddings: int = 2  # ... once embedded at least this many times
    # thin, tall, floor-standing instances continuing a line of occupied cells are wall pieces
    wall_slab_thickness: float = 0.12
    wall_slab_height: float = 1.4
    room_types: List[str] = field(default_factory=lambda: list(ROOM_TYPES))
    # category evidence from each instance's 3D shape (navstack.mapping.shape_prior): "default" (the
    # shipped assets/mapping/shape_prior.json), a JSON path, or "none"; its weight from the file unless set
    shape_prior: str = "default"
    shape_prior_weight: Optional[float] = None
    proposals: ProposalConfig = field(default_factory=ProposalConfig)
    instances: InstanceMapConfig = field(default_factory=InstanceMapConfig)
    occupancy: OccupancyConfig = field(default_factory=OccupancyConfig)

    def validate(self) -> "MappingConfig":
        if self.mode not in ("geometry", "oracle_semantics"):
            raise ValueError(f"mapping mode must be 'geometry' or 'oracle_semantics', got {self.mode!r}")
        if not self.categories or len(set(self.categories)) != len(self.categories):
            raise ValueError("mapping categories must be a non-empty list without duplicates")
        if not self.room_types:
            raise ValueError("mapping room_types must not be empty")
        if self.max_embed_per_frame < 0 or self.embed_interval < 1:
            raise ValueError("max_embed_per_frame must be >= 0 and embed_interval >= 1")
        if self.shape_prior_weight is not None and not self.shape_prior_weight >= 0:
            raise ValueError(f"shape_prior_weight must be >= 0 or unset, got {self.shape_prior_weight}")
        self.proposals.validate()
        self.instances.validate()
        self.occupancy.validate()
        return self


def load_mapping_config(name_or_path: Optional[str] = "mapping", **overrides) -> MappingConfig:
    """`configs/agent/mapping.yaml` (or any YAML path) over the defaults, then keyword overrides."""
    from navstack.config import load_config

    return load_config(MappingConfig, name_or_path, "agent", **overrides)


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


class SemanticMap:
    """Proposals + CLIP + InstanceMap + OccupancyGrid behind one per-step `update`."""

    def __init__(self, encoder=None, config: Optional[MappingConfig] = None):
        """`encoder`: anything with `encode_images(list) -> (N, D)` and `encode_text(list) -> (N, D)`
        (a `ClipEncoder`); None maps geometry only (no features, categories or room scores)."""
        self.config = cfg = (config or MappingConfig()).validate()
        self.encoder = encoder
        self.proposer = make_proposer(cfg.mode, cfg.proposals)
        self.structure: StructureMemory = self.proposer.structure
        self.occupancy = OccupancyGrid(cfg.occupancy)
        self.instance_map = InstanceMap(cfg.instances, feature_dim=int(getattr(encoder, "dim", 0)) or None,
                                        num_categories=len(cfg.categories), num_rooms=len(cfg.room_types))
        self.categories = list(cfg.categories)
        self.room_types = list(cfg.room_types)
        if encoder is not None and cfg.shape_prior.lower() not in ("", "none"):
            from navstack.mapping.shape_prior import ShapePrior

            prior = ShapePrior.load(None if cfg.shape_prior == "default" else cfg.shape_prior, cfg.shape_prior_weight)
            self.instance_map.set_shape_prior(prior.for_categories(self.categories))
        self.trajectory: List[Tuple[float, float, float, float]] = []  # (x, z, yaw, stamp)
        self.frames = 0
        self._text_ready = False
        self.timings: Dict[str, List[float]] = {"proposals": [], "occupancy": [], "clip": [], "map": [], "total": []}
        self._room_cache = None

    # ------------------------------------------------------------------ text embeddings (lazy, cached)
    def _prepare_text(self) -> None:
        if self._text_ready:
            return
        enc = self.encoder
        labels = self.categories + list(self.config.background_labels)
        self.category_text = label_matrix(enc, labels)
        from navstack.perception.clip_encoder import category_words

        # room prompts per category: "a chair in the kitchen" (R x C x D), plus category-free ones
        prompts = [f"{category_words(c)[0]} in the {r}" for c in self.categories for r in self.room_types]
        t = enc.encode_text(prompts).reshape(len(self.categories), len(self.room_types), -1)
        self.room_text = t.astype(np.float32)
        self.logit_scale = float(getattr(enc, "logit_scale", 100.0))
        self._text_ready = True

    def classify_embeddings(self, emb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(label probs (N, C + B): the C categories then the B background labels, room probs (N, R))."""
        self._prepare_text()
        cat = softmax_rows(self.logit_scale * emb @ self.category_text.T)
        top = cat[:, : len(self.categories)].argmax(axis=1)
        room_logits = np.einsum("nd,nrd->nr", emb, self.room_text[top])
        room = softmax_rows(self.logit_scale * room_logits)
        return cat, room

    # ------------------------------------------------------------------ per step
    def update(self, obs: Observation) -> dict:
        """Fuse one observation; returns stats (counts and per-stage milliseconds)."""
        cfg = self.config
        t0 = time.perf_counter()
        res = self.proposer(obs)  # validates the observation
        t1 = time.perf_counter()
        self.occupancy.update(obs, res.points, res.valid, res.stride)
        t2 = time.perf_counter()
        cam = geo.observation_camera(obs)
        yaw = float(obs.pose.yaw)
        h, w = obs.depth.shape
        props = res.proposals
        imap = self.instance_map
        oracle = [p.oracle_id for p in props] if cfg.mode == "oracle_semantics" else None
        assign = imap.associate([p.points for p in props], None, oracle)
        qual = [p.quality((h, w)) for p in props]
        min_px = cfg.min_embed_pixels * (h * w / 76800.0)
        want = [k for k, p in enumerate(props)
                if p.pixel_count >= min_px
                and imap.needs_embedding(assign[k][0], qual[k], cam.position, yaw, cfg.embed_interval,
                                         cfg.embed_min_move, cfg.embed_min_turn_deg)]
        want.sort(key=lambda k: -qual[k])
        want = want[: cfg.max_embed_per_frame] if self.encoder is not None else []
        emb = cat = room = None
        if want and self.encoder is not None:
            crops = [self._crop_for(obs, props[k], assign[k][0], cam) for k in want]
            emb = np.asarray(self.encoder.encode_images(crops), np.float32)
            cat, room = self.classify_embeddings(emb)
        t3 = time.perf_counter()
        row = {k: j for j, k in enumerate(want)}
        dets = []
        for k, p in enumerate(props):
            j = row.get(k)
            dets.append(Detection(p.points, qual[k], p.crop, p.bbox,
                                  None if j is None else emb[j], None if j is None else cat[j],
                                  None if j is None else room[j], p.oracle_id,
                                  weight=p.pixel_count / (h * w) * (0.5 if p.truncated else 1.0)))
        # Re-associate the embedded ones with features (a geometric match may be vetoed by appearance).
        feats = [d.embedding for d in dets]
        assign2 = imap.associate([d.points for d in dets], feats, oracle) if want else assign
        ids = imap.integrate(dets, stamp=float(obs.stamp), camera_position=cam.position, camera_yaw=yaw,
                             assignments=assign2, structure=self.structure)
        if imap.frame % max(imap.config.merge_every, 1) == 0:
            self.prune_walls()
            if self.config.background_labels:
                self.prune_background()
        t4 = time.perf_counter()
        self.trajectory.append((float(obs.pose.position[0]), float(obs.pose.position[2]), yaw, float(obs.stamp)))
        self.frames += 1
        self._room_cache = None
        tm = {"proposals": t1 - t0, "occupancy": t2 - t1, "clip": t3 - t2, "map": t4 - t3, "total": t4 - t0}
        for k, v in tm.items():
            self.timings[k].append(v)
            if len(self.timings[k]) > 5000:
                del self.timings[k][:1000]
        return {"proposals": len(props), "embedded": len(want), "instances": len(imap),
                "instance_ids": ids, **{f"{k}_ms": 1000 * v for k, v in tm.items()}}

    def visible_box(self, obs: Observation, iid: int, cam=None, min_points: int = 5) -> Optional[Tuple[int, int, int, int]]:
        """Pixel box (x0, y0, x1, y1) of the instance's points visible (not hidden) in this frame, or None
        (fewer than `min_points` of up to 400 evenly sampled points in view)."""
        if iid not in self.instance_map.instances:
            return None
        cam = geo.observation_camera(obs) if cam is None else cam
        pts = self.instance_map.instances[iid].points
        if len(pts) > 400:
            pts = pts[np.linspace(0, len(pts) - 1, 400).astype(np.int64)]
        uv, z = geo.project_points(pts, cam, obs.intrinsics)
        h, w = obs.depth.shape
        front = (z > 0.1) & np.all(np.isfinite(uv), axis=1)
        uv, z = uv[front], z[front]
        u = np.round(uv[:, 0]).astype(np.int64)
        v = np.round(uv[:, 1]).astype(np.int64)
        ok = (u >= 0) & (u < w) & (v >= 0) & (v < h)
        u, v, z = u[ok], v[ok], z[ok]
        d = obs.depth[v, u]
        vis = np.isfinite(d) & (z <= d + 0.1)  # not hidden behind something nearer
        if vis.sum() < min_points:
            return None
        u, v = u[vis], v[vis]
        return int(u.min()), int(v.min()), int(u.max()) + 1, int(v.max()) + 1

    def _crop_for(self, obs: Observation, prop, iid: Optional[int], cam) -> np.ndarray:
        """The crop to embed: the segment's box grown to cover the associated instance's points that are
        visible in this frame (so a table top segmented apart from its legs is seen as a whole table)."""
        if not self.config.crop_from_instance or iid is None:
            return prop.crop
        vb = self.visible_box(obs, iid, cam)
        if vb is None:
            return prop.crop
        x0, y0, x1, y1 = prop.bbox
        box = (min(x0, vb[0]), min(y0, vb[1]), max(x1, vb[2]), max(y1, vb[3]))
        # do not let a (possibly over-merged) instance blow the crop up beyond twice the segment's size
        if (box[2] - box[0]) * (box[3] - box[1]) > 4 * max((x1 - x0) * (y1 - y0), 1):
            return prop.crop
        return make_crop(obs.rgb, box, self.config.proposals.crop_pad)

    def look_at(self, obs: Observation, iid: int, min_pixels: int = 150) -> Optional[Dict[str, object]]:
        """A fresh look at one mapped instance in this frame (used to verify a goal at close range):
        {"embedding", "probs" (over categories only), "category", "p", "bbox"}, or None when too little
        of it is in view. Nothing in the map changes."""
        if self.encoder is None:
            return None
        box = self.visible_box(obs, iid)
        if box is None or (box[2] - box[0]) * (box[3] - box[1]) < min_pixels:
            return None
        emb = np.asarray(self.encoder.encode_images([make_crop(obs.rgb, box, self.config.proposals.crop_pad)]),
                         np.float32)
        cat, _ = self.classify_embeddings(emb)
        probs = cat[0, : len(self.categories)]
        probs = probs / max(float(probs.sum()), 1e-9)
        k = int(np.argmax(probs))
        return {"embedding": emb[0], "probs": probs, "category": self.categories[k], "p": float(probs[k]),
                "bbox": box}

    def prune_walls(self) -> int:
        """Drop thin, tall, floor-standing instances that continue a straight line of occupied cells
        (wall pieces seen only from close up, their tops out of view, so never remembered as walls)."""
        cfg = self.config
        occ = self.occupancy
        if occ.logodds.size == 0:
            return 0
        occupied = occ.occupied()
        gone = 0
        for iid in list(self.instance_map.instances):
            inst = self.instance_map.instances[iid]
            sx, sy, sz = (float(v) for v in inst.size)
            if not (min(sx, sz) <= cfg.wall_slab_thickness and sy >= cfg.wall_slab_height
                    and inst.bbox_min[1] < 0.3):
                continue
            cx, cz = (inst.bbox_min[[0, 2]] + inst.bbox_max[[0, 2]]) / 2
            along_x = sx >= sz
            half = (sx if along_x else sz) / 2
            ends = 0
            for sign in (-1.0, 1.0):
                d = half + np.arange(0.1, 0.45, occ.resolution)
                xs = cx + sign * d if along_x else np.full_like(d, cx)
                zs = np.full_like(d, cz) if along_x else cz + sign * d
                r, c = occ.to_cell(xs, zs)
                ok = occ.inside(r, c)
                if ok.sum() and occupied[r[ok], c[ok]].mean() >= 0.7:
                    ends += 1
            if ends:
                del self.instance_map.instances[iid]
                gone += 1
        self.instance_map.removed += gone
        return gone

    def prune_background(self) -> int:
        """Drop instances CLIP calls wall / floor / ceiling (after enough embeddings)."""
        C = len(self.categories)
        cfg = self.config
        gone = 0
        for iid in list(self.instance_map.instances):
            inst = self.instance_map.instances[iid]
            p = inst.category_probs
            if p is None or len(p) <= C or inst.embeddings < cfg.background_min_embeddings:
                continue
            if float(p[C:].sum()) > cfg.background_max:
                del self.instance_map.instances[iid]
                gone += 1
        self.instance_map.removed += gone
        return gone

    def object_probs(self, instance_id: int) -> Optional[np.ndarray]:
        """P(category) over `categories` (background labels removed, renormalised); None if never embedded."""
        p = self.instance_map[instance_id].category_probs
        if p is None:
            return None
        p = np.asarray(p[: len(self.categories)], np.float32)
        s = float(p.sum())
        return p / s if s > 0 else None

    # ------------------------------------------------------------------ rooms
    def room_prior(self) -> np.ndarray:
        """(C, R) common-sense P(room | category) from ROOM_PRIOR, smoothed over the rooms it leaves out."""
        R = len(self.room_types)
        rid = {r: i for i, r in enumerate(self.room_types)}
        prior = np.full((len(self.categories), R), 1.0 / R, np.float32)
        for ci, c in enumerate(self.categories):
            row = ROOM_PRIOR.get(c)
            if row:
                rest = max(0.0, 1.0 - sum(row.values()))
                prior[ci] = rest / R
                for r, p in row.items():
                    if r in rid:
                        prior[ci, rid[r]] += p
        return prior

    def region_room_probs(self, x: float, z: float, max_search: float = 0.5) -> Optional[np.ndarray]:
        """P(room type) of the map region at (x, z) from the instances mapped in it (None: no evidence)."""
        _, region_probs = self._room_votes()
        return region_probs.get(self.occupancy.region_at(x, z, max_search=max_search))

    def _room_votes(self):
        if self._room_cache is not None:
            return self._room_cache
        R = len(self.room_types)
        prior = self.room_prior()
        inst_region: Dict[int, int] = {}
        votes: Dict[int, np.ndarray] = {}
        for inst in self.instance_map.confirmed():
            c = inst.centre
            reg = self.occupancy.region_at(float(c[0]), float(c[2]), max_search=1.0)
            if reg == 0 and inst.seen_from is not None:
                reg = self.occupancy.region_at(float(inst.seen_from[0]), float(inst.seen_from[1]), max_search=1.0)
            inst_region[inst.id] = reg
            if reg == 0:
                continue
            cp = self.object_probs(inst.id)
            v = np.zeros(R, np.float32)
            if cp is not None:
                v += (1 - self.config.room_clip_weight) * (cp @ prior) * float(cp.max())
            rp = inst.room_probs
            if rp is not None:
                v += self.config.room_clip_weight * rp
            votes[reg] = votes.get(reg, np.zeros(R, np.float32)) + v
        region_probs = {k: v / max(float(v.sum()), 1e-9) for k, v in votes.items()}
        self._room_cache = (inst_region, region_probs)
        return self._room_cache

    def room_of(self, instance_id: int) -> Tuple[str, float]:
        """(room type, probability) of an instance's region; ("unknown", 0.0) when there is no evidence."""
        inst_region, region_probs = self._room_votes()
        reg = inst_region.get(instance_id, 0)
        if reg not in region_probs:
            inst = self.instance_map.instances.get(instance_id)
            if inst is not None and inst.room_probs is not None:
                p = inst.room_probs
                return self.room_types[int(np.argmax(p))], float(p.max())
            return "unknown", 0.0
        p = region_probs[reg]
        return self.room_types[int(np.argmax(p))], float(p.max())

    def room_distribution(self, instance_id: int) -> Optional[np.ndarray]:
        """P(room type) of an instance's region (None without evidence)."""
        inst_region, region_probs = self._room_votes()
        reg = inst_region.get(instance_id, 0)
        if reg in region_probs:
            return region_probs[reg]
        inst = self.instance_map.instances.get(instance_id)
        return None if inst is None else inst.room_probs

    # ------------------------------------------------------------------ persistence
    def save(self, directory):
        """Atomic save (see navstack.mapping.persistence); returns the path of map.json."""
        from navstack.mapping import persistence

        return persistence.save(self, directory)

    @classmethod
    def load(cls, directory, encoder=None, config: Optional[MappingConfig] = None) -> "SemanticMap":
        from navstack.mapping import persistence

        return persistence.load(directory, encoder, config)

    def clear_instances(self) -> None:
        """Forget all object instances (keeps occupancy and wall memory): the `no-memory` ablation."""
        self.instance_map.clear()
        self._room_cache = None

    def discount_evidence(self, factor: float) -> None:
        """Let fresh observations outweigh what the instances remember (see InstanceMap.discount_evidence)."""
        self.instance_map.discount_evidence(factor)
        self._room_cache = None

    # ------------------------------------------------------------------ misc
    def category_of(self, instance_id: int) -> Tuple[str, float]:
        p = self.object_probs(instance_id)
        if p is None:
            return "unknown", 0.0
        return self.categories[int(np.argmax(p))], float(p.max())

    def memory_bytes(self) -> Dict[str, int]:
        inst = self.instance_map.memory_bytes()
        occ = self.occupancy.nbytes()
        struct = self.structure.keys.nbytes
        traj = len(self.trajectory) * 32
        return {"instances": inst, "occupancy": occ, "structure": struct, "trajectory": traj,
                "total": inst + occ + struct + traj}

    def median_ms(self) -> Dict[str, float]:
        return {k: 1000 * float(np.median(v)) if v else math.nan for k, v in self.timings.items()}

    def reset_timings(self) -> None:
        for v in self.timings.values():
            v.clear()
