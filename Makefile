# graphviz_bp: `make gallery` (set up, render the gallery) and `make test` (set up, run the tests).
# Each target does its own idempotent set-up: a virtual environment with the Python packages, and
# Debian's graphviz + fonts-dejavu-core when `dot` or the font is missing; `make test` also Debian's
# chromium + chromium-driver when missing (the tests that drive a real page need them).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup system-deps browser-deps test docs gallery bench clean

setup: system-deps $(STAMP)

system-deps:
	@bash tools/ensure-system-deps.sh

# After system-deps, so that the two never run apt-get at once under `make -j`.
browser-deps: system-deps
	@bash tools/ensure-browser.sh

$(STAMP): pyproject.toml
	@bash tools/ensure-venv.sh "$(PYTHON)" "$(VENV)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,docs]'
	@touch $(STAMP)

# The documentation is built too, warnings as errors, so that a broken directive fails the tests.
test: setup browser-deps
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	$(PY) -m pytest

docs: setup
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html
	@echo "open docs/_build/html/index.html"

gallery: setup
	$(PY) gallery/build.py

bench: setup
	$(PY) bench/bench_mlp.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis docs/_build
