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
    return local_clip_config(args.clip_weights, args.clip_config, **kwargs)


def local_clip_config(weights=None, model_config=None, **kwargs):
    """ClipConfig for a local weights file (its model config: the .json beside it unless given); None: the
    shipped model. `kwargs` set its other fields."""
    from navstack.perception.clip_encoder import ClipConfig

    cc = ClipConfig(**kwargs)
    if weights:
        cc.weights = str(weights)
        cc.model_config = str(model_config or Path(weights).with_suffix(".json"))
    return cc
