"""Sweet Home 3D furniture models as :class:`~navstack.sim.mesh.TexturedMesh` (plus the catalogue API).

Everything in :mod:`navstack.sim.catalog` is re-exported here, so callers need only this module::

    from navstack.sim import furniture
    cat = furniture.load_catalog()                      # mapped entries, ~5 ms once cached
    chairs = furniture.entries_by_category(cat)["chair"]
    mesh = furniture.load_model(chairs[0])              # metres, fitted to the catalogue box

Frame of a loaded model (Habitat-compatible, y up): the model is fitted like Sweet Home 3D does it
(``modelRotation`` first, then each axis scaled so the bounding box is the catalogue box) and placed
with x in [-width/2, width/2], y in [0, height], z in [-depth/2, depth/2]. **The front of the
furniture faces +z** (Sweet Home 3D's convention: the front looks at the viewer of the plan, i.e.
towards +y of the plan = +z in 3D): a chair's backrest is at -z and its seat opens towards +z, a TV's
screen faces +z, a wardrobe's doors face +z. Checked by rendering chairs, sofas, TVs and a wardrobe
from +z and from the side (see ``python -m navstack.sim.furniture --views DIR``). To put a piece
against a wall, rotate it about y so that +z points into the room.

Materials: colour = diffuse * texture / 255 (see mesh.py). Textured materials get diffuse (1, 1, 1),
as Sweet Home 3D shows the texture alone; textures are downscaled to at most 128x128 (aspect kept)
and any alpha channel is flattened onto the mean opaque colour; a texture
whose faces have no texture coordinates is replaced by its mean colour. A material whose MTL ``d`` (or
1 - ``Tr``) is below 1 is kept opaque and gets ``(alpha=0.30)`` appended to its name (glass, see
:func:`material_alpha`). ``map_d`` alpha masks and everything but ``Kd``/``map_Kd``/``d``/``Tr`` are
ignored. UVs keep the OBJ convention: (0, 0) is the *bottom-left* of the texture image, v grows
upwards, so image row = (1 - v) * H; they are not wrapped into [0, 1] (repeat wrapping).

Converted meshes are cached as compressed ``.npz`` under ``$NAVSTACK_CACHE/models`` (default
``~/.cache/navstack/models``; ~30 MB for all mapped models, 1-15 ms to read one), keyed by the entry
(id, model, box, rotation), the pack file's size and mtime and :data:`LOADER_VERSION`; they are read
back with ``np.load(allow_pickle=False)``. Converting all mapped models takes ~5-10 s.

Command line::

    python -m navstack.sim.furniture --list                      # categories and models
    python -m navstack.sim.furniture --attribution assets/furniture_attribution.csv
    python -m navstack.sim.furniture --convert-all              # load (and cache) every mapped model
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import re
import secrets
import sys
import time
import warnings
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from navstack.sim.catalog import *  # noqa: F401,F403  (re-export the catalogue API)
from navstack.sim.catalog import (
    CATEGORIES,
    CatalogEntry,
    _resolve_root,
    _strip_map_options,
    cache_dir,
    entries_by_category,
    load_catalog,
    resolve_in_folder,
    write_attribution_csv,
)
from navstack.sim.mesh import Material, TexturedMesh

#: Bump when the conversion changes, to invalidate cached .npz meshes.
LOADER_VERSION = 2
#: Largest texture side after downscaling.
MAX_TEXTURE_SIZE = 128
#: Diffuse colour of faces without a material (and of materials missing from the MTL).
DEFAULT_DIFFUSE = (0.8, 0.8, 0.8)

_ALPHA_RE = re.compile(r"\(alpha=([0-9.]+)\)$")


def material_alpha(material: Material) -> float:
    """Opacity noted in a material's name by the loader (1.0 for opaque materials)."""
    m = _ALPHA_RE.search(material.name or "")
    return float(m.group(1)) if m else 1.0


# ----------------------------------------------------------------------------------------------
# MTL
# ----------------------------------------------------------------------------------------------


class _MtlMaterial:
    __slots__ = ("name", "kd", "texture_file", "alpha")

    def __init__(self, name: str):
        self.name = name
        self.kd: Optional[Tuple[float, float, float]] = None
        self.texture_file: Optional[str] = None
        self.alpha: Optional[float] = None


