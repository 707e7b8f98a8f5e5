"""Saving and loading the whole semantic map (lifelong memory), corruption handling, and pictures."""

import json
import os

import numpy as np
import pytest

from navstack.config import SimConfig
from navstack.mapping import persistence
from navstack.mapping.pictures import export_ply, render_topdown, save_topdown_png
from navstack.mapping.semantic_map import MappingConfig, SemanticMap
from navstack.types import DiscreteAction

TINY = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    """Random-init CLIP (the project's architecture when its config is in assets/, else a tiny one)."""
    import torch

    from navstack.perception.clip_encoder import DEFAULT_MODEL_CONFIG, ClipConfig, ClipEncoder

    torch.manual_seed(0)  # random init, but the same in every run
    if DEFAULT_MODEL_CONFIG.exists():
        return ClipEncoder(ClipConfig(weights=None, allow_random_init=True))
    path = tmp_path_factory.mktemp("clip") / "navstack-test-tiny.json"
    path.write_text(json.dumps(TINY))
    return ClipEncoder(ClipConfig(model_name="navstack-test-tiny", model_config=str(path), weights=None,
                                  allow_random_init=True))


def _config():
    return MappingConfig(max_embed_per_frame=3)  # 160x120 frames: stride 1, thresholds scaled to the frame


@pytest.fixture(scope="module")
def frames(house, renderer):
    from navstack.sim.backend import EmbeddedBackend

    b = EmbeddedBackend(house, SimConfig(width=160, height=120), renderer=renderer)
    pts = house.navgrid.navigable_points()
    p = pts[int(np.argmin(np.linalg.norm(pts - pts.mean(axis=0), axis=1)))]
    b.reset(position=[p[0], 0.0, p[1]])
    out = []
    for k in range(16):
        o = b.observe()
        o.instance = None
        o.stamp = float(k)
        out.append(o)
        b.act(DiscreteAction.TURN_LEFT if k % 4 else DiscreteAction.MOVE_FORWARD)
    return out


@pytest.fixture(scope="module")
def smap(encoder, frames):
    m = SemanticMap(encoder, _config())
    for o in frames[:12]:
        m.update(o)
    assert len(m.instance_map) > 0
    return m


def _same(a, b):
    ia, ib = a.instance_map, b.instance_map
    assert sorted(ia.instances) == sorted(ib.instances)
    for iid, x in ia.instances.items():
        y = ib[iid]
        assert np.array_equal(x.keys, y.keys) and x.voxel == y.voxel
        for name in ("feature", "category_probs", "room_probs"):
            u, v = getattr(x, name), getattr(y, name)
            assert (u is None and v is None) or np.allclose(u, v, atol=1e-6)
        assert (x.observations, x.embeddings, x.last_frame) == (y.observations, y.embeddings, y.last_frame)
        assert len(x.views) == len(y.views)
        for p, q in zip(x.views, y.views):
            assert np.array_equal(p.crop, q.crop) and p.bbox == q.bbox and np.allclose(p.position, q.position)
        assert np.allclose(x.bbox_min, y.bbox_min) and np.allclose(x.bbox_max, y.bbox_max)
    assert np.array_equal(a.occupancy.logodds, b.occupancy.logodds)
    assert np.array_equal(a.occupancy.observed, b.occupancy.observed)
    assert np.array_equal(a.occupancy.blocked, b.occupancy.blocked)
    assert (a.occupancy.x0, a.occupancy.z0) == (b.occupancy.x0, b.occupancy.z0)
    assert np.array_equal(a.structure.keys, b.structure.keys)
    assert a.trajectory == b.trajectory and ia.next_id == ib.next_id


