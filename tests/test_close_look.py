"""SemanticMap.look_at: a fresh close-up classification of one mapped instance (the agent's check before STOP)."""

import numpy as np
import pytest

from navstack.config import SimConfig
from navstack.mapping.semantic_map import MappingConfig, SemanticMap
from navstack.types import DiscreteAction


@pytest.fixture(scope="module")
def mapped(house, renderer):
    import torch

    from navstack.perception.clip_encoder import ClipConfig, ClipEncoder
    from navstack.sim.backend import EmbeddedBackend

    torch.manual_seed(0)
    enc = ClipEncoder(ClipConfig(weights=None, allow_random_init=True))  # the project's architecture, random init
    b = EmbeddedBackend(house, SimConfig(width=160, height=120), renderer=renderer)
    pts = house.navgrid.navigable_points()
    p = pts[int(np.argmin(np.linalg.norm(pts - pts.mean(axis=0), axis=1)))]
    b.reset(position=[p[0], 0.0, p[1]])
    m = SemanticMap(enc, MappingConfig(max_embed_per_frame=3))
    last = None
    for k in range(12):
        last = b.observe()
        last.instance = None
        last.stamp = float(k)
        m.update(last)
        b.act(DiscreteAction.TURN_LEFT)
    assert len(m.instance_map) > 0
    return m, last


def test_look_at_an_instance_in_view(mapped):
    m, obs = mapped
    looks = {iid: m.look_at(obs, iid, min_pixels=20) for iid in m.instance_map.instances}
    seen = {i: v for i, v in looks.items() if v is not None}
    assert seen, "some mapped instance must be in the last frame"
    for v in seen.values():
        assert v["probs"].shape == (len(m.categories),) and v["probs"].sum() == pytest.approx(1.0, abs=1e-5)
        assert v["category"] in m.categories and 0 < v["p"] <= 1
        x0, y0, x1, y1 = v["bbox"]
        assert 0 <= x0 < x1 <= obs.rgb.shape[1] and 0 <= y0 < y1 <= obs.rgb.shape[0]


def test_look_at_an_instance_behind_the_camera_or_unknown_is_none(mapped):
    import dataclasses

    from navstack.types import Pose

    m, obs = mapped
    visible = [i for i in m.instance_map.instances if m.look_at(obs, i, min_pixels=20) is not None]
    assert visible
    # the same frame from a pose facing the other way: what it showed is now behind the camera
    turned = dataclasses.replace(obs, pose=Pose.from_xz_yaw(obs.pose.position[0], obs.pose.position[2],
                                                            obs.pose.yaw + np.pi))
    assert all(m.visible_box(turned, i) is None for i in visible)
    assert m.look_at(obs, 10 ** 6) is None  # an id the map does not hold
