"""OccupancyGrid from real rendered frames: free / occupied against the house's ground truth, frontiers, growth."""

import math

import numpy as np
import pytest
from scipy import ndimage

from navstack.config import SimConfig
from navstack.mapping.occupancy import OccupancyConfig, OccupancyGrid
from navstack.types import DiscreteAction, Observation


@pytest.fixture(scope="module")
def spin(house, renderer):
    """A 360-degree spin at the navigable point nearest the house centre, 160x120."""
    from navstack.sim.backend import EmbeddedBackend

    b = EmbeddedBackend(house, SimConfig(width=160, height=120), renderer=renderer)
    pts = house.navgrid.navigable_points()
    p = pts[int(np.argmin(np.linalg.norm(pts - pts.mean(axis=0), axis=1)))]
    b.reset(position=[p[0], 0.0, p[1]])
    out = []
    for _ in range(12):
        out.append(b.observe())
        b.act(DiscreteAction.TURN_LEFT)
    return p, out


@pytest.fixture(scope="module")
def grid(spin):
    g = OccupancyGrid()
    for obs in spin[1]:
        g.update(obs, stride=1)
    return g


def _truth(house, g):
    """Ground-truth obstacle raster (walls + furniture) on the grid's cells, from the nav grid."""
    ng = house.navgrid
    rows, cols = np.mgrid[0: g.shape[0], 0: g.shape[1]]
    x, z = g.to_world(rows, cols)
    r, c = ng.spec.to_cell(x, z)
    inside = ng.spec.inside(r, c)
    occ = np.ones(g.shape, bool)
    occ[inside] = ng.occupied[r[inside], c[inside]]
    return occ


def _walls(house, g):
    """Cells covered by the house's walls."""
    t = house.plan.wall_thickness
    rows, cols = np.mgrid[0: g.shape[0], 0: g.shape[1]]
    x, z = g.to_world(rows, cols)
    out = np.zeros(g.shape, bool)
    for w in house.plan.walls:
        if w.axis == "x":
            out |= (x >= w.lo - t / 2) & (x <= w.hi + t / 2) & (np.abs(z - w.c) <= t / 2)
        else:
            out |= (z >= w.lo - t / 2) & (z <= w.hi + t / 2) & (np.abs(x - w.c) <= t / 2)
    return out


def test_free_and_occupied_agree_with_ground_truth(house, spin, grid):
    truth = _truth(house, grid)
    near_truth = ndimage.binary_dilation(truth, iterations=2)
    occ, free = grid.occupied(), grid.free()
    assert occ.sum() > 100 and free.sum() > 1000
    assert (occ & near_truth).sum() / occ.sum() > 0.95  # occupied cells are walls or furniture
    assert (free & _walls(house, grid)).sum() / free.sum() < 0.005  # never through a wall
    # furniture footprints are boxes; the floor seen around round or legged pieces inside them is free
    assert (free & ~truth).sum() / free.sum() > 0.9
    p = spin[0]
    assert grid.is_traversable(p[0], p[1])  # where the agent stands
    assert grid.explored_area() > 5.0
    st = grid.state()
    assert set(np.unique(st)) <= {0, 1, 2} and (st == OccupancyGrid.OCCUPIED).sum() == occ.sum()


def test_inflation_and_traversable(grid):
    occ = grid.occupied()
    trav = grid.traversable()
    dist = ndimage.distance_transform_edt(~occ) * grid.resolution
    assert not (trav & (dist <= grid.config.agent_radius - grid.resolution)).any()
    assert (trav & ~grid.free()).sum() == 0
    assert grid.traversable(unknown_is_free=True).sum() > trav.sum()


def test_frontiers(grid):
    fr = grid.frontiers()
    assert fr, "a single spin must leave frontiers"
    unknown = grid.unknown()
    free = grid.free() & ~grid.inflated()
    near_unknown = ndimage.binary_dilation(unknown, structure=np.ones((3, 3)))
    for f in fr:
        r, c = f.cells[:, 0], f.cells[:, 1]
        assert free[r, c].all() and near_unknown[r, c].all()
        assert f.size == len(f.cells) >= grid.config.frontier_min_cells
        assert math.isclose(f.length, f.size * grid.resolution)
        tr, tc = grid.to_cell(*f.target)
        assert free[tr, tc]
    assert [f.size for f in fr] == sorted((f.size for f in fr), reverse=True)
    # tight frontiers may lie closer to obstacles than the agent radius (the navigator squeezes), never
    # closer than the tight clearance
    tight = grid.frontiers(tight=True)
    cells = np.concatenate([f.cells for f in tight])
    assert grid.inflated()[cells[:, 0], cells[:, 1]].any()
    clear = grid.inflated(grid.config.agent_radius * grid.config.tight_frontier_clearance)
    assert not clear[cells[:, 0], cells[:, 1]].any()
    assert sum(f.size for f in tight) > sum(f.size for f in fr)


def test_grid_grows_and_keeps_content(spin):
    g = OccupancyGrid(OccupancyConfig(initial_size=4.0, grow_margin=1.0))
    obs = spin[1][0]
    g.update(obs, stride=1)
    before = g.occupied().sum(), g.free().sum()
    x0, z0 = g.x0, g.z0
    g.ensure(x0 - 10.0, z0 - 3.0, x0 + 1.0, z0 + 1.0)
    assert g.x0 < x0 - 9.9 and g.z0 < z0 - 2.9
    assert (g.occupied().sum(), g.free().sum()) == before
    for o in spin[1][1:]:
        g.update(o, stride=1)
    assert g.explored_area() > 5.0


def test_bad_depth_marks_nothing(spin):
    g = OccupancyGrid()
    obs = spin[1][0]
    nan = Observation(obs.rgb, np.full_like(obs.depth, np.nan), obs.pose, obs.intrinsics)
    g.update(nan, stride=1)
    assert g.explored_area() == 0.0
    d = obs.depth.copy()
    d[::3] = np.nan
    d[:, ::5] = 0.0
    stats = g.update(Observation(obs.rgb, d, obs.pose, obs.intrinsics), stride=1)
    assert stats["free_cells"] > 0 and np.isfinite(g.logodds).all()


def test_regions_split_rooms(house, renderer):
    """Spins in two different rooms give two regions; a point in each room lands in its own region."""
    from navstack.sim.backend import EmbeddedBackend

    b = EmbeddedBackend(house, SimConfig(width=160, height=120), renderer=renderer)
    g = OccupancyGrid()
    pts = house.navgrid.navigable_points()
    centres = []
    for room in sorted(house.plan.rooms, key=lambda r: -r.area)[:2]:
        inside = pts[(pts[:, 0] > room.x0 + 0.5) & (pts[:, 0] < room.x1 - 0.5)
                     & (pts[:, 1] > room.z0 + 0.5) & (pts[:, 1] < room.z1 - 0.5)]
        p = inside[int(np.argmin(np.linalg.norm(inside - np.array(room.center), axis=1)))]
        centres.append(p)
        b.reset(position=[p[0], 0.0, p[1]])
        for _ in range(12):
            g.update(b.observe(), stride=1)
            b.act(DiscreteAction.TURN_LEFT)
    lab, n = g.regions()
    assert n >= 2
    a, c = (g.region_at(p[0], p[1]) for p in centres)
    assert a > 0 and c > 0 and a != c
