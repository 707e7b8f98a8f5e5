"""Sweet Home 3D furniture catalogue: parsing, navstack category mapping, hold-out split, attribution.

The furniture comes from Debian's ``sweethome3d-furniture`` package: five ``.sh3f`` zip files under
``/usr/share/sweethome3d/furniture`` (override with ``$NAVSTACK_FURNITURE_DIR``). Each holds a Java
``PluginFurnitureCatalog.properties`` (entries ``name#N``, ``category#N``, ``width#N`` ... in cm) and
one folder per model (OBJ + MTL + textures). This module only reads the catalogue; mesh loading is in
:mod:`navstack.sim.furniture` (which re-exports everything here).

Mapping to navstack categories is a readable, ordered rule table (:data:`CATEGORY_RULES`, first
match wins) plus per-id overrides (:data:`ID_OVERRIDES`) for the cases a keyword cannot decide, and
generic filters (doors/windows, characters, vehicles, outdoor-only packs, wall/ceiling items, absurd
sizes). ``python -m navstack.sim.furniture --list`` prints the result.

Parsing all five catalogues (and checking each model's MTL for textures) takes ~0.1-0.3 s; the raw
records are cached as JSON in ``$NAVSTACK_CACHE`` (default ``~/.cache/navstack``) keyed by the
.sh3f files' names, sizes and mtimes, so :func:`load_catalog` is a few ms afterwards. The mapping is
re-applied on every load (cheap), so editing the tables never needs a cache flush.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

DEFAULT_FURNITURE_DIR = pathlib.Path("/usr/share/sweethome3d/furniture")
INSTALL_HINT = (
    "the Sweet Home 3D furniture models are missing: install them with "
    "`sudo apt-get install sweethome3d-furniture` (or run `make setup`), "
    "or point $NAVSTACK_FURNITURE_DIR at a folder holding the *.sh3f files"
)
PROPERTIES_NAME = "PluginFurnitureCatalog.properties"
_RAW_CACHE_VERSION = 2

__all__ = [
    "CATEGORIES", "CATEGORY_RULES", "ID_OVERRIDES", "BROKEN_IDS", "EXCLUDED_SH3D_CATEGORIES", "MIN_SIZE_M",
    "MAX_SIZE_M", "MAX_ELEVATION_M", "HOLDOUT_FRACTION", "HOLDOUT_MIN_MODELS", "INSTALL_HINT",
    "DEFAULT_FURNITURE_DIR", "ATTRIBUTION_FIELDS", "CatalogEntry", "furniture_root", "cache_dir",
    "load_catalog", "load_raw_records", "entries_by_category", "attribution_rows", "write_attribution_csv",
    "map_category", "holdout_ids", "normalize_license", "parse_properties", "resolve_in_folder",
]

# ----------------------------------------------------------------------------------------------
# navstack categories
# ----------------------------------------------------------------------------------------------

#: The HM3D ObjectNav six first, then the other household categories the catalogue supports well.
CATEGORIES: Tuple[str, ...] = (
    "chair",
    "bed",
    "plant",
    "toilet",
    "tv_monitor",
    "sofa",
    "table",
    "cabinet",
    "sink",
    "refrigerator",
    "lamp",
    "bookshelf",
    "desk",
    "bathtub",
    "oven",
    "stool",
    "wardrobe",
)

#: Sweet Home 3D categories whose entries are never furniture goals.
EXCLUDED_SH3D_CATEGORIES = frozenset({"Doors and windows", "Characters", "Vehicles", "Staircases"})

#: Entries whose catalogue box is smaller/larger than this (largest side, metres) are dropped.
MIN_SIZE_M = 0.10
MAX_SIZE_M = 4.0
#: Entries raised above this (wall-mounted, hanging, ceiling) are dropped unless listed in ID_OVERRIDES
#: (wall washbasins at 35-50 cm stay; upper kitchen cabinets at 1.45 m, wall/ceiling lamps go).
MAX_ELEVATION_M = 0.5

# Ordered rules: (navstack category, regex on the model *name*, regex on the name that vetoes the rule).
# Matching is case-insensitive on whole words; the first rule that matches wins, so the specific
# compounds ("Desk lamp", "TV stand", "Bedside table", "Sink cabinet") come before the generic words.
# A rule may also look at the tags with "tags:" in front of its pattern.
CATEGORY_RULES: Tuple[Tuple[str, str, Optional[str]], ...] = (
    # lamps first: "Desk lamp", "Pedestal vase lamp", "Little lamp"; ceiling/wall ones fail the elevation filter
    ("lamp", r"\blamp\b", r"\b(lamppost|street|park|outdoor|camping|ceiling|pendant|chandelier|wall)\b"),
    # furniture that holds a sink
    ("sink", r"\b(washbasin|sink|vanity|lavatory)\b", None),
    # TV furniture, nightstands and kitchen units are cabinets
    ("cabinet", r"\b(tv stand|bedside table|cabinet|cupboard|dresser|chest|sideboard|drawers?|island)\b",
     r"\b(television|freezer|extension|bath)\b"),
    ("wardrobe", r"\bwardrobe\b", None),
    ("tv_monitor", r"\b(tv|television|monitor|imac)\b", r"\b(remote|stand|cabinet|projector)\b"),
    ("toilet", r"\btoilets?( unit)?$", r"\b(paper|brush|dispenser)\b"),
    ("bathtub", r"\b(bath|bathtub)\b", r"\b(mat|bathmat)\b"),
    ("refrigerator", r"\b(fridge|refrigerator)\b", None),
    ("oven", r"\b(oven|stove|range)\b", r"\b(microwave|hood)\b"),
    ("bookshelf", r"\b(bookcase|bookshelf|shelves)\b", r"\b(contemporary|upper)\b"),
    ("sofa", r"\b(sofa|couch|settee|loveseat)\b", r"\bopened\b"),
    ("bed", r"\bbed\b", r"\b(baby|air|hospital|sofa|sleeping)\b"),
    ("stool", r"\bstool\b", r"\btoilet\b"),
    ("chair", r"\b(chair|armchair|seat)\b", r"\b(deck|beach|relax|wheel|high|baby|lounge|ottoman)\b"),
    ("desk", r"\bdesk\b", None),
    ("table", r"\btable\b",
     r"\b(bedside|changing|dressing|technical|football|pool|tennis|fan)\b"),
    # plants: by name, or by the catalogue's own Plant/Flowers tags (Orchids, Tulips, Yucca, ...)
    ("plant", r"\b(plant|flowers?|bonsai|cactus|ficus|orchids?|tulips?|lily|yucca|bamboo|spathiphyllum"
              r"|christmas tree)\b", r"\b(box|pot)\b"),
    ("plant", r"tags:\b(plant|flowers)\b", r"\b(box|spray)\b"),
)

# Per-id decisions the rules cannot make (checked before the rules and the generic filters).
# A category forces the mapping (and bypasses the elevation / outdoor filters); None excludes.
ID_OVERRIDES: Dict[str, Optional[str]] = {
    # outdoor-catalogue pieces that are ordinary indoor furniture
    "Kator Legaz#cafe-chair": "chair",
    "Kator Legaz#cafe-table": "table",
    "Scopia#silla_teca": "chair",
    "Scopia#rattanArmchair": "chair",
    "Scopia#rattanSofa": "sofa",
    # a wall TV hangs at 1 m: keep it, the house builder places it by its elevation
    "Scopia#wall-flat-tv": "tv_monitor",
    # a chest freezer is not what "go to the fridge" means
    "Scopia#chest-freezer": None,
    # a wall unit with a TV, shelves and glass cabinets in one model: ambiguous as a goal
    "Scopia#contemp_living_room": None,
    # storage furniture with uninformative names: a TV unit without TV, a sideboard, office lockers
    "Blend Swap CC-0#televisionCabinet": "cabinet",
    "Scopia#box_room": "cabinet",
    "Scopia#office_box": "cabinet",
    # laundry basin (clothes washing tub), not a bathroom sink
    "Scopia#basin": None,
    # kitchen hob/cooktop slabs named "Stove" (5 cm high): not an oven
    "Blend Swap CC-0#stove": None,
}

#: Models that fail to load or look wrong once loaded (filled from the full conversion run).
BROKEN_IDS: Dict[str, str] = {}

# ----------------------------------------------------------------------------------------------
# licences
# ----------------------------------------------------------------------------------------------

_LICENSE_PATTERNS = (
    (re.compile(r"public domain|cc-?0", re.I), "CC0-1.0"),
    (re.compile(r"attribution 3\.0 united states", re.I), "CC-BY-3.0-US"),
    (re.compile(r"attribution 3\.0", re.I), "CC-BY-3.0"),
)


def normalize_license(header: str) -> str:
    """SPDX-style id for a catalogue header ``license=`` line (the raw text if unknown)."""
    for pattern, spdx in _LICENSE_PATTERNS:
        if pattern.search(header or ""):
            return spdx
    return (header or "unknown").strip()


# ----------------------------------------------------------------------------------------------
# Java .properties parsing
# ----------------------------------------------------------------------------------------------

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(s: str) -> str:
    if "\\" not in s:
        return s
    out = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = s[i + 1]
        if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", s[i + 2 : i + 6] or ""):
            out.append(chr(int(s[i + 2 : i + 6], 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
    return "".join(out)


def parse_properties(data: bytes | str) -> "OrderedDict[str, str]":
    """Parse Java ``.properties`` text (ISO-8859-1 bytes, ``\\uXXXX`` escapes, ``\\`` continuations).

    UTF-8 input is accepted too: bytes that decode as UTF-8 are read as UTF-8, others as Latin-1.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    else:
        text = data
    props: "OrderedDict[str, str]" = OrderedDict()
    logical: Optional[str] = None
    for raw in text.splitlines():
        if logical is None:
            line = raw.lstrip(" \t\f")
            if not line or line[0] in "#!":
                continue
            logical = line
        else:
            logical += raw.lstrip(" \t\f")
        trailing = len(logical) - len(logical.rstrip("\\"))
        if trailing % 2 == 1:  # odd number of backslashes: the line continues
            logical = logical[:-1]
            continue
        key, value = _split_key_value(logical)
        props[_unescape(key)] = _unescape(value)
        logical = None
    if logical is not None:
        key, value = _split_key_value(logical)
        props[_unescape(key)] = _unescape(value)
    return props


