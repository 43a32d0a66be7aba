"""Import-name clashes: is the ``autograd`` or ``nn`` that Python finds tapegrad's own?

tapegrad's two packages have short, popular names. HIPS autograd (PyPI
``autograd``) installs into the same ``site-packages/autograd/`` folder, so
whichever is installed last owns ``__init__.py``; a user's own ``nn`` package
may come earlier on ``sys.path``. This module tells these cases apart without
importing the other package, and words one line that names it and the fix.

It uses the standard library only and imports nothing from tapegrad, so the
console script (``tapegrad_cli``) can load it by path whatever ``autograd`` is.
A package is tapegrad's when its ``__init__.py`` imports this module
(:data:`MARKER`); both of tapegrad's do, as their first statement.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass

__all__ = [
    "FIX",
    "MARKER",
    "Finding",
    "ImportClashError",
    "ImportClashWarning",
    "check",
    "find",
    "problem",
    "require",
]

MARKER = "import _clash"
"""Text that only tapegrad's ``autograd/__init__.py`` and ``nn/__init__.py`` contain."""

FIX = (
    "install tapegrad in its own virtual environment: "
    "python -m venv tapegrad-env && tapegrad-env/bin/pip install --force-reinstall tapegrad"
)
"""The remedy every message ends with (README "Import names")."""

HIPS_FILES = ("tracer.py", "differential_operators.py")
"""Files of HIPS autograd's package that tapegrad's ``autograd`` does not have."""

NAMES = ("autograd", "nn")


class ImportClashError(ImportError):
    """``import nn`` found tapegrad's ``nn``, but ``autograd`` is another package."""


class ImportClashWarning(UserWarning):
    """tapegrad works, but a package of the same name is shadowed or broken beside it."""


@dataclass(frozen=True)
class Finding:
    """Where ``import <name>`` leads, without running that package.

    Attributes:
        name: The import name (``"autograd"`` or ``"nn"``).
        origin: The ``__init__.py`` it would run; ``None`` when not found or
            when the folder has no ``__init__.py`` (a namespace package).
        folder: The package's folder, ``None`` when not found.
        ours: The ``__init__.py`` is tapegrad's.
    """

    name: str
    origin: str | None
    folder: str | None
    ours: bool


def find(name: str) -> Finding:
    """Where ``import name`` leads now: the module already imported, else the path search."""
    module = sys.modules.get(name)
    if module is not None:
        origin = getattr(module, "__file__", None)
        locations = list(getattr(module, "__path__", []) or [])
    else:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return Finding(name, None, None, False)
        origin = spec.origin if spec.has_location else None
        locations = list(spec.submodule_search_locations or [])
    if origin is not None and os.path.basename(origin) != "__init__.py":
        return Finding(name, origin, os.path.dirname(origin), False)  # a plain module nn.py
    folder = os.path.dirname(origin) if origin else (locations[0] if locations else None)
    return Finding(name, origin, folder, origin is not None and _has_marker(origin))


def _has_marker(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return MARKER in f.read()
    except OSError:
        return False


def _owner(name: str, path: str) -> str | None:
    """The distribution other than tapegrad (name and version) whose files include ``path``."""
    from importlib import metadata  # only on the error path: it reads the dist-infos

    target = os.path.realpath(path)
    for dist_name in metadata.packages_distributions().get(name, []):
        if dist_name.lower() == "tapegrad":  # its RECORD lists the file it no longer owns
            continue
        dist = metadata.distribution(dist_name)
        for file in dist.files or ():
            if file.name == os.path.basename(target) and (
                os.path.realpath(str(dist.locate_file(file))) == target
            ):
                return f"{dist.metadata['Name']} {dist.version}"
    return None


def _ours_elsewhere(name: str, folder: str) -> str | None:
    """tapegrad's own ``name`` folder when it is not ``folder`` (so the other one hides it).

    tapegrad's two packages always sit side by side (in site-packages, or in the
    checkout of an editable install), next to the folder of this file.
    """
    ours = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), name)
    if os.path.realpath(folder) == ours or not _has_marker(os.path.join(ours, "__init__.py")):
        return None
    return ours


def _describe(found: Finding) -> str:
    """One clause naming the package that holds ``found.name``."""
    if found.origin is None:
        return (
            f"the folder {found.folder} has no __init__.py (pip deletes the one "
            f"tapegrad shares with HIPS autograd when either is uninstalled)"
        )
    owner = _owner(found.name, found.origin)
    if found.name == "autograd" and owner is not None and owner.lower().startswith("autograd "):
        return f"{found.origin} belongs to HIPS autograd (PyPI distribution {owner})"
    if owner is not None:
        return f"{found.origin} belongs to the distribution {owner}"
    return f"{found.origin} is another package of that name"


def problem(name: str) -> str | None:
    """One line saying why ``import name`` does not give tapegrad's package, or ``None``.

    Args:
        name: ``"autograd"`` or ``"nn"``.

    Returns:
        ``None`` when ``name`` is tapegrad's (or not installed at all), else a
        message naming the other package, where tapegrad's copy is if it is
        shadowed, and the fix.
    """
    if name not in NAMES:
        raise ValueError(f"problem() checks {' or '.join(NAMES)}, got {name!r}")
    found = find(name)
    if found.ours or found.folder is None:
        return None
    message = f"tapegrad's `{name}` is not the one Python imports: {_describe(found)}"
    shadowed = _ours_elsewhere(name, found.folder)
    if shadowed is not None:
        message += (
            f"; it comes first on sys.path and hides tapegrad's {shadowed}"
            " (run from another folder, or take it off PYTHONPATH), or"
        )
    else:
        message += "; to fix it,"
    return f"{message} {FIX}"


def require(name: str) -> None:
    """Raise :class:`ImportClashError` when ``import name`` is not tapegrad's package.

    ``nn/__init__.py`` calls ``require("autograd")`` before it imports anything
    from the engine, so a foreign ``autograd`` is named instead of failing later
    with ``cannot import name 'Value'``.
    """
    message = problem(name)
    if message is not None:
        raise ImportClashError(message, name=name)


def check() -> None:
    """Warn (:class:`ImportClashWarning`) about a clash that leaves tapegrad's ``autograd`` usable.

    Called by ``autograd/__init__.py``: warns when ``import nn`` would give
    another package than tapegrad's, and when HIPS autograd's files share
    tapegrad's folder (tapegrad was installed over it, so HIPS code now breaks).
    """
    message = problem("nn")
    if message is not None:
        warnings.warn(message, ImportClashWarning, stacklevel=3)
    here = os.path.dirname(os.path.abspath(__file__))
    if all(os.path.isfile(os.path.join(here, f)) for f in HIPS_FILES):
        owner = _owner("autograd", os.path.join(here, HIPS_FILES[0])) or "autograd"
        warnings.warn(
            f"HIPS autograd (PyPI distribution {owner}) is installed in the same folder as "
            f"tapegrad's `autograd` ({here}) and tapegrad's __init__.py replaced its, so "
            f"`import autograd` gives tapegrad and HIPS code breaks; give each its own "
            f"virtual environment (pip uninstall autograd tapegrad, then {FIX})",
            ImportClashWarning,
            stacklevel=3,
        )
