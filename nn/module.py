"""Module, the base class of every model: parameter discovery, state dicts, JSON save/load."""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Mapping, Sequence
from typing import Any

from autograd import Value
from nn.io import (
    FORMAT,
    FORMAT_VERSION,
    ModelFileError,
    PathLike,
    StateDictError,
    read_model_file,
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

_REGISTRY: dict[str, type[Module]] = {}


class Module:
    """Base class of models: subclasses store Values and Modules as attributes.

    ``parameters()`` finds them automatically, in the order the attributes were
    assigned, looking inside lists and tuples (so micrograd-style classes with
    ``self.w = [...]`` and ``self.b = Value(0)`` need no extra code). A Value
    reachable twice is listed once. Subclasses that want ``save``/``nn.load``
    to rebuild them override :meth:`config`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[f"{cls.__module__}.{cls.__qualname__}"] = cls

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
        """Set every parameter's ``grad`` to 0 (gradients accumulate otherwise)."""
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
                model of the same class.

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
        missing = [name for name in expected if name not in state]
        unexpected = [name for name in state if name not in set(expected)]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing ({_few(missing)})")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected ({_few(unexpected)})")
            raise StateDictError(
                f"parameters do not match this {type(self).__name__} "
                f"({len(expected)} parameters): " + "; ".join(parts)
            )
        values = []
        for name, _ in named:
            value = state[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise StateDictError(
                    f"parameter {name!r} is {type(value).__name__} {value!r}, not a number"
                )
            if not math.isfinite(value):
                raise StateDictError(f"parameter {name!r} is {value!r}, not a finite number")
            values.append(float(value))
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


def _few(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (", ..." if len(names) > limit else "")


_write_atomically = write_atomically  # the old private name, still imported by nn/cli.py


def _find_class(path: PathLike, doc: Mapping[str, Any]) -> type[Module]:
    name = doc["class"]
    module = doc.get("module")
    cls = _REGISTRY.get(f"{module}.{name}")
    if cls is None:
        matches = [c for key, c in _REGISTRY.items() if key.rsplit(".", 1)[-1] == name]
        if len(matches) != 1:
            where = "more than one" if matches else "no"
            raise ModelFileError(
                path,
                f"{where} Module class named {name!r} is defined; import the module that "
                "defines it, or build the model and call load_state_dict(path)",
            )
        cls = matches[0]
    return cls


def load(path: PathLike) -> Module:
    """Rebuild a model saved with :meth:`Module.save`: same class, config and parameters.

    Building the model does not disturb the global ``random`` state.

    Args:
        path: The model file.

    Returns:
        A new model of the saved class.

    Raises:
        ModelFileError: Missing, truncated or non-JSON file, unknown format
            version or class, or parameters that do not fit the architecture.
    """
    doc = read_model_file(path)
    cls = _find_class(path, doc)
    config = doc["config"]
    if config is None:  # calling the class with its defaults could build another model
        raise ModelFileError(
            path,
            f"{doc['class']} records no config, so it cannot be rebuilt; give the class a "
            "config() method, or build the model and call model.load_state_dict(path)",
        )
    state = random.getstate()
    try:
        model = cls(**config)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(path, f"config does not build a {doc['class']}: {exc}") from None
    finally:
        random.setstate(state)
    try:
        model._assign(doc["parameters"])
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