def parse_mtl(text: str, source: str = "<mtl>") -> Dict[str, _MtlMaterial]:
    """Materials of an MTL file: name -> (Kd, map_Kd file name, alpha). Lenient: bad lines are skipped."""
    mats: Dict[str, _MtlMaterial] = {}
    cur: Optional[_MtlMaterial] = None
    tr_alpha: Optional[float] = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        parts = line.split(None, 1)
        key, rest = parts[0], (parts[1].strip() if len(parts) > 1 else "")
        if key == "newmtl":
            if cur is not None and cur.alpha is None and tr_alpha is not None:
                cur.alpha = tr_alpha
            cur = _MtlMaterial(rest)
            mats[rest] = cur
            tr_alpha = None
        elif cur is None:
            continue
        elif key == "Kd":
            try:
                vals = [float(x) for x in rest.split()[:3]]
            except ValueError:
                continue
            if len(vals) == 1:
                vals = vals * 3
            if len(vals) == 3:
                cur.kd = tuple(min(1.0, max(0.0, v)) for v in vals)  # type: ignore[assignment]
        elif key == "map_Kd":
            name = _strip_map_options(rest)
            if name:
                cur.texture_file = name
        elif key == "d":
            try:
                cur.alpha = min(1.0, max(0.0, float(rest.split()[-1])))
            except (ValueError, IndexError):
                pass
        elif key == "Tr":
            try:
                tr_alpha = 1.0 - min(1.0, max(0.0, float(rest.split()[-1])))
            except (ValueError, IndexError):
                pass
    if cur is not None and cur.alpha is None and tr_alpha is not None:
        cur.alpha = tr_alpha
    return mats