def test_round_trip_and_lifelong_continue(tmp_path, encoder, smap, frames):
    x, z = (float(v) for v in frames[0].pose.position[[0, 2]])
    assert smap.occupancy.mark_blocked(x, z, 0.0, 0.25, 0.1) > 0  # a collision cell must survive the round trip
    path = smap.save(tmp_path / "m")
    assert path.name == "map.json"
    meta = json.loads(path.read_text())
    assert meta["format"] == persistence.FORMAT and meta["version"] == persistence.VERSION
    assert len(list((tmp_path / "m").glob("map-*.npz"))) == 1
    with np.load(tmp_path / "m" / meta["arrays"]["file"], allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)  # nothing pickled
    back = SemanticMap.load(tmp_path / "m", encoder)
    _same(smap, back)
    assert back.config == smap.config
    # the shape prior's weights are derived from the points, not saved: loading recomputes them
    assert all(i.shape_log is not None for i in back.instance_map)
    # the loaded map keeps working in the next episode: new ids continue, old instances are re-found
    n0 = back.instance_map.next_id
    for o in frames[12:]:
        back.update(o)
    assert back.instance_map.next_id >= n0
    assert any(i.last_frame > smap.instance_map.frame for i in back.instance_map if i.id < n0)
    # saving again replaces the array file and leaves exactly one
    back.save(tmp_path / "m")
    assert len(list((tmp_path / "m").glob("map-*.npz"))) == 1
    _same(back, persistence.load(tmp_path / "m", encoder))


def test_corrupt_files_are_clear_errors_and_never_destroy_the_saved_map(tmp_path, encoder, smap):
    d = tmp_path / "m"
    smap.save(d)
    meta = json.loads((d / "map.json").read_text())
    npz = d / meta["arrays"]["file"]
    good = npz.read_bytes()
    npz.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(ValueError, match="truncated or corrupt"):
        persistence.load(d, encoder)
    npz.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))  # same size, one byte changed
    with pytest.raises(ValueError, match="checksum"):
        persistence.load(d, encoder)
    npz.write_bytes(good)
    persistence.load(d, encoder)
    (d / "map.json").write_text('{"format": "navstack-semantic-map", "vers')
    with pytest.raises(ValueError, match="not valid JSON"):
        persistence.load(d, encoder)
    (d / "map.json").write_text(json.dumps(meta | {"version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        persistence.load(d, encoder)
    (d / "map.json").write_text(json.dumps(meta))
    with pytest.raises(FileNotFoundError):
        persistence.load(tmp_path / "nothing_here", encoder)


def test_a_failed_save_keeps_the_previous_map(tmp_path, encoder, smap, frames, monkeypatch):
    d = tmp_path / "m"
    smap.save(d)
    before = persistence.load(d, encoder)
    bigger = persistence.load(d, encoder)
    for o in frames[12:]:
        bigger.update(o)
    real_replace = os.replace

    def crash(src, dst):
        if str(dst).endswith("map.json"):
            raise OSError("disk full (simulated)")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        bigger.save(d)
    monkeypatch.undo()
    assert not list(d.glob(".*.tmp"))  # temp files cleaned up
    _same(before, persistence.load(d, encoder))  # the old map is intact and loads


def test_encoder_mismatch_is_refused(tmp_path, smap, tmp_path_factory):
    from navstack.perception.clip_encoder import ClipConfig, ClipEncoder

    smap.save(tmp_path / "m")
    cfg = dict(TINY, embed_dim=16)
    p = tmp_path_factory.mktemp("clip16") / "navstack-test-tiny16.json"
    p.write_text(json.dumps(cfg))
    other = ClipEncoder(ClipConfig(model_name="navstack-test-tiny16", model_config=str(p), weights=None,
                                   allow_random_init=True))
    with pytest.raises(ValueError, match="features"):
        persistence.load(tmp_path / "m", other)


def test_topdown_png_and_ply(tmp_path, smap):
    import cv2
    import open3d as o3d

    img = render_topdown(smap)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) > 50
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 5  # occupancy, instances, labels, agent
    p = save_topdown_png(smap, tmp_path / "top.png", labels=False)
    back = cv2.imread(str(p))
    assert back is not None and back.shape == render_topdown(smap, labels=False).shape
    ply = export_ply(smap, tmp_path / "inst.ply", per_instance_dir=tmp_path / "each", confirmed_only=False)
    pc = o3d.io.read_point_cloud(str(ply))
    n = sum(len(i.keys) for i in smap.instance_map)
    assert len(pc.points) == n and pc.has_colors()
    assert len(list((tmp_path / "each").glob("*.ply"))) == len(smap.instance_map)
    assert np.allclose(np.asarray(pc.points).min(axis=0), np.min([i.points.min(axis=0) for i in smap.instance_map], axis=0),
                       atol=1e-5)
    with pytest.raises(ValueError, match="colour_by"):
        export_ply(smap, tmp_path / "x.ply", colour_by="mood")
    # an empty map still draws
    assert render_topdown(SemanticMap(None, MappingConfig())).shape == (64, 64, 3)