def _split_key_value(line: str) -> Tuple[str, str]:
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c in "=: \t\f":
            break
        i += 1
    key = line[:i]
    j = i
    while j < n and line[j] in " \t\f":
        j += 1
    if j < n and line[j] in "=:":
        j += 1
        while j < n and line[j] in " \t\f":
            j += 1
    return key, line[j:]


# ----------------------------------------------------------------------------------------------
# catalogue entries
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    id: str  # Sweet Home 3D id, e.g. "Blend Swap CC-0#armchair" (unique over the five packs)
    name: str  # Sweet Home 3D (English) name
    category: str  # navstack category, one of CATEGORIES
    sh3d_category: str  # Sweet Home 3D category ("Living room", ...)
    pack: str  # .sh3f file stem, e.g. "BlendSwap-CC-0"
    creator: str
    license: str  # SPDX-style: CC0-1.0, CC-BY-3.0, CC-BY-3.0-US
    width: float  # metres, catalogue box along x
    depth: float  # metres, along z
    height: float  # metres, along y
    elevation: float  # metres above the floor (Sweet Home 3D default placement)
    model: str  # path of the OBJ inside the pack's zip (leading '/')
    model_rotation: Optional[Tuple[float, ...]]  # 9 numbers, row-major 3x3, applied as v' = R @ v
    holdout: bool  # never used for CLIP training (~15% of each category with >= 5 models)
    textured: bool  # the MTL references a texture file that exists in the pack and the OBJ has UVs
    tags: Tuple[str, ...] = ()
    door_or_window: bool = False

    @property
    def size(self) -> Tuple[float, float, float]:
        """(x, y, z) = (width, height, depth) in metres."""
        return (self.width, self.height, self.depth)


