"""Helpers shared by the benchmark scripts: machine description, JSON output, the CLIP model options."""

import json
from pathlib import Path


def machine() -> dict:
    from navstack.eval import machine_info

    return machine_info()


def require_development_seeds(seeds, what: str = "this study") -> None:
    """Studies and traces read ground truth or exist to choose a setting: held-out houses (>= 9000) are only
    for the reported figures, so refuse them before any house is built."""
    if max(seeds) >= 9000:
        raise SystemExit(f"{what} is for development seeds (< 9000), got {max(seeds)}; held-out seeds are for the figures")


def write_json(path, obj) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(obj, indent=2))
        print(f"wrote {path}")


def add_clip_args(ap) -> None:
    """--clip-weights / --clip-config: evaluate another local CLIP model than the shipped one."""
    ap.add_argument("--clip-weights", help="CLIP weights file (default: the shipped assets/clip model)")
    ap.add_argument("--clip-config", help="its model config JSON (default: the .json beside the weights)")


def clip_config(args, **kwargs):
    """The ClipConfig the --clip-* options (add_clip_args) ask for; `kwargs` set its other fields."""
    from navstack.perception.clip_encoder import ClipConfig

    cc = ClipConfig(**kwargs)
    if args.clip_weights:
        cc.weights = args.clip_weights
        cc.model_config = args.clip_config or str(Path(args.clip_weights).with_suffix(".json"))
    return cc
