"""Import-name clashes are explained in one line: HIPS autograd really installed, a fake `nn` first.

The HIPS tests install tapegrad's wheel and HIPS autograd (PyPI `autograd`, from
the package index) into a throwaway venv with `pip --no-deps`; numpy, which HIPS
imports, comes from this venv through a .pth file, so nothing else is fetched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIP = (sys.executable, "-m", "pip")
FIX = "pip install --force-reinstall tapegrad"


def _run(
    *cmd: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def _ok(*cmd: str | Path, cwd: Path) -> str:
    proc = _run(*cmd, cwd=cwd)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "MPLBACKEND": "Agg", **extra}


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tapegrad: error: "), proc.stderr
    for part in parts:
        assert part in lines[0]


# --- a package of the same name earlier on sys.path ---------------------------------


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    """Folders fake_nn/ and fake_autograd/, each holding a user's own one-line package."""
    for name in ("nn", "autograd"):
        (tmp_path / f"fake_{name}" / name).mkdir(parents=True)
        (tmp_path / f"fake_{name}" / name / "__init__.py").write_text("MINE = True\n")
    return tmp_path


def _with_fake(fakes: Path, name: str, tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH with the fake `name` ahead of the checkout."""
    return _clean_env(PYTHONPATH=os.pathsep.join([str(fakes / f"fake_{name}"), str(ROOT)]))


CLI = "import sys, tapegrad_cli; sys.exit(tapegrad_cli.main(['train', '--steps', '1']))"


def test_a_users_nn_first_on_the_path_is_named_by_the_cli(fakes: Path, tmp_path: Path) -> None:
    env = _with_fake(fakes, "nn", tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", CLI], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    _assert_one_line_error(
        proc, str(fakes / "fake_nn" / "nn"), f"hides tapegrad's {ROOT / 'nn'}", FIX
    )
    assert not (tmp_path / "out").exists()


def test_a_users_nn_first_on_the_path_is_a_warning_on_import_autograd(
    fakes: Path, tmp_path: Path
) -> None:
    env = _with_fake(fakes, "nn", tmp_path)
    code = "import autograd; import nn; print(autograd.Value(2.0).data, nn.MINE)"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2.0", "True"]  # both keep working: a warning, not an error
    assert "ImportClashWarning" in proc.stderr and str(fakes / "fake_nn" / "nn") in proc.stderr
    assert proc.stderr.count("ImportClashWarning") == 1


def test_a_foreign_autograd_first_on_the_path(fakes: Path, tmp_path: Path) -> None:
    env = _with_fake(fakes, "autograd", tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", CLI], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    _assert_one_line_error(proc, str(fakes / "fake_autograd" / "autograd"), FIX)
    proc = subprocess.run(
        [sys.executable, "-c", "import nn"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    # ImportClashError, or the plain ImportError nn/__init__.py raises when autograd/_clash.py
    # cannot be reached (here the editable install's finder still reaches it).
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(("autograd._clash.ImportClashError: ", "ImportError: tapegrad's `nn`"))
    assert str(fakes / "fake_autograd" / "autograd") in last and FIX in last


def test_no_clash_no_message(tmp_path: Path) -> None:
    env = _clean_env(PYTHONPATH=str(ROOT))
    code = "import warnings; warnings.simplefilter('error'); import autograd, nn"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stderr == ""


# --- HIPS autograd really installed -------------------------------------------------


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """tapegrad's wheel (built from an sdist, away from the checkout) and HIPS autograd's."""
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("wheels")
    _ok(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT, cwd=out)
    _ok(*PIP, "download", "--quiet", "--no-deps", "--dest", out, "autograd==1.9.1", cwd=out)
    (ours,) = out.glob("tapegrad-*.whl")
    (hips,) = out.glob("autograd-*.whl")
    return ours, hips


def _venv(where: Path) -> Path:
    """A new venv without pip, which sees this venv's numpy only (for HIPS's own imports)."""
    _ok(sys.executable, "-m", "venv", "--without-pip", where, cwd=where.parent)
    np = pytest.importorskip("numpy")
    shelf = where / "numpy-only"
    shelf.mkdir()
    src = Path(np.__file__).parent
    (shelf / "numpy").symlink_to(src)
    if (src.parent / "numpy.libs").is_dir():
        (shelf / "numpy.libs").symlink_to(src.parent / "numpy.libs")
    (site,) = (where / "lib").glob("python3*/site-packages")
    (site / "numpy_only.pth").write_text(f"{shelf}\n")
    return where / "bin" / "python"


def _install(python: Path, *args: str | Path) -> None:
    _ok(*PIP, "--python", python, *args, cwd=python.parent)


def test_hips_installed_over_tapegrad(wheels: tuple[Path, Path], tmp_path: Path) -> None:
    python = _venv(tmp_path / "venv")
    _install(python, "install", "--quiet", "--no-deps", wheels[0])
    _install(python, "install", "--quiet", "--no-deps", wheels[1])  # overwrites __init__.py
    env = _clean_env()
    proc = _run(python.with_name("tapegrad"), "train", cwd=tmp_path, env=env)
    _assert_one_line_error(proc, "HIPS autograd (PyPI distribution autograd 1.9.1)", FIX)
    proc = _run(python, "-c", "import nn", cwd=tmp_path, env=env)
    assert "autograd._clash.ImportClashError" in proc.stderr and "HIPS autograd" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].count(FIX) == 1
    # The fix the message gives works (tapegrad owns __init__.py again, HIPS is now the broken one).
    _install(python, "install", "--quiet", "--no-deps", "--force-reinstall", wheels[0])
    proc = _run(python, "-c", "import nn; print(nn.MLP)", cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "nn.layers.MLP" in proc.stdout, proc.stderr


def test_tapegrad_installed_over_hips_then_hips_removed(
    wheels: tuple[Path, Path], tmp_path: Path
) -> None:
    python = _venv(tmp_path / "venv")
    _install(python, "install", "--quiet", "--no-deps", wheels[1])
    _install(python, "install", "--quiet", "--no-deps", wheels[0])
    env = _clean_env()
    proc = _run(
        python, "-c", "import autograd; print(autograd.Value(3).data)", cwd=tmp_path, env=env
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "3.0", proc.stderr
    assert proc.stderr.count("ImportClashWarning") == 1
    assert "HIPS autograd (PyPI distribution autograd 1.9.1)" in proc.stderr
    assert "HIPS code breaks" in proc.stderr
    # Uninstalling HIPS deletes the __init__.py the two share: tapegrad says so.
    _install(python, "uninstall", "--quiet", "--yes", "autograd")
    proc = _run(python.with_name("tapegrad"), "train", cwd=tmp_path, env=env)
    _assert_one_line_error(proc, "has no __init__.py", FIX)
    proc = _run(python, "-c", "import nn", cwd=tmp_path, env=env)
    assert "ImportClashError" in proc.stderr and "has no __init__.py" in proc.stderr