def furniture_root() -> pathlib.Path:
    """Folder holding the ``*.sh3f`` packs; FileNotFoundError with the install command if absent."""
    env = os.environ.get("NAVSTACK_FURNITURE_DIR")
    root = pathlib.Path(env).expanduser() if env else DEFAULT_FURNITURE_DIR
    if not root.is_dir() or not any(root.glob("*.sh3f")):
        raise FileNotFoundError(f"no *.sh3f furniture packs in {root}: {INSTALL_HINT}")
    return root


def cache_dir() -> pathlib.Path:
    """navstack's cache folder: $NAVSTACK_CACHE or ~/.cache/navstack."""
    env = os.environ.get("NAVSTACK_CACHE")
    return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "navstack"


def _resolve_root(root) -> pathlib.Path:
    if root is None:
        return furniture_root()
    root = pathlib.Path(root)
    if not root.is_dir() or not any(root.glob("*.sh3f")):
        raise FileNotFoundError(f"no *.sh3f furniture packs in {root}: {INSTALL_HINT}")
    return root


def _packs(root: pathlib.Path) -> List[pathlib.Path]:
    return sorted(root.glob("*.sh3f"))


def _float(value: Optional[str], default: float = 0.0) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


_MAP_KD = re.compile(r"^[ \t]*map_Kd[ \t]+(.+?)[ \t]*$", re.M)


