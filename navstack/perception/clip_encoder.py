"""CLIP image and text encoders (open_clip) behind one small class.

The model is chosen by :class:`ClipConfig`, either

* an open_clip model name + pretrained tag, exactly as open_clip takes them (real users:
  ``ClipConfig(model_name="ViT-B-32", pretrained="laion2b_s34b_b79k", weights=None, model_config=None)``;
  open_clip downloads the weights), or
* a model name (a built-in open_clip name, or a custom architecture described by a JSON config that
  is registered with ``open_clip.add_model_config`` first) + a local weights file (``.safetensors``,
  or ``.pt``/``.bin`` read with ``torch.load(weights_only=True)``; never pickle).

The default is the project's own embedded-world model, ``navstack-clip-small``, trained by
``navstack train clip`` (:mod:`navstack.perception.clip_train`) and shipped in ``assets/clip/``.

Crops of any size are padded to a square (with the model's mean colour, so no part of an elongated
object is cut off; open_clip's ``resize_mode="longest"``) and resized to the model's input size;
the same function (:func:`square_resize`) made the training crops. torch and open_clip are imported
lazily, so importing this module (e.g. for :func:`category_prompts`) is cheap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from navstack.fileio import atomic_write, read_json

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSET_DIR = REPO_ROOT / "assets" / "clip"
DEFAULT_WEIGHTS = ASSET_DIR / "navstack_clip.safetensors"
DEFAULT_MODEL_CONFIG = ASSET_DIR / "navstack_clip.json"
DEFAULT_MODEL_NAME = "navstack-clip-small"
CONFIG_FORMAT = "navstack-clip"
MAX_TEXT_CHARS = 4096  # longer texts are cut before tokenising (the tokeniser keeps context_length tokens anyway)

# ----------------------------------------------------------------------------------------------
# prompts
# ----------------------------------------------------------------------------------------------

#: Words a person uses for each navstack category (the first is the canonical noun).
CATEGORY_WORDS: Dict[str, Tuple[str, ...]] = {
    "chair": ("chair", "armchair"),
    "bed": ("bed",),
    "plant": ("plant", "potted plant", "houseplant"),
    "toilet": ("toilet",),
    "tv_monitor": ("tv", "television", "monitor", "tv monitor"),
    "sofa": ("sofa", "couch"),
    "table": ("table",),
    "cabinet": ("cabinet", "cupboard"),
    "sink": ("sink", "washbasin"),
    "refrigerator": ("fridge", "refrigerator"),
    "lamp": ("lamp",),
    "bookshelf": ("bookshelf", "bookcase"),
    "desk": ("desk",),
    "bathtub": ("bathtub", "bath tub"),
    "oven": ("oven", "stove"),
    "stool": ("stool",),
    "wardrobe": ("wardrobe",),
}

#: Zero-shot prompt templates ("{}" is a noun phrase with its article, e.g. "a chair", "an oven").
PROMPT_TEMPLATES: Tuple[str, ...] = (
    "{}",
    "a photo of {}",
    "a picture of {}",
    "{} in a house",
    "{} in a room",
    "a close-up photo of {}",
)


def article(phrase: str) -> str:
    """'a chair', 'an oven'."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def category_words(category: str) -> Tuple[str, ...]:
    """Nouns for a navstack category; any other label is used as its own word ("tv_stand" -> "tv stand")."""
    if not isinstance(category, str) or not category.strip():
        raise ValueError(f"category must be a non-empty string, got {category!r}")
    return CATEGORY_WORDS.get(category, (" ".join(category.replace("_", " ").split()),))


def category_prompts(category: str, templates: Optional[Sequence[str]] = None) -> List[str]:
    """Prompt ensemble for a category: every template x every word for it (tv_monitor -> tv, monitor, ...).

    A template's "{}" takes the noun with its article ("a photo of {}" -> "a photo of an oven"); a template
    that writes its own article ("a photo of a {}", "the {}") takes the bare noun (the article fixed to a/an).
    """
    templates = PROMPT_TEMPLATES if templates is None else tuple(templates)
    if not templates:
        raise ValueError("templates must not be empty")
    out = []
    for word in category_words(category):
        for t in templates:
            if not isinstance(t, str) or "{}" not in t:
                raise ValueError(f"prompt template {t!r} has no '{{}}' placeholder")
            # "a photo of {}" gets "a chair" / "an oven"; a template with its own article gets the bare noun
            m = _ARTICLE_BEFORE.search(t)
            if m is None:
                out.append(t.format(article(word)))
            elif m.group(1).lower() in ("a", "an"):
                out.append(t[: m.start()] + article(word) + t[m.end() :])
            else:
                out.append(t.format(word))
    return out


