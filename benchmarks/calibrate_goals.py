"""Calibrate the modular agent's goal-acceptance thresholds on DEVELOPMENT houses (seeds < 9000).

    python benchmarks/calibrate_goals.py --seeds 1100-1109 [--json runs/calibrate_goals.json]

Use houses the CLIP model never saw in training (it trains on 0-299, where it is over-confident).

Each house is explored by the scripted route of bench_mapping.py (ground truth only drives), the map is
built without ground-truth semantics, and mapped instances are matched to ground-truth objects by 3D
overlap. Then, for what GoalSearch.accept() looks at:

* category goals: P(goal category | instance) and whether it is the arg-max, for instances that are of the
  goal category (positives) and instances that are not (negatives), every category present;
* image goals (IIN-style photos of matched objects): the CLIP image cosine and ORB inliers of the goal's
  own instance (positive) and of the other instances of its category (negatives);
* text goals' colour and material words: P(word | instance) among the goal encoder's colour (material)
  words, for the word of the instance's own object (positive) at the same-category instances whose object
  has it (positives) and those whose object has another (negatives: the distractors the word must rule out);
* text goals' room phrase: P(room type | instance) (SemanticMap.room_distribution) for the room type the
  object stands in (positive) and the other room types of the house (negatives);
* text goals' nearby object ("next to the sofa"): the near evidence (best P(category) x exp(-d / scale) of
  another mapped instance within reach, GoalEncoder) for the category of the object's ground-truth nearest
  other object (navstack.tasks.describe.nearest_other) at its own instance (positive) and at the other
  instances of its category (negatives: the distractors a description has to rule out);

and prints, per threshold, the fraction of positives accepted and of negatives accepted. The defaults in
GoalSearchConfig / configs/agent/modular.yaml are read off these tables; held-out seeds (>= 9000) are never
used here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mapping import evaluate, goal_photo, run_house  # noqa: E402
from common import add_clip_args, clip_config, require_development_seeds, write_json  # noqa: E402

from navstack.eval import parse_seed_range  # noqa: E402


def category_rows(smap, house, match_ids):
    """(p_goal, is_argmax, positive) for every (matched instance, category present in the house)."""
    objs = {o.id: o for o in house.objects}
    cats = smap.categories
    present = sorted({objs[o].category for o in match_ids.values()})
    rows = []
    for iid, oid in match_ids.items():
        p = smap.object_probs(iid)
        if p is None:
            continue
        for cat in present:
            k = cats.index(cat)
            rows.append((float(p[k]), int(np.argmax(p)) == k, objs[oid].category == cat))
    return rows


def room_rows(smap, house, match_ids):
    """(p_room, positive) for every (matched instance, room type of the house)."""
    rooms = list(smap.room_types)
    objs = {o.id: o for o in house.objects}
    present = sorted({house.room(o.room_id).name for o in house.objects} & set(rooms))
    rows = []
    for iid, oid in match_ids.items():
        p = smap.room_distribution(iid)
        truth = house.room(objs[oid].room_id).name
        for name in present:
            pr = float(p[rooms.index(name)]) if p is not None else 1.0 / len(rooms)
            rows.append((pr, name == truth))
    return rows


def near_rows(smap, house, match_ids):
    """(near evidence, positive) for every matched object with a nearest other object, per same-category instance."""
    import math

    from navstack.perception.goal_encoding import GoalEncoder
    from navstack.tasks.describe import nearest_other

    genc = GoalEncoder(smap.encoder, smap.categories)
    imap = smap.instance_map
    objs = {o.id: o for o in house.objects}
    inst_of = {oid: iid for iid, oid in match_ids.items()}
    rows = []
    for oid, iid in inst_of.items():
        near = nearest_other(house, objs[oid])
        if near is None:
            continue
        same = [i for i, o in match_ids.items() if objs[o].category == objs[oid].category]
        logp = genc._near_logp([imap[i] for i in same], imap, smap.categories, near.category)
        rows += [(math.exp(lp), i == iid) for i, lp in zip(same, logp)]
    return rows


def attribute_rows(smap, house, match_ids, key: str):
    """(P(word), positive) for each matched object's `key` attribute ("color" or "material") at every
    matched instance of its category; positive where that instance's object has the same word."""
    from navstack.perception.clip_encoder import category_words
    from navstack.perception.goal_encoding import COLOURS, MATERIALS, GoalEncoder

    words = COLOURS if key == "color" else MATERIALS
    genc = GoalEncoder(smap.encoder, smap.categories)
    imap = smap.instance_map
    objs = {o.id: o for o in house.objects}
    rows = []
    for iid, oid in match_ids.items():
        word = objs[oid].attributes.get(key, "")
        if word not in words:
            continue
        same = [i for i, o in match_ids.items()
                if objs[o].category == objs[oid].category and imap[i].feature is not None]
        if not same:
            continue
        feats = np.stack([imap[i].feature for i in same])
        logp = genc._attribute_logp(feats, words, word, category_words(objs[oid].category)[0])
        rows += [(float(np.exp(lp)), objs[match_ids[i]].attributes.get(key, "") == word)
                 for i, lp in zip(same, logp)]
    return rows


