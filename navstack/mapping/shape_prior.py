"""ShapePrior: what an instance's 3D shape says about its category, beside what CLIP says.

CLIP on one 64-pixel crop confuses categories that look alike but differ in size: a bed and a sofa,
a desk and a cabinet, a table and a sofa. The map knows each instance's voxels, so it knows how
high its top is, how far above the floor it starts and how large its footprint is. Per category,
`ShapePrior` holds a Gaussian over those shape features, fitted on the map's own instances after a
scripted exploration of training houses (seeds < 1000; `navstack train shape-prior`), so it has
learnt the partial views and segmentation errors of the map as well as the furniture sizes.

The map's category distribution is then  P(c | crops, shape) ~ P_clip(c) * p(shape | c)^weight
over the object categories; background labels (wall / floor / ceiling) keep CLIP's mass, so the
pruning of background instances is unchanged. Log-likelihoods are clipped to `max_log_ratio`
below the best category, so an odd shape (two objects merged into one) cannot veto CLIP alone.

Features (floor at y = 0, as in the occupancy grid): top height, bottom height, and the long and
short sides of the footprint's minimum-area rectangle - sizes in log space.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from navstack.fileio import atomic_write, read_versioned_json

FORMAT = "navstack-shape-prior"
VERSION = 1
FEATURES = ("log_top", "bottom", "log_long", "log_short")
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "assets" / "mapping" / "shape_prior.json"


def shape_features(points: np.ndarray, voxel: float) -> np.ndarray:
    """(F,) features of one instance's voxel centres (N, 3); the voxel size pads each side."""
    import cv2

    pts = np.asarray(points, np.float32)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ValueError(f"shape_features needs (N, 3) points with N > 0, got shape {pts.shape}")
    half = voxel / 2
    top = float(pts[:, 1].max()) + half
    bottom = max(float(pts[:, 1].min()) - half, 0.0)
    if len(pts) >= 3:
        (_, _), (w, h), _ = cv2.minAreaRect(pts[:, [0, 2]].astype(np.float32))
    else:
        w = h = 0.0
    long_side, short_side = max(w, h) + voxel, min(w, h) + voxel
    return np.array([math.log(max(top, 0.05)), min(bottom, 2.0), math.log(long_side), math.log(short_side)],
                    np.float64)


