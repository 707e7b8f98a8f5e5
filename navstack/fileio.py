"""File helpers for everything navstack saves: atomic writes and versioned JSON headers."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Union


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename into it) to disk where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: Union[bytes, str, Callable]) -> None:
    """Write `data` (bytes, text, or a function writing to a binary file object) to a temporary file
    beside `path`, fsync it, then rename it over `path`: readers see the old file or the new one, never
    a part of either; on any error the temporary file is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path: Path, what: str, missing: str = "") -> Any:
    """The JSON in `path`; a missing or cut-short file is a clear error naming it. `what` names the kind
    of file, `missing` is appended to the not-found message (how to make one)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no {what} here{missing}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: corrupt {what} (not valid JSON: {e}; cut short?)") from None


def read_versioned_json(path: Path, fmt: str, version: int, what: str, missing: str = "") -> Dict[str, Any]:
    """The JSON object in `path` (`read_json`), checked to carry `"format": fmt` and `"version": version`."""
    d = read_json(path, what, missing)
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise ValueError(f"{path}: not a navstack {what} (format {d.get('format') if isinstance(d, dict) else None!r})")
    if d.get("version") != version:
        raise ValueError(f"{path}: {what} format version {d.get('version')} is not supported (this navstack reads {version})")
    return d
