"""tapegrad's autograd: scalar reverse-mode automatic differentiation in pure Python.

    from autograd import Value
    x = Value(2.0, label="x")
    y = (x * x + 1).tanh()
    y.backward()
    x.grad  # dy/dx

The import name is shared with the unrelated HIPS `autograd` package: install
tapegrad into its own virtual environment.
"""

from autograd import _clash  # first: is `nn` tapegrad's too? (README "Import names")

_clash.check()

from autograd import ops
from autograd.compiler import Program, compile
from autograd.engine import (
    Value,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    topological_order,
)
from autograd.explainer import Explanation, explain
from autograd.functional import grad, hessian, value_and_grad
from autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from autograd.opdef import Op, custom_op
from autograd.viz import GraphvizNotFoundError, draw_dot, format_tape, largest_gradient_path

__all__ = [
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