def _mtl_texture_names(mtl_text: str) -> List[str]:
    return [_strip_map_options(m) for m in _MAP_KD.findall(mtl_text)]


# map_Kd options and how many arguments each takes (MTL spec); the rest of the line is the file name
_MAP_OPTIONS = {"-blendu": 1, "-blendv": 1, "-bm": 1, "-boost": 1, "-cc": 1, "-clamp": 1, "-imfchan": 1,
                "-mm": 2, "-o": 3, "-s": 3, "-t": 3, "-texres": 1, "-type": 1}


def _strip_map_options(arg: str) -> str:
    """File name of a ``map_Kd [options] file name with spaces.png`` argument."""
    toks = arg.split(" ")
    i = 0
    while i < len(toks):
        t = toks[i]
        if t == "":
            i += 1
            continue
        if t.lower() in _MAP_OPTIONS:
            n = _MAP_OPTIONS[t.lower()]
            i += 1
            # numeric options may take fewer arguments than the maximum (e.g. "-s 1 1")
            taken = 0
            while taken < n and i < len(toks) and re.fullmatch(r"-?[0-9.eE+-]+|on|off", toks[i] or "x"):
                i += 1
                taken += 1
            continue
        break
    return " ".join(toks[i:]).strip()


def resolve_in_folder(names: Iterable[str], folder: str, want: str) -> Optional[str]:
    """Zip member for a file name ``want`` referenced from ``folder`` (a zip path ending in '/').

    Tries the relative path, then the base name in the folder, then a case-insensitive base name
    match in the folder (absolute Windows/Mac paths like ``C:/Documents and Settings/x/wood.jpg``).
    """
    want = want.strip().strip('"').replace("\\", "/")
    if not want:
        return None
    names = names if isinstance(names, (set, frozenset, dict)) else set(names)
    rel = _normpath(folder + want)
    if rel in names:
        return rel
    base = want.rsplit("/", 1)[-1]
    if folder + base in names:
        return folder + base
    low = base.lower()
    for n in names:
        if n.startswith(folder) and n.rsplit("/", 1)[-1].lower() == low:
            return n
    return None


