"""Model files: ModelFileError, atomic writes, reading and validation."""

from __future__ import annotations

import contextlib
import json
import math
import os
import reprlib
import secrets
import stat
from collections.abc import Mapping
from typing import Any

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_FILE_BYTES",
    "ModelFileError",
    "PathLike",
    "StateDictError",
    "check_parameters",
    "read_model_file",
    "write_atomically",
]

FORMAT = "tapegrad.nn"
"""The ``format`` field of every model file."""

FORMAT_VERSION = 1
"""The model-file layout this code writes and reads."""

MAX_FILE_BYTES = 100_000_000
"""Largest model file read (100 bytes for each of a million parameters, far more than
a pure-Python model trains in reasonable time). Reading is refused above it, so a
file cannot make the reader use unbounded memory; raise it to read bigger files."""

PathLike = str | os.PathLike[str]

_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40
_short.maxlong = 24


def shown(value: object) -> str:
    """``repr(value)`` cut to a readable length (file contents can be huge)."""
    return _short.repr(value)


class StateDictError(ValueError):
    """A state dict that does not fit the model (missing, extra or non-numeric entries)."""


class ModelFileError(StateDictError):
    """A model file that cannot be written or read back, with its path and the reason.

    Attributes:
        path: The file.
        reason: What is wrong with it.
    """

    def __init__(self, path: PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


# --- writing ------------------------------------------------------------------------------


def write_atomically(path: PathLike, data: str | bytes) -> None:
    """Replace the file at ``path`` with ``data`` so that no reader ever sees half of it.

    The data goes to a new file beside the target, is flushed to disk, and is then
    renamed over the target. A symbolic link is written through: the file it points
    to is replaced and the link stays. An existing file keeps its permission bits
    (and, where allowed, its owner); a new one gets the mode ``open`` would give it
    (0o666 less the umask). On any failure, including KeyboardInterrupt, the old
    file is left byte for byte as it was and the temporary file is removed.

    Args:
        path: The file to write or replace (its folder must exist).
        data: The new contents; text is written as UTF-8.

    Raises:
        TypeError: ``data`` is neither str nor bytes.
        ModelFileError: The file cannot be written (the reason from the OS).
    """
    if not isinstance(data, str | bytes):
        raise TypeError(f"write_atomically takes str or bytes, got {type(data).__name__}")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    target = os.fspath(path)
    real = os.path.realpath(target)  # through symlinks: rename over the file, not the link
    folder, base = os.path.split(real)
    tmp: str | None = None
    try:
        try:
            old: os.stat_result | None = os.stat(real)
        except FileNotFoundError:
            old = None
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(8)}.tmp")
        try:
            # 0o666 and O_EXCL: the umask applies exactly as for open(path, "w").
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        except FileExistsError:
            tmp = None  # someone else's file: never remove it
            raise
        try:
            if old is not None:
                _copy_owner_and_mode(fd, old)
            view = memoryview(raw)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, real)
        tmp = None
        _sync_folder(folder)
    except OSError as exc:
        if tmp is not None:
            _remove_quietly(tmp)
        raise ModelFileError(target, f"cannot write: {exc.strerror or exc}") from None
    except BaseException:
        if tmp is not None:
            _remove_quietly(tmp)
        raise


_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def _copy_owner_and_mode(fd: int, old: os.stat_result) -> None:
    if hasattr(os, "fchown") and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(OSError):  # only root may give a file away
            os.fchown(fd, old.st_uid, old.st_gid)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(old.st_mode))  # after chown, which clears setgid bits