_ARTICLE_BEFORE = re.compile(r"\b(a|an|the)\s+\{\}", re.IGNORECASE)


# ----------------------------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------------------------


THREADS_ENV = "NAVSTACK_TORCH_THREADS"


def default_threads() -> int:
    """Torch threads for CLIP: $NAVSTACK_TORCH_THREADS, else 2 (evaluation workers set 1 each, so that
    two processes on two cores do not fight over four threads)."""
    v = os.environ.get(THREADS_ENV, "").strip()
    if not v:
        return 2
    try:
        n = int(v)
    except ValueError:
        raise ValueError(f"${THREADS_ENV} must be a positive integer, got {v!r}") from None
    if n < 1:
        raise ValueError(f"${THREADS_ENV} must be a positive integer, got {v!r}")
    return n


@dataclass
class ClipConfig:
    model_name: str = DEFAULT_MODEL_NAME
    pretrained: Optional[str] = None
    weights: Optional[str] = str(DEFAULT_WEIGHTS)
    model_config: Optional[str] = str(DEFAULT_MODEL_CONFIG)
    threads: int = field(default_factory=default_threads)
    batch_size: int = 64
    # Average each crop's embedding with its mirror image's (test-time flip): +0.8 points zero-shot
    # category accuracy on development houses 1100-1159 for twice the image-tower work. Off by default:
    # the agent's goal thresholds (benchmarks/calibrate_goals.py) were read off the plain embeddings.
    flip_average: bool = False
    allow_random_init: bool = False  # tests only
    device: str = "cpu"

    def validate(self) -> "ClipConfig":
        if not isinstance(self.model_name, str) or not self.model_name.strip():
            raise ValueError(f"ClipConfig.model_name must be a non-empty string, got {self.model_name!r}")
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"ClipConfig.threads must be a positive int, got {self.threads!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"ClipConfig.batch_size must be a positive int, got {self.batch_size!r}")
        if not isinstance(self.flip_average, bool):
            raise ValueError(f"ClipConfig.flip_average must be true or false, got {self.flip_average!r}")
        if self.pretrained is not None and self.weights is not None:
            raise ValueError("ClipConfig: set either pretrained (an open_clip tag) or weights (a local file), not both")
        return self


# ----------------------------------------------------------------------------------------------
# custom model configs
# ----------------------------------------------------------------------------------------------

_REGISTER_LOCK = threading.Lock()


def read_model_config(path) -> Tuple[str, dict, dict]:
    """(model name, open_clip model_cfg, preprocess_cfg overrides) from a config JSON.

    Two forms are read: navstack's (``{"model_name", "model_cfg", "preprocess_cfg", ...}``, the form of
    ``assets/clip/navstack_clip.json`` and of open_clip's ``open_clip_config.json``) and a bare open_clip
    model config (``{"embed_dim", "vision_cfg", "text_cfg"}``), named after the file as open_clip does.
    """
    path = Path(path).expanduser()
    raw = read_json(path, "CLIP model config", " (ClipConfig.model_config)")
    if not isinstance(raw, dict):
        raise ValueError(f"CLIP model config {path}: expected a JSON object")
    cfg = raw.get("model_cfg", raw)
    name = raw.get("model_name", path.stem) if "model_cfg" in raw else path.stem
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if not isinstance(cfg, dict) or k not in cfg]
    if missing:
        raise ValueError(f"CLIP model config {path}: model config lacks {', '.join(missing)}")
    pre = raw.get("preprocess_cfg", {}) if "model_cfg" in raw else {}
    return str(name), dict(cfg), dict(pre or {})


