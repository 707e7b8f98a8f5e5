"""`navstack train shape-prior`: fit the map's shape prior (navstack.mapping.shape_prior).

Each house is surveyed by the scripted route of `navstack.sim.survey` (ground truth drives; the map
sees RGB-D and poses, its instances come from geometric proposals, CLIP labels them), the confirmed
instances are matched to the house's objects by 3D overlap, and each matched instance gives one
(shape features, true category, CLIP's probabilities) row. Gaussians are fitted on the rows of the
training houses (`--seeds`, all < 1000); the likelihood's weight against CLIP is the one with the best
category accuracy on the tuning houses (`--tune-seeds`: houses the CLIP model never saw, never the
held-out >= 9000 ones). Writes assets/mapping/shape_prior.json (atomic) with its provenance.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from navstack.mapping.shape_prior import DEFAULT_PATH, ShapePrior, shape_features

DEFAULT_SEEDS = "0-29,100-129"
DEFAULT_TUNE_SEEDS = "1000-1039"
DEFAULT_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)

_ENCODER = None


def _init_worker(threads: int) -> None:
    global _ENCODER
    os.environ["OMP_NUM_THREADS"] = str(threads)
    from navstack.perception.clip_encoder import ClipConfig, load_encoder

    _ENCODER = load_encoder(ClipConfig(threads=threads))


def survey_rows(seed: int, encoder=None) -> List[dict]:
    """One row per confirmed, CLIP-labelled instance of house `seed` matched to an object."""
    from navstack.mapping.semantic_map import MappingConfig, SemanticMap
    from navstack.sim.scene import generate_house
    from navstack.sim.survey import match_instances, survey_map

    house = generate_house(seed)
    smap = SemanticMap(encoder if encoder is not None else _ENCODER, MappingConfig(shape_prior="none"))
    survey_map(house, smap)
    smap.instance_map.maintain(smap.structure)
    insts = [i for i in smap.instance_map.confirmed() if i.clip_category_probs is not None]
    match, _ = match_instances({i.id: i.points for i in insts}, house)
    objs = {o.id: o for o in house.objects}
    C = len(smap.categories)
    rows = []
    for inst in insts:
        if inst.id not in match:
            continue
        p = inst.clip_category_probs[:C]
        rows.append({"seed": seed, "category": objs[match[inst.id]].category,
                     "features": shape_features(inst.points, inst.voxel).tolist(),
                     "clip": (p / max(float(p.sum()), 1e-9)).tolist()})
    return rows


def collect(seeds: Sequence[int], workers: int = 2, threads: int = 1, progress: bool = True) -> List[dict]:
    from tqdm import tqdm

    rows: List[dict] = []
    bar = tqdm(total=len(seeds), desc="survey houses", unit="house", disable=not progress)
    if workers <= 1:
        _init_worker(threads)
        for s in seeds:
            rows.extend(survey_rows(s))
            bar.update()
    else:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(threads,)) as pool:
            for r in pool.map(survey_rows, seeds):
                rows.extend(r)
                bar.update()
    bar.close()
    return rows


def accuracy(prior: ShapePrior, rows: Sequence[dict], weight: float) -> float:
    if not rows:
        return float("nan")
    X = np.array([r["features"] for r in rows])
    P = np.array([r["clip"] for r in rows])
    truth = np.array([prior.categories.index(r["category"]) for r in rows])
    score = np.log(np.maximum(P, 1e-9)) + weight * prior.log_likelihood(X)
    return float(np.mean(score.argmax(1) == truth))


def train(seeds: Sequence[int], tune_seeds: Sequence[int], weights: Sequence[float] = DEFAULT_WEIGHTS,
          out=DEFAULT_PATH, workers: int = 2, threads: int = 1, progress: bool = True, command: str = "") -> Dict:
    from navstack.mapping.semantic_map import DEFAULT_CATEGORIES

    if not seeds or max(seeds) >= 1000:
        raise ValueError("shape-prior training houses must be seeds < 1000 (>= 9000 are held out)")
    if any(s >= 9000 for s in tune_seeds):
        raise ValueError("tuning houses must not be held-out houses (>= 9000)")
    t0 = time.time()
    train_rows = collect(list(seeds), workers, threads, progress)
    tune_rows = collect(list(tune_seeds), workers, threads, progress) if tune_seeds else []
    cats = list(DEFAULT_CATEGORIES)
    prior = ShapePrior.fit(cats, np.array([r["features"] for r in train_rows]),
                           [r["category"] for r in train_rows])
    table = {float(w): accuracy(prior, tune_rows, w) for w in weights}
    best = max(table, key=lambda w: (table[w], -w)) if tune_rows else 0.5
    prior.weight = best
    prior.provenance = {
        "command": command, "train_seeds": list(seeds), "tune_seeds": list(tune_seeds),
        "train_instances": len(train_rows), "tune_instances": len(tune_rows),
        "tune_accuracy_by_weight": table, "seconds": round(time.time() - t0, 1),
        "note": "features of the map's own instances after a scripted survey (navstack.sim.survey), "
                "matched to objects by 3D overlap",
    }
    path = prior.save(out)
    return {"path": str(path), "weight": best, "accuracy_by_weight": table, "train_instances": len(train_rows),
            "tune_instances": len(tune_rows), "seconds": time.time() - t0}


def add_train_shape_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "shape-prior", help="fit the map's category shape prior (2-core CPU: about 10 min)",
        description="Survey training houses with the map, fit per-category shape Gaussians, choose their weight "
                    "against CLIP on tuning houses. Defaults reproduce assets/mapping/shape_prior.json.")
    p.add_argument("--seeds", default=DEFAULT_SEEDS, help=f"training houses, all < 1000 (default {DEFAULT_SEEDS})")
    p.add_argument("--tune-seeds", default=DEFAULT_TUNE_SEEDS,
                   help=f"houses the weight is chosen on (default {DEFAULT_TUNE_SEEDS}; 'none': weight 0.5)")
    p.add_argument("--weights", default=",".join(str(w) for w in DEFAULT_WEIGHTS), help="weights tried")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--out", default=str(DEFAULT_PATH))
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train_shape)
    return p


def cmd_train_shape(args) -> int:
    import sys

    from navstack.eval import parse_seed_range

    tune = [] if str(args.tune_seeds).lower() in ("", "none") else parse_seed_range(args.tune_seeds)
    try:
        weights = [float(w) for w in str(args.weights).split(",") if w.strip()]
    except ValueError:
        raise ValueError(f"--weights must be comma-separated numbers, got {args.weights!r}") from None
    if not weights or min(weights) < 0:
        raise ValueError("--weights must be non-negative numbers")
    command = "navstack train shape-prior " + " ".join(sys.argv[3:]) if len(sys.argv) > 3 else "navstack train shape-prior"
    res = train(parse_seed_range(args.seeds), tune, weights, Path(args.out), args.workers, args.threads,
                not args.quiet, command)
    acc = ", ".join(f"{w:g}: {a:.3f}" for w, a in res["accuracy_by_weight"].items())
    print(f"wrote {res['path']}: weight {res['weight']:g} ({res['train_instances']} training instances, "
          f"{res['tune_instances']} tuning; accuracy by weight {acc}) in {res['seconds'] / 60:.1f} min")
    return 0
