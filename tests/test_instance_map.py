"""InstanceMap and the SemanticMap facade on real rendered frames (random-init CLIP: geometry and
book-keeping are tested here, not the trained model's quality)."""

import json

import numpy as np
import pytest

from navstack.config import SimConfig
from navstack.mapping.instance_map import Detection, InstanceMap, InstanceMapConfig
from navstack.mapping.semantic_map import MappingConfig, SemanticMap, load_mapping_config
from navstack.types import DiscreteAction

TINY = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def random_encoder(tmp_path_factory):
    """The project's CLIP architecture randomly initialised (its config ships in assets/clip/), else a
    tiny stand-in architecture: the same ClipEncoder code path, no weights needed."""
    import torch

    from navstack.perception.clip_encoder import DEFAULT_MODEL_CONFIG, ClipConfig, ClipEncoder

    torch.manual_seed(0)  # random init, but the same in every run
    if DEFAULT_MODEL_CONFIG.exists():
        return ClipEncoder(ClipConfig(weights=None, allow_random_init=True))
    path = tmp_path_factory.mktemp("clip") / "navstack-test-tiny.json"
    path.write_text(json.dumps(TINY))
    return ClipEncoder(ClipConfig(model_name="navstack-test-tiny", model_config=str(path), weights=None,
                                  allow_random_init=True))


def small_mapping_config(**kw) -> MappingConfig:
    """The default config; at 160x120 it works at stride 1 (the working resolution of 320x240 at stride 2)."""
    kw.setdefault("max_embed_per_frame", 3)  # keeps the test quick on a busy CPU
    cfg = MappingConfig(**kw)
    assert cfg.proposals.stride_for(160) == 1 and cfg.proposals.stride_for(320) == 2
    return cfg


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return random_encoder(tmp_path_factory)


@pytest.fixture(scope="module")
def tour(house, renderer):
    """Observations of a short drive: spins at two places of house 7 (160x120)."""
    from navstack.sim.backend import EmbeddedBackend

    b = EmbeddedBackend(house, SimConfig(width=160, height=120), renderer=renderer)
    pts = house.navgrid.navigable_points()
    rooms = sorted(house.plan.rooms, key=lambda r: -r.area)[:2]
    out = []
    for room in rooms:
        inside = pts[(pts[:, 0] > room.x0) & (pts[:, 0] < room.x1) & (pts[:, 1] > room.z0) & (pts[:, 1] < room.z1)]
        p = inside[int(np.argmin(np.linalg.norm(inside - np.array(room.center), axis=1)))]
        b.reset(position=[p[0], 0.0, p[1]])
        for k in range(12):
            if k % 3 == 2:  # 60-degree steps, and a few 30-degree ones for overlap
                b.act(DiscreteAction.TURN_LEFT)
                continue
            out.append(b.observe())
            b.act(DiscreteAction.TURN_LEFT)
    return out


@pytest.fixture(scope="module")
def built(encoder, tour):
    smap = SemanticMap(encoder, small_mapping_config())
    stats = []
    for k, obs in enumerate(tour):
        gt, obs.instance = obs.instance, None  # the default map never sees ground truth
        obs.stamp = float(k)
        stats.append(smap.update(obs))
        obs.instance = gt
    return smap, stats


def test_instances_are_real_objects(house, built):
    smap, stats = built
    insts = smap.instance_map.confirmed()
    assert len(insts) >= 5
    pure = 0
    for inst in insts:
        pts = inst.points
        best = 0.0
        for o in house.objects:
            x0, z0, x1, z1 = o.footprint
            g = 0.06
            f = np.mean((pts[:, 0] > x0 - g) & (pts[:, 0] < x1 + g) & (pts[:, 2] > z0 - g) & (pts[:, 2] < z1 + g)
                        & (pts[:, 1] < o.elevation + o.height + g))
            best = max(best, float(f))
        pure += best >= 0.7
    assert pure / len(insts) >= 0.8, f"{pure}/{len(insts)} instances lie on one object"


