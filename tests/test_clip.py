"""CLIP encoder (navstack.perception.clip_encoder), its crop data and `navstack train clip`."""

import json
from pathlib import Path

import numpy as np
import pytest

from navstack.perception.clip_encoder import (
    DEFAULT_MODEL_CONFIG,
    DEFAULT_WEIGHTS,
    ClipConfig,
    ClipEncoder,
    category_prompts,
    load_encoder,
    register_model_config,
)

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

needs_weights = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped CLIP weights not built yet")


@pytest.fixture(scope="module")
def shipped():
    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip("shipped CLIP weights not built yet (navstack train clip)")
    return load_encoder()


def _unit(x):
    return np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-4)


# ----------------------------------------------------------------------------- shipped model
def test_shipped_weights_give_normalised_embeddings(shipped):
    enc = shipped
    doc = json.loads(DEFAULT_MODEL_CONFIG.read_text())
    assert enc.dim == doc["model_cfg"]["embed_dim"]
    assert enc.image_size == doc["model_cfg"]["vision_cfg"]["image_size"]
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(10, 40), (64, 64), (200, 90)]]
    img = enc.encode_images(crops)
    txt = enc.encode_text(["a red chair", "the large wooden table in the kitchen"])
    assert img.shape == (3, enc.dim) and img.dtype == np.float32 and _unit(img)
    assert txt.shape == (2, enc.dim) and txt.dtype == np.float32 and _unit(txt)
    # batching does not change the result
    enc2 = ClipEncoder(ClipConfig(batch_size=1))
    assert np.allclose(enc2.encode_images(crops), img, atol=1e-4)
    assert load_encoder() is enc  # cached per config
    assert DEFAULT_WEIGHTS.stat().st_size < 25e6


def test_flip_average_makes_embeddings_mirror_invariant(shipped):
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (48, 80, 3), dtype=np.uint8), rng.integers(0, 256, (64, 30, 3), dtype=np.uint8)]
    mirrored = [np.ascontiguousarray(c[:, ::-1]) for c in crops]
    plain = shipped
    assert not np.allclose(plain.encode_images(crops), plain.encode_images(mirrored), atol=1e-3)
    flip = ClipEncoder(ClipConfig(flip_average=True))
    both = flip.encode_images(crops)
    assert _unit(both) and np.allclose(both, flip.encode_images(mirrored), atol=1e-4)
    # the average of the two views' unit vectors, renormalised
    want = plain.encode_images(crops) + plain.encode_images(mirrored)
    assert np.allclose(both, want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-4)
    with pytest.raises(ValueError, match="flip_average"):
        ClipConfig(flip_average="yes").validate()


def test_shipped_model_classifies_held_out_crops(shipped):
    from navstack.perception.clip_data import CropSetConfig, house_crops
    from navstack.sim.catalog import CATEGORIES

    cfg = CropSetConfig(seeds=(9001,), mode="eval", views_per_object=1, background_per_house=0)
    images, meta, _ = house_crops(9001, cfg)
    images, cats = images[:20], meta["category"][:20]
    assert len(images) >= 15
    probs = shipped.classify(list(images), list(CATEGORIES))
    assert probs.shape == (len(images), len(CATEGORIES))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    right = np.mean([CATEGORIES[i] == c for i, c in zip(probs.argmax(axis=1), cats)])
    assert right >= 0.7, f"only {right:.0%} of held-out crops classified right"


# ----------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A randomly initialised navstack-clip-small (no weights needed): input checks only."""
    return ClipEncoder(ClipConfig(weights=None, allow_random_init=True))


def test_bad_images(tiny_encoder):
    enc = tiny_encoder
    assert enc.encode_images([]).shape == (0, enc.dim)
    ok = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="image 1: expected dtype uint8"):
        enc.encode_images([ok, ok.astype(np.float32)])
    with pytest.raises(ValueError, match=r"image 0: expected shape HxWx3"):
        enc.encode_images([np.zeros((8, 8), np.uint8)])
    with pytest.raises(ValueError, match="image 0: expected shape HxWx3"):
        enc.encode_images([np.zeros((8, 8, 4), np.uint8)])
    with pytest.raises(ValueError, match="image 0: empty"):
        enc.encode_images([np.zeros((0, 8, 3), np.uint8)])
    with pytest.raises(ValueError, match="image 2: expected an HxWx3 uint8 numpy array, got bytes"):
        enc.encode_images([ok, ok, b"\x89PNG"])
    with pytest.raises(ValueError, match="got one array of shape"):
        enc.encode_images(ok)
    assert enc.encode_images(np.zeros((2, 5, 7, 3), np.uint8)).shape == (2, enc.dim)  # an NxHxWx3 stack is fine
    assert enc.classify([], ["chair", "bed"]).shape == (0, 2)


