"""Build the API reference from the docstrings with pdoc; fail on a missing docstring or a warning.

    python docs/build.py --out docs/api      # `make docs`; `make test` runs it too
    python docs/build.py                     # only the checks, no HTML written

Every public module of autograd and nn is documented (pdoc alone would show
only the submodules a package's ``__all__`` names). A public module, class,
function or method without a docstring, or any warning pdoc raises while
reading the docstrings, is an error: the build prints each and exits with 1.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import pdoc
import pdoc.doc

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("autograd", "nn")


def public_modules(packages: Sequence[str] = PACKAGES) -> list[str]:
    """The packages and every submodule whose name has no leading underscore."""
    names = []
    for package in packages:
        names.append(package)
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", ()):  # load what a package loads lazily
            getattr(module, name)
        path = module.__path__
        for info in pkgutil.iter_modules(path, prefix=f"{package}."):
            if not info.name.rsplit(".", 1)[1].startswith("_"):
                names.append(info.name)
    return names


def _undocumented(doc: pdoc.doc.Doc[object]) -> Iterator[str]:
    """Public names under ``doc`` (itself included) that have no docstring of their own."""
    if not doc.docstring.strip():
        yield doc.fullname
    if isinstance(doc, pdoc.doc.Namespace):
        for member in doc.own_members:
            if member.name.startswith("_") or not isinstance(
                member, pdoc.doc.Function | pdoc.doc.Class
            ):
                continue  # private, a dunder (Python's docstring), or a variable
            yield from _undocumented(member)


def problems(modules: Sequence[str]) -> list[str]:
    """Missing docstrings and pdoc warnings, one line each."""
    found = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in modules:
            module = pdoc.doc.Module(importlib.import_module(name))
            found += [f"{n}: no docstring" for n in _undocumented(module)]
    found += [f"pdoc warning: {w.message}" for w in caught]
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the HTML (default: check only)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    modules = public_modules()
    found = problems(modules)
    for line in found:
        print(f"docs: {line}", file=sys.stderr)
    if found:
        return 1
    if args.out is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pdoc.render.configure(docformat="google", footer_text="tapegrad")
            pdoc.pdoc(*modules, output_directory=args.out)
        # Naming a package and its submodules repeats the ones its __all__ lists: harmless.
        caught = [w for w in caught if "has already been added" not in str(w.message)]
        for w in caught:
            print(f"docs: pdoc warning: {w.message}", file=sys.stderr)
        if caught:
            return 1
        print(f"docs: wrote {args.out / 'index.html'} ({len(modules)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
