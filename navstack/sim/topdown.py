"""Top-down pictures of a house: navigable floor, walls, furniture by category, trajectories.

Drawn with OpenCV on the navigable-grid raster (fast enough to write one PNG per episode).
"""

from __future__ import annotations

import colorsys
from typing import Iterable, Optional, Sequence

import numpy as np

from navstack.sim.scene import House

SCALE = 4  # output pixels per grid cell


def category_colour(category: str) -> tuple:
    """A stable, distinct BGR colour per category name."""
    h = (sum(ord(ch) * 131 ** i for i, ch in enumerate(category)) % 997) / 997.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.65, 0.85)
    return int(b * 255), int(g * 255), int(r * 255)


class TopDownMap:
    def __init__(self, house: House, scale: int = SCALE, labels: bool = True):
        import cv2

        self.cv2 = cv2
        self.house = house
        self.grid = house.navgrid
        self.scale = scale
        g = self.grid
        img = np.full(g.spec.shape + (3,), 255, np.uint8)
        img[g.navigable] = (235, 235, 235)
        img[g.island] = (215, 240, 215)
        img[g.occupied] = (90, 90, 90)
        # Lay the plan back over the walls: furniture coloured by category.
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        for o in house.objects:
            x0, z0, x1, z1 = o.footprint
            p0, p1 = self.to_px(x0, z0), self.to_px(x1, z1)
            cv2.rectangle(img, p0, p1, category_colour(o.category), -1)
            cv2.rectangle(img, p0, p1, (40, 40, 40), 1)
        if labels:
            for r in house.plan.rooms:
                cv2.putText(img, r.name, self.to_px(r.x0 + 0.15, r.z0 + 0.35), cv2.FONT_HERSHEY_SIMPLEX,
                            0.4, (120, 60, 0), 1, cv2.LINE_AA)
            for o in house.objects:
                cv2.putText(img, f"{o.id}:{o.category}", self.to_px(o.footprint[0], (o.footprint[1] + o.footprint[3]) / 2),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 0, 0), 1, cv2.LINE_AA)
        self.base = img

    def to_px(self, x: float, z: float) -> tuple:
        s = self.grid.spec
        return (int(round((x - s.x0) / s.resolution * self.scale)), int(round((z - s.z0) / s.resolution * self.scale)))

    def draw_episode(
        self,
        trajectory: Sequence[Sequence[float]],
        goals: Iterable[Sequence[float]] = (),
        view_points: Optional[np.ndarray] = None,
        goal_objects: Iterable[int] = (),
        stopped: bool = False,
        success: Optional[bool] = None,
        title: str = "",
    ) -> np.ndarray:
        """Picture of one episode: view points (light blue), goal objects (outlined), path, start, stop."""
        cv2 = self.cv2
        img = self.base.copy()
        if view_points is not None and len(view_points):
            for x, z in np.asarray(view_points)[:, :2]:
                cv2.circle(img, self.to_px(x, z), 1, (230, 180, 120), -1)
        for oid in goal_objects:
            o = self.house.object(oid)
            x0, z0, x1, z1 = o.footprint
            cv2.rectangle(img, self.to_px(x0, z0), self.to_px(x1, z1), (0, 0, 255), 2)
        for gx, gz in goals:
            cv2.drawMarker(img, self.to_px(gx, gz), (0, 0, 255), cv2.MARKER_STAR, 12, 2)
        traj = np.asarray(trajectory, float).reshape(-1, 2)
        if len(traj):
            pts = np.array([self.to_px(x, z) for x, z in traj], np.int32)
            cv2.polylines(img, [pts], False, (200, 60, 20), 2, cv2.LINE_AA)
            cv2.circle(img, tuple(pts[0]), 6, (0, 160, 0), -1)
            end_colour = (0, 170, 0) if success else (0, 0, 220)
            if stopped:
                cv2.drawMarker(img, tuple(pts[-1]), end_colour, cv2.MARKER_TILTED_CROSS, 14, 3)
            else:
                cv2.circle(img, tuple(pts[-1]), 5, end_colour, 2)
        if title:
            cv2.putText(img, title, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        return img

    def save(self, path, img: Optional[np.ndarray] = None) -> None:
        if not self.cv2.imwrite(str(path), self.base if img is None else img):
            raise OSError(f"could not write image {path}")
