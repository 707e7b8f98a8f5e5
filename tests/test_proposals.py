"""Class-agnostic instance proposals on real rendered frames (no ground truth in the default mode)."""

import numpy as np
import pytest

from navstack.config import SimConfig
from navstack.perception.proposals import (
    CEILING, FLOOR, WALL, GeometricProposer, OracleProposer, ProposalConfig, StructureMemory, make_crop, make_proposer,
)
from navstack.types import DiscreteAction, Observation

# 160x120 frames: the automatic stride is 1, the working resolution of a 320x240 frame at stride 2.
CFG = dict()


@pytest.fixture(scope="module")
def frames(house, renderer):
    """Spins (12 x 30 deg) at three navigable places of house 7, 160x120."""
    from navstack.sim.backend import EmbeddedBackend

    b = EmbeddedBackend(house, SimConfig(width=160, height=120), renderer=renderer)
    rng = np.random.default_rng(3)
    pts = house.navgrid.navigable_points()
    out = []
    for p in pts[rng.choice(len(pts), 3, replace=False)]:
        b.reset(position=[p[0], 0.0, p[1]])
        for _ in range(12):
            out.append(b.observe())
            b.act(DiscreteAction.TURN_LEFT)
    return out


def _strip(obs):
    return Observation(obs.rgb, obs.depth, obs.pose, obs.intrinsics, obs.stamp, obs.camera_height, obs.camera_pitch)


def test_proposals_are_objects_and_cover_the_big_ones(house, frames):
    prop = GeometricProposer(ProposalConfig(**CFG))
    n_prop = n_obj = n_gt = n_hit = 0
    for obs in frames:
        res = prop(_strip(obs))  # no ground truth reaches the proposer
        ins = obs.instance
        for p in res.proposals:
            assert p.mask.shape == ins.shape and p.mask.sum() * 1 == p.pixel_count
            x0, y0, x1, y1 = p.bbox
            assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 120
            assert p.crop.dtype == np.uint8 and p.crop.ndim == 3 and p.crop.shape[2] == 3
            assert np.isfinite(p.points).all() and len(p.points) <= ProposalConfig().max_points
            ids, c = np.unique(ins[p.mask], return_counts=True)
            n_prop += 1
            n_obj += int(ids[np.argmax(c)] > 0)
        valid = (obs.depth > 0.5) & (obs.depth < 4.5)
        for oid, cnt in zip(*np.unique(ins[valid & (ins > 0)], return_counts=True)):
            o = house.object(int(oid))
            if cnt < 150 or max(o.width, o.height, o.depth) <= 0.3:
                continue
            g = valid & (ins == oid)
            n_gt += 1
            iou = max([(g & p.mask).sum() / (g | p.mask).sum() for p in res.proposals], default=0)
            n_hit += int(iou >= 0.5)
    assert n_prop >= 20 and n_gt >= 10
    assert n_obj / n_prop >= 0.75, f"only {n_obj}/{n_prop} proposals are objects"
    assert n_hit / n_gt >= 0.7, f"only {n_hit}/{n_gt} visible objects have a proposal with IoU >= 0.5"


def test_structure_labels(frames):
    prop = GeometricProposer(ProposalConfig(**CFG))
    lab_px = {FLOOR: [0, 0], CEILING: [0, 0], WALL: [0, 0]}
    for obs in frames:
        res = prop(_strip(obs))
        for k in lab_px:
            m = res.labels == k
            lab_px[k][0] += int(m.sum())
            lab_px[k][1] += int((obs.instance[m] == 0).sum())
    for k, (n, structure) in lab_px.items():
        assert n > 0
        assert structure / n > 0.97, f"label {k}: {structure}/{n} pixels are structure"
    assert len(prop.structure.keys) > 0  # walls were seen from afar and remembered


def test_bad_depth_is_skipped(frames):
    prop = GeometricProposer(ProposalConfig(**CFG))
    obs = frames[0]
    d = obs.depth.copy()
    d[:, :40] = np.nan
    d[:, 40:60] = np.inf
    d[:, 60:70] = 0.0
    d[:, 70:75] = -3.0
    res = prop(Observation(obs.rgb, d, obs.pose, obs.intrinsics))
    for p in res.proposals:
        assert not p.mask[:, :75].any()
    res = prop(Observation(obs.rgb, np.full_like(d, np.nan), obs.pose, obs.intrinsics))
    assert res.proposals == [] and not res.valid.any()


def test_bad_frames_are_clear_errors(frames):
    prop = GeometricProposer(ProposalConfig(**CFG))
    obs = frames[0]
    with pytest.raises(ValueError, match="rgb must be"):
        prop(Observation(obs.rgb[:-1], obs.depth, obs.pose, obs.intrinsics))
    with pytest.raises(ValueError, match="depth must be float"):
        prop(Observation(obs.rgb, (obs.depth * 1000).astype(np.uint16), obs.pose, obs.intrinsics))
    with pytest.raises(ValueError, match="stride"):
        ProposalConfig(stride=-1).validate()
    assert [ProposalConfig().stride_for(w) for w in (160, 320, 640)] == [1, 2, 4]
    with pytest.raises(ValueError, match="unknown proposal mode"):
        make_proposer("magic")


def test_oracle_mode_uses_instance_ids_and_needs_them(frames):
    prop = OracleProposer(ProposalConfig(**CFG))
    obs = next(o for o in frames if (o.instance > 0).sum() > 500)
    res = prop(obs)
    assert res.proposals
    for p in res.proposals:
        assert p.oracle_id > 0 and np.all(obs.instance[p.mask] == p.oracle_id)
    with pytest.raises(ValueError, match="ground-truth instance ids"):
        prop(_strip(obs))


def test_structure_memory_and_crops():
    m = StructureMemory(0.1)
    m.add(np.array([1.01, 1.02, -2.55]), np.array([3.0, 3.05, 0.0]))
    assert len(m.keys) == 2
    assert m.contains(np.array([1.05, 1.2, -2.51]), np.array([3.01, 3.0, 0.05])).tolist() == [True, False, True]
    assert m.near(np.array([1.15]), np.array([3.0])).tolist() == [True]
    assert np.allclose(sorted(m.cells_xz()[:, 0]), [-2.55, 1.05])
    rgb = np.arange(100 * 80 * 3, dtype=np.uint8).reshape(80, 100, 3)
    c = make_crop(rgb, (10, 20, 30, 60), 0.1)
    assert c.shape == (48, 24, 3)  # bbox 20x40 grown by 10% per side
    assert make_crop(rgb, (0, 0, 100, 80), 0.1).shape == (80, 100, 3)  # clipped to the image
