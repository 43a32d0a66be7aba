"""The sdist and wheel hold what a user needs and nothing else; the wheel runs from a clean venv.

The install test needs the runtime dependencies (numpy, graphviz, matplotlib,
tqdm) from the package index: PyPI in CI, the machine's mirror here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIP = (sys.executable, "-m", "pip")

pytest.importorskip("build")


def _run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The sdist, the wheel built from it (as `python -m build` does), and the build log."""
    out = tmp_path_factory.mktemp("dist")
    log = _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT, cwd=out)
    (sdist,) = out.glob("tapegrad-*.tar.gz")
    (wheel,) = out.glob("tapegrad-*.whl")
    return sdist, wheel, log


def test_build_gives_no_warning_about_our_metadata(dist: tuple[Path, Path, str]) -> None:
    log = dist[2]
    for bad in ("Warning", "deprecated", "is absent from the `packages`"):
        assert bad not in log, f"the build printed {bad!r}:\n{log}"


def test_wheel_holds_the_packages_typing_marker_and_license(dist: tuple[Path, Path, str]) -> None:
    names = zipfile.ZipFile(dist[1]).namelist()
    for needed in (
        "autograd/__init__.py",
        "autograd/_clash.py",
        "autograd/py.typed",
        "nn/__init__.py",
        "nn/export.py",
        "nn/py.typed",
        "tapegrad_cli.py",
        "tapegrad-0.1.0.dist-info/licenses/LICENSE",
    ):
        assert needed in names
    tops = {n.split("/")[0] for n in names}
    assert tops == {"autograd", "nn", "tapegrad_cli.py", "tapegrad-0.1.0.dist-info"}
    meta = zipfile.ZipFile(dist[1]).read("tapegrad-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in meta
    assert "Provides-Extra: torch" in meta and "Provides-Extra: onnx" in meta
    points = zipfile.ZipFile(dist[1]).read("tapegrad-0.1.0.dist-info/entry_points.txt").decode()
    assert "tapegrad = tapegrad_cli:main" in points


def test_sdist_holds_the_sources_and_license(dist: tuple[Path, Path, str]) -> None:
    with tarfile.open(dist[0]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "pyproject.toml", "README.md", "autograd/engine.py", "nn/cli.py"):
        assert needed in names
    assert not any(n.startswith(("notebooks/", ".venv/", ".git/")) for n in names)


def test_wheel_installs_into_a_clean_venv_and_trains_from_elsewhere(
    dist: tuple[Path, Path, str], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    # pip from this venv installs into the new one: the wheel and its runtime deps only.
    _run(*PIP, "--python", python, "install", "--quiet", dist[1], cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MPLBACKEND"] = "Agg"
    args = ("train", "--steps", "2", "--no-plots", "--no-progress", "--out", elsewhere / "out")
    log = _run(venv / "bin" / "tapegrad", *args, cwd=elsewhere, env=env)
    assert (elsewhere / "out" / "model.json").is_file(), log
    where = _run(
        python,
        "-c",
        "import autograd, nn; print(autograd.__file__, nn.__file__)",
        cwd=elsewhere,
        env=env,
    )
    assert str(ROOT) not in where and str(venv) in where  # the wheel's copy, not the checkout
    installed = _run(
        python,
        "-c",
        "import importlib.metadata as m; print(sorted("
        "d.metadata['Name'].lower() for d in m.distributions()))",
        cwd=elsewhere,
        env=env,
    )
    assert "torch" not in installed and "hypothesis" not in installed  # runtime only
