"""Save / load a whole SemanticMap (instances, occupancy, wall memory, trajectory): lifelong memory.

Layout of a map directory:

    map.json            format, version, config, encoder identity, counters, and the name, size and
                        SHA-256 of the array file it belongs to
    map-<sha16>.npz     every array (np.savez, loaded with allow_pickle=False: nothing is pickled)

`save(smap, dir)` writes the new array file under a content-addressed name (temp file + fsync +
os.replace), then replaces map.json atomically (the commit point), then deletes array files no
longer referenced. A crash at any moment leaves the previous map loadable. `load(dir, encoder)`
checks the format and version, the array file's size and checksum (a truncated or altered file is a
clear ValueError; the files are not touched), that the encoder produces features of the stored
dimension (and, when both are known, is the same model), and rebuilds the map.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any, Dict

import numpy as np

from navstack.fileio import atomic_write, fsync_dir, read_versioned_json
from navstack.mapping.instance_map import Instance, View

FORMAT = "navstack-semantic-map"
VERSION = 1
META_NAME = "map.json"

_INT_FIELDS = ("observations", "embeddings", "first_frame", "last_frame", "last_embed_frame")
_FLOAT_FIELDS = ("voxel", "feature_weight", "category_weight", "room_weight", "first_seen", "last_seen",
                 "last_embed_yaw", "last_embed_quality", "seen_from_weight")


def encoder_identity(encoder) -> Dict[str, Any]:
    """What identifies an encoder's feature space: model name, weights (name, size) or pretrained tag, dim."""
    if encoder is None:
        return {}
    out: Dict[str, Any] = {"dim": int(getattr(encoder, "dim", 0) or 0)}
    cfg = getattr(encoder, "config", None)
    if cfg is not None:
        out["model_name"] = getattr(cfg, "model_name", None)
        out["pretrained"] = getattr(cfg, "pretrained", None)
        w = getattr(cfg, "weights", None)
        if w:
            p = Path(w)
            out["weights"] = p.name
            try:
                out["weights_size"] = p.stat().st_size
            except OSError:
                pass
        if getattr(cfg, "allow_random_init", False) and not w and not out.get("pretrained"):
            out["random_init"] = True
    return out


def _pack(smap) -> Dict[str, np.ndarray]:
    imap = smap.instance_map
    insts = sorted(imap.instances.values(), key=lambda i: i.id)
    n = len(insts)
    D = int(getattr(smap.encoder, "dim", 0) or 0) if smap.encoder is not None else 0
    D = D or next((len(i.feature_sum) for i in insts if i.feature_sum is not None), 0)
    CB = next((len(i.category_sum) for i in insts if i.category_sum is not None), 0)
    R = next((len(i.room_sum) for i in insts if i.room_sum is not None), 0)
    a: Dict[str, np.ndarray] = {}
    a["inst_id"] = np.array([i.id for i in insts], np.int64)
    a["inst_int"] = np.array([[getattr(i, f) for f in _INT_FIELDS] for i in insts], np.int64).reshape(n, len(_INT_FIELDS))
    a["inst_float"] = np.array([[getattr(i, f) for f in _FLOAT_FIELDS] for i in insts], np.float64).reshape(n, len(_FLOAT_FIELDS))
    a["inst_bbox"] = np.array([np.concatenate([i.bbox_min, i.bbox_max]) for i in insts], np.float64).reshape(n, 6)
    a["inst_seen_from"] = np.array([i.seen_from_sum for i in insts], np.float64).reshape(n, 2)
    a["inst_last_embed_pos"] = np.array([i.last_embed_position if i.last_embed_position is not None else [np.nan] * 3
                                         for i in insts], np.float64).reshape(n, 3)
    a["key_offsets"] = np.concatenate([[0], np.cumsum([len(i.keys) for i in insts])]).astype(np.int64)
    a["keys"] = np.concatenate([i.keys for i in insts]).astype(np.int64) if n else np.zeros(0, np.int64)
    for name, dim in (("feature", D), ("category", CB), ("room", R)):
        arr = np.zeros((n, dim), np.float32)
        has = np.zeros(n, bool)
        for j, i in enumerate(insts):
            v = getattr(i, f"{name}_sum")
            if v is not None:
                if len(v) != dim:
                    raise ValueError(f"instance {i.id}: {name} vector has length {len(v)}, others {dim}")
                arr[j] = v
                has[j] = True
        a[f"{name}_sum"] = arr
        a[f"has_{name}"] = has
    views = [(j, v) for j, i in enumerate(insts) for v in i.views]
    a["view_inst"] = np.array([j for j, _ in views], np.int64)
    a["view_float"] = np.array([[v.quality, v.stamp, v.yaw, *v.position] for _, v in views], np.float64).reshape(-1, 6)
    a["view_int"] = np.array([[v.frame, *v.bbox] for _, v in views], np.int64).reshape(-1, 5)
    a["view_shape"] = np.array([v.crop.shape for _, v in views], np.int64).reshape(-1, 3)
    a["view_pixels"] = np.concatenate([v.crop.reshape(-1) for _, v in views]).astype(np.uint8) if views \
        else np.zeros(0, np.uint8)
    votes = [(j, k, c) for j, i in enumerate(insts) for k, c in i.oracle_votes.items()]
    a["oracle_votes"] = np.array(votes, np.int64).reshape(-1, 3)
    occ = smap.occupancy
    a["occ_logodds"] = occ.logodds
    a["occ_observed"] = occ.observed
    a["occ_blocked"] = occ.blocked
    a["occ_origin"] = np.array([occ.x0, occ.z0], np.float64)
    a["structure_keys"] = smap.structure.keys.astype(np.int64)
    a["trajectory"] = np.array(smap.trajectory, np.float64).reshape(-1, 4)
    return a


