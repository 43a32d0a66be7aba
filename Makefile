# tapegrad: `make demo` trains the demo network, `make test` runs the whole suite.
# Both build the project's own virtual environment first (.venv): the import
# name `autograd` is shared with the unrelated HIPS package, so tapegrad is
# never installed into the system Python.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SRC    := $(wildcard autograd nn tests benchmarks notebooks/run.py)

.PHONY: setup graphviz demo test lint typecheck pytest bench notebooks clean

setup: $(STAMP) graphviz

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The Graphviz `dot` program renders graph pictures. Install it from Debian's
# package when it is missing and we can (root with apt-get); otherwise say how.
graphviz:
	@if command -v dot >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Graphviz (Debian package graphviz) for graph pictures..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
		|| { echo "error: could not install graphviz with apt-get" >&2; exit 1; }; \
	else \
		echo "note: Graphviz 'dot' not found; install it with: sudo apt-get install graphviz (macOS: brew install graphviz)"; \
	fi

demo: setup
	$(VENV)/bin/tapegrad train

lint: $(STAMP)
	$(VENV)/bin/ruff check $(SRC)
	$(VENV)/bin/ruff format --check $(SRC)

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict autograd nn

pytest: setup
	$(PY) -m pytest -n 2 -q

test: lint typecheck pytest

bench: setup
	$(PY) -m pip install --quiet micrograd==0.1.0 torch==2.13.0
	$(PY) benchmarks/run.py

notebooks: setup
	$(PY) notebooks/run.py --write

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis
