"""Test-time changes to the CLIP encoder's input, on DEVELOPMENT houses (< 9000): do any lift zero-shot accuracy?

    python benchmarks/study_clip_test_time.py --seeds 1000-1029 [--clip-weights W] [--json runs/clip_test_time.json]

The same agent-view crops and the same figures as `bench_clip.py` (zero-shot category accuracy over all
categories, also on hold-out models; text -> instance retrieval), with the crops rendered at 96 px so
that each variant resizes from real pixels:

* other input sizes than the model's 64 px (FixRes: training zooms in by up to 1/0.75, so objects look
  larger in training than at test time, which a larger test input can undo);
* zoom averaging: the embedding of the whole crop averaged with those of centre crops zoomed in
  (within the training augmentation's range), resized back to the model's input size.

Refuses held-out seeds: this is for choosing, not for reporting.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import add_clip_args, clip_config, machine, require_development_seeds, write_json  # noqa: E402

SOURCE_SIZE = 96


def zoom(image: np.ndarray, factor: float) -> np.ndarray:
    """Centre crop of `factor` x the side, resized back to the image's size."""
    import cv2

    h, w = image.shape[:2]
    ch, cw = max(1, round(h * factor)), max(1, round(w * factor))
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(np.ascontiguousarray(image[y : y + ch, x : x + cw]), (w, h), interpolation=cv2.INTER_LINEAR)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="1000-1029", help="development house seeds (< 9000)")
    p.add_argument("--sizes", default="64,72,80,96", help="input sizes to try (the model's own first)")
    p.add_argument("--zooms", default="1.0;1.0,0.9;1.0,0.85;1.0,0.9,0.8",
                   help="zoom sets to average, ';' between sets (1.0 alone: the plain crop)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="processes rendering the crops")
    p.add_argument("--json", metavar="PATH")
    add_clip_args(p)
    args = p.parse_args(argv)

    from navstack.perception.clip_data import CropSetConfig, load_crop_set
    from navstack.perception.clip_encoder import ClipEncoder
    from navstack.perception.clip_train import evaluate, parse_seeds

    seeds = parse_seeds(args.seeds)
    require_development_seeds(seeds)
    ds = load_crop_set(CropSetConfig(seeds=tuple(seeds), mode="eval", views_per_object=1, background_per_house=0,
                                     image_size=SOURCE_SIZE), workers=args.workers)
    enc = ClipEncoder(clip_config(args, threads=args.threads))
    model_size, plain = enc.image_size, enc.encode_images
    rows = []

    def report(kind, value):
        m = evaluate(enc, ds)
        rows.append({"variant": kind, "value": value, "category_accuracy": m["category_accuracy"],
                     "category_accuracy_holdout_models": m["category_accuracy_holdout_models"],
                     "retrieval_top1": m["retrieval_top1"], "instances": m["instances"]})
        print(f"{kind:>6} {str(value):<16} zero-shot {m['category_accuracy']:.3f} (hold-out models "
              f"{m['category_accuracy_holdout_models']:.3f})  retrieval {m['retrieval_top1']:.3f}", flush=True)

    print(f"{len(ds.objects)} instances in houses {args.seeds}; the model's input is {model_size} px")
    for size in [int(s) for s in args.sizes.split(",")]:
        enc.image_size = size
        report("size", size)
    enc.image_size = model_size
    for zs in [tuple(float(z) for z in group.split(",")) for group in args.zooms.split(";")]:
        def averaged(images, zs=zs):
            f = sum(plain([zoom(im, z) for im in images]) for z in zs)
            return f / np.linalg.norm(f, axis=1, keepdims=True)

        enc.encode_images = averaged
        report("zoom", zs)
    write_json(args.json, {"seeds": args.seeds, "rows": rows, "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
