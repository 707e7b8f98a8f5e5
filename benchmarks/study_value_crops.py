"""Does a frame's CLIP similarity to a goal category tell whether that category is in view? On DEVELOPMENT
houses (< 9000), the whole frame against square crops along the horizon band.

    python benchmarks/study_value_crops.py --seeds 1200-1229 [--poses 25] [--crops 5] [--json out.json]

The value map (navstack/planning/value_map.py) writes the whole frame's similarity to the goal into the
cells in view. The embedded-world CLIP model is trained on object crops at 64 px, and a whole 320x240 frame
squeezed to that size shrinks an object beyond the depth range to a few pixels. This renders `--poses`
random navigable views per house and, for each category of the house, scores the frame by the whole
frame's similarity and by the best of `--crops` crops (half the frame's height, evenly spread along the
horizon band, where far objects sit). Reported: the mean over categories of the AUC that the score ranks
frames showing the category (ground-truth instance pixels, for this report only) above frames showing
none of it - for near views (at least the map's `min_embed_pixels` within its proposal range, 300 pixels
within 4.5 m by default: what the map embeds) and far-only views (that many beyond it, fewer within).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, require_development_seeds, write_json  # noqa: E402


def horizon_crops(rgb, n: int):
    """`n` squares of half the image height, evenly spread along the horizon band."""
    import numpy as np

    h, w = rgb.shape[:2]
    size = min(h // 2, w)
    y0 = (h - size) // 2
    xs = np.linspace(0, w - size, n).round().astype(int) if n > 1 else [(w - size) // 2]
    return [rgb[y0:y0 + size, x:x + size] for x in xs]


def auc(pos, neg) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(pos, neg).statistic) / (len(pos) * len(neg))


def main(argv=None) -> dict:
    from navstack.eval import parse_seed_range

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", required=True, help="development house seeds, e.g. 1200-1229")
    ap.add_argument("--poses", type=int, default=25, help="random views per house")
    ap.add_argument("--crops", type=int, default=5, help="horizon crops per frame")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    seeds = parse_seed_range(args.seeds)
    require_development_seeds(seeds)

    import numpy as np
    from tqdm import tqdm

    from navstack.config import load_sim_config
    from navstack.mapping.semantic_map import load_mapping_config
    from navstack.perception.clip_encoder import ClipConfig, load_encoder
    from navstack.perception.goal_encoding import GoalEncoder
    from navstack.sim.backend import camera_rotation
    from navstack.sim.scene import HouseConfig, generate_house
    from navstack.types import Intrinsics

    sim = load_sim_config(None)
    mapping = load_mapping_config()
    near_range, min_pixels = mapping.proposals.max_range, mapping.min_embed_pixels  # what the map embeds
    intr = Intrinsics.from_hfov(sim.width, sim.height, sim.hfov)
    encoder = load_encoder(ClipConfig())
    goals = GoalEncoder(encoder)
    rows = []  # (category, near pixels, far pixels, whole-frame similarity, best crop similarity)
    for seed in tqdm(seeds, desc="houses", unit="house"):
        house = generate_house(seed, HouseConfig(agent_radius=sim.agent_radius))
        renderer = house.renderer(threads=2)
        cats = house.categories
        text = np.stack([goals.category_embedding(c) for c in cats])
        ids_of = {c: [o.id for o in house.objects_of(c)] for c in cats}
        rng = np.random.default_rng(seed)
        for p in house.navgrid.sample_navigable(rng, args.poses):
            eye = np.array([p[0], sim.sensor_height, p[-1]])
            # the renderer, not the backend: its depth is not clipped at the sensor's range
            r = renderer.render(eye, camera_rotation(rng.uniform(-math.pi, math.pi), 0.0), intr)
            emb = np.asarray(encoder.encode_images([r.rgb, *horizon_crops(r.rgb, args.crops)]), np.float32)
            s = emb @ text.T
            for k, c in enumerate(cats):
                on = np.isin(r.instance, ids_of[c])
                near = int((on & (r.depth <= near_range)).sum())
                rows.append((c, near, int(on.sum()) - near, float(s[0, k]), float(s[1:, k].max())))
    views = {"near": lambda n, f: n >= min_pixels, "far only": lambda n, f: f >= min_pixels and n < min_pixels}
    out = {"seeds": args.seeds, "poses": args.poses, "crops": args.crops, "machine": machine()}
    for view, shows in views.items():
        for name, col in (("whole frame", 3), ("horizon crops", 4)):
            aucs = []
            for c in sorted({r[0] for r in rows}):
                pos = [r[col] for r in rows if r[0] == c and shows(r[1], r[2])]
                neg = [r[col] for r in rows if r[0] == c and r[1] + r[2] == 0]
                if len(pos) >= 3 and len(neg) >= 3:
                    aucs.append(auc(pos, neg))
            out[f"{view}, {name}"] = {"auc": round(float(np.mean(aucs)), 3) if aucs else None,
                                      "categories": len(aucs)}
            print(f"{view:9s} {name:14s} mean AUC over {len(aucs):2d} categories: {out[f'{view}, {name}']['auc']}")
    if args.json:
        write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
