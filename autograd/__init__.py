"""tapegrad's autograd: scalar reverse-mode automatic differentiation in pure Python.

    from autograd import Value
    x = Value(2.0, label="x")
    y = (x * x + 1).tanh()
    y.backward()
    x.grad  # dy/dx

The import name is shared with the unrelated HIPS `autograd` package: install
tapegrad into its own virtual environment.
"""

from typing import TYPE_CHECKING

from autograd import _clash  # first: is `nn` tapegrad's too? (README "Import names")

_clash.check()

# engine.py first: it defines Value, then loads the op table (ops.py) built on it.
from autograd.engine import (
    Value,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    topological_order,
)

# isort: split
from autograd import fastpaths, ops
from autograd.functional import grad, hessian, value_and_grad
from autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from autograd.opdef import Op, custom_op

# The reference engine (engine.py, ops.py) runs alone with TAPEGRAD_REFERENCE=1;
# otherwise the generated fast paths, checked against it by the tests, go over it.
if not fastpaths.REFERENCE_ONLY:
    fastpaths.install()

#: Whether the C accelerator runs (there is none yet: the Python engine always does).
ACCELERATED = False

if TYPE_CHECKING:  # what the lazy names below are, for type checkers
    from autograd.compiler import Program, compile
    from autograd.explainer import Explanation, explain
    from autograd.viz import GraphvizNotFoundError, draw_dot, format_tape, largest_gradient_path

# Loaded on first use, so `import autograd` stays quick: the compiler, the explainer
# and the drawings (and numpy, Graphviz) are not imported until a name needs them.
_LAZY = {
    "Program": "autograd.compiler",
    "compile": "autograd.compiler",
    "Explanation": "autograd.explainer",
    "explain": "autograd.explainer",
    "GraphvizNotFoundError": "autograd.viz",
    "draw_dot": "autograd.viz",
    "format_tape": "autograd.viz",
    "largest_gradient_path": "autograd.viz",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'autograd' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "ACCELERATED",
    "Explanation",
    "GradcheckError",
    "GraphvizNotFoundError",
    "Op",
    "Program",
    "Value",
    "compile",
    "custom_op",
    "detect_anomaly",
    "draw_dot",
    "enable_grad",
    "explain",
    "format_tape",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hessian",
    "is_grad_enabled",
    "largest_gradient_path",
    "no_grad",
    "ops",
    "topological_order",
    "value_and_grad",
]