def _load_texture(data: bytes, max_size: int = MAX_TEXTURE_SIZE) -> np.ndarray:
    """(H, W, 3) uint8, at most max_size on its longer side, alpha flattened onto the mean opaque colour."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (max_size, max_size))  # JPEG: decode at reduced scale (fast)
        has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
        im = im.convert("RGBA" if has_alpha else "RGB")
        w, h = im.size
        scale = min(1.0, max_size / max(w, h))
        if scale < 1.0:
            im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BOX)
        arr = np.asarray(im)
    if arr.shape[-1] == 4:
        a = arr[..., 3:4].astype(np.float32) / 255.0
        rgb = arr[..., :3].astype(np.float32)
        opaque = a[..., 0] > 0.5
        bg = rgb[opaque].mean(0) if opaque.any() else rgb.reshape(-1, 3).mean(0)
        arr = np.clip(rgb * a + bg * (1.0 - a), 0, 255).round().astype(np.uint8)
    return np.ascontiguousarray(arr[..., :3], dtype=np.uint8)


# ----------------------------------------------------------------------------------------------
# OBJ
# ----------------------------------------------------------------------------------------------


class ObjData:
    """Raw OBJ geometry: positions, texture coordinates and fan-triangulated corner indices."""

    __slots__ = ("vertices", "texcoords", "tri_v", "tri_vt", "tri_material", "material_names", "mtllibs")

    def __init__(self, vertices, texcoords, tri_v, tri_vt, tri_material, material_names, mtllibs):
        self.vertices = vertices  # (V, 3) float64
        self.texcoords = texcoords  # (VT, 2) float64
        self.tri_v = tri_v  # (T, 3) int64 into vertices
        self.tri_vt = tri_vt  # (T, 3) int64 into texcoords, -1 where the corner has none
        self.tri_material = tri_material  # (T,) int64 into material_names (-1: no usemtl yet)
        self.material_names = material_names  # list[str] in order of first use
        self.mtllibs = mtllibs  # list[str] of the mtllib arguments


def _fromstring(text: str, dtype, expected: int, source: str, what: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            arr = np.fromstring(text, dtype=dtype, sep=" ")  # C-speed; stops at (or raises on) a bad token
        except ValueError:
            arr = np.zeros(0)
    if arr.size != expected:
        raise ValueError(f"{source}: malformed {what} (expected {expected} numbers, parsed {arr.size})")
    return arr


def _parse_vectors(lines: List[str], skip: int, k: int, source: str, what: str) -> np.ndarray:
    """(N, k) floats from lines like 'v x y z' (extra components ignored)."""
    if not lines:
        return np.zeros((0, k))
    joined = " ".join(ln[skip:] for ln in lines)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            arr = np.fromstring(joined, dtype=np.float64, sep=" ")
        except ValueError:
            arr = np.zeros(0)  # a bad token: the slow path below names the line
    n = len(lines)
    m = len(lines[0][skip:].split())  # components per line, if every line has the same number
    if m >= k and arr.size == n * m and len(lines[-1][skip:].split()) == m:
        return arr.reshape(n, m)[:, :k]
    out = np.zeros((len(lines), k))  # rows with other lengths (w, vertex colours, 3-d texcoords)
    for i, ln in enumerate(lines):
        parts = ln[skip:].split()
        try:
            vals = [float(x) for x in parts[:k]]
        except ValueError:
            raise ValueError(f"{source}: malformed {what} line {ln.strip()[:80]!r}") from None
        if len(vals) < (k if what == "vertex" else 1):
            raise ValueError(f"{source}: malformed {what} line {ln.strip()[:80]!r}")
        out[i, : len(vals)] = vals
    return out


def _parse_face_block(face_lines: List[str], source: str):
    """Per face corner counts and per corner (v, vt) OBJ indices (vt 0 = none), vectorized."""
    block = "\n".join(face_lines)  # each line is the text after the leading 'f'
    b = np.frombuffer(block.encode("latin-1", "replace"), dtype=np.uint8)
    if b.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    sep = (b == 32) | (b == 9) | (b == 10) | (b == 13)
    start = ~sep
    start[1:] &= sep[:-1]
    line_id = np.cumsum(b == 10)
    counts = np.bincount(line_id[start], minlength=len(face_lines)).astype(np.int64)
    ntok = int(start.sum())
    tok_id = np.cumsum(start) - 1
    slash = b == 47
    per_tok_slash = np.bincount(tok_id[slash], minlength=ntok)
    dbl = np.zeros_like(slash)
    dbl[:-1] = slash[:-1] & slash[1:]
    per_tok_dbl = np.bincount(tok_id[dbl], minlength=ntok)
    ns = set(np.unique(per_tok_slash).tolist())
    nd = set(np.unique(per_tok_dbl).tolist())
    if len(ns) == 1 and len(nd) == 1:
        s, d = ns.pop(), nd.pop()
        if s == 0:
            v = _fromstring(block, np.int64, ntok, source, "faces")
            return counts, v, np.zeros_like(v)
        if s == 1 and d == 0:  # v/vt
            vals = _fromstring(block.replace("/", " "), np.int64, 2 * ntok, source, "faces").reshape(-1, 2)
            return counts, vals[:, 0], vals[:, 1]
        if s == 2 and d == 0:  # v/vt/vn
            vals = _fromstring(block.replace("/", " "), np.int64, 3 * ntok, source, "faces").reshape(-1, 3)
            return counts, vals[:, 0], vals[:, 1]
        if s == 2 and d == 1:  # v//vn
            vals = _fromstring(block.replace("//", " "), np.int64, 2 * ntok, source, "faces").reshape(-1, 2)
            return counts, vals[:, 0], np.zeros(ntok, np.int64)
    # mixed corner formats: slow path
    v_list, vt_list = [], []
    for tok in block.split():
        parts = tok.split("/")
        try:
            v_list.append(int(parts[0]))
            vt_list.append(int(parts[1]) if len(parts) > 1 and parts[1] else 0)
        except ValueError:
            raise ValueError(f"{source}: malformed face corner {tok[:40]!r}") from None
    return counts, np.asarray(v_list, np.int64), np.asarray(vt_list, np.int64)


def parse_obj(text: str, source: str = "<obj>") -> ObjData:
    """Parse OBJ text (v, vt, f, usemtl, mtllib; the rest is ignored). ValueError naming ``source`` if malformed.

    Faces with more than three corners are fan-triangulated; negative (relative) indices are resolved;
    corners without ``vt`` get texcoord index -1.
    """
    v_lines: List[str] = []
    vt_lines: List[str] = []
    f_lines: List[str] = []
    f_nv: List[int] = []  # vertices / texcoords defined before each face (for negative indices)
    f_nvt: List[int] = []
    mat_runs: List[Tuple[int, int]] = []  # (first face, material index)
    mat_index: Dict[str, int] = {}
    mtllibs: List[str] = []
    n_unknown = 0
    for ln in text.splitlines():
        if not ln:
            continue
        c = ln[0]
        if c == " " or c == "\t":
            ln = ln.lstrip()
            if not ln:
                continue
            c = ln[0]
        if c == "v":
            c2 = ln[1:2]
            if c2 == " " or c2 == "\t":
                v_lines.append(ln)
            elif c2 == "t":
                vt_lines.append(ln)
            elif c2 == "n" or c2 == "p":
                pass
            else:
                n_unknown += 1
        elif c == "f":
            if ln[1:2] not in (" ", "\t"):
                n_unknown += 1
                continue
            f_lines.append(ln[1:])
            f_nv.append(len(v_lines))
            f_nvt.append(len(vt_lines))
        elif c == "#" or c == "s" or c == "g" or c == "o" or c == "l" or c == "p":
            continue
        elif ln.startswith("usemtl"):
            name = ln[6:].strip()
            mid = mat_index.setdefault(name, len(mat_index))
            mat_runs.append((len(f_lines), mid))
        elif ln.startswith("mtllib"):
            mtllibs.append(ln[6:].strip())
        else:
            n_unknown += 1
    if not v_lines or not f_lines:
        raise ValueError(f"{source}: not an OBJ mesh ({len(v_lines)} vertices, {len(f_lines)} faces)")
    if n_unknown > max(10, 0.01 * (len(v_lines) + len(f_lines))):
        raise ValueError(f"{source}: not an OBJ file ({n_unknown} unrecognised lines)")

    vertices = _parse_vectors(v_lines, 2, 3, source, "vertex")
    texcoords = _parse_vectors(vt_lines, 3, 2, source, "texture coordinate")
    if not np.isfinite(vertices).all():
        raise ValueError(f"{source}: non-finite vertex coordinates")

    counts, cv, cvt = _parse_face_block(f_lines, source)
    nfaces = len(f_lines)
    if counts.sum() != cv.size:
        raise ValueError(f"{source}: malformed faces")
    if np.any(cv == 0):
        raise ValueError(f"{source}: face with vertex index 0 (OBJ indices start at 1)")
    if (cv < 0).any() or (cvt < 0).any():
        nv_c = np.repeat(np.asarray(f_nv, np.int64), counts)
        nvt_c = np.repeat(np.asarray(f_nvt, np.int64), counts)
        cv = np.where(cv < 0, nv_c + cv + 1, cv)
        cvt = np.where(cvt < 0, nvt_c + cvt + 1, cvt)
    cv = cv - 1  # 0-based
    cvt = cvt - 1  # -1: none
    if cv.size and (cv.min() < 0 or cv.max() >= len(vertices)):
        raise ValueError(f"{source}: face vertex index out of range (have {len(vertices)} vertices)")
    if len(texcoords) == 0:
        cvt[:] = -1
    elif cvt.size and (cvt.min() < -1 or cvt.max() >= len(texcoords)):
        raise ValueError(f"{source}: face texture index out of range (have {len(texcoords)} texcoords)")

    # material per face from the usemtl runs
    face_mat = np.full(nfaces, -1, np.int64)
    for i, (first, mid) in enumerate(mat_runs):
        last = mat_runs[i + 1][0] if i + 1 < len(mat_runs) else nfaces
        face_mat[first:last] = mid

    # fan triangulation: face with c corners -> c - 2 triangles (0, k, k + 1)
    ntri = np.maximum(counts - 2, 0)
    starts = np.cumsum(counts) - counts
    face_of_tri = np.repeat(np.arange(nfaces), ntri)
    k = np.arange(face_of_tri.size) - np.repeat(np.cumsum(ntri) - ntri, ntri) + 1
    base = starts[face_of_tri]
    corner = np.stack([base, base + k, base + k + 1], axis=1)
    names = [None] * len(mat_index)
    for name, i in mat_index.items():
        names[i] = name
    return ObjData(vertices, texcoords, cv[corner], cvt[corner], face_mat[face_of_tri], names, mtllibs)


def read_obj(path) -> ObjData:
    """Parse an OBJ file on disk (see :func:`parse_obj`); ValueError naming the file if it is malformed."""
    path = pathlib.Path(path)
    return parse_obj(path.read_bytes().decode("latin-1"), str(path))


# ----------------------------------------------------------------------------------------------
# model loading
# ----------------------------------------------------------------------------------------------


def _model_folder(model: str) -> str:
    path = model.lstrip("/")
    return path.rsplit("/", 1)[0] + "/" if "/" in path else ""


def _read_mtls(zf: zipfile.ZipFile, names: set, folder: str, mtllibs: Sequence[str], source: str):
    """Materials from the OBJ's mtllib files (each argument tried whole, then split on spaces)."""
    mats: Dict[str, _MtlMaterial] = {}
    tried = set()
    candidates: List[str] = []
    for arg in mtllibs:
        candidates.append(arg)
        candidates.extend(arg.split())
    if not candidates:  # no mtllib: Sweet Home 3D would find none either; use a lone .mtl next to it
        candidates = [n[len(folder):] for n in names if n.startswith(folder) and n.lower().endswith(".mtl")]
    for cand in candidates:
        member = resolve_in_folder(names, folder, cand)
        if member is None or member in tried:
            continue
        tried.add(member)
        for k, v in parse_mtl(zf.read(member).decode("latin-1"), member).items():
            mats.setdefault(k, v)
    return mats


