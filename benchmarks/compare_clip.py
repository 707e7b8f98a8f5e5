#!/usr/bin/env python
"""Two or more CLIP weights files on the same DEVELOPMENT crops (< 9000), compared instance by instance.

    python benchmarks/compare_clip.py --seeds 1000-1199 runs/a/navstack_clip.safetensors runs/b/navstack_clip.safetensors
    python benchmarks/compare_clip.py --seeds 1000-1199 shipped runs/b/navstack_clip.safetensors --json runs/cmp.json

The figures of `bench_clip.py` (zero-shot category accuracy, also on hold-out models; text -> instance
retrieval among same-category distractors) for each model, then each model against the first on the very
same instances: how many only it gets right and how many only the first does, with a two-sided sign test
(`scipy.stats.binomtest` on the instances where they differ). A training recipe moves accuracy by a point
or two, about one standard error of a 30-house set, so an unpaired comparison of two runs says little;
paired over 200 houses it can. `shipped` names the shipped model; a weights file's model config is the
.json beside it. Refuses held-out seeds: this is for choosing a recipe, not for reporting one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import local_clip_config, machine, require_development_seeds, write_json  # noqa: E402


def paired(a: np.ndarray, b: np.ndarray) -> dict:
    """b against a on the same instances: b alone right (won), a alone right (lost), sign-test p."""
    from scipy.stats import binomtest

    won, lost = int((b & ~a).sum()), int((a & ~b).sum())
    p = binomtest(won, won + lost).pvalue if won + lost else 1.0
    return {"won": won, "lost": lost, "p": round(float(p), 4)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="weights files (.safetensors, config .json beside), or 'shipped'")
    p.add_argument("--seeds", default="1000-1199", help="development house seeds (< 9000)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="processes rendering the crops")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if len(args.models) < 2:
        p.error("give at least two models to compare")

    from navstack.perception.clip_data import CropSetConfig, load_crop_set
    from navstack.perception.clip_encoder import ClipEncoder
    from navstack.perception.clip_train import instance_results, parse_seeds, summarise

    seeds = parse_seeds(args.seeds)
    require_development_seeds(seeds, "compare_clip.py")
    configs = [local_clip_config(None if m == "shipped" else m, threads=args.threads) for m in args.models]
    for m, cfg in zip(args.models, configs):
        if m != "shipped" and not (Path(cfg.weights).is_file() and Path(cfg.model_config).is_file()):
            raise SystemExit(f"{m}: no such weights file with its model config .json beside it")
    ds = load_crop_set(CropSetConfig(seeds=tuple(seeds), mode="eval", views_per_object=1, background_per_house=0,
                                     image_size=64), workers=args.workers)
    rows, first = [], None
    for m, cfg in zip(args.models, configs):
        res = instance_results(ClipEncoder(cfg), ds)
        s = summarise(res)
        row = {"model": m, "category_accuracy": s["category_accuracy"],
               "category_accuracy_holdout_models": s["category_accuracy_holdout_models"],
               "retrieval_top1": s["retrieval_top1"], "retrieval_top1_holdout_models": s["retrieval_top1_holdout_models"]}
        if first is None:
            first = res
            print(f"{s['instances']} instances ({s['holdout_instances']} of hold-out models) in houses {args.seeds}")
        else:
            rd = res["distractors"] > 0
            row["zero_shot_vs_first"] = paired(first["correct"], res["correct"])
            row["zero_shot_holdout_vs_first"] = paired(first["correct"][res["holdout"]], res["correct"][res["holdout"]])
            row["retrieval_vs_first"] = paired(first["hits"][rd], res["hits"][rd])
        rows.append(row)
        line = (f"{m}: zero-shot {s['category_accuracy']:.3f} (hold-out models {s['category_accuracy_holdout_models']:.3f})"
                f"  retrieval {s['retrieval_top1']:.3f}")
        for key, name in (("zero_shot_vs_first", "zero-shot"), ("zero_shot_holdout_vs_first", "hold-out"),
                          ("retrieval_vs_first", "retrieval")):
            if key in row:
                line += f"\n    vs {args.models[0]} {name}: won {row[key]['won']}, lost {row[key]['lost']}, p {row[key]['p']:.3f}"
        print(line, flush=True)
    write_json(args.json, {"seeds": args.seeds, "rows": rows, "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
