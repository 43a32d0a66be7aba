"""The `tapegrad` console script: checks the import names, then runs nn.cli.

The entry point lives in this top-level module, not in `nn.cli`, because when
another package owns the name `nn` or `autograd` (a user's own `nn` earlier on
sys.path, HIPS autograd installed over tapegrad) `nn.cli` cannot even be
imported: pip's script would die with a traceback. This module imports neither
package before it has checked both with autograd/_clash.py, which it loads by
path from beside itself, and prints that check's one line instead.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["main"]

_CLASH = Path(__file__).resolve().with_name("autograd") / "_clash.py"


def _load_clash() -> ModuleType | None:
    """tapegrad's autograd/_clash.py as a module of its own (None if it is missing)."""
    spec = importlib.util.spec_from_file_location("tapegrad_cli_clash", _CLASH)
    if spec is None or spec.loader is None or not _CLASH.is_file():
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks the module up while building Finding
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tapegrad`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    A clash over the names ``autograd``/``nn`` prints one line and returns 1; a
    clash that leaves tapegrad working prints one ``tapegrad: warning:`` line.
    """
    clash = _load_clash()
    if clash is not None:
        for name in ("autograd", "nn"):
            message = clash.problem(name)
            if message is not None:
                print(f"tapegrad: error: {message}", file=sys.stderr)
                return 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from nn.cli import main as run
    for w in caught:
        if w.category.__name__ == "ImportClashWarning":  # one line, not a source listing
            print(f"tapegrad: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
