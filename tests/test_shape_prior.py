"""The map's shape prior: features, fitting, the CLIP x shape posterior, files, and the map using it."""

import json

import numpy as np
import pytest

from navstack.mapping.instance_map import Detection, InstanceMap
from navstack.mapping.semantic_map import DEFAULT_CATEGORIES
from navstack.mapping.shape_prior import DEFAULT_PATH, FEATURES, ShapePrior, shape_features


def box_points(x0, x1, y0, y1, z0, z1, step=0.05):
    xs, ys, zs = (np.arange(a + step / 2, b, step) for a, b in ((x0, x1), (y0, y1), (z0, z1)))
    return np.stack(np.meshgrid(xs, ys, zs, indexing="ij"), -1).reshape(-1, 3).astype(np.float32)


def two_category_prior(**kw):
    """'bed': low (0.5 m) and wide (2.0 x 1.5 m); 'sofa': higher (0.85 m), 2.0 x 0.9 m; 'lamp': no data."""
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for cat, top, lng, sht in (("bed", 0.5, 2.0, 1.5), ("sofa", 0.85, 2.0, 0.9)):
        for _ in range(40):
            rows.append([np.log(top * rng.uniform(0.9, 1.1)), rng.uniform(0, 0.02),
                         np.log(lng * rng.uniform(0.85, 1.15)), np.log(sht * rng.uniform(0.85, 1.15))])
            labels.append(cat)
    return ShapePrior.fit(["bed", "sofa", "lamp"], np.array(rows), labels, **kw)


def test_features_of_a_box_and_bad_points():
    f = shape_features(box_points(1.0, 3.0, 0.0, 0.6, 2.0, 3.5), 0.05)
    top, bottom, lng, sht = f
    assert np.exp(top) == pytest.approx(0.6, abs=0.03) and bottom == pytest.approx(0.0, abs=1e-6)
    assert np.exp(lng) == pytest.approx(2.0, abs=0.06) and np.exp(sht) == pytest.approx(1.5, abs=0.06)
    # a rotated footprint measures the same (minimum-area rectangle, not the axis-aligned box)
    pts = box_points(-1.0, 1.0, 0.7, 1.2, -0.4, 0.4)
    c, s = np.cos(0.6), np.sin(0.6)
    rot = pts @ np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]], np.float32)
    g = shape_features(rot, 0.05)
    assert np.exp(g[2]) == pytest.approx(2.0, abs=0.08) and np.exp(g[3]) == pytest.approx(0.8, abs=0.08)
    assert g[1] == pytest.approx(0.7, abs=0.03)  # raised off the floor
    for bad in (np.zeros((0, 3)), np.zeros((5, 2))):
        with pytest.raises(ValueError, match="points"):
            shape_features(bad, 0.05)


def test_the_shape_moves_probability_between_look_alikes_and_keeps_background_mass():
    prior = two_category_prior(weight=1.0)
    bed = shape_features(box_points(0, 2.0, 0, 0.5, 0, 1.5), 0.05)
    sofa = shape_features(box_points(0, 2.0, 0, 0.85, 0, 0.9), 0.05)
    ll = prior.log_likelihood(np.stack([bed, sofa]))
    assert ll[0, 0] > ll[0, 1] and ll[1, 1] > ll[1, 0]
    # a category without training data is neutral: between the others, never the shape's pick
    assert ll[0, 1] <= ll[0, 2] <= ll[0, 0]
    # CLIP unsure between bed and sofa, a little background: the shape decides, background untouched
    clip = np.array([0.4, 0.45, 0.05, 0.1], np.float32)  # bed, sofa, lamp, + one background label
    post = ShapePrior.apply(clip, prior.log_weights(box_points(0, 2.0, 0, 0.5, 0, 1.5), 0.05))
    assert post.argmax() == 0 and post[3] == pytest.approx(0.1) and post.sum() == pytest.approx(1.0, abs=1e-6)
    # clipped log-likelihoods: an absurd shape cannot silence CLIP entirely
    odd = shape_features(box_points(0, 6.0, 0, 2.3, 0, 5.0), 0.05)
    assert np.ptp(prior.log_likelihood(odd)) <= prior.max_log_ratio + 1e-9
    # weight 0: CLIP alone
    flat = two_category_prior(weight=0.0)
    assert np.allclose(ShapePrior.apply(clip, flat.log_weights(box_points(0, 2.0, 0, 0.5, 0, 1.5), 0.05)), clip)