def test_instance_book_keeping(encoder, built):
    smap, stats = built
    cfg = smap.config.instances
    C = len(smap.categories) + len(smap.config.background_labels)
    for inst in smap.instance_map:
        assert len(inst.keys) <= cfg.max_points and np.all(np.diff(inst.keys) > 0)
        assert len(inst.views) <= cfg.max_views
        assert all(v.crop.dtype == np.uint8 and max(v.crop.shape[:2]) <= cfg.view_size for v in inst.views)
        assert [v.quality for v in inst.views] == sorted((v.quality for v in inst.views), reverse=True)
        assert np.all(inst.bbox_min <= inst.points.min(axis=0)) and np.all(inst.bbox_max >= inst.points.max(axis=0))
        if inst.feature is not None:
            assert inst.feature.shape == (encoder.dim,)
            assert abs(float(np.linalg.norm(inst.feature)) - 1) < 1e-5
            p = inst.category_probs
            assert p.shape == (C,) and abs(float(p.sum()) - 1) < 1e-4
            assert inst.room_probs.shape == (len(smap.room_types),)
        assert inst.last_seen >= inst.first_seen and inst.observations >= 1
    assert all(s["embedded"] <= smap.config.max_embed_per_frame for s in stats)
    for name in ("proposals_ms", "occupancy_ms", "clip_ms", "map_ms", "total_ms"):
        assert stats[-1][name] >= 0
    mem = smap.memory_bytes()
    assert mem["total"] == sum(v for k, v in mem.items() if k != "total") and mem["instances"] > 0
    cat, p = smap.category_of(smap.instance_map.confirmed()[0].id)
    assert cat in smap.categories and 0 < p <= 1
    room, p = smap.room_of(smap.instance_map.confirmed()[0].id)
    assert room in smap.room_types + ["unknown"]


def test_embeddings_are_reused_from_similar_views(encoder, tour):
    smap = SemanticMap(encoder, small_mapping_config())
    obs = tour[3]
    first = smap.update(obs)
    again = smap.update(obs)
    assert first["embedded"] > 0
    assert again["embedded"] == 0  # same pose, instances embedded one frame ago: no CLIP work
    assert again["instances"] == first["instances"]


def _det(points, emb=None, q=0.5):
    return Detection(np.asarray(points, np.float32), q, np.zeros((8, 8, 3), np.uint8), (0, 0, 8, 8), emb)


def _box(lo, hi, step=0.04):
    g = np.stack(np.meshgrid(*[np.arange(a, b, step) for a, b in zip(lo, hi)], indexing="ij"), -1).reshape(-1, 3)
    return g