def _build_materials(zf, names, folder, obj: ObjData, mtl: Dict[str, _MtlMaterial], warn: List[str]):
    """Material list aligned with obj.material_names (+ a default one for faces without usemtl)."""
    textures: Dict[str, Optional[np.ndarray]] = {}
    out: List[Material] = []
    textured_flags: List[bool] = []
    for name in obj.material_names + [None]:
        m = mtl.get(name) if name is not None else None
        if m is None:
            if name is not None:
                warn.append(f"material {name!r} not in the MTL")
            out.append(Material(np.array(DEFAULT_DIFFUSE), None, name or "default"))
            textured_flags.append(False)
            continue
        tex = None
        if m.texture_file:
            member = resolve_in_folder(names, folder, m.texture_file)
            if member is None:
                warn.append(f"texture {m.texture_file!r} missing: using Kd")
            else:
                if member not in textures:
                    try:
                        textures[member] = _load_texture(zf.read(member))
                    except Exception as exc:  # corrupt image: fall back to Kd
                        warn.append(f"texture {member!r} unreadable ({exc}): using Kd")
                        textures[member] = None
                tex = textures[member]
        if tex is not None:
            diffuse = np.ones(3)
        else:
            diffuse = np.array(m.kd if m.kd is not None else DEFAULT_DIFFUSE, dtype=np.float64)
        label = m.name
        if m.alpha is not None and m.alpha < 1.0:
            label = f"{label} (alpha={m.alpha:.2f})"
        out.append(Material(diffuse, tex, label))
        textured_flags.append(tex is not None)
    return out, textured_flags


