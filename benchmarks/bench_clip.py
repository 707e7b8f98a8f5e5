#!/usr/bin/env python
"""Held-out quality of the CLIP encoder in the embedded world (navstack.perception.clip_encoder).

On held-out houses (seeds >= 9000; never rendered for training), one agent-view crop per object
instance (320x240, 79 degree HFOV, camera at 0.88 m, pitch 0, 1-3 m away, object at least half visible,
ground-truth mask box + 10%):

* zero-shot category accuracy: each crop classified among all navstack categories with the prompt
  ensemble (goal >= 0.90);
* text -> instance retrieval among same-category distractors: the caption built from an instance's
  attributes ("the large red wooden chair in the kitchen") must rank its own crop first among the crops of
  all instances of its category in the house (goal top-1 >= 0.80; instances without a distractor are
  left out);
* both again restricted to hold-out furniture MODELS (CatalogEntry.holdout: never rendered in
  training), the honest measure of generalisation;
* the model's training time and weights size (from its JSON provenance).

    python benchmarks/bench_clip.py                              # shipped navstack-clip-small, houses 9000-9049
    python benchmarks/bench_clip.py --seeds 9000-9099 --json out/bench_clip.json
    python benchmarks/bench_clip.py --model-name ViT-B-32 --pretrained laion2b_s34b_b79k   # a real CLIP (downloads)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine, write_json  # noqa: E402

GOALS = {"category_accuracy": 0.90, "retrieval_top1": 0.80}


def main(argv=None) -> int:
    from navstack.perception.clip_encoder import DEFAULT_MODEL_CONFIG, DEFAULT_MODEL_NAME, DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="9000-9049", help="held-out house seeds (>= 9000)")
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    p.add_argument("--pretrained", help="open_clip pretrained tag (with --weights none)")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="local weights file, or 'none'")
    p.add_argument("--model-config", default=str(DEFAULT_MODEL_CONFIG), help="custom model config JSON, or 'none'")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--flip-average", action="store_true", help="average each crop's embedding with its mirror image's")
    p.add_argument("--workers", type=int, default=2, help="processes rendering the crops")
    p.add_argument("--no-cache", action="store_true", help="render the crops again")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = p.parse_args(argv)

    from navstack.perception.clip_data import CropSetConfig, load_crop_set
    from navstack.perception.clip_encoder import ClipConfig, ClipEncoder
    from navstack.perception.clip_train import evaluate, parse_seeds

    none = lambda v: None if v is None or str(v).lower() == "none" else v  # noqa: E731
    seeds = parse_seeds(args.seeds)
    if min(seeds) < 9000:
        print(f"warning: seeds below 9000 are not the held-out evaluation houses ({min(seeds)})", file=sys.stderr)
    cfg = ClipConfig(model_name=args.model_name, pretrained=none(args.pretrained), weights=none(args.weights),
                     model_config=none(args.model_config), threads=args.threads, flip_average=args.flip_average)
    t0 = time.time()
    enc = ClipEncoder(cfg)
    t_load = time.time() - t0
    ds = load_crop_set(CropSetConfig(seeds=tuple(seeds), mode="eval", views_per_object=1, background_per_house=0,
                                     image_size=64), workers=args.workers, progress=not args.quiet,
                       cache=not args.no_cache)
    metrics = evaluate(enc, ds)
    metrics["objects_without_view"] = int(ds.stats.get("objects_without_view", 0))

    provenance = {}
    if cfg.model_config and Path(cfg.model_config).is_file():
        doc = json.loads(Path(cfg.model_config).read_text())
        tr = doc.get("training", {})
        provenance = {"command": tr.get("command"), "train_seeds": tr.get("train_seeds"),
                      "training_time_s": tr.get("time_s"), "training_crops": tr.get("data", {}).get("crops"),
                      "training_machine": tr.get("machine")}
        used = set(parse_seeds(tr["train_seeds"])) if tr.get("train_seeds") else set()
        if used & set(seeds):
            print(f"warning: {len(used & set(seeds))} evaluation seeds were used in training", file=sys.stderr)
    weights = Path(cfg.weights) if cfg.weights else None
    result = {
        "model": {"model_name": cfg.model_name, "pretrained": cfg.pretrained, "weights": str(weights) if weights else None,
                  "weights_bytes": weights.stat().st_size if weights and weights.is_file() else None,
                  "dim": enc.dim, "image_size": enc.image_size, "load_s": round(t_load, 2)},
        "seeds": args.seeds,
        "goals": GOALS,
        "metrics": metrics,
        "training": provenance,
        "machine": machine(),
    }
    m = metrics
    print(f"CLIP {cfg.model_name} on held-out houses {args.seeds} ({m['houses']} houses, {m['instances']} instances, "
          f"{m['holdout_instances']} of hold-out models)")
    print(f"  zero-shot category accuracy   {m['category_accuracy']:.3f}   (goal {GOALS['category_accuracy']}); "
          f"hold-out models {_f(m['category_accuracy_holdout_models'])}, seen models {_f(m['category_accuracy_seen_models'])}")
    print(f"  text->instance retrieval top1 {_f(m['retrieval_top1'])}   (goal {GOALS['retrieval_top1']}; "
          f"{m['retrieval_instances']} instances, {m['retrieval_mean_distractors']} distractors on average); "
          f"hold-out models {_f(m['retrieval_top1_holdout_models'])} ({m['retrieval_holdout_instances']} instances)")
    print("  per category: " + ", ".join(f"{c} {v['accuracy']:.2f}/{v['n']}" for c, v in m["per_category"].items()))
    print(f"  top confusions: {m['top_confusions']}")
    if weights and weights.is_file():
        print(f"  weights {weights.stat().st_size / 1e6:.1f} MB; image encoding {m['image_encode_ms_per_crop']} ms/crop")
    if provenance.get("training_time_s"):
        print(f"  training: {provenance['training_time_s']} s on {provenance.get('training_machine', {}).get('cpu')}; "
              f"`{provenance['command']}`")
    write_json(args.json, result)
    return 0


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    sys.exit(main())
