"""`navstack train clip`: train the embedded-world CLIP model (open_clip model code + ClipLoss) on CPU.

Pipeline: render (or load cached) object crops from training-seed houses (:mod:`clip_data`), caption
each crop afresh every epoch (category words, colour, size, material, room, neighbour, prompt
variety), train a small open_clip architecture registered with ``open_clip.add_model_config``
(:data:`MODEL_CFG`) with open_clip's ``ClipLoss``, write ``navstack_clip.safetensors`` (float16) and
``navstack_clip.json`` (architecture, preprocessing, tokenizer, provenance, held-out metrics) atomically,
then evaluate on held-out houses (:func:`evaluate`, also used by ``benchmarks/bench_clip.py``).

Everything is seeded; the result depends only on the options (and the torch build). Top-level
imports are light so ``navstack --help`` does not load torch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from navstack.fileio import atomic_write
from navstack.perception.clip_encoder import (
    CONFIG_FORMAT,
    DEFAULT_MODEL_NAME,
    DEFAULT_WEIGHTS,
    ClipConfig,
    ClipEncoder,
)

#: The embedded-world architecture (an open_clip CLIP config). Image tower: timm's RegNetX-200MF through
#: open_clip's TimmModel (random init, average pool, linear projection) on 64 px crops; a small ViT
#: (64 px, patch 8, width 192, 5 layers) learned categories ~4x slower per CPU second at the same size.
#: Text tower: open_clip's transformer with the standard CLIP BPE vocabulary (49408 tokens), 24-token context.
MODEL_CFG: Dict = {
    "embed_dim": 128,
    "vision_cfg": {"timm_model_name": "regnetx_002", "timm_model_pretrained": False, "timm_pool": "avg",
                   "timm_proj": "linear", "image_size": 64},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 3},
}
PREPROCESS_CFG: Dict = {
    "size": 64,
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bilinear",
    "resize_mode": "longest",  # pad to a square (mean colour), then resize: see clip_encoder.square_resize
    "fill_color": 0,
}
DEFAULT_TRAIN_SEEDS = "0-299"
DEFAULT_EVAL_SEEDS = "9000-9029"


@dataclass
class TrainConfig:
    seeds: List[int] = field(default_factory=lambda: list(range(300)))
    views_per_object: int = 6
    background_per_house: int = 6
    epochs: float = 100.0
    max_steps: Optional[int] = 9000  # the shipped model: 9000 steps (~23 epochs); None = all epochs
    batch_size: int = 128
    # 4e-3 since the twenty-fifth session (2e-3 before): in the same 9000 steps, development houses 1000-1199
    # zero-shot 0.876 -> 0.897 paired (hold-out models 0.683 -> 0.742), retrieval level (docs/experiments.md).
    lr: float = 4e-3
    weight_decay: float = 0.1
    warmup_steps: int = 200
    # Weight of the auxiliary zero-shot loss: each crop's image embedding against one random prompt per
    # label (the categories plus wall/floor/ceiling), cross-entropy at the model's logit scale. It trains
    # exactly what the map's classifier does with the text tower; ClipLoss still carries the attributes.
    category_loss: float = 0.5
    threads: int = 2  # torch threads; use 1 when the other core is busy (2 threads then stall on it)
    workers: int = 2  # render processes
    compile: bool = True  # torch.compile the training forward/backward (inductor): ~15% faster steps on 2 cores
    seed: int = 0
    out: str = str(DEFAULT_WEIGHTS)
    eval_seeds: List[int] = field(default_factory=lambda: list(range(9000, 9030)))
    cache: bool = True
    progress: bool = True
    model_name: str = DEFAULT_MODEL_NAME

    def validate(self) -> "TrainConfig":
        if not self.seeds:
            raise ValueError("no training seeds")
        bad = [s for s in self.seeds if s >= 1000]
        if bad:
            raise ValueError(f"training seeds must be < 1000 (seeds >= 1000 may hold the hold-out furniture models "
                             f"and 9000+ are evaluation houses); got {bad[:5]}")
        overlap = sorted(set(self.seeds) & set(self.eval_seeds))
        if overlap:
            raise ValueError(f"evaluation seeds overlap the training seeds: {overlap[:5]}")
        if self.epochs <= 0 or self.batch_size < 2 or self.threads < 1 or self.workers < 1:
            raise ValueError(f"need epochs > 0, batch_size >= 2, threads >= 1, workers >= 1 (got {self.epochs}, "
                             f"{self.batch_size}, {self.threads}, {self.workers})")
        if not (self.category_loss >= 0 and math.isfinite(self.category_loss)):
            raise ValueError(f"category loss weight must be a finite number >= 0, got {self.category_loss}")
        if not str(self.out).endswith(".safetensors"):
            raise ValueError(f"output must be a .safetensors file, got {self.out}")
        return self


# ----------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------


def config_document(model_name: str = DEFAULT_MODEL_NAME) -> Dict:
    """The architecture part of navstack_clip.json (what ClipConfig.model_config reads)."""
    return {
        "format": CONFIG_FORMAT,
        "version": 1,
        "model_name": model_name,
        "model_cfg": MODEL_CFG,
        "preprocess_cfg": PREPROCESS_CFG,
        "tokenizer": {"type": "open_clip SimpleTokenizer (CLIP BPE)", "vocab_size": MODEL_CFG["text_cfg"]["vocab_size"],
                      "context_length": MODEL_CFG["text_cfg"]["context_length"]},
    }


def new_model(model_name: str, seed: int, config_path: Path):
    """A randomly initialised model of MODEL_CFG (registered from `config_path`) and its tokenizer."""
    import open_clip
    import torch

    from navstack.perception.clip_encoder import register_model_config

    register_model_config(config_path, model_name)
    torch.manual_seed(seed)
    import logging

    logging.getLogger().setLevel(logging.ERROR)  # open_clip warns "initialized randomly": that is the point
    try:
        model = open_clip.create_model(model_name, output_dict=True)
    finally:
        logging.getLogger().setLevel(logging.WARNING)
    return model, open_clip.get_tokenizer(model_name)


def make_optimizer(model, lr: float, weight_decay: float, fused: bool = True):
    """AdamW with weight decay on the weight matrices only; torch's fused CPU kernel where it has one (the
    same update, one kernel instead of a loop over the tensors; benchmarks/bench_clip_step.py times both)."""
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        if fused:
            return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6, fused=True)
    except (RuntimeError, TypeError):  # a torch build without the fused CPU kernel
        pass
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)


def training_loss(model, outp, loss_fn, class_tokens, labels, category_loss: float):
    """ClipLoss of the batch, plus `category_loss` x cross-entropy of each crop's image embedding against the
    class prompts' text embeddings (one prompt per label) at the model's logit scale."""
    import torch

    loss = loss_fn(outp["image_features"], outp["text_features"], outp["logit_scale"])
    if category_loss > 0 and class_tokens is not None:
        cls_txt = model.encode_text(class_tokens, normalize=True)
        logits = outp["logit_scale"] * outp["image_features"] @ cls_txt.T
        loss = loss + category_loss * torch.nn.functional.cross_entropy(logits, labels)
    return loss


def optimise(model, opt, loss) -> None:
    """One optimiser step; the logit scale stays within CLIP's bound (100)."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))


