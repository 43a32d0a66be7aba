"""Model files: ModelFileError, atomic writes, reading and validation."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from typing import Any

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelFileError",
    "PathLike",
    "StateDictError",
    "read_model_file",
    "write_atomically",
]

FORMAT = "tapegrad.nn"
"""The ``format`` field of every model file."""

FORMAT_VERSION = 1
"""The model-file layout this code writes and reads."""

PathLike = str | os.PathLike[str]


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


def write_atomically(path: PathLike, data: str | bytes) -> None:
    """Write to a new file next to ``path``, flush it to disk, then rename over ``path``.

    Args:
        path: The file to (re)place.
        data: Its new contents (text is written as UTF-8).

    Raises:
        ModelFileError: The file cannot be written.
    """
    target = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(target))
    tmp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(tmp, "xb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        _remove_quietly(tmp)
        raise ModelFileError(target, f"cannot write: {exc.strerror or exc}") from None
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _reject_constant(token: str) -> float:
    raise ValueError(f"non-standard JSON number {token}")


def read_model_file(path: PathLike) -> dict[str, Any]:
    """Read a model file and check its envelope (format, version, field types).

    Args:
        path: The model file.

    Returns:
        The parsed document, with ``config`` and ``meta`` filled in when absent.

    Raises:
        ModelFileError: The file is missing, unreadable, not JSON or not a model file.
    """
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f, parse_constant=_reject_constant)
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None
    except IsADirectoryError:
        raise ModelFileError(path, "is a directory, not a model file") from None
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ModelFileError(path, "not a text file (not UTF-8 JSON)") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            path,
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "the file may be truncated or corrupt",
        ) from None
    except ValueError as exc:
        raise ModelFileError(path, f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(path, f'not a tapegrad model file (no "format": "{FORMAT}")')
    version = doc.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ModelFileError(
            path,
            f"format version {version!r} is not supported (this tapegrad reads "
            f"version {FORMAT_VERSION})",
        )
    doc.setdefault("config", None)
    doc.setdefault("meta", {})
    if not isinstance(doc.get("class"), str):
        raise ModelFileError(path, "field 'class' is missing or not a string")
    if not isinstance(doc.get("parameters"), dict):
        raise ModelFileError(path, "field 'parameters' is missing or not an object")
    if not isinstance(doc["meta"], dict):
        raise ModelFileError(path, "field 'meta' is not an object")
    if not isinstance(doc["config"], dict | None):
        raise ModelFileError(path, "field 'config' is not an object")
    return doc