def register_model_config(path, model_name: Optional[str] = None) -> str:
    """Register the architecture in `path` with ``open_clip.add_model_config``; returns its name.

    Idempotent: registering the same architecture again is a no-op; a changed architecture under the
    same name replaces the old one. `model_name`, when given, must be the name the file defines.
    """
    import open_clip

    name, cfg, _ = read_model_config(path)
    if model_name is not None and model_name != name:
        raise ValueError(f"CLIP model config {path} defines model {name!r}, but model_name is {model_name!r}")
    with _REGISTER_LOCK:
        if open_clip.get_model_config(name) == cfg:
            return name
        # open_clip registers a file under its stem, so write the bare config as <name>.json
        # (in a folder keyed by its content, so differing configs never overwrite each other).
        text = json.dumps(cfg, indent=1, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        for root in (_cache_root(), Path(tempfile.gettempdir()) / "navstack"):
            folder = root / "clip_configs" / digest
            try:
                folder.mkdir(parents=True, exist_ok=True)
                target = folder / f"{name}.json"
                if not target.exists() or target.read_text() != text:
                    atomic_write(target, text)
                break
            except OSError:
                continue
        else:
            raise OSError("cannot write the CLIP model config to the navstack cache or the temp folder")
        open_clip.add_model_config(target)
        if open_clip.get_model_config(name) != cfg:
            raise RuntimeError(f"registering CLIP model config {name!r} from {path} failed")
    return name


def _cache_root() -> Path:
    env = os.environ.get("NAVSTACK_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "navstack"


# ----------------------------------------------------------------------------------------------
# preprocessing
# ----------------------------------------------------------------------------------------------


def square_resize(image: np.ndarray, size: int, fill=(0, 0, 0)) -> np.ndarray:
    """Pad an HxWx3 uint8 crop to a centred square with `fill`, then resize to size x size (uint8)."""
    import cv2

    h, w = image.shape[:2]
    s = max(h, w)
    if h != w:
        out = np.empty((s, s, 3), np.uint8)
        out[...] = np.asarray(fill, np.uint8)
        y0, x0 = (s - h) // 2, (s - w) // 2
        out[y0 : y0 + h, x0 : x0 + w] = image
        image = out
    if s != size:
        interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
        image = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interp)
    return np.ascontiguousarray(image)


def check_images(images) -> List[np.ndarray]:
    """The crops as a list, or ValueError naming the first bad one."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise ValueError(f"expected a list of HxWx3 images (or an NxHxWx3 array), got one array of shape {images.shape}")
    if isinstance(images, (str, bytes)):
        raise ValueError(f"expected a list of HxWx3 uint8 images, got {type(images).__name__}")
    try:
        images = list(images)
    except TypeError:
        raise ValueError(f"expected a list of HxWx3 uint8 images, got {type(images).__name__}") from None
    for i, im in enumerate(images):
        if not isinstance(im, np.ndarray):
            raise ValueError(f"image {i}: expected an HxWx3 uint8 numpy array, got {type(im).__name__}")
        if im.dtype != np.uint8:
            raise ValueError(f"image {i}: expected dtype uint8, got {im.dtype} (shape {im.shape})")
        if im.ndim != 3 or im.shape[2] != 3:
            raise ValueError(f"image {i}: expected shape HxWx3, got {im.shape}")
        if im.shape[0] < 1 or im.shape[1] < 1:
            raise ValueError(f"image {i}: empty image of shape {im.shape}")
    return images


def check_texts(texts) -> List[str]:
    """The texts as a cleaned list (whitespace collapsed, cut to MAX_TEXT_CHARS), or ValueError."""
    if isinstance(texts, (str, bytes)):
        raise ValueError(f"expected a list of strings, got a single {type(texts).__name__}; wrap it in a list")
    try:
        texts = list(texts)
    except TypeError:
        raise ValueError(f"expected a list of strings, got {type(texts).__name__}") from None
    out = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"text {i}: expected a str, got {type(t).__name__}")
        clean = " ".join(t[: MAX_TEXT_CHARS * 4].split())[:MAX_TEXT_CHARS]
        if not clean:
            raise ValueError(f"text {i} is empty (or only whitespace): nothing to encode")
        out.append(clean)
    return out


# ----------------------------------------------------------------------------------------------
# the encoder
# ----------------------------------------------------------------------------------------------


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


class ClipEncoder:
    """open_clip image + text towers. Outputs are (N, dim) float32, L2-normalised."""

    def __init__(self, config: Optional[ClipConfig] = None):
        import torch

        self.config = cfg = (config or ClipConfig()).validate()
        torch.set_num_threads(cfg.threads)
        self.model, self.tokenizer = build_model(cfg)
        self.model.eval()
        self.device = torch.device(cfg.device)
        visual = self.model.visual
        pre = getattr(visual, "preprocess_cfg", {}) or {}
        size = pre.get("size", getattr(visual, "image_size", 224))
        size = size[0] if isinstance(size, (tuple, list)) else size
        self.image_size = int(size)
        self.mean = np.asarray(pre.get("mean", (0.48145466, 0.4578275, 0.40821073)), np.float32)
        self.std = np.asarray(pre.get("std", (0.26862954, 0.26130258, 0.27577711)), np.float32)
        self.fill = tuple(int(round(v * 255)) for v in self.mean)
        self.context_length = int(getattr(self.model, "context_length", 77))
        self._label_cache: Dict[Tuple[str, Tuple[str, ...]], np.ndarray] = {}
        self._lock = threading.Lock()
        self.dim = int(self.model.text_projection.shape[1]) if getattr(self.model, "text_projection", None) is not None \
            else int(self.encode_text(["a"]).shape[1])
        self.logit_scale = float(self.model.logit_scale.exp().clamp(max=100).item())

    # ------------------------------------------------------------------ images
    def preprocess(self, images: Sequence[np.ndarray]) -> "torch.Tensor":  # noqa: F821
        import torch

        batch = np.stack([square_resize(im, self.image_size, self.fill) for im in images])
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.as_tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.as_tensor(self.std, device=self.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def encode_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """HxWx3 uint8 crops of any size -> (N, dim) float32 unit vectors."""
        import torch

        images = check_images(images)
        if not images:
            return np.zeros((0, self.dim), np.float32)
        torch.set_num_threads(self.config.threads)
        out = []
        with self._lock, torch.inference_mode():
            for i in range(0, len(images), self.config.batch_size):
                x = self.preprocess(images[i : i + self.config.batch_size])
                if self.config.flip_average:
                    f = torch.nn.functional.normalize(self.model.encode_image(torch.cat([x, x.flip(3)])).float(), dim=-1)
                    f = f[: len(x)] + f[len(x) :]
                else:
                    f = self.model.encode_image(x)
                out.append(torch.nn.functional.normalize(f.float(), dim=-1).cpu().numpy())
        return np.concatenate(out).astype(np.float32, copy=False)

    # ------------------------------------------------------------------ text
    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Strings -> (N, dim) float32 unit vectors (cut to the model's context length)."""
        import torch

        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        torch.set_num_threads(self.config.threads)
        out = []
        with self._lock, torch.inference_mode():
            for i in range(0, len(texts), max(self.config.batch_size, 256)):
                tok = self.tokenizer(texts[i : i + max(self.config.batch_size, 256)]).to(self.device)
                f = self.model.encode_text(tok)
                out.append(torch.nn.functional.normalize(f.float(), dim=-1).cpu().numpy())
        return np.concatenate(out).astype(np.float32, copy=False)

    # ------------------------------------------------------------------ zero-shot
    def label_embeddings(self, labels: Sequence[str], templates: Optional[Sequence[str]] = None) -> np.ndarray:
        """(len(labels), dim): the normalised mean of each label's prompt-ensemble embeddings (cached)."""
        if isinstance(labels, str):
            raise ValueError("labels must be a list of strings, got a single str; wrap it in a list")
        labels = list(labels)
        if not labels:
            raise ValueError("labels must not be empty")
        key_t = tuple(templates) if templates is not None else ()
        rows = []
        for lab in labels:
            key = (lab, key_t)
            emb = self._label_cache.get(key)
            if emb is None:
                e = self.encode_text(category_prompts(lab, templates))
                emb = e.mean(axis=0)
                emb = (emb / max(np.linalg.norm(emb), 1e-12)).astype(np.float32)
                self._label_cache[key] = emb
            rows.append(emb)
        return np.stack(rows)

    def classify(self, images, labels: Sequence[str], templates: Optional[Sequence[str]] = None) -> np.ndarray:
        """(N, len(labels)) probabilities (softmax over the labels at the model's logit scale)."""
        txt = self.label_embeddings(labels, templates)
        img = self.encode_images(images)
        if len(img) == 0:
            return np.zeros((0, len(txt)), np.float32)
        logits = self.logit_scale * img @ txt.T
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def build_model(cfg: ClipConfig):
    """(open_clip model, tokenizer) for a config; raises FileNotFoundError / ValueError with the cause."""
    import open_clip

    weights = None
    if cfg.weights is not None:
        weights = Path(cfg.weights).expanduser()
        if not weights.is_file():
            raise FileNotFoundError(
                f"CLIP weights file {weights} does not exist (ClipConfig.weights); "
                f"train the embedded-world model with `navstack train clip`, or use an open_clip "
                f"pretrained tag (weights=None, pretrained=...)")
    force_pre = None
    if cfg.model_config is not None:
        name, _, pre = read_model_config(cfg.model_config)
        register_model_config(cfg.model_config, cfg.model_name)
        force_pre = {k: v for k, v in pre.items() if k in ("mean", "std", "interpolation", "resize_mode", "fill_color")}
    elif open_clip.get_model_config(cfg.model_name) is None:
        raise ValueError(f"unknown CLIP model {cfg.model_name!r}: not an open_clip model name and no model_config "
                         f"file given (open_clip knows e.g. ViT-B-32, ViT-B-16, RN50)")
    if cfg.pretrained is None and weights is None and not cfg.allow_random_init:
        raise ValueError(f"CLIP model {cfg.model_name!r} has no weights: set ClipConfig.pretrained (an open_clip tag) "
                         f"or ClipConfig.weights (a local file)")
    root = logging.getLogger()
    quiet = _DropRandomInitWarning()
    if weights is not None or cfg.allow_random_init:
        root.addFilter(quiet)
    try:
        model = open_clip.create_model(cfg.model_name, pretrained=cfg.pretrained, device=cfg.device,
                                       force_preprocess_cfg=force_pre or None)
    finally:
        root.removeFilter(quiet)
    if weights is not None:
        load_weights(model, weights)
    tokenizer = open_clip.get_tokenizer(cfg.model_name)
    return model, tokenizer


def load_weights(model, path: Path) -> None:
    """Load a local state dict (safetensors, or torch.load with weights_only=True) strictly."""
    import open_clip
    from open_clip.factory import load_state_dict

    try:  # read first, so a corrupt file and a wrong architecture give different messages
        state = load_state_dict(str(path), device="cpu", weights_only=True)
        if not isinstance(state, dict) or not state:
            raise ValueError("no state dict in the file")
        del state
    except Exception as e:  # corrupt files surface as many exception types (safetensors, zip, unpickling)
        raise ValueError(f"cannot read CLIP weights {path}: {type(e).__name__}: {e}") from None
    try:
        open_clip.load_checkpoint(model, str(path), strict=True, weights_only=True)
    except (RuntimeError, AssertionError, KeyError, ValueError) as e:
        msg = " ".join(str(e).split())
        raise ValueError(f"CLIP weights {path} do not fit the model architecture: {msg[:500]}") from None


# ----------------------------------------------------------------------------------------------
# cached loading
# ----------------------------------------------------------------------------------------------

_ENCODERS: Dict[tuple, ClipEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


def _file_stamp(path: Optional[str]) -> tuple:
    if path is None:
        return ()
    try:
        st = Path(path).expanduser().stat()
        return (st.st_size, st.st_mtime_ns)
    except OSError:
        return ()


def load_encoder(config: Optional[ClipConfig] = None) -> ClipEncoder:
    """A ClipEncoder for `config`, built once per config (and weights file version) per process."""
    config = config or ClipConfig()
    key = astuple(config) + _file_stamp(config.weights) + _file_stamp(config.model_config)
    with _ENCODERS_LOCK:
        enc = _ENCODERS.get(key)
        if enc is None:
            enc = _ENCODERS[key] = ClipEncoder(config)
        return enc


def clear_cache() -> None:
    with _ENCODERS_LOCK:
        _ENCODERS.clear()
