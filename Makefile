# The two commands: `make demo` and `make test`. Each sets up everything on a fresh machine
# (Debian packages, .venv with pinned wheels) and is quick when already set up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.navstack-installed

.PHONY: setup demo test test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup_system.sh scripts/setup_ros.sh
	bash scripts/setup_system.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	bash scripts/setup_ros.sh $(VENV)
	touch $(STAMP)

demo: setup
	$(BIN)/navstack demo

test: setup
	$(BIN)/python -m pytest -q

test-all: setup
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: setup
	$(BIN)/python benchmarks/bench_render.py
	$(BIN)/python benchmarks/bench_house.py
	$(BIN)/python benchmarks/bench_ros.py --json runs/bench/ros.json

clean:
	rm -rf $(VENV) runs
