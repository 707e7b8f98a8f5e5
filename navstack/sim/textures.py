"""Small procedural textures for floors and walls, so rooms look different and depth edges have texture."""

from __future__ import annotations

import numpy as np

SIZE = 64


def _noise(rng: np.random.Generator, size: int = SIZE, scale: int = 8) -> np.ndarray:
    """Smooth value noise in [0, 1] (tileable: upsampled periodic random grid)."""
    base = rng.random((scale, scale))
    reps = size // scale
    idx = np.arange(size) / reps
    i0 = np.floor(idx).astype(int) % scale
    i1 = (i0 + 1) % scale
    t = idx - np.floor(idx)
    rows = base[i0][:, None, :] * (1 - t)[:, None, None] + base[i1][:, None, :] * t[:, None, None]
    rows = rows[:, 0, :]
    out = rows[:, i0] * (1 - t)[None, :] + rows[:, i1] * t[None, :]
    return out


def wood_planks(rng: np.random.Generator, colour) -> np.ndarray:
    c = np.asarray(colour, float)
    grain = _noise(rng, scale=4)[:, :1].repeat(SIZE, 1).T * 0.25 + _noise(rng, scale=16) * 0.1
    plank = (np.arange(SIZE) // 16)[:, None] * np.ones((1, SIZE))
    shade = 0.85 + 0.15 * ((plank * 7919) % 5) / 4.0
    img = c[None, None, :] * (shade * (0.8 + grain))[:, :, None]
    img[np.arange(SIZE) % 16 == 0] *= 0.55  # joints between planks
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def tiles(rng: np.random.Generator, colour) -> np.ndarray:
    c = np.asarray(colour, float)
    img = np.ones((SIZE, SIZE, 3)) * c * (0.92 + 0.08 * _noise(rng, scale=8))[:, :, None]
    grout = (np.arange(SIZE) % 16 < 1)
    img[grout, :] = c * 0.5
    img[:, grout] = c * 0.5
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def carpet(rng: np.random.Generator, colour) -> np.ndarray:
    c = np.asarray(colour, float)
    img = c * (0.75 + 0.35 * _noise(rng, scale=32) + 0.1 * _noise(rng, scale=8))[:, :, None]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def paint(rng: np.random.Generator, colour) -> np.ndarray:
    c = np.asarray(colour, float)
    img = c * (0.93 + 0.07 * _noise(rng, scale=16))[:, :, None]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


FLOOR_STYLE = {
    "bathroom": tiles, "kitchen": tiles, "bedroom": carpet, "office": carpet,
    "living_room": wood_planks, "dining_room": wood_planks, "hallway": wood_planks,
}