def test_bad_texts(tiny_encoder):
    enc = tiny_encoder
    assert enc.encode_text([]).shape == (0, enc.dim)
    with pytest.raises(ValueError, match="text 1 is empty"):
        enc.encode_text(["a chair", ""])
    with pytest.raises(ValueError, match="text 0 is empty"):
        enc.encode_text(["   \n"])
    with pytest.raises(ValueError, match="text 0: expected a str"):
        enc.encode_text([None])
    with pytest.raises(ValueError, match="wrap it in a list"):
        enc.encode_text("a chair")
    long = enc.encode_text(["the red chair " * 800])  # ~11 kB: cut to the context length
    assert long.shape == (1, enc.dim) and _unit(long)
    with pytest.raises(ValueError, match="labels must not be empty"):
        enc.classify([np.zeros((4, 4, 3), np.uint8)], [])


def test_category_prompts():
    tv = category_prompts("tv_monitor")
    assert any("a tv" in p for p in tv) and any("a monitor" in p for p in tv)
    assert "a photo of an oven" in category_prompts("oven")
    assert category_prompts("floor_lamp")[0] == "a floor lamp"
    # templates that bring their own article get the bare noun (and a/an fixed)
    assert category_prompts("oven", ["a photo of a {}", "the {} in the kitchen"])[:2] == [
        "a photo of an oven", "the oven in the kitchen"]
    with pytest.raises(ValueError):
        category_prompts("")


# ----------------------------------------------------------------------------- configs and weights files
def test_missing_weights_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        ClipEncoder(ClipConfig(weights=str(missing)))


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="either pretrained"):
        ClipEncoder(ClipConfig(pretrained="laion2b_s34b_b79k", weights=str(DEFAULT_WEIGHTS)))
    with pytest.raises(ValueError, match="has no weights"):
        ClipEncoder(ClipConfig(model_name="ViT-B-32", weights=None, model_config=None))
    with pytest.raises(ValueError, match="unknown CLIP model"):
        ClipEncoder(ClipConfig(model_name="no-such-model", weights=None, model_config=None, allow_random_init=True))
    with pytest.raises(ValueError, match="defines model 'navstack-clip-small'"):
        ClipEncoder(ClipConfig(model_name="ViT-B-32", weights=None, allow_random_init=True))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ClipEncoder(ClipConfig(weights=None, model_config=str(bad), allow_random_init=True))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match=f"cannot read CLIP weights {junk}"):
        ClipEncoder(ClipConfig(weights=str(junk)))


def test_custom_config_registration_is_idempotent(tmp_path):
    name = register_model_config(DEFAULT_MODEL_CONFIG)
    n = len(open_clip.list_models())
    paths = len(open_clip.factory._MODEL_CONFIG_PATHS)
    assert register_model_config(DEFAULT_MODEL_CONFIG, name) == name
    assert len(open_clip.list_models()) == n and len(open_clip.factory._MODEL_CONFIG_PATHS) == paths
    assert open_clip.get_model_config(name) == json.loads(DEFAULT_MODEL_CONFIG.read_text())["model_cfg"]
    # a bare open_clip config is registered under its file name, as open_clip does
    bare = tmp_path / "navstack-test-tiny.json"
    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 1, "head_width": 32},
           "text_cfg": {"context_length": 12, "vocab_size": 49408, "width": 32, "heads": 1, "layers": 1}}
    bare.write_text(json.dumps(cfg))
    for _ in range(2):
        assert register_model_config(bare) == "navstack-test-tiny"
    enc = ClipEncoder(ClipConfig(model_name="navstack-test-tiny", weights=None, model_config=str(bare),
                                 allow_random_init=True))
    assert enc.dim == 32 and enc.image_size == 32 and enc.context_length == 12