def fit_to_box(vertices: np.ndarray, size_xyz, rotation: Optional[Sequence[float]] = None):
    """Sweet Home 3D fitting: v' = R @ v, then per-axis scale so the bounds are x in [-w/2, w/2],
    y in [0, h], z in [-d/2, d/2] with size_xyz = (w, h, d). Returns (vertices, det(R) < 0)."""
    v = np.asarray(vertices, dtype=np.float64)
    mirrored = False
    if rotation is not None:
        r = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
        v = v @ r.T
        mirrored = bool(np.linalg.det(r) < 0)
    lo, hi = v.min(0), v.max(0)
    extent = hi - lo
    size = np.asarray(size_xyz, dtype=np.float64)
    scale = np.where(extent > 1e-12, size / np.where(extent > 1e-12, extent, 1.0), 1.0)
    center = (lo + hi) / 2
    out = (v - center) * scale
    out[:, 1] += size[1] / 2
    return out, mirrored


def _zip_path(entry: CatalogEntry, root: pathlib.Path) -> pathlib.Path:
    return root / f"{entry.pack}.sh3f"


def convert_model(entry: CatalogEntry, root=None, warnings_out: Optional[List[str]] = None) -> TexturedMesh:
    """Read and convert one model from its pack (no cache). ValueError naming the model if it is broken."""
    root = _resolve_root(root)
    path = _zip_path(entry, root)
    member = entry.model.lstrip("/")
    source = f"{path.name}:{member}"
    warn = warnings_out if warnings_out is not None else []
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if member not in names:
            raise ValueError(f"{source}: model file missing from the pack")
        obj = parse_obj(zf.read(member).decode("latin-1"), source)
        folder = _model_folder(entry.model)
        mtl = _read_mtls(zf, names, folder, obj.mtllibs, source)
        materials, textured = _build_materials(zf, names, folder, obj, mtl, warn)

    tri_mat = np.where(obj.tri_material < 0, len(materials) - 1, obj.tri_material)
    # drop triangles that repeat a vertex (zero area; some exporters leave many)
    tv = obj.tri_v
    keep = (tv[:, 0] != tv[:, 1]) & (tv[:, 1] != tv[:, 2]) & (tv[:, 0] != tv[:, 2])
    if not keep.all():
        obj.tri_v, obj.tri_vt, tri_mat = tv[keep], obj.tri_vt[keep], tri_mat[keep]
    if len(obj.tri_v) == 0:
        raise ValueError(f"{source}: no triangles")
    # drop the default material if unused, and any other unused materials
    used = np.unique(tri_mat)
    remap = np.full(len(materials), -1, np.int64)
    remap[used] = np.arange(len(used))
    tri_mat = remap[tri_mat]
    materials = [materials[i] for i in used]
    textured = [textured[i] for i in used]
    # compact to used vertices
    used_v, inv = np.unique(obj.tri_v.reshape(-1), return_inverse=True)
    tris = inv.reshape(-1, 3)
    verts, mirrored = fit_to_box(obj.vertices[used_v], entry.size, entry.model_rotation)
    if mirrored:
        tris = tris[:, ::-1]

    uvs = np.zeros(tris.shape + (2,), np.float32)
    tvt = obj.tri_vt[:, ::-1] if mirrored else obj.tri_vt
    if len(obj.texcoords):
        has = (tvt >= 0) & np.asarray(textured, bool)[tri_mat][:, None]
        uvs[has] = obj.texcoords[tvt[has]]
    # a texture on faces without any texture coordinates would show one texel: use its mean colour
    for i, m in enumerate(materials):
        if m.texture is not None and not (tvt[tri_mat == i] >= 0).any():
            materials[i] = Material(m.texture.reshape(-1, 3).mean(0) / 255.0, None, m.name)
    if not np.isfinite(verts).all():
        raise ValueError(f"{source}: non-finite vertices after fitting")
    return TexturedMesh(verts, tris, uvs, tri_mat, materials)