def test_files_round_trip_atomically_and_bad_files_are_clear_errors(tmp_path):
    prior = two_category_prior(weight=0.75)
    path = prior.save(tmp_path / "sub" / "prior.json")
    assert [p.name for p in path.parent.iterdir()] == ["prior.json"]  # no temporary left behind
    back = ShapePrior.load(path)
    assert back.categories == prior.categories and back.weight == 0.75
    assert np.array_equal(back.mean, prior.mean) and np.array_equal(back.cov, prior.cov)
    assert ShapePrior.load(path, weight=0.2).weight == 0.2
    text = path.read_text()
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="cut.json.*not valid JSON"):
        ShapePrior.load(tmp_path / "cut.json")
    d = json.loads(text)
    for key, value, msg in (("version", 99, "version"), ("format", "x", "not a navstack shape prior"),
                            ("features", ["a"], "features")):
        bad = dict(d, **{key: value})
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=msg):
            ShapePrior.load(tmp_path / "bad.json")
    d["mean"] = d["mean"][:1]
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="do not fit"):
        ShapePrior.load(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="train shape-prior"):
        ShapePrior.load(tmp_path / "missing.json")


def test_the_shipped_prior_covers_the_map_categories_and_tells_beds_from_sofas():
    prior = ShapePrior.load(DEFAULT_PATH)
    assert prior.categories == list(DEFAULT_CATEGORIES) and len(FEATURES) == prior.mean.shape[1]
    # the generated houses furnish 15 of the 17 categories (the furnishing rules place no stool or wardrobe)
    assert (prior.counts >= 20).sum() >= 15 and set(np.flatnonzero(prior.counts == 0)) <= {
        prior.categories.index("stool"), prior.categories.index("wardrobe")}
    prov = prior.provenance
    assert max(prov["train_seeds"]) < 1000 and not any(s >= 9000 for s in prov["tune_seeds"])
    assert prior.weight in {float(w) for w in prov["tune_accuracy_by_weight"]}
    bed = shape_features(box_points(0, 2.0, 0, 0.55, 0, 1.6), 0.05)
    ll = prior.log_likelihood(bed)[0]
    assert ll[prior.categories.index("bed")] > ll[prior.categories.index("sofa")]
    assert ll[prior.categories.index("bed")] > ll[prior.categories.index("toilet")]
    # the absolute distance: near for a bed, far for a toilet, unknown (nan) for a category never seen
    d2 = prior.mahalanobis2(box_points(0, 2.0, 0, 0.55, 0, 1.6), 0.05)
    assert d2[prior.categories.index("bed")] < 10 < d2[prior.categories.index("toilet")]
    assert np.isnan(d2[prior.categories.index("stool")])
    # re-indexed to another category list: known ones keep their numbers, unknown ones are neutral
    sub = prior.for_categories(["sofa", "bed", "spaceship"])
    assert np.allclose(sub.mean[1], prior.mean[prior.categories.index("bed")]) and sub.counts[2] == 0


def test_the_instance_map_applies_the_prior_and_follows_the_points():
    prior = two_category_prior(weight=1.0)
    imap = InstanceMap(num_categories=3)
    clip = np.array([0.45, 0.45, 0.1], np.float32)
    det = Detection(box_points(0, 2.0, 0, 0.5, 0, 1.5), 1.0, category_probs=clip)
    (iid,) = imap.integrate([det])
    inst = imap[iid]
    assert np.allclose(inst.category_probs, clip)  # no prior: CLIP's verdict
    imap.set_shape_prior(prior)
    assert inst.category_probs.argmax() == 0 and np.allclose(inst.clip_category_probs, clip)
    # more points make it sofa-shaped (narrower footprint seen as higher): the weights are recomputed
    imap2 = InstanceMap(num_categories=3)
    imap2.set_shape_prior(prior)
    (j,) = imap2.integrate([Detection(box_points(0, 2.0, 0, 0.85, 0, 0.9), 1.0, category_probs=clip)])
    assert imap2[j].category_probs.argmax() == 1
    # the same instance grows (a wider footprint): its weights follow on the next read, computed once
    before = imap2[j].shape_log.copy()
    assert imap2.integrate([Detection(box_points(0, 2.0, 0, 0.85, 0.6, 1.5), 1.0, category_probs=clip)]) == [j]
    after = imap2[j].shape_log
    assert not np.allclose(before, after) and np.allclose(after, prior.log_weights(imap2[j].points, imap2[j].voxel))
    assert imap2[j].shape_log is after  # not recomputed while the points stay the same
    imap.set_shape_prior(None)
    assert np.allclose(inst.category_probs, clip)


def test_train_shape_prior_surveys_a_house_and_writes_a_loadable_prior(tmp_path):
    from navstack.mapping.shape_train import train

    with pytest.raises(ValueError, match="< 1000"):
        train([9000], [], out=tmp_path / "x.json")
    with pytest.raises(ValueError, match="held-out"):
        train([3], [9001], out=tmp_path / "x.json")
    # one small training house (~180 survey frames), no tuning houses: the default weight
    res = train([5], [], workers=1, threads=1, progress=False, out=tmp_path / "p.json", command="test")
    prior = ShapePrior.load(tmp_path / "p.json")
    assert prior.weight == 0.5 == res["weight"] and prior.provenance["train_seeds"] == [5]
    assert res["train_instances"] >= 5 and int(prior.counts.sum()) == res["train_instances"]
    assert (prior.counts > 0).sum() >= 3  # one house: several categories seen, too few of each to fit (neutral)
