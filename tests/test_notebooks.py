"""The notebooks run top to bottom without errors, and the committed ones carry their outputs.

Execution goes through notebooks/run.py, the same code `make notebooks` uses to
regenerate the committed outputs.
"""

from __future__ import annotations

import base64
import importlib.util
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = [
    "01_gradient_descent.ipynb",
    "02_computation_graph.ipynb",
    "03_training_an_mlp.ipynb",
    "04_property_based_gradient_checks.ipynb",
    "05_export_to_pytorch.ipynb",
]


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebooks_run", ROOT / "notebooks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load_runner()
NOTEBOOKS = run.notebook_paths()


def test_every_notebook_is_found() -> None:
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_cleanly(path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("the notebooks draw graphs, which needs Graphviz 'dot'")
    nb = run.execute(path)  # a cell that raises fails here, with its traceback
    assert run.problems(nb) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert run.problems(nb) == []
    assert any(
        "image/png" in out.get("data", {}) or "image/svg+xml" in out.get("data", {})
        for cell in nb.cells
        for out in cell.get("outputs", [])
    ), "every notebook shows at least one picture"
    assert path.stat().st_size < 1_000_000, "outputs should stay small"


# --- the checks themselves ----------------------------------------------------


def _notebook(*outputs: list[Any], counts: list[int | None] | None = None) -> Any:
    v4 = nbformat.v4
    cells = [v4.new_markdown_cell("# title")]
    for i, outs in enumerate(outputs):
        cell = v4.new_code_cell("x = 1", outputs=outs)
        cell.execution_count = i + 1 if counts is None else counts[i]
        cells.append(cell)
    return v4.new_notebook(cells=cells)


def test_problems_accepts_a_clean_run() -> None:
    out = nbformat.v4.new_output("stream", name="stdout", text="hello\n")
    assert run.problems(_notebook([out], [])) == []


def test_problems_reports_an_error_output() -> None:
    err = nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])
    assert run.problems(_notebook([err])) == ["cell 1: error output ValueError: boom"]


def test_problems_reports_stderr() -> None:
    warn = nbformat.v4.new_output("stream", name="stderr", text="UserWarning: careful\n")
    found = run.problems(_notebook([warn]))
    assert len(found) == 1 and "stderr" in found[0] and "careful" in found[0]


def test_problems_reports_cells_not_run_in_order() -> None:
    out = nbformat.v4.new_output("stream", name="stdout", text="hi\n")
    found = run.problems(_notebook([out], [out], counts=[2, None]))
    assert found == ["code cells not executed top to bottom in one run: counts [2, None]"]


def test_problems_reports_a_notebook_without_outputs() -> None:
    assert run.problems(_notebook([], [])) == ["no outputs at all"]


def test_notebook_paths_by_number_and_name() -> None:
    by_number = run.notebook_paths(["02"])
    by_name = run.notebook_paths(["02_computation_graph.ipynb"])
    assert [p.name for p in by_number] == [p.name for p in by_name] == [EXPECTED[1]]
    with pytest.raises(SystemExit, match="no notebook called 'nope'"):
        run.notebook_paths(["nope"])


def test_save_images_writes_the_tagged_png(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n fake"
    out = nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png).decode()})
    nb = _notebook([out])
    nb.cells[1].metadata["tags"] = ["image:picture.png"]
    assert run.save_images(nb, tmp_path) == [tmp_path / "picture.png"]
    assert (tmp_path / "picture.png").read_bytes() == png