def _normpath(path: str) -> str:
    parts: List[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
            continue
        parts.append(p)
    return "/".join(parts)


def _obj_has_texcoords(zf: zipfile.ZipFile, member: str) -> bool:
    """Whether the OBJ has 'vt' lines (streamed; stops at the first one, usually early in the file)."""
    try:
        f = zf.open(member)
    except KeyError:
        return False
    tail = b"\n"
    with f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return False
            buf = tail + chunk
            if b"\nvt " in buf or b"\nvt\t" in buf:
                return True
            tail = buf[-4:]


def _parse_pack(path: pathlib.Path) -> List[dict]:
    """Raw records (all entries, unmapped) of one .sh3f pack."""
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        props = parse_properties(zf.read(PROPERTIES_NAME))
        license_text = props.get("license", "")
        indices = sorted({int(k.split("#", 1)[1]) for k in props if k.startswith("id#") and k[3:].isdigit()})
        records = []
        mtl_cache: Dict[str, bool] = {}
        for i in indices:
            g = lambda key, default="": props.get(f"{key}#{i}", default)  # noqa: E731
            model = g("model")
            folder = model.lstrip("/").rsplit("/", 1)[0] + "/" if "/" in model.lstrip("/") else ""
            textured = mtl_cache.get(model)
            if textured is None:
                textured = False
                for n in names:
                    if n.startswith(folder) and n.lower().endswith(".mtl") and "/" not in n[len(folder):]:
                        mtl = zf.read(n).decode("latin-1")
                        if any(resolve_in_folder(names, folder, t) for t in _mtl_texture_names(mtl)):
                            textured = True
                            break
                # a texture is only drawn if the OBJ has texture coordinates
                # (not checked for characters, vehicles, doors and windows: never mapped, and big)
                if textured and g("category") not in EXCLUDED_SH3D_CATEGORIES:
                    textured = _obj_has_texcoords(zf, model.lstrip("/"))
                mtl_cache[model] = textured
            rot = g("modelRotation")
            records.append(
                {
                    "id": g("id"),
                    "name": g("name"),
                    "sh3d_category": g("category"),
                    "tags": [t.strip() for t in g("tags").split(",") if t.strip()],
                    "creator": g("creator"),
                    "pack": path.stem,
                    "license": normalize_license(license_text),
                    "license_text": license_text,
                    "width": _float(g("width")) / 100.0,
                    "depth": _float(g("depth")) / 100.0,
                    "height": _float(g("height")) / 100.0,
                    "elevation": _float(g("elevation")) / 100.0,
                    "model": model,
                    "model_rotation": [float(x) for x in rot.split()] if rot.strip() else None,
                    "door_or_window": g("doorOrWindow").strip().lower() == "true",
                    "multi_part": g("multiPartModel").strip().lower() == "true",
                    "textured": textured,
                }
            )
    return records


def _packs_key(packs: Sequence[pathlib.Path]) -> str:
    h = hashlib.sha1(f"v{_RAW_CACHE_VERSION}".encode())
    for p in packs:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def load_raw_records(root=None, use_cache: bool = True) -> List[dict]:
    """Every catalogue entry of every pack (unmapped), cached as JSON keyed by the packs' stats."""
    root = _resolve_root(root)
    packs = _packs(root)
    key = _packs_key(packs)
    cache_file = cache_dir() / f"catalog_raw_{key}.json"
    if use_cache and cache_file.is_file():
        try:
            with open(cache_file, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            pass  # unreadable cache: rebuild it
    records: List[dict] = []
    for p in packs:
        records.extend(_parse_pack(p))
    if use_cache:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(records, f, ensure_ascii=False)
            os.replace(tmp, cache_file)
        except OSError:
            pass  # read-only home: just do without the cache
    return records


# ----------------------------------------------------------------------------------------------
# mapping
# ----------------------------------------------------------------------------------------------

_COMPILED_RULES = [
    (
        cat,
        pattern.startswith("tags:"),
        re.compile(pattern[5:] if pattern.startswith("tags:") else pattern, re.I),
        re.compile(veto, re.I) if veto else None,
    )
    for cat, pattern, veto in CATEGORY_RULES
]


def map_category(record: dict) -> Tuple[Optional[str], str]:
    """(navstack category or None, reason) for one raw record; the reason says which rule decided."""
    rid = record["id"]
    if rid in BROKEN_IDS:
        return None, f"broken: {BROKEN_IDS[rid]}"
    if rid in ID_OVERRIDES:
        cat = ID_OVERRIDES[rid]
        return cat, "id override" if cat else "excluded by id override"
    if record.get("door_or_window") or record["sh3d_category"] in EXCLUDED_SH3D_CATEGORIES:
        return None, f"sh3d category {record['sh3d_category']!r}"
    if record["sh3d_category"] == "Exterior":
        return None, "outdoor (Exterior) model"
    biggest = max(record["width"], record["depth"], record["height"])
    if biggest < MIN_SIZE_M or biggest > MAX_SIZE_M:
        return None, f"size {biggest:.2f} m outside [{MIN_SIZE_M}, {MAX_SIZE_M}]"
    name = record["name"]
    tags = ", ".join(record.get("tags", ()))
    for cat, on_tags, pattern, veto in _COMPILED_RULES:
        if pattern.search(tags if on_tags else name) and not (veto and veto.search(name)):
            if record["elevation"] > MAX_ELEVATION_M:
                return None, f"{cat} but elevation {record['elevation']:.2f} m (wall/ceiling)"
            return cat, f"rule {cat}: {pattern.pattern}"
    return None, "no rule"


def _holdout_rank(entry_id: str) -> str:
    return hashlib.sha1(entry_id.encode("utf-8")).hexdigest()


HOLDOUT_FRACTION = 0.15
HOLDOUT_MIN_MODELS = 5


def holdout_ids(id_by_category: Dict[str, List[str]]) -> set:
    """~15% of each category with >= 5 models (at least one): the smallest sha1(id)s, deterministic."""
    out = set()
    for ids in id_by_category.values():
        if len(ids) < HOLDOUT_MIN_MODELS:
            continue
        k = max(1, int(round(HOLDOUT_FRACTION * len(ids))))
        out.update(sorted(ids, key=_holdout_rank)[:k])
    return out


def _entry(rec: dict, category: str, holdout: bool) -> CatalogEntry:
    rot = rec.get("model_rotation")
    return CatalogEntry(
        id=rec["id"],
        name=rec["name"],
        category=category,
        sh3d_category=rec["sh3d_category"],
        pack=rec["pack"],
        creator=rec["creator"],
        license=rec["license"],
        width=rec["width"],
        depth=rec["depth"],
        height=rec["height"],
        elevation=rec["elevation"],
        model=rec["model"],
        model_rotation=tuple(rot) if rot else None,
        holdout=holdout,
        textured=bool(rec["textured"]),
        tags=tuple(rec.get("tags", ())),
        door_or_window=bool(rec.get("door_or_window", False)),
    )


def load_catalog(root=None) -> List[CatalogEntry]:
    """Catalogue entries mapped to a navstack category, sorted by (category order, id)."""
    records = load_raw_records(root)
    mapped = []
    for rec in records:
        cat, _ = map_category(rec)
        if cat is not None:
            mapped.append((rec, cat))
    by_cat: Dict[str, List[str]] = {}
    for rec, cat in mapped:
        by_cat.setdefault(cat, []).append(rec["id"])
    held = holdout_ids(by_cat)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    entries = [_entry(rec, cat, rec["id"] in held) for rec, cat in mapped]
    entries.sort(key=lambda e: (order.get(e.category, len(order)), e.id))
    return entries


def entries_by_category(catalog: Iterable[CatalogEntry]) -> Dict[str, List[CatalogEntry]]:
    """{category: entries} in CATEGORIES order (categories without entries are left out)."""
    out: Dict[str, List[CatalogEntry]] = {c: [] for c in CATEGORIES}
    for e in catalog:
        out.setdefault(e.category, []).append(e)
    return {c: v for c, v in out.items() if v}


ATTRIBUTION_FIELDS = ("id", "name", "category", "creator", "pack", "license", "model")


def attribution_rows(entries: Iterable[CatalogEntry]) -> List[dict]:
    """One dict per entry with the attribution fields (id, name, category, creator, pack, license, model)."""
    return [
        {
            "id": e.id,
            "name": e.name,
            "category": e.category,
            "creator": e.creator,
            "pack": e.pack,
            "license": e.license,
            "model": e.model,
        }
        for e in entries
    ]


def write_attribution_csv(path, entries: Iterable[CatalogEntry]) -> int:
    """Write :func:`attribution_rows` to ``path`` as CSV; returns the number of rows."""
    import csv

    rows = attribution_rows(entries)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(ATTRIBUTION_FIELDS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return len(rows)