def save(smap, directory) -> Path:
    """Write `smap` to `directory` (created if needed); returns the path of map.json."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = _pack(smap)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    npz_name = f"map-{digest[:16]}.npz"
    npz_path = directory / npz_name
    if not (npz_path.exists() and npz_path.stat().st_size == len(data) and _sha256(npz_path) == digest):
        atomic_write(npz_path, data)
    imap = smap.instance_map
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "saved_at": time.time(),
        "arrays": {"file": npz_name, "bytes": len(data), "sha256": digest},
        "config": dataclasses.asdict(smap.config),
        "encoder": encoder_identity(smap.encoder),
        "categories": list(smap.categories),
        "room_types": list(smap.room_types),
        "frames": int(smap.frames),
        "instance_map": {"next_id": int(imap.next_id), "frame": int(imap.frame), "merges": int(imap.merges),
                         "removed": int(imap.removed)},
        "occupancy": {"resolution": float(smap.occupancy.resolution), "shape": list(smap.occupancy.shape)},
        "instances": len(imap),
        "int_fields": list(_INT_FIELDS),
        "float_fields": list(_FLOAT_FIELDS),
    }
    fsync_dir(directory)
    atomic_write(directory / META_NAME, json.dumps(meta, indent=1).encode())
    fsync_dir(directory)
    for old in directory.glob("map-*.npz"):
        if old.name != npz_name:
            try:
                old.unlink()
            except OSError:
                pass
    return directory / META_NAME


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _dataclass_from(cls, data: Dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object")
    kwargs = {}
    names = {f.name: f for f in dataclasses.fields(cls)}
    for k, v in data.items():
        if k not in names:
            continue  # a field of a newer/older version: ignore
        default = names[k].default_factory() if names[k].default_factory is not dataclasses.MISSING else names[k].default
        if dataclasses.is_dataclass(default) and isinstance(v, dict):
            v = _dataclass_from(type(default), v, f"{where}.{k}")
        kwargs[k] = v
    return cls(**kwargs)


def read_meta(directory) -> Dict[str, Any]:
    return read_versioned_json(Path(directory) / META_NAME, FORMAT, VERSION, "semantic map")


def load(directory, encoder=None, config=None, check_encoder: bool = True):
    """Rebuild the SemanticMap saved in `directory` (with `encoder` for new observations)."""
    from navstack.mapping.semantic_map import MappingConfig, SemanticMap

    directory = Path(directory)
    meta = read_meta(directory)
    try:
        info = meta["arrays"]
        npz_path = directory / str(info["file"])
        want_size, want_sha = int(info["bytes"]), str(info["sha256"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{directory / META_NAME}: missing or malformed 'arrays' entry ({e})") from None
    if "/" in str(info["file"]) or "\\" in str(info["file"]):
        raise ValueError(f"{directory / META_NAME}: array file name {info['file']!r} is not a plain name")
    if not npz_path.is_file():
        raise FileNotFoundError(f"{npz_path}: the map's array file is missing")
    size = npz_path.stat().st_size
    if size != want_size:
        raise ValueError(f"{npz_path}: {size} bytes but the map says {want_size} (truncated or corrupt)")
    if _sha256(npz_path) != want_sha:
        raise ValueError(f"{npz_path}: checksum mismatch (the file is corrupt or was changed)")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
    except Exception as e:  # zip / npy damage surfaces as many exception types
        raise ValueError(f"{npz_path}: cannot read arrays ({type(e).__name__}: {e})") from None

    if config is None:
        try:
            config = _dataclass_from(MappingConfig, meta.get("config", {}), "config")
        except (TypeError, ValueError) as e:
            raise ValueError(f"{directory / META_NAME}: bad config ({e})") from None
    stored = meta.get("encoder", {}) or {}
    if check_encoder and encoder is not None and stored:
        now = encoder_identity(encoder)
        if stored.get("dim") and now.get("dim") and stored["dim"] != now["dim"]:
            raise ValueError(f"{directory}: the map holds {stored['dim']}-d features but the encoder makes "
                             f"{now['dim']}-d ones (a different CLIP model)")
        for k in ("model_name", "weights", "pretrained"):
            if stored.get(k) and now.get(k) and stored[k] != now[k]:
                raise ValueError(f"{directory}: the map was built with encoder {k}={stored[k]!r}, not {now[k]!r}; "
                                 f"its features are not comparable (pass check_encoder=False to load anyway)")
    smap = SemanticMap(encoder, config)
    try:
        _unpack(smap, a, meta)
    except (KeyError, ValueError, IndexError, TypeError) as e:
        raise ValueError(f"{npz_path}: inconsistent map arrays ({type(e).__name__}: {e})") from None
    return smap


def _unpack(smap, a: Dict[str, np.ndarray], meta: Dict[str, Any]) -> None:
    imap = smap.instance_map
    ids = a["inst_id"]
    n = len(ids)
    off = a["key_offsets"]
    if len(off) != n + 1 or off[-1] != len(a["keys"]) or np.any(np.diff(off) < 0):
        raise ValueError("key offsets do not match the keys")
    int_fields = meta.get("int_fields", list(_INT_FIELDS))
    float_fields = meta.get("float_fields", list(_FLOAT_FIELDS))
    for arr, cols in ((a["inst_int"], int_fields), (a["inst_float"], float_fields)):
        if arr.shape != (n, len(cols)):
            raise ValueError(f"per-instance table has shape {arr.shape}, expected {(n, len(cols))}")
    for name in ("feature", "category", "room"):
        if len(a[f"{name}_sum"]) != n or len(a[f"has_{name}"]) != n:
            raise ValueError(f"{name} table does not have {n} rows")
    insts = []
    for j in range(n):
        keys = a["keys"][off[j]: off[j + 1]].astype(np.int64)
        if np.any(np.diff(keys) <= 0):
            keys = np.unique(keys)
        bb = a["inst_bbox"][j]
        inst = Instance(int(ids[j]), keys, 0.05, bb[:3].astype(np.float64), bb[3:].astype(np.float64))
        for f, v in zip(int_fields, a["inst_int"][j]):
            if f in _INT_FIELDS:
                setattr(inst, f, int(v))
        for f, v in zip(float_fields, a["inst_float"][j]):
            if f in _FLOAT_FIELDS:
                setattr(inst, f, float(v))
        if inst.voxel <= 0 or not np.isfinite(inst.voxel):
            raise ValueError(f"instance {inst.id}: bad voxel size {inst.voxel}")
        for name in ("feature", "category", "room"):
            if a[f"has_{name}"][j]:
                setattr(inst, f"{name}_sum", a[f"{name}_sum"][j].astype(np.float32).copy())
        inst.seen_from_sum = a["inst_seen_from"][j].astype(np.float64).copy()
        p = a["inst_last_embed_pos"][j]
        inst.last_embed_position = None if np.isnan(p).any() else p.astype(np.float64).copy()
        insts.append(inst)
    shapes = a["view_shape"]
    sizes = np.prod(shapes, axis=1) if len(shapes) else np.zeros(0, np.int64)
    voff = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    if voff[-1] != len(a["view_pixels"]):
        raise ValueError("view pixels do not add up")
    for k, j in enumerate(a["view_inst"]):
        q, stamp, yaw, x, y, zz = a["view_float"][k]
        fr, x0, y0, x1, y1 = (int(v) for v in a["view_int"][k])
        crop = a["view_pixels"][voff[k]: voff[k + 1]].reshape(tuple(int(s) for s in shapes[k])).copy()
        insts[int(j)].views.append(View(crop, np.array([x, y, zz]), float(yaw), float(q), float(stamp), fr,
                                        (x0, y0, x1, y1)))
    for j, oid, c in a["oracle_votes"]:
        insts[int(j)].oracle_votes[int(oid)] = int(c)
    imap.instances = {i.id: i for i in insts}
    imap.set_shape_prior(imap.shape_prior)  # the shape weights are derived, not saved
    im = meta.get("instance_map", {})
    imap.next_id = max(int(im.get("next_id", 1)), (max(imap.instances) + 1) if imap.instances else 1)
    imap.frame = int(im.get("frame", 0))
    imap.merges = int(im.get("merges", 0))
    imap.removed = int(im.get("removed", 0))
    occ = smap.occupancy
    lo = a["occ_logodds"].astype(np.float32)
    ob = a["occ_observed"].astype(bool)
    if lo.shape != ob.shape or lo.ndim != 2:
        raise ValueError("occupancy arrays disagree")
    # collision cells (absent from maps saved before they existed: none)
    bl = a["occ_blocked"].astype(bool) if "occ_blocked" in a else np.zeros(lo.shape, bool)
    if bl.shape != lo.shape:
        raise ValueError("occupancy arrays disagree")
    occ.logodds, occ.observed, occ.blocked = lo.copy(), ob.copy(), bl.copy()
    occ.x0, occ.z0 = (float(v) for v in a["occ_origin"])
    occ._cache.clear()
    smap.structure.keys = np.unique(a["structure_keys"].astype(np.int64))
    smap.trajectory = [tuple(float(v) for v in row) for row in a["trajectory"]]
    smap.frames = int(meta.get("frames", len(smap.trajectory)))