@pytest.fixture(scope="module")
def vit_b32(tmp_path_factory):
    """A randomly initialised standard ViT-B-32 saved as .safetensors and .pt."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32")
    model.eval()
    d = tmp_path_factory.mktemp("vitb32")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(d / "vitb32.safetensors"))
    torch.save(state, str(d / "vitb32.pt"))
    return model, d


@pytest.mark.parametrize("suffix", ["safetensors", "pt"])
def test_vit_b32_from_local_weights_file(vit_b32, suffix):
    """The real-CLIP route: a standard open_clip model name + local weights, same code path as the shipped model."""
    model, d = vit_b32
    enc = ClipEncoder(ClipConfig(model_name="ViT-B-32", weights=str(d / f"vitb32.{suffix}"), model_config=None))
    assert enc.dim == 512 and enc.image_size == 224 and enc.context_length == 77
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (60, 100, 3), dtype=np.uint8), rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)]
    texts = ["a photo of a chair", "the large red sofa in the living room"]
    tok = open_clip.get_tokenizer("ViT-B-32")
    with torch.inference_mode():
        ref_img = torch.nn.functional.normalize(model.encode_image(enc.preprocess(crops)), dim=-1).numpy()
        ref_txt = torch.nn.functional.normalize(model.encode_text(tok(texts)), dim=-1).numpy()
    assert np.allclose(enc.encode_images(crops), ref_img, atol=1e-5)
    assert np.allclose(enc.encode_text(texts), ref_txt, atol=1e-5)


def test_weights_that_do_not_fit_are_rejected(vit_b32):
    _, d = vit_b32
    with pytest.raises(ValueError, match="do not fit the model architecture"):
        ClipEncoder(ClipConfig(weights=str(d / "vitb32.safetensors")))  # ViT-B-32 weights into navstack-clip-small


# ----------------------------------------------------------------------------- data and training
def test_crop_data_and_captions():
    from navstack.perception.clip_data import FILL, CropSetConfig, house_crops, retrieval_caption, training_caption

    assert FILL == tuple(int(round(v * 255)) for v in open_clip.OPENAI_DATASET_MEAN)
    cfg = CropSetConfig(seeds=(5,), views_per_object=1, background_per_house=3)
    images, meta, counts = house_crops(5, cfg)
    assert images.dtype == np.uint8 and images.shape[1:] == (64, 64, 3)
    assert len(images) == len(meta["kind"]) and counts["objects"] > 0
    assert not any(meta["holdout"])  # training houses never hold hold-out models
    assert {"wall", "floor", "ceiling"} & set(meta["kind"])
    i = meta["kind"].index("object")
    row = {k: v[i] for k, v in meta.items()}
    assert retrieval_caption(row).startswith("the ") and row["room"] in retrieval_caption(row)
    rng = np.random.default_rng(0)
    caps = {training_caption(row, rng) for _ in range(50)}
    assert len(caps) > 10 and all(c.strip() for c in caps)
    with pytest.raises(ValueError):
        CropSetConfig(seeds=(), mode="train")


def test_train_clip_command_end_to_end(tmp_path):
    from navstack.cli import build_parser

    parser = build_parser()  # `navstack train clip ...`, as users type it
    out = tmp_path / "m.safetensors"
    args = parser.parse_args(["train", "clip", "--seeds", "11", "--eval-seeds", "9002", "--max-steps", "3", "--batch-size", "16",
                              "--views-per-object", "2", "--workers", "1", "--out", str(out), "--quiet"])
    assert args.func(args) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["training"]["steps"] == 3 and doc["training"]["command"].startswith("navstack train clip --seeds 11")
    assert doc["training"]["compiled"] is True  # torch.compile is the default (and works with the set-up's g++)
    assert "fused" in doc["training"]["optimizer"]  # torch's fused CPU AdamW kernel, in the pinned torch
    assert doc["weights"]["bytes"] == out.stat().st_size
    assert 0 <= doc["metrics"]["category_accuracy"] <= 1
    enc = ClipEncoder(ClipConfig(weights=str(out), model_config=str(out.with_suffix(".json"))))
    assert _unit(enc.encode_text(["a chair"]))
    with pytest.raises(ValueError, match="must be < 1000"):
        args = parser.parse_args(["train", "clip", "--seeds", "9000", "--out", str(out)])
        args.func(args)


def test_bench_clip_step_times_the_trainers_own_step(load_benchmark):
    """benchmarks/bench_clip_step.py runs clip_train's optimiser and loss (no copy of them) on random crops."""
    mod = load_benchmark("bench_clip_step")
    fused = mod.time_setup("eager-fused", steps=1, batch=4, threads=1)
    loop = mod.time_setup("eager-loop", steps=1, batch=4, threads=1)
    assert fused["fused_optimizer"] is True and loop["fused_optimizer"] is False
    assert fused["step_ms_median"] > 0 and fused["train_9000_steps_min"] > 0
    with pytest.raises(SystemExit):
        mod.main(["--setups", "eager-fused,turbo"])


