"""Helpers shared by the benchmark scripts: machine description and JSON output."""

import json
from pathlib import Path


def machine() -> dict:
    from navstack.eval import machine_info

    return machine_info()


def write_json(path, obj) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(obj, indent=2))
        print(f"wrote {path}")
