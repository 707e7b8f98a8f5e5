"""`navstack nav`: one navigation in a generated house, with live progress and an animation.

The animation shows the egocentric RGB view beside the agent's own growing top-down semantic map
(instances, frontiers, trajectory) and is written as an animated GIF (MP4 when imageio-ffmpeg is
installed and the path ends in .mp4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from navstack.types import CategoryGoal, DiscreteAction, ImageGoal, TextGoal


def load_goal_image(path) -> np.ndarray:
    """RGB uint8 image from a file; a clear error for anything that is not an image."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"goal image {p} does not exist")
    data = np.frombuffer(p.read_bytes(), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise ValueError(f"goal image {p} is not a readable image (PNG/JPEG/...)")
    return img[:, :, ::-1].copy()


@dataclass
class NavResult:
    steps: int
    called_stop: bool
    success: Optional[bool]
    distance_to_goal: Optional[float]
    stopped_near: Optional[str]
    animation: Optional[str]
    frames: int


def compose_frame(rgb: np.ndarray, topdown: np.ndarray, caption: str) -> np.ndarray:
    import cv2

    h = rgb.shape[0]
    scale = h / max(topdown.shape[0], 1)
    td = cv2.resize(topdown, (max(1, int(topdown.shape[1] * scale)), h), interpolation=cv2.INTER_AREA)
    td = td[:, : 2 * h] if td.shape[1] > 2 * h else td
    frame = np.concatenate([rgb, td], axis=1)
    bar = np.full((18, frame.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, caption[:110], (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, frame], axis=0)


def write_animation(frames: List[np.ndarray], path: Path, fps: int = 6) -> Path:
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    # Frames must share one size (the top-down map grows): pad to the largest.
    h = max(f.shape[0] for f in frames)
    w = max(f.shape[1] for f in frames)
    padded = [np.pad(f, ((0, h - f.shape[0]), (0, w - f.shape[1]), (0, 0)), constant_values=255) for f in frames]
    if path.suffix.lower() == ".mp4":
        imageio.mimsave(path, padded, fps=fps)
    else:
        imageio.mimsave(path, padded, duration=1.0 / fps, loop=0)
    return path


def navigate(seed: int, goal, agent_name: str = "modular", start_xz=None, start_yaw: Optional[float] = None,
             out: str = "runs/nav", sim_config: Optional[str] = None, record_every: int = 1,
             max_steps: Optional[int] = None, progress: bool = True) -> NavResult:
    from tqdm import tqdm

    from navstack.agent import make_agent
    from navstack.config import load_sim_config
    from navstack.mapping.pictures import render_topdown
    from navstack.sim.backend import EmbeddedBackend
    from navstack.sim.scene import HouseConfig, generate_house
    from navstack.tasks.views import VisibilityOracle

    sim = load_sim_config(sim_config)
    if max_steps:  # the agent paces its search by the budget (ModularConfig.hurry_after)
        sim.max_episode_steps = int(max_steps)
    house = generate_house(seed, HouseConfig(agent_radius=sim.agent_radius))
    backend = EmbeddedBackend(house, sim)
    rng = np.random.default_rng(seed)
    if start_xz is None:
        start_xz = house.navgrid.sample_navigable(rng)[0]
    yaw = float(rng.uniform(-math.pi, math.pi)) if start_yaw is None else start_yaw
    backend.reset(position=[start_xz[0], 0.0, start_xz[1]], rotation=[0, math.sin(yaw / 2), 0, math.cos(yaw / 2)])
    agent = make_agent(agent_name, sim, None, seed=seed)
    agent.reset(goal)
    frames: List[np.ndarray] = []
    steps, stopped = 0, False
    limit = sim.max_episode_steps
    bar = tqdm(total=limit, desc=f"nav {describe_goal(goal)[:40]}", unit="step", disable=not progress)
    for steps in range(1, limit + 1):
        obs = backend.observe()
        action = agent.act(obs)
        info = getattr(agent, "last_info", {})
        bar.update(1)
        bar.set_postfix(mode=info.get("mode", ""), target=str(info.get("target", ""))[:24])
        if hasattr(agent, "smap") and (steps % record_every == 0 or action == DiscreteAction.STOP):
            caption = f"step {steps}  {info.get('mode', '')}: {info.get('target', '')}  goal: {describe_goal(goal)}"
            frames.append(compose_frame(obs.rgb, render_topdown(agent.smap, pixels_per_metre=30), caption))
        if action == DiscreteAction.STOP:
            stopped = True
            break
        backend.act(action)
    bar.close()
    # Ground truth, for the report only: the goal category's view points (category goals).
    success = dist = None
    pos = backend.position[[0, 2]]
    if isinstance(goal, CategoryGoal) and house.objects_of(goal.category):
        oracle = VisibilityOracle(house, backend.renderer, sim.sensor_height)
        vps = [vp["agent_state"]["position"] for o in house.objects_of(goal.category) for vp in oracle.view_points(o.id)]
        if vps:
            dist = house.navgrid.geodesic_distance(pos, np.array(vps)[:, [0, 2]])
            success = bool(stopped and dist < sim.success_distance)
    near = min(house.objects, key=lambda o: math.hypot(o.x - pos[0], o.z - pos[1]), default=None)
    near_s = f"{near.category} #{near.id} ({near.attributes.get('color')}, {house.room(near.room_id).name})" if near else None
    anim = None
    if frames:
        anim = str(write_animation(frames, Path(out) / "nav.gif"))
    return NavResult(steps, stopped, success, dist, near_s, anim, len(frames))


def describe_goal(goal) -> str:
    if isinstance(goal, CategoryGoal):
        return f"category '{goal.category}'"
    if isinstance(goal, TextGoal):
        return f"text '{goal.text}'"
    if isinstance(goal, ImageGoal):
        return f"image {goal.image.shape[1]}x{goal.image.shape[0]}"
    return str(goal)