def test_train_clip_defaults_are_the_shipped_run_and_the_recorded_command_round_trips():
    from navstack.cli import build_parser
    from navstack.perception.clip_train import canonical_command, config_from_args

    parser = build_parser()
    cfg = config_from_args(parser.parse_args(["train", "clip"]))
    shipped = json.loads((Path(__file__).resolve().parents[1] / "assets/clip/navstack_clip.json").read_text())
    assert canonical_command(cfg) == shipped["training"]["command"]
    # --max-steps 0 trains all epochs, and the recorded command says so
    cfg0 = config_from_args(parser.parse_args(["train", "clip", "--max-steps", "0", "--epochs", "2"]))
    assert cfg0.max_steps is None and "--max-steps 0" in canonical_command(cfg0)
    again = config_from_args(parser.parse_args(canonical_command(cfg0).split()[1:]))
    assert again.max_steps is None and again.epochs == 2
    # the auxiliary category loss weight is part of the recipe
    cfg1 = config_from_args(parser.parse_args(["train", "clip", "--category-loss", "0"]))
    assert cfg1.category_loss == 0 and "--category-loss 0" in canonical_command(cfg1)
    assert config_from_args(parser.parse_args(canonical_command(cfg1).split()[1:])).category_loss == 0
    # eager training (no torch.compile) is recorded in the command
    cfg2 = config_from_args(parser.parse_args(["train", "clip", "--no-compile"]))
    assert not cfg2.compile and canonical_command(cfg2).endswith("--no-compile")
    assert not config_from_args(parser.parse_args(canonical_command(cfg2).split()[1:])).compile
    with pytest.raises(ValueError, match="category loss"):
        config_from_args(parser.parse_args(["train", "clip", "--category-loss", "-1"])).validate()


def test_zero_shot_labels_of_object_and_background_crops():
    from navstack.perception.clip_train import zero_shot_labels

    rows = [{"kind": "object", "category": "sofa"}, {"kind": "wall", "category": ""},
            {"kind": "floor", "category": ""}, {"kind": "object", "category": "chair"}]
    labels, idx = zero_shot_labels(rows)
    assert [labels[i] for i in idx] == ["sofa", "wall", "floor", "chair"]
    with pytest.raises(ValueError, match="unicorn"):
        zero_shot_labels([{"kind": "object", "category": "unicorn"}])


def test_compare_clip_pairs_instances(load_benchmark):
    """benchmarks/compare_clip.py: b's wins and losses against a counted on the same instances, sign test."""
    mod = load_benchmark("compare_clip")
    a = np.array([1, 1, 0, 0, 1, 0], bool)
    b = np.array([1, 0, 1, 1, 1, 0], bool)
    r = mod.paired(a, b)
    assert (r["won"], r["lost"]) == (2, 1) and 0.99 <= r["p"] <= 1.0  # 2 vs 1 is no evidence either way
    many = mod.paired(np.zeros(40, bool), np.ones(40, bool))
    assert many["won"] == 40 and many["p"] < 1e-6
    assert mod.paired(a, a) == {"won": 0, "lost": 0, "p": 1.0}


@needs_weights
def test_compare_clip_end_to_end(tmp_path, load_benchmark):
    """The shipped model against itself on one development house: same figures, nothing won or lost."""
    mod = load_benchmark("compare_clip")
    out = tmp_path / "cmp.json"
    assert mod.main(["--seeds", "1000", "--workers", "1", "--json", str(out), "shipped", "shipped"]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["category_accuracy"] == rows[1]["category_accuracy"] > 0.5
    assert rows[1]["zero_shot_vs_first"] == {"won": 0, "lost": 0, "p": 1.0}
    with pytest.raises(SystemExit, match="no such weights file"):
        mod.main(["--seeds", "1000", "shipped", str(tmp_path / "missing.safetensors")])
