"""Execute the notebooks top to bottom, and with --write save them with their outputs.

    python notebooks/run.py                 # run every notebook, report errors
    python notebooks/run.py 02 04           # only these (a number, a name or a path)
    python notebooks/run.py --write         # `make notebooks`: save outputs in place

Each notebook runs in a fresh `python3` kernel whose working directory is this
folder. A code cell tagged `image:NAME.png` also has its PNG output saved to
docs/images/NAME.png on --write, so the README's picture is a notebook output.
The test suite (tests/test_notebooks.py) calls `execute` and `problems` below.
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

HERE = Path(__file__).resolve().parent
IMAGES = HERE.parent / "docs" / "images"
KERNEL = "python3"
CELL_TIMEOUT = 120  # seconds; a whole notebook should take well under that
IMAGE_TAG = "image:"
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # `<Digraph object at 0x7f...>` differs every run


def notebook_paths(names: Iterable[str] = ()) -> list[Path]:
    """The notebooks to run: all of them, or those matching `names` (number, stem or path)."""
    every = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    names = list(names)
    if not names:
        return every
    chosen = []
    for name in names:
        stem = Path(name).name.removesuffix(".ipynb")
        matches = [p for p in every if p.stem == stem or p.stem.split("_", 1)[0] == stem]
        if not matches:
            known = ", ".join(p.name for p in every)
            raise SystemExit(f"error: no notebook called {name!r}; the notebooks are: {known}")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def execute(path: Path, timeout: int = CELL_TIMEOUT) -> Any:
    """Run every cell of the notebook at `path` in a fresh kernel; return the executed notebook.

    Memory addresses in plain-text outputs are removed, so that running a
    notebook twice gives the same file.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised; the message holds its traceback.
        nbclient.exceptions.CellTimeoutError: a cell ran longer than `timeout` seconds.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(HERE)}},
        record_timing=False,  # timestamps would change every committed cell on each run
    )
    client.execute()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text/plain" in out.get("data", {}):
                out.data["text/plain"] = ADDRESS.sub("", out.data["text/plain"])
    return nb


def problems(nb: Any) -> list[str]:
    """What is wrong with an executed notebook, one line each; empty when it is fine.

    Every code cell must have run, in order, in one session (execution counts
    1, 2, 3, ...); no output may be an error or text written to stderr (a
    warning or a stray progress bar); and the notebook must show something.
    """
    found = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code]
    if counts != list(range(1, len(code) + 1)):
        found.append(f"code cells not executed top to bottom in one run: counts {counts}")
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"cell {i}: error output {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr":
                found.append(f"cell {i}: stderr output {out.text.strip()[:200]!r}")
    if not any(c.get("outputs") for c in code):
        found.append("no outputs at all")
    return found


def save_images(nb: Any, folder: Path = IMAGES) -> list[Path]:
    """Write the PNG output of each cell tagged `image:NAME.png` to `folder`/NAME.png."""
    written = []
    for cell in nb.cells:
        for tag in cell.get("metadata", {}).get("tags", []):
            if not tag.startswith(IMAGE_TAG):
                continue
            pngs = [o.data["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
            if len(pngs) != 1:
                raise ValueError(f"cell tagged {tag!r} has {len(pngs)} PNG outputs; need one")
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / tag.removeprefix(IMAGE_TAG)
            target.write_bytes(base64.b64decode(pngs[0]))
            written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--write", action="store_true", help="save outputs into the notebooks")
    parser.add_argument(
        "--timeout", type=int, default=CELL_TIMEOUT, help="seconds allowed per cell"
    )
    args = parser.parse_args(argv)

    failed = 0
    for path in notebook_paths(args.names):
        start = time.perf_counter()
        try:
            nb = execute(path, args.timeout)
        except (CellExecutionError, CellTimeoutError) as exc:
            print(f"FAIL {path.name}\n{exc}", file=sys.stderr)
            failed += 1
            continue
        seconds = time.perf_counter() - start
        found = problems(nb)
        status = "FAIL" if found else "ok  "
        print(f"{status} {path.name}  {seconds:.1f} s")
        for line in found:
            print(f"     {line}")
        failed += bool(found)
        if args.write and not found:
            nbformat.write(nb, path)
            for image in save_images(nb):
                print(f"     wrote {image.relative_to(HERE.parent)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