# ----------------------------------------------------------------------------------------------
# augmentation
# ----------------------------------------------------------------------------------------------


def augment(images_u8: np.ndarray, gen, mean, std):
    """Random resized crop (zoom 0.75-1, aspect +-15%), flip, low-resolution blur, light brightness/contrast.

    No hue or saturation change: colour words are part of the captions.
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(images_u8).permute(0, 3, 1, 2).float().div_(255.0)
    b, _, s, _ = x.shape
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, generator=gen)  # noqa: E731
    scale = u(0.75, 1.0)
    aspect = torch.exp(u(-0.15, 0.15))
    sx, sy = (scale * aspect.sqrt()).clamp(max=1.0), (scale / aspect.sqrt()).clamp(max=1.0)
    tx, ty = u(-1, 1) * (1 - sx), u(-1, 1) * (1 - sy)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx * flip, tx, sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    low = torch.rand(b, generator=gen) < 0.2
    if low.any():
        r = int(torch.randint(16, 40, (1,), generator=gen))
        small = F.interpolate(x[low], size=(r, r), mode="bilinear", antialias=True, align_corners=False)
        x[low] = F.interpolate(small, size=(s, s), mode="bilinear", align_corners=False)
    bright = u(0.8, 1.2).view(b, 1, 1, 1)
    contrast = u(0.85, 1.15).view(b, 1, 1, 1)
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - m) * contrast + m) * bright
    x = x.clamp_(0, 1)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------


def evaluate(encoder: ClipEncoder, ds, categories: Optional[Sequence[str]] = None) -> Dict:
    """Zero-shot category accuracy and text -> instance retrieval among same-category distractors.

    `ds` is an eval-mode CropSet (one agent-view crop per instance). Retrieval: for each instance, the
    caption from its attributes (:func:`clip_data.retrieval_caption`) must rank its own crop first among
    the crops of all instances of its category in the same house (instances without a same-category
    distractor are counted separately). Everything is reported overall and for hold-out models.
    """
    return summarise(instance_results(encoder, ds, categories))


def instance_results(encoder: ClipEncoder, ds, categories: Optional[Sequence[str]] = None) -> Dict:
    """Per instance of an eval-mode CropSet: house `seed`, true and predicted category index, zero-shot
    `correct`, retrieval `hits` (own crop ranked first), `distractors` (other instances of its category in
    its house), `holdout` model; also the `categories` and the image encoding time. Instances come in the
    crop set's order, so two models' results on the same set pair up row by row."""
    from navstack.perception.clip_data import retrieval_caption
    from navstack.sim.catalog import CATEGORIES

    categories = list(categories or CATEGORIES)
    idx = ds.objects
    meta = {k: v[idx] for k, v in ds.meta.items()}
    t0 = time.perf_counter()
    img = encoder.encode_images(list(ds.images[idx]))
    t_img = time.perf_counter() - t0
    labels = encoder.label_embeddings(categories)
    pred = np.argmax(img @ labels.T, axis=1)
    truth = np.array([categories.index(c) for c in meta["category"]])
    captions = [retrieval_caption({k: meta[k][i] for k in meta}) for i in range(len(idx))]
    txt = encoder.encode_text(captions) if captions else np.zeros((0, encoder.dim), np.float32)
    hits, distractors = np.zeros(len(idx), bool), np.zeros(len(idx), int)
    groups: Dict[tuple, List[int]] = {}
    for i in range(len(idx)):
        groups.setdefault((int(meta["seed"][i]), str(meta["category"][i])), []).append(i)
    for members in groups.values():
        sims = txt[members] @ img[members].T  # rows: captions, cols: crops
        for r, i in enumerate(members):
            hits[i] = int(np.argmax(sims[r])) == r
            distractors[i] = len(members) - 1
    return {"categories": categories, "seed": meta["seed"].astype(int), "truth": truth, "pred": pred,
            "correct": pred == truth, "hits": hits, "distractors": distractors,
            "holdout": meta["holdout"].astype(bool), "image_encode_s": t_img}


def summarise(res: Dict) -> Dict:
    """The figures of :func:`evaluate` from :func:`instance_results`."""
    categories, truth, pred, correct = res["categories"], res["truth"], res["pred"], res["correct"]
    hits, distractors, hold = res["hits"], res["distractors"], res["holdout"]

    def rate(mask):
        return round(float(mask.mean()), 4) if len(mask) else None

    per_cat = {}
    for c in categories:
        m = truth == categories.index(c)
        if m.any():
            per_cat[c] = {"n": int(m.sum()), "accuracy": rate(correct[m]),
                          "holdout_n": int((m & hold).sum()), "holdout_accuracy": rate(correct[m & hold])}
    confusion = {}
    for t, p in zip(truth[~correct], pred[~correct]):
        key = f"{categories[t]}->{categories[p]}"
        confusion[key] = confusion.get(key, 0) + 1
    rd = distractors > 0
    return {
        "houses": len(set(res["seed"].tolist())),
        "instances": int(len(truth)),
        "holdout_instances": int(hold.sum()),
        "category_accuracy": rate(correct),
        "category_accuracy_holdout_models": rate(correct[hold]),
        "category_accuracy_seen_models": rate(correct[~hold]),
        "retrieval_instances": int(rd.sum()),
        "retrieval_top1": rate(hits[rd]),
        "retrieval_holdout_instances": int((rd & hold).sum()),
        "retrieval_top1_holdout_models": rate(hits[rd & hold]),
        "retrieval_top1_seen_models": rate(hits[rd & ~hold]),
        "retrieval_mean_distractors": round(float(distractors[rd].mean()), 2) if rd.any() else None,
        "per_category": per_cat,
        "top_confusions": dict(sorted(confusion.items(), key=lambda kv: -kv[1])[:10]),
        "image_encode_ms_per_crop": round(1000 * res["image_encode_s"] / max(len(truth), 1), 3),
    }


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------


def zero_shot_labels(rows: Sequence[Dict[str, object]]):
    """(labels, index per crop) for the auxiliary category loss: the catalogue's categories, then the
    background kinds; an object crop is labelled with its category, a background crop with its kind."""
    from navstack.perception.clip_data import BACKGROUND_KINDS
    from navstack.sim.catalog import CATEGORIES

    labels = list(CATEGORIES) + list(BACKGROUND_KINDS)
    index = {c: i for i, c in enumerate(labels)}
    out = np.empty(len(rows), np.int64)
    for i, r in enumerate(rows):
        name = str(r["category"]) if r["kind"] == "object" else str(r["kind"])
        if name not in index:
            raise ValueError(f"crop {i} has label {name!r}, which is neither a catalogue category nor {BACKGROUND_KINDS}")
        out[i] = index[name]
    return labels, out


def train(cfg: TrainConfig) -> Dict:
    """Render/load data, train, write weights + JSON atomically, evaluate; returns the JSON document."""
    import open_clip
    import torch
    from tqdm import tqdm

    from navstack.perception.clip_data import CropSetConfig, load_crop_set, training_caption
    from navstack.perception.clip_encoder import category_prompts

    cfg.validate()
    t_start = time.time()
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out).expanduser().resolve()
    json_path = out.with_suffix(".json")

    # ---- data
    data_cfg = CropSetConfig(seeds=tuple(cfg.seeds), mode="train", views_per_object=cfg.views_per_object,
                             background_per_house=cfg.background_per_house,
                             image_size=MODEL_CFG["vision_cfg"]["image_size"], sample_seed=cfg.seed)
    ds = load_crop_set(data_cfg, workers=cfg.workers, progress=cfg.progress, cache=cfg.cache)
    t_data = time.time() - t_start
    if len(ds) < cfg.batch_size:
        raise ValueError(f"only {len(ds)} training crops for batch size {cfg.batch_size}: use more seeds or a smaller batch")

    # ---- model
    doc = config_document(cfg.model_name)
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "model.json"
        cfg_path.write_text(json.dumps(doc))
        model, tokenizer = new_model(cfg.model_name, cfg.seed, cfg_path)
    # channels_last: the conv tower's forward + backward runs ~1.6x faster on this CPU (same maths, reordered)
    model = model.to(memory_format=torch.channels_last)
    model.train()
    fwd = torch.compile(model) if cfg.compile else model  # compiles lazily, at the first step
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay)
    loss_fn = open_clip.ClipLoss()
    steps_per_epoch = len(ds) // cfg.batch_size
    total = max(1, int(round(cfg.epochs * steps_per_epoch)))
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    warm = min(cfg.warmup_steps, max(1, total // 10))

    def lr_at(step):
        if step < warm:
            return cfg.lr * (step + 1) / warm
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    rows = [{k: v[i] for k, v in ds.meta.items()} for i in range(len(ds))]
    rng = np.random.default_rng([cfg.seed, 7])
    gen = torch.Generator().manual_seed(cfg.seed)
    mean, std = PREPROCESS_CFG["mean"], PREPROCESS_CFG["std"]
    # Tokenise each batch afresh: a cache of token rows per caption grew without bound (the captions are
    # random: 1-4 MB a step, 23 GB by step 5900) and saved next to no time.
    tokens = lambda texts: tokenizer(list(texts))  # noqa: E731

    class_labels, label_of = zero_shot_labels(rows)
    class_prompts = [category_prompts(c) for c in class_labels]

    losses: List[float] = []
    order = rng.permutation(len(ds))
    pos = 0
    bar = tqdm(total=total, desc="train clip", unit="step", disable=not cfg.progress)
    t_train0 = time.time()
    for step in range(total):
        if pos + cfg.batch_size > len(order):
            order, pos = rng.permutation(len(ds)), 0
        batch = order[pos : pos + cfg.batch_size]
        pos += cfg.batch_size
        x = augment(ds.images[batch], gen, mean, std).contiguous(memory_format=torch.channels_last)
        t = tokens([training_caption(rows[i], rng) for i in batch])
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        try:
            outp = fwd(x, t)
        except Exception as e:  # inductor needs a C++ compiler; without one, train eagerly (same maths)
            if fwd is model:
                raise
            print(f"torch.compile failed ({type(e).__name__}: {str(e)[:200]}); training without it", file=sys.stderr)
            fwd = model
            outp = model(x, t)
        prompts = [str(rng.choice(p)) for p in class_prompts] if cfg.category_loss > 0 else []  # one per label
        loss = training_loss(model, outp, loss_fn, tokens(prompts) if prompts else None,
                             torch.from_numpy(label_of[batch]), cfg.category_loss)
        optimise(model, opt, loss)
        losses.append(float(loss.detach()))
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", scale=f"{model.logit_scale.exp().item():.1f}")
    bar.close()
    t_train = time.time() - t_train0

    # ---- write weights (float16 safetensors) + JSON, atomically
    model.eval()
    # float16 halves the file; integer buffers (BatchNorm's num_batches_tracked) keep their dtype
    state = {k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous()
             for k, v in model.state_dict().items()}
    atomic_write(out, _safetensors_bytes(state, {"format": CONFIG_FORMAT, "model_name": cfg.model_name}))
    weights_bytes = out.stat().st_size
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    command = canonical_command(cfg)
    doc.update({
        "weights": {"file": out.name, "dtype": "float16", "bytes": weights_bytes, "sha256": sha,
                    "parameters": int(sum(p.numel() for p in model.parameters()))},
        "training": {
            "command": command,
            "train_seeds": _seed_text(cfg.seeds),
            "eval_seeds": _seed_text(cfg.eval_seeds),
            "epochs": cfg.epochs, "steps": total, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "weight_decay": cfg.weight_decay, "warmup_steps": warm, "seed": cfg.seed, "threads": cfg.threads,
            "compiled": fwd is not model,
            "loss": "open_clip.ClipLoss" + (f" + {cfg.category_loss} x cross-entropy of each crop against one random "
                                             "prompt per label (categories, wall, floor, ceiling)" if cfg.category_loss > 0 else ""),
            "category_loss": cfg.category_loss, "optimizer": "AdamW(betas=(0.9, 0.98), eps=1e-6" + (", fused" if opt.defaults.get("fused") else "") + "), cosine schedule",
            "augmentation": "random resized crop 0.75-1 (aspect +-15%), h-flip, 20% low-res blur, brightness 0.8-1.2, "
                            "contrast 0.85-1.15; no hue/saturation jitter",
            "data": {"houses": len(cfg.seeds), "views_per_object": cfg.views_per_object,
                     "background_per_house": cfg.background_per_house, "crops": int(len(ds)),
                     "object_crops": int((ds.meta["kind"] == "object").sum()),
                     "background_crops": int((ds.meta["kind"] != "object").sum()),
                     "instances": int(ds.stats.get("objects", 0)),
                     "distinct_models": int(len(set(ds.meta["entry_id"][ds.meta["kind"] == "object"]))),
                     "holdout_model_crops": int(ds.meta["holdout"].sum())},
            "final_loss": round(float(np.mean(losses[-50:])), 4),
            "loss_curve": [round(float(np.mean(losses[i : i + 50])), 4) for i in range(0, len(losses), max(50, len(losses) // 20))],
            "logit_scale": round(float(model.logit_scale.detach().exp()), 3),
            # data: rendering or loading the cached crops in this run; data_render: when the crops were rendered
            "time_s": {"data": round(t_data, 1), "data_render": ds.stats.get("render_s"), "train": round(t_train, 1)},
            "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__,
                        "open_clip": open_clip.__version__, "python": platform.python_version()},
        },
    })
    _write_json(json_path, doc)

    # ---- evaluate on held-out houses
    if cfg.eval_seeds:
        t0 = time.time()
        encoder = ClipEncoder(ClipConfig(model_name=cfg.model_name, weights=str(out), model_config=str(json_path),
                                         threads=cfg.threads))
        eval_ds = load_crop_set(CropSetConfig(seeds=tuple(cfg.eval_seeds), mode="eval", views_per_object=1,
                                              background_per_house=0, image_size=encoder.image_size),
                                workers=cfg.workers, progress=cfg.progress, cache=cfg.cache)
        metrics = evaluate(encoder, eval_ds)
        metrics["eval_seeds"] = _seed_text(cfg.eval_seeds)
        metrics["objects_without_view"] = int(eval_ds.stats.get("objects_without_view", 0))
        doc["metrics"] = metrics
        doc["training"]["time_s"]["eval"] = round(time.time() - t0, 1)
    doc["training"]["time_s"]["total"] = round(time.time() - t_start, 1)
    _write_json(json_path, doc)
    return doc


def canonical_command(cfg: TrainConfig) -> str:
    """The `navstack train clip` command line that reproduces a run of `cfg`."""
    parts = ["navstack train clip", f"--seeds {_seed_text(cfg.seeds)}",
             f"--eval-seeds {_seed_text(cfg.eval_seeds) if cfg.eval_seeds else 'none'}",
             f"--epochs {cfg.epochs:g}", f"--batch-size {cfg.batch_size}", f"--lr {cfg.lr:g}",
             f"--category-loss {cfg.category_loss:g}",
             f"--views-per-object {cfg.views_per_object}", f"--background-per-house {cfg.background_per_house}",
             f"--threads {cfg.threads}", f"--workers {cfg.workers}", f"--seed {cfg.seed}"]
    parts.append(f"--max-steps {cfg.max_steps or 0}")
    if not cfg.compile:
        parts.append("--no-compile")
    if Path(cfg.out).expanduser().resolve() != DEFAULT_WEIGHTS.resolve():
        parts.append(f"--out {cfg.out}")
    return " ".join(parts)


def _safetensors_bytes(state, metadata) -> bytes:
    from safetensors.torch import save

    return save(state, metadata=metadata)


def _write_json(path: Path, doc: Dict) -> None:
    atomic_write(path, json.dumps(doc, indent=1) + "\n")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _seed_text(seeds: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    seeds = sorted(set(int(s) for s in seeds))
    parts, i = [], 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(f"{seeds[i]}-{seeds[j]}" if j > i else f"{seeds[i]}")
        i = j + 1
    return ",".join(parts)


def parse_seeds(text: str) -> List[int]:
    """'0-299' / '1,5,7-8' -> list of ints (ValueError with the accepted forms)."""
    seeds: List[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                a, b = (int(v) for v in part.split("-", 1))
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise ValueError(f"bad seed list {text!r}: use A-B, A,B,C or both (e.g. 0-299,400)") from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"bad seed list {text!r}: seeds must be non-negative integers")
    return seeds


# ----------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------


def add_train_clip_parser(subparsers) -> argparse.ArgumentParser:
    """Add `clip` to a `navstack train` subparsers object; sets func=cmd_train_clip."""
    p = subparsers.add_parser(
        "clip", help="train the embedded-world CLIP model (2-core CPU: about 50 min end to end for the shipped weights)",
        description="Render object crops in training houses and train navstack-clip-small with open_clip's ClipLoss. "
                    "Defaults reproduce assets/clip/navstack_clip.safetensors.")
    p.add_argument("--seeds", default=DEFAULT_TRAIN_SEEDS, help=f"training house seeds, all < 1000 (default {DEFAULT_TRAIN_SEEDS})")
    p.add_argument("--eval-seeds", default=DEFAULT_EVAL_SEEDS,
                   help=f"held-out houses evaluated at the end (default {DEFAULT_EVAL_SEEDS}; 'none' to skip)")
    p.add_argument("--epochs", type=float, default=TrainConfig.epochs)
    p.add_argument("--max-steps", type=int, default=TrainConfig.max_steps,
                   help=f"stop after this many steps (default {TrainConfig.max_steps}; 0 = all epochs)")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--views-per-object", type=int, default=TrainConfig.views_per_object)
    p.add_argument("--background-per-house", type=int, default=TrainConfig.background_per_house)
    p.add_argument("--category-loss", type=float, default=TrainConfig.category_loss,
                   help=f"weight of the auxiliary zero-shot category loss beside ClipLoss (default {TrainConfig.category_loss}; 0 = ClipLoss only)")
    p.add_argument("--threads", type=int, default=TrainConfig.threads,
                   help="torch threads for training (default 2; 1 when the other core is busy)")
    p.add_argument("--workers", type=int, default=TrainConfig.workers, help="processes rendering the crops")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--out", default=str(DEFAULT_WEIGHTS), help="weights file (.safetensors); the JSON goes beside it")
    p.add_argument("--no-cache", action="store_true", help="render the crops again instead of using the cache")
    p.add_argument("--no-compile", action="store_true",
                   help="train eagerly instead of with torch.compile (which needs a C++ compiler; ~1 min to compile)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train_clip)
    return p


def config_from_args(args) -> TrainConfig:
    eval_seeds = [] if str(args.eval_seeds).lower() in ("none", "") else parse_seeds(args.eval_seeds)
    return TrainConfig(seeds=parse_seeds(args.seeds), eval_seeds=eval_seeds, epochs=args.epochs,
                       max_steps=args.max_steps or None,
                       batch_size=args.batch_size, lr=args.lr, category_loss=args.category_loss, views_per_object=args.views_per_object,
                       background_per_house=args.background_per_house, threads=args.threads, workers=args.workers,
                       seed=args.seed, out=args.out, cache=not args.no_cache, progress=not args.quiet,
                       compile=not args.no_compile)


def cmd_train_clip(args) -> int:
    cfg = config_from_args(args)
    doc = train(cfg)
    tr = doc["training"]
    print(f"wrote {cfg.out} ({doc['weights']['bytes'] / 1e6:.1f} MB) and {Path(cfg.out).with_suffix('.json')}")
    print(f"data {tr['data']['crops']} crops from {tr['data']['houses']} houses; {tr['steps']} steps; "
          f"final loss {tr['final_loss']}; time {tr['time_s']}")
    m = doc.get("metrics")
    if m:
        print(f"held-out houses {m['eval_seeds']}: category accuracy {m['category_accuracy']} "
              f"(hold-out models {m['category_accuracy_holdout_models']}), retrieval top-1 {m['retrieval_top1']} "
              f"(hold-out models {m['retrieval_top1_holdout_models']})")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m navstack.perception.clip_train [options]` (the same as `navstack train clip`)."""
    parser = argparse.ArgumentParser(prog="navstack train")
    sub = parser.add_subparsers(dest="command")
    add_train_clip_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "clip":
        argv = ["clip"] + argv
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    doc = train(cfg)
    print(json.dumps({k: doc[k] for k in ("weights", "metrics") if k in doc}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