# ---- cache ------------------------------------------------------------------------------------


def _model_cache_path(entry: CatalogEntry, root: pathlib.Path) -> pathlib.Path:
    st = _zip_path(entry, root).stat()
    key = "|".join(
        str(x)
        for x in (LOADER_VERSION, MAX_TEXTURE_SIZE, entry.id, entry.model, entry.width, entry.height,
                  entry.depth, entry.model_rotation, st.st_size, st.st_mtime_ns)
    )
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", entry.id).strip("_")[:60]
    return cache_dir() / "models" / f"{stem}-{digest}.npz"


def save_mesh_npz(path, mesh: TexturedMesh) -> None:
    """Write a TexturedMesh to .npz (no pickles; textures shared between materials stored once)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tex_ids: Dict[int, int] = {}
    arrays = {}
    tex_index = []
    for m in mesh.materials:
        if m.texture is None:
            tex_index.append(-1)
            continue
        key = id(m.texture)
        if key not in tex_ids:
            tex_ids[key] = len(tex_ids)
            arrays[f"texture_{tex_ids[key]}"] = np.ascontiguousarray(m.texture, dtype=np.uint8)
        tex_index.append(tex_ids[key])
    arrays.update(
        vertices=mesh.vertices,
        triangles=mesh.triangles,
        triangle_uvs=mesh.triangle_uvs,
        triangle_material=mesh.triangle_material,
        diffuse=np.array([m.diffuse for m in mesh.materials], dtype=np.float64).reshape(-1, 3),
        material_names=np.array([m.name for m in mesh.materials], dtype=np.str_),
        texture_index=np.array(tex_index, dtype=np.int32),
    )
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp.npz")  # atomic replace below
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load_mesh_npz(path) -> TexturedMesh:
    """Read a mesh written by :func:`save_mesh_npz` (``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as z:
        tex_index = z["texture_index"]
        textures = {int(i): z[f"texture_{int(i)}"] for i in np.unique(tex_index) if i >= 0}
        diffuse = z["diffuse"]
        names = z["material_names"]
        mats = [
            Material(diffuse[i].copy(), textures.get(int(tex_index[i])), str(names[i]))
            for i in range(len(tex_index))
        ]
        return TexturedMesh(z["vertices"], z["triangles"], z["triangle_uvs"], z["triangle_material"], mats)


def load_model(entry: CatalogEntry, root=None, use_cache: bool = True) -> TexturedMesh:
    """The entry's model fitted to its catalogue box, front towards +z (cached as .npz).

    x in [-width/2, width/2], y in [0, height], z in [-depth/2, depth/2], metres. Add ``entry.elevation``
    to y when placing it (Sweet Home 3D's default height above the floor, e.g. a wall TV).
    """
    root = _resolve_root(root)
    path = _model_cache_path(entry, root) if use_cache else None
    if path is not None and path.is_file():
        try:
            return load_mesh_npz(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # damaged cache file: convert again
    mesh = convert_model(entry, root)
    if path is not None:
        try:
            save_mesh_npz(path, mesh)
        except OSError:
            pass
    return mesh


# ----------------------------------------------------------------------------------------------
# preview (debugging aid: checks the front direction and the UV convention; imports open3d lazily)
# ----------------------------------------------------------------------------------------------

#: view name -> (direction from the object to the camera, image-up vector)
PREVIEW_VIEWS = {
    "front": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),  # from +z: the furniture's front
    "side": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),  # from +x: front (+z) is on the image's left
    "top": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),  # from above: front (+z) at the bottom
    "three_quarter": ((0.6, 0.5, 1.0), (0.0, 1.0, 0.0)),
}


def preview_image(mesh: TexturedMesh, view: str = "front", size: int = 256) -> np.ndarray:
    """(size, size, 3) uint8 orthographic render (texture * diffuse, headlight shading, white background)."""
    import open3d as o3d

    direction, up = (np.asarray(x, np.float64) for x in PREVIEW_VIEWS[view])
    d = direction / np.linalg.norm(direction)
    right = np.cross(-d, up)
    right /= np.linalg.norm(right)
    up = np.cross(right, -d)
    lo, hi = mesh.bounds()
    center = (lo + hi) / 2
    radius = float(np.linalg.norm(hi - lo)) / 2 + 1e-6
    s = (np.arange(size) + 0.5) / size * 2 - 1
    gx, gy = np.meshgrid(s, -s)
    origins = center + d * 3 * radius + (gx[..., None] * right + gy[..., None] * up) * radius
    rays = np.concatenate([origins, np.broadcast_to(-d, origins.shape)], -1).astype(np.float32)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh.vertices), o3d.core.Tensor(mesh.triangles.astype(np.uint32)))
    ans = scene.cast_rays(o3d.core.Tensor(rays))
    hit = np.isfinite(ans["t_hit"].numpy())
    prim = ans["primitive_ids"].numpy().astype(np.int64)
    bary = ans["primitive_uvs"].numpy()
    normal = ans["primitive_normals"].numpy()
    img = np.full((size, size, 3), 255.0)
    tri = prim[hit]
    b = bary[hit]
    w = np.stack([1 - b[:, 0] - b[:, 1], b[:, 0], b[:, 1]], -1)
    uv = (mesh.triangle_uvs[tri] * w[..., None]).sum(1)
    mat = mesh.triangle_material[tri]
    col = np.zeros((len(tri), 3))
    for mi, m in enumerate(mesh.materials):
        sel = mat == mi
        if not sel.any():
            continue
        c = np.broadcast_to(np.asarray(m.diffuse, np.float64), (int(sel.sum()), 3)).copy()
        if m.texture is not None:
            th, tw = m.texture.shape[:2]
            u = np.mod(uv[sel, 0], 1.0)
            v = np.mod(uv[sel, 1], 1.0)
            rows = np.clip(((1 - v) * th).astype(int), 0, th - 1)  # OBJ convention: v = 0 at the bottom
            cols = np.clip((u * tw).astype(int), 0, tw - 1)
            c = c * m.texture[rows, cols] / 255.0
        col[sel] = c
    shade = 0.35 + 0.65 * np.abs(normal[hit] @ d)
    img[hit] = np.clip(col * shade[:, None] * 255, 0, 255)
    return img.astype(np.uint8)