def test_association_and_new_instances():
    m = InstanceMap(InstanceMapConfig(merge_every=0))
    a = _box([0, 0, 0], [0.5, 0.8, 0.5])
    ids = m.integrate([_det(a)])
    assert ids == [1]
    # the same object again (slightly shifted, partly seen) -> same instance
    assert m.integrate([_det(a[: len(a) // 2] + 0.02)]) == [1]
    assert m[1].observations == 2
    # an object 2 m away -> a new one
    assert m.integrate([_det(a + [2.0, 0, 0])]) == [2]
    # a neighbour 10 cm away shares only its boundary -> new instance
    assert m.integrate([_det(a + [0.6, 0, 0])]) == [3]
    # overlapping but looking different (orthogonal features) -> not associated
    e1, e2 = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    m2 = InstanceMap(InstanceMapConfig(merge_every=0))
    m2.integrate([_det(a, e1)])
    half = _box([0.3, 0, 0], [0.9, 0.8, 0.5])  # about half inside the first object
    assert m2.integrate([_det(half, e2)]) == [2]
    m3 = InstanceMap(InstanceMapConfig(merge_every=0))
    m3.integrate([_det(a, e1)])
    assert m3.integrate([_det(half, e1)]) == [1]


def test_discounted_memory_keeps_its_verdict_until_fresh_views_outweigh_it():
    m = InstanceMap(InstanceMapConfig(merge_every=0), num_categories=2)
    a = _box([0, 0, 0], [0.5, 0.8, 0.5])
    sofa, bed = np.array([0.8, 0.2], np.float32), np.array([0.1, 0.9], np.float32)
    for _ in range(4):  # remembered: far views said "sofa"
        m.integrate([Detection(a, 0.5, category_probs=sofa)])
    before = m[1].category_probs.copy()
    m.discount_evidence(0.1)
    assert np.allclose(m[1].category_probs, before)  # what the map says is unchanged ...
    m.integrate([Detection(a, 0.5, category_probs=bed)])  # ... until one fresh view says "bed"
    assert np.argmax(m[1].category_probs) == 1
    undiscounted = InstanceMap(InstanceMapConfig(merge_every=0), num_categories=2)
    for probs in [sofa] * 4 + [bed]:
        undiscounted.integrate([Detection(a, 0.5, category_probs=probs)])
    assert np.argmax(undiscounted[1].category_probs) == 0  # without the discount the old views win
    with pytest.raises(ValueError, match="discount"):
        m.discount_evidence(0)


def test_duplicates_merge_and_caps():
    m = InstanceMap(InstanceMapConfig(merge_every=0, max_points=200, max_instances=3, min_observations=1))
    a = _box([0, 0, 0], [0.6, 0.6, 0.6])
    m._new_instance(m.detection_keys(a[:10]), 0.0)  # two instances of one object (as from two views)
    m._new_instance(m.detection_keys(a[-10:]), 0.0)
    for iid in (1, 2):
        m._add_points(m[iid], m.detection_keys(a))
        m[iid].observations = 3
    assert len(m) == 2
    st = m.maintain()
    assert st["merged"] == 1 and len(m) == 1 and 1 in m.instances
    inst = m[1]
    assert len(inst.keys) <= 200 and inst.voxel > 0.05  # re-voxelised under the point cap
    for k in range(5):
        m.integrate([_det(a + [3.0 * (k + 1), 0, 0])])
    m.maintain()
    assert len(m) <= 3
    assert m.memory_bytes() > 0


def test_walls_and_stale_instances_are_dropped():
    from navstack.perception.proposals import StructureMemory

    m = InstanceMap(InstanceMapConfig(merge_every=0, forget_after=5))
    slab = _box([2.0, 0.0, 0.0], [2.08, 2.3, 0.9])  # floor-to-wall-height, 8 cm thick: a wall end
    m.integrate([_det(slab)])
    m.integrate([_det(slab)])
    walled = _box([5.0, 0.2, 0.0], [5.5, 1.0, 0.5])
    m.integrate([_det(walled)])
    m.integrate([_det(walled)])
    once = _box([9.0, 0.2, 0.0], [9.4, 0.6, 0.4])
    m.integrate([_det(once)])
    s = StructureMemory(0.1)
    s.add(walled[:, 0], walled[:, 2])
    for _ in range(6):
        m.integrate([])
    st = m.maintain(s)
    assert st["walls"] == 2 and st["stale"] == 1 and len(m) == 0


def test_oracle_semantics_mode(tour):
    smap = SemanticMap(None, small_mapping_config(mode="oracle_semantics"))  # association by id, no CLIP needed
    for obs in tour[:12]:
        smap.update(obs)
    votes = [i.oracle_id for i in smap.instance_map]
    assert all(v > 0 for v in votes) and len(set(votes)) == len(votes)


def test_config_file_and_validation():
    cfg = load_mapping_config()
    assert cfg.mode == "geometry" and cfg.instances.voxel == 0.05
    cfg = load_mapping_config(mode="oracle_semantics")
    assert cfg.mode == "oracle_semantics"
    with pytest.raises(ValueError, match="mode"):
        MappingConfig(mode="cheat").validate()
    with pytest.raises(ValueError):
        load_mapping_config(instances={"no_such_key": 1})


def test_geometry_only_map(tour):
    smap = SemanticMap(None, small_mapping_config())
    for obs in tour[:6]:
        s = smap.update(obs)
        assert s["embedded"] == 0
    assert len(smap.instance_map) > 0 and all(i.feature is None for i in smap.instance_map)