def _sync_folder(folder: str) -> None:
    """Flush the rename itself to disk (POSIX; folders cannot be opened on Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


# --- reading ------------------------------------------------------------------------------


def _reject_constant(token: str) -> float:
    raise ValueError(f"non-standard JSON number {token}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # JSON allows it, but the last value would silently win
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {shown(key)}")
            seen.add(key)
    return obj


def _parse(path: PathLike) -> object:
    limit = MAX_FILE_BYTES
    too_big = (
        f"is larger than the {limit:,} bytes a model file may have "
        "(raise nn.io.MAX_FILE_BYTES to read it)"
    )
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > limit:
                raise ModelFileError(path, too_big)
            raw = f.read(limit + 1)  # a file that is not what fstat says stops here too
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None
    except IsADirectoryError:
        raise ModelFileError(path, "is a directory, not a model file") from None
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise ModelFileError(path, too_big)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(path, "not a text file (not UTF-8 JSON)") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            path,
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "the file may be truncated or corrupt",
        ) from None
    except RecursionError:
        raise ModelFileError(path, "not a model file: JSON nested too deeply") from None
    except ValueError as exc:  # our hooks, and integers too long to convert
        raise ModelFileError(path, f"not valid JSON ({exc})") from None


def read_model_file(path: PathLike) -> dict[str, Any]:
    """Read a model file and check everything but the fit of its config to its class.

    Checked: size (at most :data:`MAX_FILE_BYTES`), UTF-8, strict JSON (no NaN or
    Infinity, no duplicate keys), the ``format`` and ``version``, the type of every
    field, and every parameter (a finite number that fits a float).

    Args:
        path: The model file.

    Returns:
        The document, with ``config`` (None) and ``meta`` ({}) filled in when
        absent and ``parameters`` as a dict of floats.

    Raises:
        ModelFileError: The file is missing, unreadable, too large, not JSON, not a
            model file, or has a field of the wrong type.
    """
    doc = _parse(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(path, f'not a tapegrad model file (no "format": "{FORMAT}")')
    version = doc.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool) or type(version) is float:
        raise ModelFileError(
            path,
            f"format version {shown(version)} is not supported (this tapegrad reads "
            f"version {FORMAT_VERSION})",
        )
    doc.setdefault("config", None)
    doc.setdefault("meta", {})
    doc.setdefault("module", None)
    if not isinstance(doc.get("class"), str):
        raise ModelFileError(path, "field 'class' is missing or not a string")
    if not isinstance(doc["module"], str | None):
        raise ModelFileError(path, "field 'module' is not a string")
    if not isinstance(doc.get("parameters"), dict):
        raise ModelFileError(path, "field 'parameters' is missing or not an object")
    if not isinstance(doc["meta"], dict):
        raise ModelFileError(path, "field 'meta' is not an object")
    if not isinstance(doc["config"], dict | None):
        raise ModelFileError(path, "field 'config' is not an object")
    try:
        doc["parameters"] = check_parameters(doc["parameters"])
    except StateDictError as exc:
        raise ModelFileError(path, str(exc)) from None
    return doc


def check_parameters(state: Mapping[str, object]) -> dict[str, float]:
    """Every entry of a state dict as a float, or an error naming the first bad one.

    Args:
        state: Parameter names to numbers (int or float, not bool).

    Returns:
        A new dict with the same names, in the same order, holding floats.

    Raises:
        StateDictError: ``state`` is not a mapping, a name is not a string, or a
            value is not a number, not finite, or too large for a float.
    """
    if not isinstance(state, Mapping):
        raise StateDictError(f"a state dict must be a mapping, got {type(state).__name__}")
    values: dict[str, float] = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise StateDictError(f"parameter names are strings, got {shown(name)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise StateDictError(
                f"parameter {shown(name)} is {type(value).__name__} {shown(value)}, not a number"
            )
        try:
            number = float(value)
        except OverflowError:
            digits = int(int(value).bit_length() * math.log10(2)) + 1
            raise StateDictError(
                f"parameter {shown(name)} is an integer of about {digits} digits, "
                "too large for a float"
            ) from None
        if not math.isfinite(number):
            raise StateDictError(f"parameter {shown(name)} is {value!r}, not a finite number")
        values[name] = number
    return values
