"""Shared fixtures: one small generated house per test session (house generation is deterministic)."""

import os
from pathlib import Path

import pytest

import sys
sys.path.insert(0, str(Path(__file__).resolve().parent))  # test-only helpers (fake_habitat_sim)

SAMPLES = Path(os.environ.get("NAVSTACK_HABITAT_SAMPLES", Path(__file__).resolve().parents[2] / "shared" / "habitat_samples"))


def _need_furniture():
    if not Path("/usr/share/sweethome3d/furniture").is_dir() and not os.environ.get("NAVSTACK_FURNITURE_DIR"):
        pytest.skip("Debian package sweethome3d-furniture is not installed (make setup installs it)")


@pytest.fixture(scope="session")
def house():
    _need_furniture()
    from navstack.sim.scene import generate_house

    return generate_house(7)


@pytest.fixture(scope="session")
def renderer(house):
    return house.renderer()


@pytest.fixture(scope="session")
def backend(house, renderer):
    from navstack.sim.backend import EmbeddedBackend

    return EmbeddedBackend(house, renderer=renderer)


@pytest.fixture(scope="session")
def load_benchmark():
    """Import a script of benchmarks/ by name (they are scripts, not a package): load_benchmark("bench_clip")."""
    import importlib.util

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load
