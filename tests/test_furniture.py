"""Furniture catalogue and model loader (navstack.sim.catalog / navstack.sim.furniture)."""

from __future__ import annotations

import csv
import pathlib
import random
import time

import numpy as np
import pytest

from navstack.sim import furniture as F
from navstack.sim.mesh import Material, TexturedMesh

DEBIAN_DIR = pathlib.Path("/usr/share/sweethome3d/furniture")
HAVE_FURNITURE = DEBIAN_DIR.is_dir() and any(DEBIAN_DIR.glob("*.sh3f"))
needs_furniture = pytest.mark.skipif(
    not HAVE_FURNITURE, reason="sweethome3d-furniture not installed (sudo apt-get install sweethome3d-furniture)"
)
HM3D_SIX = ("chair", "bed", "plant", "toilet", "tv_monitor", "sofa")
REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private cache dir for the module (so the tests do not depend on ~/.cache/navstack)."""
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("navstack_cache")
    mp.setenv("NAVSTACK_CACHE", str(path))
    mp.delenv("NAVSTACK_FURNITURE_DIR", raising=False)
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def catalog(cache):
    if not HAVE_FURNITURE:
        pytest.skip("sweethome3d-furniture not installed (sudo apt-get install sweethome3d-furniture)")
    return F.load_catalog()


# ---- catalogue ---------------------------------------------------------------------------------


@needs_furniture
def test_catalog_categories(catalog):
    assert set(HM3D_SIX) <= set(F.CATEGORIES)
    assert len(F.CATEGORIES) >= 15
    by_cat = F.entries_by_category(catalog)
    assert set(by_cat) == set(F.CATEGORIES), f"categories without models: {set(F.CATEGORIES) - set(by_cat)}"
    for cat, entries in by_cat.items():
        assert len(entries) >= 2, f"{cat} has {len(entries)} models"
        assert all(e.category == cat for e in entries)
    ids = [e.id for e in catalog]
    assert len(ids) == len(set(ids))
    for e in catalog:
        assert e.sh3d_category not in F.EXCLUDED_SH3D_CATEGORIES
        assert F.MIN_SIZE_M <= max(e.width, e.depth, e.height) <= F.MAX_SIZE_M, e.id
        assert e.elevation <= F.MAX_ELEVATION_M or F.ID_OVERRIDES.get(e.id) == e.category, e.id
        assert e.license in ("CC0-1.0", "CC-BY-3.0", "CC-BY-3.0-US"), e.license
        assert e.model.endswith(".obj") and e.creator
    by_name = {}
    for e in catalog:
        by_name.setdefault(e.name, set()).add(e.category)
    for not_goal in ("Toilet paper dispenser", "Toilet brush", "Door", "Female", "Ceiling lamp", "TV remote control"):
        assert not_goal not in by_name, not_goal
    assert by_name["Bedside table"] == {"cabinet"}
    assert by_name["Desk lamp"] == {"lamp"}
    assert by_name["Toilets unit"] == {"toilet"}


@needs_furniture
def test_overrides_name_real_entries(catalog):
    raw_ids = {r["id"] for r in F.load_raw_records()}
    assert not set(F.ID_OVERRIDES) - raw_ids, "ID_OVERRIDES has ids that are not in the catalogue"
    assert set(v for v in F.ID_OVERRIDES.values() if v) <= set(F.CATEGORIES)


@needs_furniture
def test_catalog_is_fast_when_cached(catalog):
    t = time.perf_counter()
    again = F.load_catalog()
    assert time.perf_counter() - t < 0.5
    assert again == catalog


@needs_furniture
def test_holdout_deterministic_and_about_15_percent(catalog):
    by_cat = F.entries_by_category(catalog)
    ids = {c: [e.id for e in es] for c, es in by_cat.items()}
    shuffled = {c: random.Random(1).sample(v, len(v)) for c, v in ids.items()}
    assert F.holdout_ids(ids) == F.holdout_ids(shuffled) == {e.id for e in catalog if e.holdout}
    for cat, entries in by_cat.items():
        held = sum(e.holdout for e in entries)
        if len(entries) < F.HOLDOUT_MIN_MODELS:
            assert held == 0, cat
        else:
            assert held >= 1 and 0.08 <= held / len(entries) <= 0.25, (cat, held, len(entries))
    frac = sum(e.holdout for e in catalog) / len(catalog)
    assert 0.12 <= frac <= 0.2


@needs_furniture
def test_attribution_rows_and_csv(catalog):
    rows = F.attribution_rows(catalog)
    assert len(rows) == len(catalog)
    for r in rows:
        assert set(("id", "name", "category", "creator", "pack", "license")) <= set(r)
        assert all(r[k] for k in ("id", "name", "category", "creator", "pack", "license"))
    csv_path = REPO / "assets" / "furniture_attribution.csv"
    if csv_path.exists():  # the shipped table must cover every model the catalogue uses
        with open(csv_path, newline="", encoding="utf-8") as f:
            shipped = {r["id"] for r in csv.DictReader(f)}
        missing = {e.id for e in catalog} - shipped
        assert not missing, f"regenerate assets/furniture_attribution.csv: missing {sorted(missing)[:5]}"


def test_missing_furniture_dir_tells_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("NAVSTACK_FURNITURE_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as info:
        F.furniture_root()
    assert "sudo apt-get install sweethome3d-furniture" in str(info.value)
    assert "make setup" in str(info.value)
    monkeypatch.setenv("NAVSTACK_FURNITURE_DIR", str(tmp_path))  # exists but holds no packs
    with pytest.raises(FileNotFoundError, match="sweethome3d-furniture"):
        F.load_catalog()


def test_properties_parser():
    text = (
        b"# comment\n! other comment\nlicense=Copyright \xa9 2008\n"
        b"name#1=Bill 10\\u20ac\n"
        b"tags#1=a, \\\n    b\n"
        b"key\\ with\\=escapes : value\n"
        b"dropOnTopElevation#-1\n"
    )
    p = F.parse_properties(text)
    assert p["license"] == "Copyright \u00a9 2008"
    assert p["name#1"] == "Bill 10\u20ac"
    assert p["tags#1"] == "a, b"
    assert p["key with=escapes"] == "value"
    assert p["dropOnTopElevation#-1"] == ""


# ---- OBJ / MTL parsing -----------------------------------------------------------------------------


def test_obj_parser_fan_negative_and_missing_vt():
    obj = F.parse_obj(
        "mtllib my materials.mtl\n"
        "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1 1.0\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1 0\n"
        "f 1 2 3 4 5\n"  # pentagon, no vt
        "usemtl red\n"
        "f -5/-4/1 -4/-3/1 -3/-2/1\n"  # negative (relative) indices
        "usemtl blue\n"
        "f 1//1 3//1 4//1\n"  # v//vn
        "f 1/1 2 3/3\n",  # mixed corner formats
        "test.obj",
    )
    assert obj.vertices.shape == (5, 3) and obj.texcoords.shape == (4, 2)
    np.testing.assert_array_equal(obj.tri_v[:3], [[0, 1, 2], [0, 2, 3], [0, 3, 4]])
    np.testing.assert_array_equal(obj.tri_v[3], [0, 1, 2])
    np.testing.assert_array_equal(obj.tri_vt[3], [0, 1, 2])
    assert (obj.tri_vt[:3] == -1).all() and (obj.tri_vt[4] == -1).all()
    np.testing.assert_array_equal(obj.tri_vt[5], [0, -1, 2])
    assert obj.material_names == ["red", "blue"]
    np.testing.assert_array_equal(obj.tri_material, [-1, -1, -1, 0, 1, 1])
    assert obj.mtllibs == ["my materials.mtl"]


@pytest.mark.parametrize(
    "content",
    [
        bytes(np.random.RandomState(0).randint(0, 256, 4000).astype(np.uint8)),
        b"<html><body>404 not found</body></html>\n",
        b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 x\n",
        b"v 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n",
        b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n",
        b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n",
    ],
    ids=["binary", "html", "bad-face", "bad-vertex", "index-range", "index-zero"],
)
def test_garbage_obj_raises_value_error_naming_the_file(tmp_path, content):
    path = tmp_path / "garbage_model.obj"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="garbage_model.obj"):
        F.read_obj(path)


def test_mtl_parser():
    mats = F.parse_mtl(
        "newmtl wood\nKd 0.5 0.4 0.3\nmap_Kd -s 1 1 1 -o 0 0 textures/oak wood.jpg\n"
        "newmtl glass\nKd 0.1 0.1 0.1\nd 0.25\n"
        "newmtl tinted\nTr 0.75\n"
        "newmtl\tnokd\n\tmap_Kd C:/Documents and Settings/x/WoodFine.jpg\n"
    )
    assert mats["wood"].texture_file == "textures/oak wood.jpg" and mats["wood"].kd == (0.5, 0.4, 0.3)
    assert mats["glass"].alpha == 0.25 and mats["glass"].texture_file is None
    assert mats["tinted"].alpha == pytest.approx(0.25)
    assert mats["nokd"].kd is None and mats["nokd"].texture_file.endswith("WoodFine.jpg")
    names = {"m/textures/oak wood.jpg", "m/WoodFine.JPG", "m/m.obj"}
    assert F.resolve_in_folder(names, "m/", "textures/oak wood.jpg") == "m/textures/oak wood.jpg"
    assert F.resolve_in_folder(names, "m/", "C:/Documents and Settings/x/WoodFine.jpg") == "m/WoodFine.JPG"
    assert F.resolve_in_folder(names, "m/", "missing.png") is None


def test_fit_to_box_applies_rotation_first():
    v = np.array([[0.0, 0, 0], [10, 20, 30], [5, 5, 5]])
    rot = (1, 0, 0, 0, 0, 1, 0, -1, 0)  # z-up model -> y-up: y' = z, z' = -y
    out, mirrored = F.fit_to_box(v, (1.0, 3.0, 2.0), rot)
    assert not mirrored
    np.testing.assert_allclose(out.min(0), [-0.5, 0, -1.0], atol=1e-12)
    np.testing.assert_allclose(out.max(0), [0.5, 3.0, 1.0], atol=1e-12)
    # the model's +z (30) became height: vertex 1 is at the top
    assert out[1, 1] == pytest.approx(3.0)


def test_npz_round_trip_without_pickle(tmp_path):
    tex = np.random.RandomState(0).randint(0, 255, (8, 16, 3)).astype(np.uint8)
    mesh = TexturedMesh(
        np.random.rand(5, 3),
        [[0, 1, 2], [2, 3, 4]],
        np.random.rand(2, 3, 2),
        [0, 1],
        [Material(np.ones(3), tex, "a"), Material(np.array([0.2, 0.3, 0.4]), tex, "b (alpha=0.50)")],
    )
    path = tmp_path / "m.npz"
    F.save_mesh_npz(path, mesh)
    back = F.load_mesh_npz(path)
    for k in ("vertices", "triangles", "triangle_uvs", "triangle_material"):
        np.testing.assert_array_equal(getattr(back, k), getattr(mesh, k))
    assert [m.name for m in back.materials] == ["a", "b (alpha=0.50)"]
    assert back.materials[1].texture is back.materials[0].texture  # a shared texture stays shared
    np.testing.assert_array_equal(back.materials[1].texture, tex)
    assert F.material_alpha(back.materials[1]) == 0.5 and F.material_alpha(back.materials[0]) == 1.0
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


# ---- model loading ---------------------------------------------------------------------------------


def _pick(catalog, textured: bool):
    # small, well-known models first; any model of the right kind otherwise
    preferred = ["Scopia#chair", "Blend Swap CC-0#antiqueChair"] if textured else [
        "Kator Legaz#office-chair", "Blend Swap CC-BY#coffeeTable"]
    by_id = {e.id: e for e in catalog}
    for pid in preferred:
        if pid in by_id and by_id[pid].textured == textured:
            return by_id[pid]
    return next(e for e in catalog if e.textured == textured)


def _check_mesh(entry, mesh):
    lo, hi = mesh.bounds()
    np.testing.assert_allclose(lo, [-entry.width / 2, 0, -entry.depth / 2], atol=0.01)
    np.testing.assert_allclose(hi, [entry.width / 2, entry.height, entry.depth / 2], atol=0.01)
    assert mesh.num_triangles > 0
    assert mesh.triangles.min() >= 0 and mesh.triangles.max() < len(mesh.vertices)
    assert mesh.triangle_material.min() >= 0 and mesh.triangle_material.max() < len(mesh.materials)
    assert np.isfinite(mesh.triangle_uvs).all() and np.isfinite(mesh.vertices).all()
    for m in mesh.materials:
        assert m.diffuse.shape == (3,) and (0 <= m.diffuse).all() and (m.diffuse <= 1).all()
        if m.texture is not None:
            assert m.texture.dtype == np.uint8 and m.texture.ndim == 3 and m.texture.shape[2] == 3
            assert max(m.texture.shape[:2]) <= F.MAX_TEXTURE_SIZE


@needs_furniture
@pytest.mark.parametrize("textured", [True, False], ids=["textured", "untextured"])
def test_load_model_fitted_and_cached(catalog, textured):
    entry = _pick(catalog, textured)
    mesh = F.load_model(entry)
    _check_mesh(entry, mesh)
    has_tex = [m.texture is not None for m in mesh.materials]
    assert any(has_tex) == textured == entry.textured
    if textured:
        tex_mat = [i for i, m in enumerate(mesh.materials) if m.texture is not None]
        np.testing.assert_array_equal(mesh.materials[tex_mat[0]].diffuse, [1, 1, 1])
        uv = mesh.triangle_uvs[np.isin(mesh.triangle_material, tex_mat)]
        assert np.abs(uv).max() > 0  # textured triangles carry real UVs
    # second load comes from the .npz cache and is identical
    t = time.perf_counter()
    again = F.load_model(entry)
    assert time.perf_counter() - t < 0.2
    for k in ("vertices", "triangles", "triangle_uvs", "triangle_material"):
        np.testing.assert_array_equal(getattr(again, k), getattr(mesh, k))
    for a, b in zip(mesh.materials, again.materials):
        assert a.name == b.name
        np.testing.assert_array_equal(a.diffuse, b.diffuse)
        assert (a.texture is None) == (b.texture is None)
        if a.texture is not None:
            np.testing.assert_array_equal(a.texture, b.texture)
    assert list((F.cache_dir() / "models").glob("*.npz"))


@needs_furniture
def test_front_faces_plus_z(catalog):
    """Chairs: the backrest (top 20% of the height) sits at -z for nearly every chair, so the front is +z."""
    chairs = F.entries_by_category(catalog)["chair"]
    backs = []
    for e in chairs[:20]:
        v = F.load_model(e).vertices
        top = v[v[:, 1] > 0.8 * e.height]
        backs.append(top[:, 2].mean() / (e.depth / 2))
    backs = np.array(backs)
    assert (backs < -0.2).mean() >= 0.8, backs
