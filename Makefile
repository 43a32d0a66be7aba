# tapegrad: `make demo` trains the demo network, `make test` runs the whole suite.
# Both build the project's own virtual environment first (.venv): the import
# name `autograd` is shared with the unrelated HIPS package, so tapegrad is
# never installed into the system Python. `make demo` installs only what the
# demo runs (numpy, graphviz, matplotlib, tqdm); `make test` adds the dev extras
# (torch, onnx, onnxruntime, pytest, hypothesis, ruff, mypy, pdoc, ...).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev
SRC    := $(wildcard autograd nn tests benchmarks notebooks/run.py docs/build.py tapegrad_cli.py)

.PHONY: setup setup-dev graphviz browser demo test lint typecheck pytest docs bench notebooks clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Runtime only: the package itself (editable) and its four dependencies.
$(RUNTIME_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $(RUNTIME_STAMP)

# Everything the suite, the docs and the notebooks use (implies the runtime).
$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(RUNTIME_STAMP) $(DEV_STAMP)

setup: $(RUNTIME_STAMP) graphviz

setup-dev: $(DEV_STAMP) graphviz

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

# The page tests drive a real browser: Debian's chromium and chromium-driver (never a
# downloaded one). Installed when missing and we can, like Graphviz; otherwise say how.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Chromium (Debian packages chromium, chromium-driver) for the page tests..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| { echo "error: could not install chromium with apt-get" >&2; exit 1; }; \
	else \
		echo "note: the page tests need Chromium; install it with: sudo apt-get install chromium chromium-driver"; \
	fi

demo: setup
	$(VENV)/bin/tapegrad train

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check $(SRC)
	$(VENV)/bin/ruff format --check $(SRC)

typecheck: $(DEV_STAMP)
	$(VENV)/bin/mypy --strict autograd nn tapegrad_cli.py

# The API reference from the docstrings (pdoc): a warning or a public name
# without a docstring fails, so `make test` catches a broken docstring.
docs: $(DEV_STAMP)
	$(PY) docs/build.py --out docs/api

# Twice: with the generated fast paths (as users run it), then with the reference
# engine alone (TAPEGRAD_REFERENCE=1: autograd/engine.py and ops.py, nothing generated).
pytest: setup-dev browser
	$(PY) -m pytest -n 2 -q
	TAPEGRAD_REFERENCE=1 $(PY) -m pytest -n 2 -q

test: lint typecheck docs pytest

# Each engine in its own process (benchmarks/README.md); writes benchmarks/results/.
bench: setup-dev
	$(PY) -m benchmarks.run

notebooks: setup-dev
	$(PY) notebooks/run.py --write

clean:
	rm -rf $(VENV) out docs/api .pytest_cache .mypy_cache .ruff_cache .hypothesis