@dataclass
class ShapePrior:
    categories: List[str]
    mean: np.ndarray  # (C, F)
    cov: np.ndarray  # (C, F, F)
    counts: np.ndarray  # (C,) training instances per category; 0: no shape evidence for it
    weight: float = 0.5  # exponent of the likelihood against CLIP's probabilities
    max_log_ratio: float = 6.0
    provenance: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        C, F = len(self.categories), len(FEATURES)
        self.mean = np.asarray(self.mean, np.float64)
        self.cov = np.asarray(self.cov, np.float64)
        self.counts = np.asarray(self.counts, np.int64)
        if self.mean.shape != (C, F) or self.cov.shape != (C, F, F) or self.counts.shape != (C,):
            raise ValueError(f"shape prior arrays do not fit {C} categories x {F} features: mean {self.mean.shape}, "
                             f"cov {self.cov.shape}, counts {self.counts.shape}")
        if not (np.isfinite(self.mean).all() and np.isfinite(self.cov).all()):
            raise ValueError("shape prior has non-finite means or covariances")
        if not self.weight >= 0 or not self.max_log_ratio > 0:
            raise ValueError(f"shape prior weight must be >= 0 and max_log_ratio > 0, got {self.weight}, "
                             f"{self.max_log_ratio}")
        self._inv = np.linalg.inv(self.cov)
        sign, logdet = np.linalg.slogdet(self.cov)
        if (sign <= 0).any():
            raise ValueError("shape prior covariances must be positive definite")
        self._logdet = logdet

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, categories: Sequence[str], features: np.ndarray, labels: Sequence[str], shrink: float = 0.3,
            min_std: Sequence[float] = (0.08, 0.05, 0.1, 0.1), min_count: int = 5, **kwargs) -> "ShapePrior":
        """Per-category Gaussians; covariances shrunk towards their diagonal and floored at `min_std`."""
        X = np.asarray(features, np.float64)
        lab = np.asarray(labels)
        C, F = len(categories), len(FEATURES)
        mean, cov, counts = np.zeros((C, F)), np.tile(np.eye(F), (C, 1, 1)), np.zeros(C, np.int64)
        floor = np.diag(np.asarray(min_std, np.float64) ** 2)
        for k, c in enumerate(categories):
            x = X[lab == c]
            counts[k] = len(x)
            if len(x) < min_count:
                continue  # no shape evidence: a neutral likelihood
            mean[k] = x.mean(0)
            s = np.cov(x, rowvar=False)
            s = (1 - shrink) * s + shrink * np.diag(np.diag(s))
            cov[k] = s + floor
        return cls(list(categories), mean, cov, counts, **kwargs)

    # ------------------------------------------------------------------ scoring
    def log_likelihood(self, features: np.ndarray) -> np.ndarray:
        """(N, C) log p(features | category), clipped to `max_log_ratio` below each row's best; categories
        without training instances get the row mean of the others (neutral)."""
        ll = -0.5 * (self._mahalanobis2(features) + self._logdet[None])
        ok = self.counts >= 1
        if not ok.all():
            ll[:, ~ok] = ll[:, ok].mean(axis=1, keepdims=True) if ok.any() else 0.0
        return np.maximum(ll, ll.max(axis=1, keepdims=True) - self.max_log_ratio)

    def _mahalanobis2(self, features: np.ndarray) -> np.ndarray:
        """(N, C) squared Mahalanobis distances of feature rows from every category's Gaussian."""
        X = np.atleast_2d(np.asarray(features, np.float64))
        d = X[:, None, :] - self.mean[None]
        return np.einsum("ncf,cfg,ncg->nc", d, self._inv, d)

    def mahalanobis2(self, points: np.ndarray, voxel: float) -> np.ndarray:
        """(C,) squared Mahalanobis distance of one instance's shape features from each category's Gaussian:
        an absolute plausibility (the log weights are relative to the best category). nan for categories
        without training instances."""
        m = self._mahalanobis2(shape_features(points, voxel))[0]
        return np.where(self.counts >= 1, m, np.nan)

    def log_weights(self, points: np.ndarray, voxel: float) -> np.ndarray:
        """(C,) `weight` x clipped log-likelihood of one instance's shape, max 0."""
        ll = self.weight * self.log_likelihood(shape_features(points, voxel))[0]
        return ll - ll.max()

    @staticmethod
    def apply(probs: np.ndarray, log_weights: np.ndarray) -> np.ndarray:
        """CLIP's label probabilities (C categories, then background labels) reweighted over the first C
        by the shape; the categories keep their total mass, so background stays as CLIP has it."""
        p = np.asarray(probs, np.float64).copy()
        C = len(log_weights)
        q = p[:C] * np.exp(log_weights)
        s = q.sum()
        if s > 0:
            p[:C] = q * (p[:C].sum() / s)
        return p.astype(np.float32)

    # ------------------------------------------------------------------ files
    def to_dict(self) -> Dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "features": list(FEATURES), "categories": self.categories,
                "weight": self.weight, "max_log_ratio": self.max_log_ratio, "counts": self.counts.tolist(),
                "mean": self.mean.tolist(), "cov": self.cov.tolist(), "provenance": self.provenance}

    def save(self, path) -> Path:
        """Atomic JSON write (temporary file in the same folder, then rename)."""
        path = Path(path)
        atomic_write(path, json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path=None, weight: Optional[float] = None) -> "ShapePrior":
        path = Path(path or DEFAULT_PATH)
        d = read_versioned_json(path, FORMAT, VERSION, "shape prior", " (make one with `navstack train shape-prior`)")
        if list(d.get("features", [])) != list(FEATURES):
            raise ValueError(f"{path}: features {d.get('features')} differ from this navstack's {list(FEATURES)}")
        try:
            return cls(list(d["categories"]), d["mean"], d["cov"], d["counts"],
                       weight=float(d["weight"] if weight is None else weight),
                       max_log_ratio=float(d.get("max_log_ratio", 6.0)), provenance=dict(d.get("provenance", {})))
        except KeyError as e:
            raise ValueError(f"{path}: shape prior lacks {e}") from None

    def for_categories(self, categories: Sequence[str]) -> "ShapePrior":
        """The prior re-indexed to another category list (the map's); unknown categories are neutral."""
        F = len(FEATURES)
        idx = {c: k for k, c in enumerate(self.categories)}
        mean, cov, counts = np.zeros((len(categories), F)), np.tile(np.eye(F), (len(categories), 1, 1)), \
            np.zeros(len(categories), np.int64)
        for j, c in enumerate(categories):
            if c in idx:
                mean[j], cov[j], counts[j] = self.mean[idx[c]], self.cov[idx[c]], self.counts[idx[c]]
        return ShapePrior(list(categories), mean, cov, counts, self.weight, self.max_log_ratio, self.provenance)
