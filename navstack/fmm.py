"""Geodesic distance fields on boolean grids by fast marching (scikit-fmm), shared by the simulator's
navigation grid (ground-truth geodesics) and the agent's navigator (planning on its own map)."""

from __future__ import annotations

import numpy as np


def geodesic_field(traversable: np.ndarray, target_rows: np.ndarray, target_cols: np.ndarray,
                   resolution: float) -> np.ndarray:
    """Distance (m) along `traversable` cells from every cell to the nearest target cell; 0 at the targets,
    inf where unreachable or not traversable. Targets off the traversable cells are ignored."""
    import skfmm  # imported here: only geodesic queries need it

    trav = np.asarray(traversable, bool)
    r, c = np.asarray(target_rows, np.int64), np.asarray(target_cols, np.int64)
    on = trav[r, c]
    r, c = r[on], c[on]
    field = np.full(trav.shape, np.inf)
    if len(r) == 0:
        return field
    phi = np.ones(trav.shape)
    phi[r, c] = -1
    try:
        d = skfmm.distance(np.ma.MaskedArray(phi, mask=~trav), dx=resolution)
    except ValueError:
        # no zero level: the targets fill their whole traversable patch (e.g. a pocket of a few cells cut
        # off from the rest), so only they are reachable
        d = None
    if d is not None:
        # the zero level lies half a cell outside the target cells; shifted so the targets read 0
        field = np.where(np.ma.getmaskarray(d), np.inf, np.ma.getdata(d) + resolution / 2)
    field[r, c] = 0.0
    return np.maximum(field, 0.0)
