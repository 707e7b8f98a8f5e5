"""Typed configs loaded from the YAML files in `configs/` (OmegaConf structured configs).

A config is named either by a path to a YAML file or by `<group>/<name>` under `configs/`
(e.g. `sim/objectnav_hm3d`). Unknown keys and wrong types are errors that name the file and key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Type, TypeVar

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
T = TypeVar("T")


@dataclass
class SimConfig:
    """Agent and sensor setup; defaults are Habitat's ObjectNav HM3D agent at 320x240."""

    width: int = 320
    height: int = 240
    hfov: float = 79.0
    sensor_height: float = 0.88
    min_depth: float = 0.5
    max_depth: float = 5.0
    forward_step_size: float = 0.25
    turn_angle: float = 30.0
    tilt_angle: float = 30.0
    agent_radius: float = 0.18
    agent_height: float = 0.88
    max_episode_steps: int = 500
    allow_sliding: bool = False
    success_distance: float = 0.1

    def validate(self) -> "SimConfig":
        problems = []
        if self.width <= 0 or self.height <= 0:
            problems.append(f"width/height must be positive (got {self.width}x{self.height})")
        if not 0 < self.hfov < 180:
            problems.append(f"hfov must be in (0, 180) (got {self.hfov})")
        if not 0 <= self.min_depth < self.max_depth:
            problems.append(f"need 0 <= min_depth < max_depth (got {self.min_depth}, {self.max_depth})")
        if self.forward_step_size <= 0 or self.turn_angle <= 0:
            problems.append("forward_step_size and turn_angle must be positive")
        if self.max_episode_steps <= 0:
            problems.append(f"max_episode_steps must be positive (got {self.max_episode_steps})")
        if self.allow_sliding:
            problems.append("allow_sliding: true is not supported by the embedded simulator")
        if problems:
            raise ValueError("invalid sim config: " + "; ".join(problems))
        return self


def resolve_config_path(name_or_path: str, group: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        if not p.exists():
            raise FileNotFoundError(f"config file {p} does not exist")
        return p
    name = name_or_path.split("/", 1)[1] if name_or_path.startswith(group + "/") else name_or_path
    p = CONFIG_DIR / group / f"{name}.yaml"
    if not p.exists():
        known = sorted(q.stem for q in (CONFIG_DIR / group).glob("*.yaml"))
        raise FileNotFoundError(f"no {group} config named {name_or_path!r}; known: {', '.join(known) or 'none'}")
    return p


def load_config(schema: Type[T], name_or_path: str | None, group: str, **overrides) -> T:
    """Defaults of `schema`, then the YAML file, then keyword overrides; type-checked by OmegaConf."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    cfg = OmegaConf.structured(schema)
    source = "defaults"
    try:
        if name_or_path:
            path = resolve_config_path(name_or_path, group)
            source = str(path)
            cfg = OmegaConf.merge(cfg, OmegaConf.load(path))
        if overrides:
            source += " + overrides"
            cfg = OmegaConf.merge(cfg, overrides)
    except OmegaConfBaseException as e:
        raise ValueError(f"{source}: {e}".splitlines()[0]) from None
    obj = OmegaConf.to_object(cfg)
    return obj.validate() if hasattr(obj, "validate") else obj


def config_block(schema: Type[T], block: str, values: dict, **fixed) -> T:
    """`schema(**fixed, **values)` for a nested config block (e.g. the agent's `search:`); a misspelt
    option is a ValueError naming the block and listing its options rather than the dataclass's TypeError."""
    unknown = sorted(set(values) - set(schema.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{block}: not a {schema.__name__} option: {', '.join(map(str, unknown))}; options: "
                         f"{', '.join(schema.__dataclass_fields__)}")
    taken = sorted(set(values) & set(fixed))
    if taken:
        raise ValueError(f"{block}: {', '.join(taken)} cannot be set here (it comes from elsewhere in the config)")
    obj = schema(**fixed, **values)
    return obj.validate() if hasattr(obj, "validate") else obj


def load_sim_config(name_or_path: str | None = None, **overrides) -> SimConfig:
    return load_config(SimConfig, name_or_path, "sim", **overrides)
