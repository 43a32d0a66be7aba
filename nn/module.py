"""Module, the base class of every model: parameter discovery, state dicts, JSON save/load."""

from __future__ import annotations

import itertools
import json
import math
import os
import random
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from autograd import Value
from nn.io import (
    FORMAT,
    FORMAT_VERSION,
    ModelFileError,
    PathLike,
    StateDictError,
    check_parameters,
    read_model_file,
    shown,
    write_atomically,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelFileError",
    "Module",
    "Scalar",
    "StateDictError",
    "load",
    "read_meta",
]

Scalar = Value | float
"""What a model takes and a loss returns: a Value, or a plain number."""


class Module:
    """Base class of models: subclasses store Values and Modules as attributes.

    ``parameters()`` finds them automatically, in the order the attributes were
    assigned, looking inside lists and tuples (so micrograd-style classes with
    ``self.w = [...]`` and ``self.b = Value(0)`` need no extra code). A Value
    reachable twice is listed once. Subclasses that want ``save``/``nn.load``
    to rebuild them override :meth:`config` (and are named to ``nn.load`` with
    ``classes=``).
    """

    def __call__(self, x: Sequence[Scalar]) -> Value | list[Value]:
        """Run the model on one example (subclasses define it)."""
        raise NotImplementedError(f"{type(self).__name__} does not define __call__")

    def named_parameters(self) -> list[tuple[str, Value]]:
        """Every parameter with its dotted path, e.g. ``layers.0.neurons.3.w.1``.

        Returns:
            ``(name, value)`` pairs in definition order, each Value once.
        """
        found: list[tuple[str, Value]] = []
        seen: set[int] = set()
        # Explicit stack (last in, first out): push children in reverse to keep order.
        stack: list[tuple[str, object]] = [("", self)]
        while stack:
            name, obj = stack.pop()
            if isinstance(obj, Value):
                if id(obj) not in seen:
                    seen.add(id(obj))
                    found.append((name, obj))
                continue
            if isinstance(obj, Module):
                if id(obj) in seen:  # a module shared or referenced twice
                    continue
                seen.add(id(obj))
                children = list(vars(obj).items())
            elif isinstance(obj, list | tuple):
                children = [(str(i), item) for i, item in enumerate(obj)]
            else:
                continue
            prefix = f"{name}." if name else ""
            stack.extend((prefix + key, child) for key, child in reversed(children))
        return found

    def parameters(self) -> list[Value]:
        """Every parameter (the leaves gradient descent updates), in definition order."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to 0.0 (gradients accumulate otherwise).

        Whatever ``grad`` held is dropped: a float, ``None`` (PyTorch's
        set-to-none idiom) or a Value left by ``backward(create_graph=True)``.
        """
        for p in self.parameters():
            p.grad = 0.0

    def config(self) -> dict[str, Any] | None:
        """Keyword arguments that rebuild this model's architecture, or None.

        ``save`` records them and ``nn.load`` calls the class with them. The
        default ``None`` means the model can be saved but only loaded back into
        an instance you build, with :meth:`load_state_dict`: ``nn.load`` does
        not guess (a class's defaults could build a different model). Your own
        ``Module`` gets ``nn.load`` by returning its ``__init__`` arguments here.
        """
        return None

    @classmethod
    def _expected_parameters(cls, config: Mapping[str, object]) -> tuple[int, Iterator[str]] | None:
        """How many parameters, and which names, a model built from ``config`` has.

        ``nn.load`` compares them with the file before building anything, so a
        file cannot make it build a huge model. Checks ``config`` as ``__init__``
        would (TypeError/ValueError naming the field) without making a Value;
        the names come lazily, in :meth:`named_parameters` order. ``None``, the
        default, means unknown: the model is built, then compared.
        """
        return None

    def state_dict(self) -> dict[str, float]:
        """The parameters' values by name (a plain dict, safe to serialise)."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float] | PathLike) -> None:
        """Set the parameters from a state dict or from a model file.

        Everything is checked before anything is assigned: on error no
        parameter changes.

        Args:
            state: A mapping from parameter names (as in :meth:`named_parameters`)
                to numbers, or the path of a file written by :meth:`save` for a
                model of the same class (its config is not used: the
                architecture is this model's).

        Raises:
            StateDictError: Missing or unexpected names, or a value that is not a
                finite number (``ModelFileError``, with the path, for a file).
        """
        if isinstance(state, str | os.PathLike):
            doc = read_model_file(state)
            if doc["class"] != type(self).__name__:
                raise ModelFileError(
                    state, f"holds a {doc['class']} model, not a {type(self).__name__}"
                )
            try:
                self._assign(doc["parameters"])
            except StateDictError as exc:
                raise ModelFileError(state, str(exc)) from None
        else:
            self._assign(state)

    def _assign(self, state: Mapping[str, object]) -> None:
        named = self.named_parameters()
        if not isinstance(state, Mapping):
            raise StateDictError(f"a state dict must be a mapping, got {type(state).__name__}")
        expected = [name for name, _ in named]
        known = set(expected)
        missing = [name for name in expected if name not in state]
        unexpected = [name for name in state if name not in known]
        if missing or unexpected:
            raise StateDictError(
                f"parameters do not match this {type(self).__name__} ({len(expected)} "
                f"parameters): {_mismatch(missing, len(missing), unexpected)}"
            )
        checked = check_parameters({name: state[name] for name in expected})
        values = list(checked.values())
        for (_, p), value in zip(named, values, strict=True):
            p.data = value

    def save(self, path: PathLike, *, meta: Mapping[str, Any] | None = None) -> None:
        """Write the model to a JSON file, atomically.

        The file records the format version, the class, :meth:`config` and every
        parameter; it is written to a temporary file in the same folder and then
        renamed over ``path``, so a crash never leaves a truncated model.

        Args:
            path: Where to write (the folder must exist).
            meta: Extra JSON-serialisable facts to keep with the model (for
                example how it was trained); read back with :func:`read_meta`.

        Raises:
            ModelFileError: A parameter is not finite (JSON cannot hold it), or
                the file cannot be written.
        """
        state = self.state_dict()
        for name, value in state.items():
            if not math.isfinite(value):
                raise ModelFileError(path, f"parameter {name!r} is {value!r}; JSON cannot store it")
        doc = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "class": type(self).__name__,
            "module": type(self).__module__,
            "config": self.config(),
            "meta": dict(meta or {}),
            "parameters": state,
        }
        try:
            text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise ModelFileError(path, f"cannot encode as JSON: {exc}") from None
        write_atomically(path, text)

    def __repr__(self) -> str:
        config = self.config()
        args = ", ".join(f"{key}={value!r}" for key, value in (config or {}).items())
        return f"{type(self).__name__}({args})"


def _few(names: Sequence[object], limit: int = 4) -> str:
    listed = ", ".join(shown(n) for n in names[:limit])
    return listed + (", ..." if len(names) > limit else "")


def _mismatch(missing: Sequence[str], n_missing: int | str, unexpected: Sequence[str]) -> str:
    parts = []
    if missing:
        parts.append(f"{n_missing} missing ({_few(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_few(unexpected)})")
    return "; ".join(parts)


_write_atomically = write_atomically  # the old private name, still imported by nn/cli.py


def _builtin_classes() -> tuple[type[Module], ...]:
    from nn.layers import MLP, Layer, Neuron  # here: nn.layers imports this module

    return (Neuron, Layer, MLP)


def _check_classes(classes: Collection[type[Module]] | type[Module]) -> tuple[type[Module], ...]:
    items = (classes,) if isinstance(classes, type) else classes
    if isinstance(items, str | bytes) or not isinstance(items, Collection):
        raise TypeError(f"classes must be a tuple of Module subclasses, got {shown(classes)}")
    for c in items:
        if not (isinstance(c, type) and issubclass(c, Module)):
            raise TypeError(f"classes must hold Module subclasses, got {shown(c)}")
    return tuple(items)


def _find_class(
    path: PathLike, doc: Mapping[str, Any], classes: Sequence[type[Module]]
) -> type[Module]:
    """The class the file names, among tapegrad's own and those the caller allowed."""
    name, module = doc["class"], doc["module"]
    candidates = list(
        dict.fromkeys(c for c in (*classes, *_builtin_classes()) if c.__name__ == name)
    )
    if len(candidates) > 1:  # several allowed classes share the name: the module decides
        candidates = [c for c in candidates if c.__module__ == module]
    if len(candidates) == 1:
        return candidates[0]
    if candidates or any(c.__name__ == name for c in classes):
        raise ModelFileError(
            path, f"more than one class in classes= is named {shown(name)}; pass only one"
        )
    builtins = ", ".join(c.__name__ for c in _builtin_classes())
    example = name if name.isidentifier() else "YourModel"
    raise ModelFileError(
        path,
        f"class {shown(name)} is not one nn.load may build: it builds tapegrad's own "
        f"({builtins}) and the classes you name, as in nn.load(path, classes=({example},)); "
        "or build the model yourself and call model.load_state_dict(path)",
    )


def _check_names(
    path: PathLike,
    cls: type[Module],
    expected: tuple[int, Iterator[str]],
    params: Mapping[str, float],
) -> None:
    """Compare the parameters a config implies with the file's, building nothing."""
    count, names = expected
    if count != len(params):
        raise ModelFileError(
            path,
            f"parameters do not match the config: a {cls.__name__} built from it has "
            f"{shown(count)} parameters, the file holds {len(params)}",
        )
    wanted = list(itertools.islice(names, count))  # as many names as the file holds
    known = set(wanted)
    missing = [name for name in wanted if name not in params]
    unexpected = [name for name in params if name not in known]
    if missing or unexpected:
        raise ModelFileError(
            path,
            f"parameters do not match the config of this {cls.__name__}: "
            + _mismatch(missing, len(missing), unexpected),
        )


def load(path: PathLike, *, classes: Collection[type[Module]] = ()) -> Module:
    """Rebuild a model saved with :meth:`Module.save`: same class, config and parameters.

    The file only chooses among classes you trust: tapegrad's own (``Neuron``,
    ``Layer``, ``MLP``) and those you pass in ``classes``. A file naming any
    other class is refused, even if that class is imported, because loading
    calls the class with the file's keyword arguments. For tapegrad's own
    classes the config is checked (field names, types, values) and the
    parameter names and count it implies are compared with the file's before
    anything is built, so the work done is bounded by the file's size, which
    is at most :data:`nn.io.MAX_FILE_BYTES`. A class of yours is called with
    the config as keyword arguments and compared afterwards.

    Building the model does not disturb the global ``random`` state.

    Args:
        path: The model file.
        classes: Your own Module classes the file may name, e.g.
            ``nn.load(path, classes=(MyNet,))``; each needs a :meth:`Module.config`.

    Returns:
        A new model of the saved class.

    Raises:
        ModelFileError: Missing, too large, truncated or non-JSON file, unknown
            format version, a class that is not allowed, a config that does not
            fit the class, or parameters that do not fit the architecture. Nothing
            is changed.
        TypeError: ``classes`` does not hold Module subclasses.
    """
    allowed = _check_classes(classes)
    doc = read_model_file(path)
    cls = _find_class(path, doc, allowed)
    config = doc["config"]
    if config is None:  # calling the class with its defaults could build another model
        raise ModelFileError(
            path,
            f"{doc['class']} records no config, so it cannot be rebuilt; give the class a "
            "config() method, or build the model and call model.load_state_dict(path)",
        )
    params = doc["parameters"]
    # Only a class's own rule: one inherited from MLP does not know a subclass's __init__.
    if "_expected_parameters" in vars(cls):
        try:
            expected = cls._expected_parameters(config)
        except (TypeError, ValueError) as exc:
            raise ModelFileError(path, f"config does not build a {cls.__name__}: {exc}") from None
        if expected is not None:
            _check_names(path, cls, expected, params)
    state = random.getstate()
    try:
        model = cls(**config)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(path, f"config does not build a {cls.__name__}: {exc}") from None
    finally:
        random.setstate(state)
    if not isinstance(model, Module):
        raise ModelFileError(path, f"{cls.__name__}(**config) did not return a Module")
    try:
        model._assign(params)
    except StateDictError as exc:
        raise ModelFileError(path, str(exc)) from None
    return model


def read_meta(path: PathLike) -> dict[str, Any]:
    """The ``meta`` facts stored with a model by ``save(path, meta=...)``.

    Raises:
        ModelFileError: As :func:`load`.
    """
    meta: dict[str, Any] = read_model_file(path)["meta"]
    return meta
