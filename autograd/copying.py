"""Copying and pickling Values: whole graphs, iteratively, with recording numbers kept in order.

`copy.copy`, `copy.deepcopy` and `pickle` of a Value reach here through
Value's own `__copy__`, `__deepcopy__` and `__reduce_ex__`. A Value is a graph:
copying one copies everything below it (operands, and the graphs of Values
held in `.grad` after `create_graph`), without recursion so chains of any
depth work, and gives the copies new recording numbers in the originals'
order, so the copied graph's backward order is the original's.
"""

from __future__ import annotations

import copy
import pickle
import threading
import weakref
from typing import Any

from autograd.engine import ManualRule, Node, Value, tick

__all__ = ["deep_copy", "reduce", "set_state", "shallow_copy", "state"]

_new = object.__new__

# The nodes a pickle in progress has listed, by id (per thread: pickles may run at once).
_pickling = threading.local()


def fields(v: Node) -> list[str]:
    """The slots a Value has filled (a subclass may add its own)."""
    return [
        name
        for cls in type(v).__mro__
        for name in getattr(cls, "__slots__", ())
        if name not in ("__weakref__", "__dict__") and hasattr(v, name)
    ]


def state(v: Node) -> dict[str, Any]:
    """A Value's fields and its own attributes, by name."""
    out = {name: getattr(v, name) for name in fields(v)}
    extra = getattr(v, "__dict__", None)  # attributes of the user's own
    if extra:
        out.update(extra)
    return out


def set_state(v: Node, st: Any) -> None:
    """Fill a new Value from `state` (or from a pickled `(graph, state, marker)` triple)."""
    if isinstance(st, tuple):
        st = st[1]
    renumbered = hasattr(v, "_seq")  # by its graph's `renumber`, which ran before this
    for name, value in st.items():
        if name != "_seq" or not renumbered:
            object.__setattr__(v, name, value)


def shallow_copy(v: Value) -> Value:
    """A new node with the same data, grad, label, op, operands and attributes."""
    refuse(v)
    new = _new(type(v))
    set_state(new, state(v))
    return new


def deep_copy(root: Value, memo: dict[int, Any]) -> Value:
    """Copy the whole graph below `root`, iteratively (any depth), ops by reference.

    Gradients that are Values (after `backward(create_graph=True)`) are copied
    with their graphs, sharing nodes as the originals do.
    """
    nodes = reachable(root)
    for node in nodes:
        refuse(node)
    made = []
    for node in nodes:  # first every node, then their fields: cycles through .grad are fine
        if id(node) not in memo:
            memo[id(node)] = _new(type(node))
            made.append(node)
    for node in made:
        new = memo[id(node)]
        for name in fields(node):
            object.__setattr__(new, name, getattr(node, name))
        new._operands = tuple([memo[id(c)] for c in node._operands])
        g = node.grad
        new.grad = memo[id(g)] if isinstance(g, Value) else g
        own = getattr(node, "__dict__", None)
        if own:
            new.__dict__.update(copy.deepcopy(own, memo))
    renumber([memo[id(n)] for n in made], [n._seq for n in made])
    memo.setdefault(id(memo), []).append(nodes)  # keep the originals alive, as copy does
    result: Value = memo[id(root)]
    return result


def reduce(v: Node) -> tuple[Any, ...]:
    """Pickle iteratively: the first Value pickled lists its graph, leaves first.

    Each node is then pickled after its operands and its gradient's graph,
    which the pickler already holds, so no node's state nests the next one
    (a chain of any depth pickles) and Values shared with the rest of the
    pickle stay shared.
    """
    st = state(v)
    scheduled: dict[int, Any] = _pickling.__dict__.setdefault("ids", {})
    below = []
    if not _is_scheduled(scheduled, v):
        below = [n for n in reachable(v) if not _is_scheduled(scheduled, n)]
    for n in below or (v,):  # refuse before anything is listed
        refuse(n, "pickle")
    if below:  # this node itself last (the pickler already holds it: a reference)
        ids = [id(n) for n in below]
        for n in below:
            scheduled[id(n)] = n
        marker = Unschedule(ids, below)
        # a pickle that fails never reaches the marker: its nodes leave the list when
        # the marker is dropped with the failed pickle's state
        weakref.finalize(marker, _forget, scheduled, ids)
        return (_new, (type(v),), (below, st, marker))
    return (_new, (type(v),), st)


class Unschedule:
    """Pickled after a graph's nodes: marks them done; unpickled, it renumbers them."""

    def __init__(self, ids: list[int], nodes: list[Node]) -> None:
        self.ids = ids
        self.nodes = nodes

    def __reduce__(self) -> tuple[Any, ...]:
        scheduled = _pickling.__dict__.setdefault("ids", {})
        for i in self.ids:
            scheduled.pop(i, None)
        return (renumber, (self.nodes, [n._seq for n in self.nodes]))


def renumber(nodes: list[Node], seqs: list[int]) -> None:
    """Give copied nodes new recording numbers, in the order of the originals' numbers.

    The originals' numbers are a topological order of the whole graph (through
    the graphs of `.grad` Values too); new ones, from this process's counter,
    keep that order and come after every node already recorded here.
    """
    for i in sorted(range(len(nodes)), key=seqs.__getitem__):
        if seqs[i] > 0:
            nodes[i]._seq = tick()


def reachable(root: Node) -> list[Node]:
    """Every Value below `root` through operands and through `.grad` Values, children first.

    Iterative depth-first search; a cycle (a gradient whose graph uses the node
    it belongs to) is cut where it closes.
    """
    order: list[Node] = []
    seen = {id(root)}
    stack = [(root, iter(_links(root)))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(_links(child))))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _links(node: Node) -> tuple[Node, ...]:
    g = node.grad
    return (*node._operands, g) if isinstance(g, Value) else node._operands


def _is_scheduled(scheduled: dict[int, Any], node: Node) -> bool:
    """Listed by a pickle in progress."""
    return scheduled.get(id(node)) is node


def _forget(scheduled: dict[int, Any], ids: list[int]) -> None:
    for i in ids:
        scheduled.pop(i, None)


def refuse(node: Node, what: str = "copy") -> None:
    """Raise for a node whose `_backward` was assigned by hand: its function holds the originals."""
    maker = node._maker
    if isinstance(maker, ManualRule) and maker.fn is not None:
        raise (pickle.PicklingError if what == "pickle" else TypeError)(
            f"cannot {what} a Value whose _backward was assigned (op {maker.symbol!r}): its "
            "function refers to the original nodes; define the op with @custom_op"
        )