def image_rows(smap, house, match_ids, max_images: int, seed: int):
    """(cosine, inliers, positive) for the goal's instance and same-category instances, per goal photo."""
    from navstack.perception.goal_encoding import GoalEncoder
    from navstack.tasks.views import VisibilityOracle
    from navstack.types import ImageGoal

    rng = np.random.default_rng(seed)
    objs = {o.id: o for o in house.objects}
    genc = GoalEncoder(smap.encoder, smap.categories)
    renderer = smap._bench_renderer
    oracle = VisibilityOracle(house, renderer)
    inst_of = {oid: iid for iid, oid in match_ids.items()}
    rows = []
    for oid in list(inst_of)[:max_images]:
        photo = goal_photo(oracle, renderer, oid, rng)
        if photo is None:
            continue
        genc.config.orb_top_k = 10 ** 6  # keypoint-check every candidate here
        for c in genc.match(ImageGoal(*photo), smap):
            other = match_ids.get(c.instance_id)
            if other is None or objs[other].category != objs[oid].category:
                continue
            cos = c.parts["clip"] / genc.config.w_image_clip
            inl = c.parts.get("keypoints", 0.0) * genc.config.min_inliers / max(genc.config.w_keypoints, 1e-9)
            rows.append((float(cos), float(inl), other == oid))
    return rows


def rates(values, positive, thresholds):
    values, positive = np.asarray(values), np.asarray(positive, bool)
    out = []
    for t in thresholds:
        acc = values >= t
        tpr = float(acc[positive].mean()) if positive.any() else float("nan")
        fpr = float(acc[~positive].mean()) if (~positive).any() else float("nan")
        out.append({"threshold": float(t), "positives_accepted": round(tpr, 3), "negatives_accepted": round(fpr, 3)})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1100-1109", help="development house seeds (< 9000; not CLIP's 0-299)")
    ap.add_argument("--images-per-house", type=int, default=10)
    add_clip_args(ap)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    seeds = parse_seed_range(args.seeds)
    require_development_seeds(seeds, "calibration")
    from navstack.perception.clip_encoder import load_encoder

    enc = load_encoder(clip_config(args))
    cat_rows, img_rows, rm_rows, nr_rows = [], [], [], []
    attr_rows = {"colour": [], "material": []}
    for seed in seeds:
        house, smap, seen, _ = run_house(seed, enc, "geometry")
        res = evaluate(smap, house, seen, smap.categories)
        match_ids = res["_match"]
        cat_rows += category_rows(smap, house, match_ids)
        rm_rows += room_rows(smap, house, match_ids)
        nr_rows += near_rows(smap, house, match_ids)
        attr_rows["colour"] += attribute_rows(smap, house, match_ids, "color")
        attr_rows["material"] += attribute_rows(smap, house, match_ids, "material")
        img_rows += image_rows(smap, house, match_ids, args.images_per_house, seed)
        print(f"seed {seed}: {len(match_ids)} matched instances", flush=True)
    p, am, pos = (np.array(c) for c in zip(*cat_rows))
    out = {"seeds": args.seeds,
           "category": {"pairs": len(cat_rows), "positives": int(pos.sum()),
                        "argmax_and_p": rates(np.where(am, p, 0.0), pos, [0.0001, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]),
                        "p_only": rates(p, pos, [0.1, 0.2, 0.3, 0.4, 0.5])}}
    if img_rows:
        cos, inl, ipos = (np.array(c) for c in zip(*img_rows))
        out["image"] = {"pairs": len(img_rows), "positives": int(ipos.sum()),
                        "cosine": rates(cos, ipos, [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95]),
                        "inliers": rates(inl, ipos, [5, 10, 15, 20, 30])}
    if rm_rows:
        pr, rpos = (np.array(c) for c in zip(*rm_rows))
        out["room"] = {"pairs": len(rm_rows), "positives": int(rpos.sum()),
                       "p_room": rates(pr, rpos, [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5])}
    if nr_rows:
        pn, npos = (np.array(c) for c in zip(*nr_rows))
        out["near"] = {"pairs": len(nr_rows), "positives": int(npos.sum()),
                       "evidence": rates(pn, npos, [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5])}
    for block, rows in attr_rows.items():
        if rows:
            pa, apos = (np.array(c) for c in zip(*rows))
            out[block] = {"pairs": len(rows), "positives": int(apos.sum()),
                          "p_word": rates(pa, apos, [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5])}
    for block in ("category", "image", "room", "near", "colour", "material"):
        for name, table in (out.get(block) or {}).items():
            if isinstance(table, list):
                print(f"\n{block} / {name}:")
                for r in table:
                    print(f"  >= {r['threshold']:<7g} positives {r['positives_accepted']:.3f}  "
                          f"negatives {r['negatives_accepted']:.3f}")
    write_json(args.json, out)


if __name__ == "__main__":
    main()
