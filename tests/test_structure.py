"""The shape of the code: what imports what, what `import autograd` loads, generated source.

Read from the source files themselves (ast), so a new import that closes a
cycle, or reaches into another module's private names, fails here first.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

import autograd
from autograd import Value, fastpaths, ops

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("autograd", "nn")

# The one cycle the engine is allowed: Value's operators dispatch into the op table,
# which is built on Value (engine.py imports ops.py last, after Value exists).
ALLOWED_CYCLE_EDGE = ("autograd.engine", "autograd.ops")


def _modules(package: str) -> dict[str, Path]:
    return {
        (f"{package}.{p.stem}" if p.stem != "__init__" else package): p
        for p in sorted((ROOT / package).glob("*.py"))
    }


def _resolve(name: str, level: int, here: str, is_package: bool) -> str:
    if not level:
        return name
    base = here.split(".") if is_package else here.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _imports(module: str, path: Path, top_level_only: bool) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for each import in the file.

    `top_level_only`: the imports that run when the module is imported (module
    body, including `if`/`try` blocks there), not those inside functions or under
    `if TYPE_CHECKING:`.
    """
    tree = ast.parse(path.read_text())
    found: list[tuple[str, list[str], int]] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.extend((a.name, [], node.lineno) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(node.module or "", node.level, module, path.stem == "__init__")
                found.append((target, [a.name for a in node.names], node.lineno))
            elif isinstance(node, ast.If):
                if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                    continue  # never runs
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for h in node.handlers:
                    visit(h.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif not top_level_only:
                visit([n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)])

    visit(tree.body)
    return found


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    mods = {**_modules("autograd"), **_modules("nn")}
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for target, names, _ in _imports(m, path, top_level_only):
            # `from autograd import ops` depends on autograd.ops; `from autograd.engine
            # import Value` on autograd.engine (a package's own __init__ is not a target
            # when what is taken from it are its modules)
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in mods]
            for t in subs or [target]:
                if t in mods and t != m:
                    edges[m].add(t)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_autograd_has_no_import_cycle_but_the_documented_one() -> None:
    edges = {m: t for m, t in _graph(top_level_only=True).items() if m.startswith("autograd")}
    assert ALLOWED_CYCLE_EDGE[1] in edges[ALLOWED_CYCLE_EDGE[0]]  # the edge is real
    edges[ALLOWED_CYCLE_EDGE[0]].discard(ALLOWED_CYCLE_EDGE[1])
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_nn_imports_autograd_and_autograd_never_imports_nn() -> None:
    full = _graph(top_level_only=False)
    for m, targets in full.items():
        if m.startswith("autograd"):
            assert not any(t == "nn" or t.startswith("nn.") for t in targets), m


def test_no_module_imports_another_modules_private_names() -> None:
    mods = {**_modules("autograd"), **_modules("nn")}
    offences = []
    for m, path in mods.items():
        for target, names, line in _imports(m, path, top_level_only=False):
            for n in names:
                private = n.startswith("_") and not n.startswith("__")
                if private and f"{target}.{n}" not in mods:  # a private module is a module
                    offences.append(f"{path.name}:{line} imports {n} from {target}")
        tree = ast.parse(path.read_text())
        aliases = {
            a.asname or a.name: _resolve(f"{node.module or ''}", node.level, m, False)
            + ("." if node.module else "")
            + a.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for a in node.names
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and aliases.get(node.value.id, "") in mods
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                offences.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert offences == []


def test_import_autograd_loads_no_compiler_explainer_or_graphviz() -> None:
    code = (
        "import sys, autograd\n"
        "heavy = ['autograd.compiler', 'autograd.explainer', 'autograd.viz',"
        " 'graphviz', 'numpy', 'matplotlib']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "autograd.compile; autograd.explain; autograd.draw_dot\n"
        "print(sorted(m for m in heavy[:3] if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.splitlines()
    assert out == ["[]", "['autograd.compiler', 'autograd.explainer', 'autograd.viz']"]


def test_reference_mode_installs_nothing() -> None:
    code = (
        "import autograd\nfrom autograd import Value, engine, fastpaths\n"
        "print(fastpaths.installed(), engine.float_pass is engine.reference_pass,"
        " Value.__add__.__module__)"
    )
    env_out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={"TAPEGRAD_REFERENCE": "1", "PATH": "/usr/bin:/bin"},
    ).stdout.split()
    assert env_out == ["False", "True", "autograd.engine"]


def test_reference_context_takes_every_fast_path_out_and_puts_it_back() -> None:
    before = (Value.__add__, autograd.engine.float_pass, autograd.neuron.neurons)
    with fastpaths.reference():
        assert not fastpaths.installed()
        assert Value.__add__.__module__ == "autograd.engine"
        assert autograd.engine.float_pass is autograd.engine.reference_pass
        assert autograd.neuron.neurons.__module__ == "autograd.neuron"
        assert ops.tanh.float_forward is ops.tanh.forward
    assert (Value.__add__, autograd.engine.float_pass, autograd.neuron.neurons) == before


def test_generated_code_shows_its_source_in_tracebacks_and_inspect() -> None:
    fastpaths.build()
    step = fastpaths.inlined_step(ops.mul)
    assert step is not None
    assert "g * x1" in inspect.getsource(step)
    node = Value(2.0) * Value(3.0)
    node.grad = "not a number"  # makes the generated line raise
    with pytest.raises(TypeError) as info:
        step(node)
    text = "".join(traceback.format_exception(info.value))
    assert "<tapegrad-generated mul_step" in text and "v0.grad +=" in text