def save_previews(entries: Sequence[CatalogEntry], out_dir, root=None, size: int = 192) -> List[pathlib.Path]:
    """One PNG per entry with its front, side, top and three-quarter views side by side."""
    from PIL import Image

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for e in entries:
        mesh = load_model(e, root)
        row = np.concatenate([preview_image(mesh, v, size) for v in PREVIEW_VIEWS], axis=1)
        p = out_dir / (re.sub(r"[^A-Za-z0-9_.-]+", "_", e.id) + ".png")
        Image.fromarray(row).save(p)
        paths.append(p)
    return paths


# ----------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------


def _summary(cat: List[CatalogEntry]) -> str:
    lines = []
    for c, es in entries_by_category(cat).items():
        lines.append(
            f"{c:14s} {len(es):3d} models  {sum(e.textured for e in es):3d} textured  "
            f"{sum(e.holdout for e in es):2d} held out"
        )
    lines.append(f"{'total':14s} {len(cat):3d} models in {len(entries_by_category(cat))} categories")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m navstack.sim.furniture", description=__doc__.split("\n")[0])
    ap.add_argument("--root", help="folder with the *.sh3f packs (default: $NAVSTACK_FURNITURE_DIR or Debian's)")
    ap.add_argument("--attribution", metavar="CSV", help="write the attribution table of every mapped model")
    ap.add_argument("--list", action="store_true", help="print the mapped models per category")
    ap.add_argument("--convert-all", action="store_true", help="load every mapped model (fills the cache)")
    ap.add_argument("--no-cache", action="store_true", help="with --convert-all: convert even if cached")
    ap.add_argument("--views", metavar="DIR", help="write front/side/top/3-4 preview PNGs of the mapped models")
    ap.add_argument("--category", action="append", help="with --views/--list/--convert-all: only these")
    args = ap.parse_args(argv)
    try:
        cat = load_catalog(args.root)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.attribution:
        n = write_attribution_csv(args.attribution, cat)
        print(f"wrote {n} rows to {args.attribution}")
    if args.category:
        unknown = set(args.category) - set(CATEGORIES)
        if unknown:
            ap.error(f"unknown categories {sorted(unknown)}; choose from {', '.join(CATEGORIES)}")
        cat = [e for e in cat if e.category in args.category]
    if args.views:
        paths = save_previews(cat, args.views, args.root)
        print(f"wrote {len(paths)} previews to {args.views}")
    if args.list:
        for c, es in entries_by_category(cat).items():
            print(f"== {c} ({len(es)})")
            for e in es:
                flags = ("T" if e.textured else " ") + ("H" if e.holdout else " ")
                print(f"   {flags} {e.id:45s} {e.name:28s} {e.width:.2f}x{e.height:.2f}x{e.depth:.2f} m"
                      + (f" elev {e.elevation:.2f}" if e.elevation else ""))
    if args.convert_all:
        t_all = time.perf_counter()
        failed = []
        for i, e in enumerate(cat):
            t0 = time.perf_counter()
            try:
                m = load_model(e, args.root, use_cache=not args.no_cache)
            except Exception as exc:  # report and go on
                failed.append((e.id, f"{type(exc).__name__}: {exc}"))
                print(f"[{i + 1}/{len(cat)}] FAILED {e.id}: {exc}", flush=True)
                continue
            print(f"[{i + 1}/{len(cat)}] {e.id:45s} {m.num_triangles:7d} tris "
                  f"{sum(x.texture is not None for x in m.materials):2d}/{len(m.materials):2d} textured "
                  f"{time.perf_counter() - t0:6.3f} s", flush=True)
        print(f"{len(cat) - len(failed)} loaded, {len(failed)} failed in {time.perf_counter() - t_all:.1f} s")
        for fid, why in failed:
            print(f"  {fid}: {why}")
    if not (args.attribution or args.list or args.convert_all or args.views):
        print(_summary(cat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
