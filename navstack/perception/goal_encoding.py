"""Goal encoding and matching against the semantic map: category, text and image goals.

    genc = GoalEncoder(encoder)                  # a ClipEncoder (or anything with its two methods)
    ge = genc.encode(goal)                       # GoalEmbedding (validated; ValueError on bad input)
    cands = genc.match(ge, smap)                 # [Candidate(instance_id, score, parts)], best first
    match(goal, smap, encoder)                   # the same in one call (GoalEncoder cached per encoder)

Encodings:

* CategoryGoal: the prompt-ensemble text embedding of the category (clip_encoder.category_prompts).
* TextGoal: the CLIP text embedding of the whole description, plus a parse (`parse_text`): the
  category noun (synonyms: couch -> sofa, fridge -> refrigerator, tv -> tv_monitor, ...), colour,
  size and material words, the room ("in the kitchen") and a nearby-object relation ("next to /
  near / beside / by the lamp").
* ImageGoal: the CLIP embedding of the goal photo (whole image and its central half, averaged),
  its zero-shot category distribution, and ORB keypoints for verification.

Scores (`match`; every part is in log-probability-like units and listed in Candidate.parts):

* category: log P(goal category | instance) from the instance's accumulated CLIP class scores
  (for an image goal: log sum_c P_goal(c) P_instance(c));
* clip: `w_clip` x cosine(goal text / image embedding, instance feature);
* colour / material: log of the instance's CLIP probability of the goal word among all colour
  (material) words for the noun (prompts "a red chair", ...);
* size: "large"/"small" against the instance's 3D size relative to the other candidates of the
  category (a logistic of the standardised size);
* room: log P(goal room | instance's region) (SemanticMap.room_distribution);
* near: log of the best P(nearby category) x exp(-distance / near_scale) over other mapped
  instances within `near_radius` m;
* keypoints (image goals, top `orb_top_k` candidates by CLIP): ORB matches between the goal image
  and the instance's stored best views, ratio test + RANSAC homography; `verified` when the inlier
  count reaches `min_inliers`.

Bad input raises ValueError with the reason: empty or over-long (`max_text_chars`) text, a goal
image that is not an HxWx3 (or HxW / HxWx4) uint8 array or decodable PNG/JPEG bytes, or is too
small/large.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from navstack.types import CategoryGoal, ImageGoal, TextGoal

#: The object categories of the embedded world (navstack.sim.catalog.CATEGORIES, same order; kept here so
#: perception and mapping need not import the simulator) and the room types, as people say them.
DEFAULT_CATEGORIES = (
    "chair", "bed", "plant", "toilet", "tv_monitor", "sofa", "table", "cabinet", "sink", "refrigerator",
    "lamp", "bookshelf", "desk", "bathtub", "oven", "stool", "wardrobe",
)
ROOM_TYPES = ("living room", "kitchen", "bedroom", "bathroom", "office", "dining room", "hallway")

COLOUR_WORDS: Dict[str, str] = {
    "red": "red", "green": "green", "blue": "blue", "yellow": "yellow", "white": "white", "black": "black",
    "brown": "brown", "grey": "grey", "gray": "grey", "orange": "orange", "purple": "purple", "violet": "purple",
    "pink": "pink", "teal": "teal", "turquoise": "teal", "cyan": "teal",
}
COLOURS = ("red", "green", "blue", "yellow", "white", "black", "brown", "grey", "orange", "purple", "pink", "teal")
SIZE_WORDS: Dict[str, str] = {
    "small": "small", "little": "small", "tiny": "small", "smaller": "small", "smallest": "small",
    "large": "large", "big": "large", "huge": "large", "larger": "large", "bigger": "large", "largest": "large",
    "biggest": "large", "medium": "medium",
}
MATERIAL_WORDS: Dict[str, str] = {
    "wooden": "wooden", "wood": "wooden", "metal": "metal", "metallic": "metal", "steel": "metal",
    "leather": "leather", "glass": "glass", "fabric": "fabric", "cloth": "fabric", "plastic": "plastic",
    "wicker": "wicker", "rattan": "wicker", "marble": "marble",
}
MATERIALS = ("wooden", "metal", "leather", "glass", "fabric", "plastic", "wicker", "marble")
ROOM_WORDS: Dict[str, str] = {
    "living room": "living room", "lounge": "living room", "sitting room": "living room",
    "dining room": "dining room", "kitchen": "kitchen", "bedroom": "bedroom", "bed room": "bedroom",
    "bathroom": "bathroom", "restroom": "bathroom", "washroom": "bathroom", "office": "office",
    "study": "office", "hallway": "hallway", "corridor": "hallway", "hall": "hallway", "entrance": "hallway",
}
RELATION_WORDS = ("next to", "close to", "near to", "near", "beside", "by", "adjacent to", "alongside")


def _category_synonyms(categories: Sequence[str]) -> List[Tuple[str, str]]:
    """(phrase, category) pairs, longest phrase first, plurals included."""
    from navstack.perception.clip_encoder import category_words

    extra = {"tv_monitor": ("television set", "tv screen", "screen", "telly"), "sofa": ("settee",),
             "plant": ("flower", "flowers", "pot plant"), "refrigerator": ("freezer",),
             "bookshelf": ("shelf", "shelves", "book shelf", "bookcase"), "lamp": ("light", "floor lamp"),
             "oven": ("cooker", "stove"), "cabinet": ("dresser", "sideboard", "drawers", "chest of drawers"),
             "chair": ("seat",), "bathtub": ("bath", "tub"), "table": ("coffee table", "dining table"),
             "wardrobe": ("closet",)}
    pairs = []
    for c in categories:
        words = set(category_words(c)) | set(extra.get(c, ()))
        words.add(c.replace("_", " "))
        for w in words:
            pairs.append((w, c))
            if not w.endswith("s"):
                pairs.append((w + ("es" if w.endswith(("sh", "ch", "x")) else "s"), c))
    pairs.sort(key=lambda p: -len(p[0]))
    return pairs


@dataclass
class ParsedText:
    category: Optional[str] = None
    colour: Optional[str] = None
    size: Optional[str] = None
    material: Optional[str] = None
    room: Optional[str] = None
    near: Optional[str] = None  # category of the nearby object
    near_phrase: Optional[str] = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _find(phrase: str, text: str) -> Optional[re.Match]:
    return re.search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", text)


def parse_text(text: str, categories: Sequence[str]) -> ParsedText:
    """Parse a description: 'the small blue armchair in the bedroom next to the lamp'."""
    t = " " + " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split()) + " "
    out = ParsedText()
    syn = _category_synonyms(categories)
    # relation: "<relation> (the|a|an)? <words...>" up to a room phrase or the end
    rel_span = None
    for rel in RELATION_WORDS:
        m = _find(rel, t)
        if m:
            tail = t[m.end():]
            stop = len(tail)
            for r in (" in the ", " in a ", " in ", " which ", " that ", " and ", " with ", " on the "):
                k = tail.find(r)
                if k >= 0:
                    stop = min(stop, k)
            phrase = re.sub(r"^(the|a|an|some|this|that)\s+", "", tail[:stop].strip())
            for word, cat in syn:
                if _find(word, " " + phrase + " "):
                    out.near, out.near_phrase = cat, phrase
                    break
            rel_span = (m.start(), m.end() + stop)
            break
    main = t if rel_span is None else t[: rel_span[0]] + " " * (rel_span[1] - rel_span[0]) + t[rel_span[1]:]
    for phrase in sorted(ROOM_WORDS, key=len, reverse=True):
        if _find(phrase, main):
            out.room = ROOM_WORDS[phrase]
            main = main.replace(phrase, " " * len(phrase))
            break
    best = None
    for word, cat in syn:
        m = _find(word, main)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), cat)
    if best:
        out.category = best[1]
    for table, attr in ((COLOUR_WORDS, "colour"), (SIZE_WORDS, "size"), (MATERIAL_WORDS, "material")):
        for w, v in table.items():
            if _find(w, main):
                setattr(out, attr, v)
                break
    if out.size == "medium":
        out.size = None
    return out


@dataclass
class MatchConfig:
    max_text_chars: int = 1000
    min_image_side: int = 16
    max_image_side: int = 4096
    w_category: float = 1.0
    w_clip: float = 10.0  # text / category goals: x cosine
    w_image_clip: float = 20.0  # image goals: x cosine
    w_colour: float = 0.8
    w_material: float = 0.3
    w_size: float = 0.3
    w_room: float = 1.0
    w_near: float = 0.7
    w_keypoints: float = 2.0
    near_radius: float = 2.5
    near_scale: float = 1.5
    orb_top_k: int = 5
    orb_features: int = 500
    min_inliers: int = 15
    prob_floor: float = 1e-3


@dataclass
class GoalEmbedding:
    kind: str  # "category" | "text" | "image"
    category: Optional[str]
    embedding: np.ndarray  # (D,) unit vector (text for category/text goals, image for image goals)
    parsed: ParsedText = field(default_factory=ParsedText)
    category_probs: Optional[np.ndarray] = None  # image goals: zero-shot P(category) of the photo
    text: Optional[str] = None
    image: Optional[np.ndarray] = None  # image goals: the validated RGB photo
    keypoints: Optional[tuple] = None  # image goals: (cv2 keypoints, descriptors)
    # image goals: keypoint inliers per stored view, (instance id, view frame, view bbox) -> inliers; a view
    # never changes once stored, so each is checked once (RANSAC is the costly part of a step)
    inlier_cache: Dict[tuple, int] = field(default_factory=dict, repr=False)


@dataclass
class Candidate:
    instance_id: int
    score: float
    parts: Dict[str, float]
    category: str = "unknown"
    centre: Optional[np.ndarray] = None
    verified: Optional[bool] = None  # image goals: keypoint check passed (None: not checked)


def check_text(text, max_chars: int) -> str:
    if not isinstance(text, str):
        raise ValueError(f"text goal must be a str, got {type(text).__name__}")
    clean = " ".join(text.split())
    if not clean:
        raise ValueError("text goal is empty: describe the object, e.g. 'the blue chair in the kitchen'")
    if len(text) > max_chars:
        raise ValueError(f"text goal is {len(text)} characters long; at most {max_chars} are accepted")
    return clean


def check_goal_image(image, min_side: int = 16, max_side: int = 4096) -> np.ndarray:
    """An RGB uint8 (H, W, 3) array from an array (HxW grey, HxWx3, HxWx4) or PNG/JPEG bytes."""
    import cv2

    if isinstance(image, (bytes, bytearray, memoryview)):
        buf = np.frombuffer(bytes(image), np.uint8)
        dec = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
        if dec is None:
            raise ValueError(f"goal image: {len(buf)} bytes that are not a PNG/JPEG image")
        image = dec[:, :, ::-1]
    if not isinstance(image, np.ndarray):
        raise ValueError(f"goal image must be an HxWx3 uint8 array or image bytes, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"goal image must be uint8, got dtype {image.dtype} (shape {image.shape})")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"goal image must be HxWx3 (RGB), got shape {image.shape}")
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        raise ValueError(f"goal image is {w}x{h}; both sides must be at least {min_side} pixels")
    if max(h, w) > max_side:
        raise ValueError(f"goal image is {w}x{h}; sides above {max_side} pixels are not accepted")
    return np.ascontiguousarray(image)


def label_matrix(encoder, labels: Sequence[str]) -> np.ndarray:
    """(len(labels), D) unit prompt-ensemble embeddings (clip_encoder.category_prompts), all prompts
    encoded in ONE encode_text call (per-label calls cost ~0.1 s each on a busy CPU)."""
    from navstack.perception.clip_encoder import category_prompts

    labels = list(labels)
    prompts, owner = [], []
    for k, lab in enumerate(labels):
        ps = category_prompts(lab)
        prompts += ps
        owner += [k] * len(ps)
    e = np.asarray(encoder.encode_text(prompts), np.float32)
    owner = np.asarray(owner)
    out = np.stack([e[owner == k].mean(axis=0) for k in range(len(labels))])
    return (out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    if not math.isfinite(n) or n <= 0:
        raise ValueError("embedding is zero or not finite")
    return v / n


def _orb(image: np.ndarray, nfeatures: int):
    import cv2

    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    s = 256.0 / max(g.shape)
    g = cv2.resize(g, (max(1, round(g.shape[1] * s)), max(1, round(g.shape[0] * s))),
                   interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    orb = cv2.ORB_create(nfeatures=nfeatures, edgeThreshold=15, patchSize=15, fastThreshold=10)
    kp, des = orb.detectAndCompute(g, None)
    return kp, des


def keypoint_inliers(kd_a, kd_b, ratio: float = 0.8, min_inlier_fraction: float = 0.3) -> int:
    """RANSAC-homography inliers of ratio-tested ORB matches between two (keypoints, descriptors),
    scaled down when they are under `min_inlier_fraction` of the matches (repetitive texture gives
    many matches and a few chance inliers; a true view pair gives mostly inliers)."""
    import cv2

    ka, da = kd_a
    kb, db = kd_b
    if da is None or db is None or len(ka) < 4 or len(kb) < 4:
        return 0
    m = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [p[0] for p in m if len(p) == 2 and p[0].distance < ratio * p[1].distance]
    if len(good) < 4:
        return 0
    src = np.float32([ka[g.queryIdx].pt for g in good]).reshape(-1, 1, 2)
    dst = np.float32([kb[g.trainIdx].pt for g in good]).reshape(-1, 1, 2)
    _, mask = cv2.findHomography(src, dst, cv2.RANSAC, 5.0)
    if mask is None:
        return 0
    inl = int(mask.sum())
    frac = inl / len(good)
    return inl if frac >= min_inlier_fraction else int(inl * frac / min_inlier_fraction)


class GoalEncoder:
    def __init__(self, encoder, categories: Optional[Sequence[str]] = None, config: Optional[MatchConfig] = None):
        if encoder is None:
            raise ValueError("goal encoding needs a CLIP encoder")
        self.encoder = encoder
        self.categories = list(categories) if categories is not None else list(DEFAULT_CATEGORIES)
        self.config = config or MatchConfig()
        self._text_cache: Dict[Tuple[str, ...], np.ndarray] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ text embeddings
    def _texts(self, texts: Sequence[str]) -> np.ndarray:
        key = tuple(texts)
        with self._lock:
            hit = self._text_cache.get(key)
        if hit is None:
            hit = np.asarray(self.encoder.encode_text(list(texts)), np.float32)
            with self._lock:
                if len(self._text_cache) > 512:
                    self._text_cache.clear()
                self._text_cache[key] = hit
        return hit

    def category_matrix(self, labels: Sequence[str]) -> np.ndarray:
        """(len(labels), D) prompt-ensemble embeddings, cached."""
        key = ("__labels__",) + tuple(labels)
        with self._lock:
            hit = self._text_cache.get(key)
        if hit is None:
            hit = label_matrix(self.encoder, labels)
            with self._lock:
                self._text_cache[key] = hit
        return hit

    def category_embedding(self, category: str) -> np.ndarray:
        return self.category_matrix([category])[0]

    # ------------------------------------------------------------------ encode
    def encode(self, goal) -> GoalEmbedding:
        cfg = self.config
        if isinstance(goal, GoalEmbedding):
            return goal
        if isinstance(goal, CategoryGoal):
            cat = goal.category
            if not isinstance(cat, str) or not cat.strip():
                raise ValueError(f"category goal needs a non-empty category name, got {cat!r}")
            if len(cat) > 200:
                raise ValueError(f"category name is {len(cat)} characters long; at most 200 are accepted")
            return GoalEmbedding("category", cat.strip(), self.category_embedding(cat.strip()))
        if isinstance(goal, TextGoal):
            text = check_text(goal.text, cfg.max_text_chars)
            parsed = parse_text(text, self.categories)
            if goal.category:
                parsed.category = goal.category
            emb = _unit(self._texts([text])[0])
            return GoalEmbedding("text", parsed.category, emb, parsed, text=text)
        if isinstance(goal, ImageGoal):
            img = check_goal_image(goal.image, cfg.min_image_side, cfg.max_image_side)
            h, w = img.shape[:2]
            centre = img[h // 4: h - h // 4, w // 4: w - w // 4]
            e = np.asarray(self.encoder.encode_images([img, centre]), np.float32)
            emb = _unit(e.mean(axis=0))
            probs = self._classify(emb[None])[0]
            cat = goal.category if goal.category else None
            return GoalEmbedding("image", cat, emb, category_probs=probs, image=img,
                                 keypoints=_orb(img, cfg.orb_features))
        if isinstance(goal, (bytes, bytearray, np.ndarray)):
            return self.encode(ImageGoal(goal))
        if isinstance(goal, str):
            return self.encode(TextGoal(goal))
        raise ValueError(f"unknown goal type {type(goal).__name__}; expected CategoryGoal, TextGoal or ImageGoal")

    def _classify(self, emb: np.ndarray) -> np.ndarray:
        t = self.category_matrix(self.categories)
        scale = float(getattr(self.encoder, "logit_scale", 100.0))
        z = scale * emb @ t.T
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    # ------------------------------------------------------------------ match
    def match(self, goal, smap, top_k: Optional[int] = None, confirmed_only: bool = True) -> List[Candidate]:
        """Ranked candidates (best first) for a goal (or GoalEmbedding) in a SemanticMap."""
        cfg = self.config
        ge = self.encode(goal)
        imap = smap.instance_map
        insts = imap.confirmed() if confirmed_only else list(imap)
        insts = [i for i in insts if i.feature is not None]
        if not insts:
            return []
        cats = list(getattr(smap, "categories", self.categories))
        C = len(cats)
        feats = np.stack([i.feature for i in insts])
        P = np.stack([self._object_probs(i, C) for i in insts])  # (N, C)
        floor = cfg.prob_floor
        parts: Dict[str, np.ndarray] = {}
        n = len(insts)

        if ge.kind == "image":
            parts["clip"] = cfg.w_image_clip * (feats @ ge.embedding)
            if ge.category and ge.category in cats:
                pc = P[:, cats.index(ge.category)]
            else:
                goal_p = ge.category_probs if ge.category_probs is not None and len(ge.category_probs) == C \
                    else np.full(C, 1.0 / C, np.float32)
                pc = P @ goal_p
            parts["category"] = cfg.w_category * np.log(np.maximum(pc, floor))
        else:
            parts["clip"] = cfg.w_clip * (feats @ ge.embedding)
            if ge.category is not None:
                if ge.category in cats:
                    pc = P[:, cats.index(ge.category)]
                else:  # open vocabulary: zero-shot against the instance features
                    t = self.category_matrix(cats + [ge.category])
                    scale = float(getattr(self.encoder, "logit_scale", 100.0))
                    z = scale * feats @ t.T
                    z -= z.max(axis=1, keepdims=True)
                    e = np.exp(z)
                    pc = e[:, -1] / e.sum(axis=1)
                parts["category"] = cfg.w_category * np.log(np.maximum(pc, floor))

        pa = ge.parsed
        noun = None
        if pa.category:
            from navstack.perception.clip_encoder import category_words

            noun = category_words(pa.category)[0]
        if pa.colour:
            parts["colour"] = cfg.w_colour * self._attribute_logp(feats, COLOURS, pa.colour, noun)
        if pa.material:
            parts["material"] = cfg.w_material * self._attribute_logp(feats, MATERIALS, pa.material, noun)
        if pa.size in ("small", "large"):
            parts["size"] = cfg.w_size * self._size_logp(insts, P, cats, pa)
        if pa.room:
            parts["room"] = cfg.w_room * self._room_logp(insts, smap, pa.room)
        if pa.near:
            parts["near"] = cfg.w_near * self._near_logp(insts, imap, cats, pa.near)

        score = np.zeros(n, np.float64)
        for v in parts.values():
            score += v
        order = np.argsort(-score, kind="stable")
        if top_k is not None:
            order = order[:top_k]
        out = []
        for j in order:
            inst = insts[int(j)]
            k = int(np.argmax(P[j])) if P[j].sum() > 0 else -1
            out.append(Candidate(inst.id, float(score[j]), {name: float(v[j]) for name, v in parts.items()},
                                 cats[k] if k >= 0 else "unknown", inst.centre))
        if ge.kind == "image" and ge.keypoints is not None:
            self._verify(out, imap, ge)
        return out

    # ------------------------------------------------------------------ parts
    @staticmethod
    def _object_probs(inst, C: int) -> np.ndarray:
        p = inst.category_probs
        if p is None:
            return np.full(C, 1.0 / C, np.float32)
        p = np.asarray(p[:C], np.float32)  # the map may append background labels after the C categories
        s = float(p.sum())
        return p / s if s > 0 else np.full(C, 1.0 / C, np.float32)

    def _attribute_logp(self, feats: np.ndarray, values: Sequence[str], value: str, noun: Optional[str]) -> np.ndarray:
        from navstack.perception.clip_encoder import article

        thing = noun or "object"
        prompts = [article(f"{v} {thing}") for v in values]
        t = self._texts(prompts)
        scale = float(getattr(self.encoder, "logit_scale", 100.0))
        z = scale * feats @ t.T
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        return np.log(np.maximum(p[:, list(values).index(value)], self.config.prob_floor))

    def _size_logp(self, insts, P, cats, pa: ParsedText) -> np.ndarray:
        vol = np.array([float(np.prod(np.maximum(i.size, 0.05))) ** (1 / 3) for i in insts])
        if pa.category in cats:
            same = P[:, cats.index(pa.category)] >= 0.3
        else:
            same = np.ones(len(insts), bool)
        ref = vol[same] if same.sum() >= 2 else vol
        mu, sd = float(np.mean(ref)), float(np.std(ref)) + 0.05
        zscore = (vol - mu) / sd * (1 if pa.size == "large" else -1)
        return -np.log1p(np.exp(-zscore))  # log sigmoid

    def _room_logp(self, insts, smap, room: str) -> np.ndarray:
        rooms = list(getattr(smap, "room_types", []))
        out = np.zeros(len(insts))
        if room not in rooms or not hasattr(smap, "room_distribution"):
            return out
        k = rooms.index(room)
        R = len(rooms)
        for j, inst in enumerate(insts):
            p = smap.room_distribution(inst.id)
            pr = float(p[k]) if p is not None else 1.0 / R
            out[j] = math.log(max(pr, self.config.prob_floor))
        return out

    def _near_logp(self, insts, imap, cats, near_cat: str) -> np.ndarray:
        cfg = self.config
        others = [i for i in imap.confirmed() if i.category_probs is not None]
        out = np.full(len(insts), math.log(cfg.prob_floor * 10))
        if near_cat not in cats or not others:
            return out
        k = cats.index(near_cat)
        oc = np.stack([o.centre for o in others])
        op = np.array([self._object_probs(o, len(cats))[k] for o in others])
        oid = np.array([o.id for o in others])
        for j, inst in enumerate(insts):
            d = np.hypot(oc[:, 0] - inst.centre[0], oc[:, 2] - inst.centre[2])
            ok = (oid != inst.id) & (d <= cfg.near_radius)
            if ok.any():
                best = float(np.max(op[ok] * np.exp(-d[ok] / cfg.near_scale)))
                out[j] = math.log(max(best, cfg.prob_floor * 10))
        return out

    def _verify(self, cands: List[Candidate], imap, ge: GoalEmbedding) -> None:
        cfg = self.config
        for c in cands[: cfg.orb_top_k]:
            inst = imap.instances.get(c.instance_id)
            if inst is None or not inst.views:
                continue
            best = 0
            for v in inst.views:
                key = (c.instance_id, v.frame, tuple(v.bbox))
                n = ge.inlier_cache.get(key)
                if n is None:
                    n = ge.inlier_cache[key] = keypoint_inliers(ge.keypoints, _orb(v.crop, cfg.orb_features))
                best = max(best, n)
            c.parts["keypoints"] = cfg.w_keypoints * min(best, 4 * cfg.min_inliers) / cfg.min_inliers
            c.score += c.parts["keypoints"]
            c.verified = best >= cfg.min_inliers
        head = sorted(cands[: cfg.orb_top_k], key=lambda c: -c.score)
        cands[: len(head)] = head


_GOAL_ENCODERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def match(goal, smap, encoder=None, top_k: Optional[int] = None) -> List[Candidate]:
    """Ranked candidates for `goal` in `smap` (uses `smap.encoder` unless `encoder` is given)."""
    enc = encoder if encoder is not None else getattr(smap, "encoder", None)
    if enc is None:
        raise ValueError("match needs a CLIP encoder (the map was built without one)")
    try:
        genc = _GOAL_ENCODERS.get(enc)
    except TypeError:
        genc = None
    if genc is None:
        genc = GoalEncoder(enc, getattr(smap, "categories", None))
        try:
            _GOAL_ENCODERS[enc] = genc
        except TypeError:
            pass
    return genc.match(goal, smap, top_k=top_k)
