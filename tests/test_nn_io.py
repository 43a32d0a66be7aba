"""Tests of nn.io and nn.load on hostile input: atomic writes, bounds, configs, classes."""

from __future__ import annotations

import errno
import json
import os
import random
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import nn.io
import nn.layers
import nn.module
from autograd import Value
from nn import MLP, Layer, ModelFileError, Module, Neuron
from nn.layers import ACTIVATIONS, INITS


def _listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# --- the moved names keep working ----------------------------------------------------------


def test_nn_module_re_exports_the_model_file_names() -> None:
    assert nn.module.ModelFileError is nn.io.ModelFileError is nn.ModelFileError
    assert nn.module.StateDictError is nn.io.StateDictError is nn.StateDictError
    assert nn.module._write_atomically is nn.io.write_atomically


# --- atomic writes -------------------------------------------------------------------------


def test_write_atomically_writes_text_as_utf8_and_bytes_as_given(tmp_path: Path) -> None:
    path = tmp_path / "f"
    nn.io.write_atomically(path, "caf\u00e9\n")
    assert path.read_bytes() == "caf\u00e9\n".encode()
    nn.io.write_atomically(path, b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"
    with pytest.raises(TypeError, match="str or bytes, got int"):
        nn.io.write_atomically(path, 5)  # type: ignore[arg-type]
    assert path.read_bytes() == b"\x00\xff"
    assert _listing(tmp_path) == ["f"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444, 0o755])
def test_save_over_a_file_keeps_its_permissions(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "m.json"
    MLP(2, [2, 1], rng=random.Random(0)).save(path)
    os.chmod(path, mode)
    model = MLP(2, [2, 1], rng=random.Random(1))
    model.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert nn.load(path).state_dict() == model.state_dict()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path: Path) -> None:
    (tmp_path / "by_open").write_text("x")
    nn.io.write_atomically(tmp_path / "by_us", "x")
    old = os.umask(0o077)  # a stricter umask must be honoured too
    try:
        (tmp_path / "by_open_077").write_text("x")
        nn.io.write_atomically(tmp_path / "by_us_077", "x")
    finally:
        os.umask(old)

    def mode(name: str) -> int:
        return stat.S_IMODE(os.stat(tmp_path / name).st_mode)

    assert mode("by_us") == mode("by_open")
    assert mode("by_us_077") == mode("by_open_077") == 0o600


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_save_through_a_symlink_updates_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    real_dir = tmp_path / "store"
    real_dir.mkdir()
    real = real_dir / "real.json"
    MLP(2, [2, 1], rng=random.Random(0)).save(real)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    model = MLP(2, [2, 1], rng=random.Random(1))
    model.save(link)
    assert link.is_symlink()
    assert os.readlink(link) == str(real)
    assert nn.load(real).state_dict() == model.state_dict()
    assert nn.load(link).state_dict() == model.state_dict()
    assert _listing(tmp_path) == ["link.json", "store"]  # temporary file beside the target
    assert _listing(real_dir) == ["real.json"]


@pytest.mark.parametrize(
    ("function", "failure", "raised", "message"),
    [
        ("write", OSError(errno.ENOSPC, "No space left on device"), ModelFileError, "No space"),
        ("write", "half then ENOSPC", ModelFileError, "No space"),
        ("write", KeyboardInterrupt(), KeyboardInterrupt, None),
        ("fsync", KeyboardInterrupt(), KeyboardInterrupt, None),
        ("fsync", OSError(errno.EIO, "Input/output error"), ModelFileError, "Input/output"),
        ("replace", OSError(errno.ENOSPC, "No space left on device"), ModelFileError, "No space"),
        ("replace", SystemExit(3), SystemExit, None),
        ("fchmod", KeyboardInterrupt(), KeyboardInterrupt, None),
    ],
)
def test_a_failed_save_leaves_the_old_file_byte_identical_and_no_temporary(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    function: str,
    failure: BaseException | str,
    raised: type[BaseException],
    message: str | None,
) -> None:
    path = tmp_path / "m.json"
    MLP(2, [2, 1], rng=random.Random(0)).save(path)
    original = path.read_bytes()
    real = getattr(os, function)

    def fail(*args: Any) -> Any:
        if failure == "half then ENOSPC":  # a partial write, then the disk fills up
            fd, data = args
            if len(data) > 10:
                return real(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        assert isinstance(failure, BaseException)
        raise failure

    with monkeypatch.context() as patch:
        patch.setattr(os, function, fail)
        with pytest.raises(raised, match=message):
            MLP(2, [2, 1], rng=random.Random(1)).save(path)
    assert path.read_bytes() == original
    assert _listing(tmp_path) == ["m.json"]


def test_a_failed_write_of_a_new_file_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", disk_full)
        with pytest.raises(ModelFileError, match="cannot write: No space"):
            nn.io.write_atomically(tmp_path / "new.svg", "<svg/>")
    assert _listing(tmp_path) == []


# --- hostile model files -------------------------------------------------------------------


class Recorder(Module):
    """A user class whose construction is visible: nn.load must not call it uninvited."""

    built: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, size: int = 1) -> None:
        Recorder.built.append({"size": size})
        self.size = size
        self.v = [Value(0.5) for _ in range(size)]

    def config(self) -> dict[str, Any]:
        return {"size": self.size}


def _good() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(_GOOD_DOC))
    return doc


def _edit(**changes: Any) -> Callable[[], str]:
    return lambda: json.dumps({**_good(), **changes})


def _config(**changes: Any) -> Callable[[], str]:
    def make() -> str:
        doc = _good()
        doc["config"] = {**doc["config"], **changes}
        for key, value in list(doc["config"].items()):
            if value is _DROP:
                del doc["config"][key]
        return json.dumps(doc)

    return make


def _param(value: str) -> Callable[[], str]:
    """The good file with the last parameter's value spelled as raw JSON text."""

    def make() -> str:
        doc = _good()
        doc["parameters"]["layers.1.neurons.0.b"] = "@@"
        return json.dumps(doc).replace('"@@"', value)

    return make


def _raw(text: str) -> Callable[[], str]:
    return lambda: text


_DROP = object()
_GOOD_MODEL = MLP(2, [2, 1], rng=random.Random(0))
_GOOD_DOC: dict[str, Any] = {
    "format": "tapegrad.nn",
    "version": 1,
    "class": "MLP",
    "module": "nn.layers",
    "config": _GOOD_MODEL.config(),
    "meta": {},
    "parameters": _GOOD_MODEL.state_dict(),
}


def _renamed() -> str:
    doc = _good()
    params = doc["parameters"]
    params["layers.0.neurons.9.w.0"] = params.pop("layers.0.neurons.0.w.0")
    return json.dumps(doc)


def _nested() -> str:
    doc = _good()
    doc["meta"] = "@@"
    return json.dumps(doc).replace('"@@"', "[" * 100_000 + "]" * 100_000)


def _duplicate_parameter() -> str:
    text = json.dumps(_good())
    return text.replace(
        '"layers.1.neurons.0.b": 0.0', '"layers.1.neurons.0.b": 0.0, "layers.1.neurons.0.b": 1e300'
    )


# (id, contents, message, whole file): load_state_dict(path) refuses a whole-file case too,
# with the same message (True) or the one given; the others are configs only nn.load reads.
HOSTILE: list[tuple[str, Callable[[], str | bytes], str, bool | str]] = [
    ("400-digit integer", _param("1" + "0" * 399), "about 400 digits, too large for a float", True),
    ("5000-digit integer", _param("7" * 5000), "not valid JSON", True),
    ("1e400", _param("1e400"), "not a finite number", True),
    ("NaN", _param("NaN"), "non-standard JSON number NaN", True),
    ("Infinity", _param("Infinity"), "non-standard JSON number Infinity", True),
    ("-Infinity", _param("-Infinity"), "non-standard JSON number -Infinity", True),
    ("string weight", _param('"0.5"'), "is str '0.5', not a number", True),
    ("bool weight", _param("true"), "is bool True, not a number", True),
    ("null weight", _param("null"), "not a number", True),
    ("list weight", _param("[1.0]"), "not a number", True),
    ("object weight", _param("{}"), "not a number", True),
    ("100,000 nested brackets", _nested, "nested too deeply", True),
    ("duplicate parameter", _duplicate_parameter, "duplicate key 'layers.1.neurons.0.b'", True),
    ("duplicate class", _raw('{"class": "MLP", "class": "Neuron"}'), "duplicate key 'class'", True),
    ("JSON list", _raw("[1, 2]"), "not a tapegrad model file", True),
    ("JSON string", _raw('"tapegrad.nn"'), "not a tapegrad model file", True),
    ("JSON null", _raw("null"), "not a tapegrad model file", True),
    ("JSON number", _raw("42"), "not a tapegrad model file", True),
    ("empty", _raw(""), "not valid JSON", True),
    ("truncated", lambda: json.dumps(_good())[:100], "not valid JSON.*truncated", True),
    ("not UTF-8", lambda: b'{"format": "\xff\xfe"}', "not UTF-8", True),
    ("format number", _edit(format=1), "not a tapegrad model file", True),
    ("version string", _edit(version="1"), "format version '1' is not supported", True),
    ("version true", _edit(version=True), "format version True is not supported", True),
    ("version float", _edit(version=1.0), "format version 1.0 is not supported", True),
    ("class number", _edit(**{"class": 5}), "'class' is missing or not a string", True),
    ("module number", _edit(module=5), "'module' is not a string", True),
    ("config list", _edit(config=[1]), "'config' is not an object", True),
    ("meta string", _edit(meta="x"), "'meta' is not an object", True),
    ("parameters list", _edit(parameters=[1.0]), "'parameters' is missing or not an object", True),
    ("parameters null", _edit(parameters=None), "'parameters' is missing", True),
    (
        "base class",
        _edit(**{"class": "Module"}),
        "'Module' is not one nn.load may build",
        "holds a Module model, not a MLP",
    ),
    (
        "imported user class",
        _edit(**{"class": "Recorder"}),
        "'Recorder' is not one",
        "holds a Recorder model",
    ),
    ("rng string", _config(rng="x"), "MLP has no config field 'rng'", False),
    ("unknown field", _config(evil=1), "no config field 'evil'.*nin, nouts, activation", False),
    ("missing nin", _config(nin=_DROP), "MLP config field 'nin' is missing", False),
    ("nin true", _config(nin=True), "nin must be an int, got bool True", False),
    ("nin 2.5", _config(nin=2.5), "nin must be an int, got float 2.5", False),
    ("nin string", _config(nin="2"), "nin must be an int, got str", False),
    ("nin negative", _config(nin=-3), "nin must be >= 1, got -3", False),
    ("nin zero", _config(nin=0), "nin must be >= 1", False),
    ("nin ten million", _config(nin=10_000_000), "do not match.*the file holds 9$", False),
    ("nin 400 digits", _config(nin=10**400), "do not match.*the file holds 9$", False),
    ("huge layers", _config(nouts=[10**6] * 50), "do not match.*the file holds 9$", False),
    ("nouts string", _config(nouts="ab"), "nouts must be a non-empty list.*str 'ab'", False),
    ("nouts empty", _config(nouts=[]), "nouts must be a non-empty list", False),
    ("nouts object", _config(nouts={"a": 1}), "nouts must be a non-empty list.*dict", False),
    ("nouts bad size", _config(nouts=[2, "x"]), r"nouts\[1\] must be an int, got str", False),
    ("nouts zero", _config(nouts=[2, 0]), r"nouts\[1\] must be >= 1", False),
    ("unknown activation", _config(activation="swish"), "unknown activation 'swish'", False),
    ("activation number", _config(activation=5), "activation must be a string.*int 5", False),
    ("activation null", _config(activation=None), "activation must be a string", False),
    ("activation nested", _config(activation=[[[[]]]]), "activation must be a string", False),
    ("unknown init", _config(init="orthogonal"), "unknown init 'orthogonal'", False),
    ("renamed parameter", _renamed, "1 missing.*neurons.0.w.0.*1 unexpected.*neurons.9", False),
    ("other built-in", _edit(**{"class": "Neuron"}), "Neuron has no config field 'nouts'", False),
    ("no config", _edit(config=None), "records no config", False),
]


@pytest.mark.parametrize(
    ("contents", "message", "whole_file"),
    [pytest.param(c, m, w, id=i) for i, c, m, w in HOSTILE],
)
def test_hostile_files_raise_model_file_error_and_change_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    contents: Callable[[], str | bytes],
    message: str,
    whole_file: bool | str,
) -> None:
    path = tmp_path / "hostile.json"
    data = contents()
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    target = MLP(2, [2, 1], rng=random.Random(5))
    before = target.state_dict()
    random.seed(11)
    state = random.getstate()
    Recorder.built.clear()

    def no_values(*args: Any, **kwargs: Any) -> Value:
        raise AssertionError("nn.load built a model before rejecting the file")

    with monkeypatch.context() as patch:
        patch.setattr(nn.layers, "Value", no_values)  # every rejection comes before building
        with pytest.raises(ModelFileError, match=message) as info:
            nn.load(path)
    assert str(path) in str(info.value)
    assert Recorder.built == []
    if whole_file:
        again = message if whole_file is True else whole_file
        with pytest.raises(ModelFileError, match=again):
            target.load_state_dict(path)
    assert target.state_dict() == before
    assert random.getstate() == state


def test_the_good_file_the_hostile_ones_are_made_from_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(_good()))
    assert nn.load(path).state_dict() == _GOOD_MODEL.state_dict()
    with monkeypatch.context() as patch:  # and the guard above does catch a build
        patch.setattr(nn.layers, "Value", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
        with pytest.raises(AssertionError):
            nn.load(path)


def test_files_over_the_size_limit_are_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.json"
    with open(path, "wb") as f:
        f.truncate(nn.io.MAX_FILE_BYTES + 1)  # sparse: no disk space used
    with pytest.raises(ModelFileError, match=f"larger than the {nn.io.MAX_FILE_BYTES:,} bytes"):
        nn.load(path)
    huge = tmp_path / "huge_config.json"
    huge.write_text(json.dumps({**_good(), "config": {"nin": 2, "nouts": [1] * 20_000}}))
    monkeypatch.setattr(nn.io, "MAX_FILE_BYTES", 50_000)
    with pytest.raises(ModelFileError, match=r"larger than the 50,000 bytes.*MAX_FILE_BYTES"):
        nn.load(huge)
    with pytest.raises(ModelFileError, match="larger than"):
        MLP(2, [2, 1]).load_state_dict(huge)


def test_a_parameter_too_large_for_a_float_in_a_state_dict() -> None:
    model = MLP(1, [1], rng=random.Random(0))
    before = model.state_dict()
    state = dict(before, **{"layers.0.neurons.0.b": 10**400})
    with pytest.raises(nn.StateDictError, match="too large for a float"):
        model.load_state_dict(state)
    assert model.state_dict() == before


# --- which classes nn.load may build -------------------------------------------------------


def test_an_imported_user_class_is_built_only_when_named(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    saved = Recorder(3)
    saved.v[2].data = -1.25
    saved.save(path)
    Recorder.built.clear()
    with pytest.raises(ModelFileError, match=r"'Recorder'.*classes=\(Recorder,\)") as info:
        nn.load(path)
    assert "load_state_dict" in str(info.value)
    assert Recorder.built == []
    loaded = nn.load(path, classes=(Recorder,))
    assert type(loaded) is Recorder
    assert Recorder.built == [{"size": 3}]
    assert loaded.state_dict() == saved.state_dict()
    assert type(nn.load(path, classes=[Recorder])) is Recorder


def test_classes_must_be_module_subclasses(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    MLP(2, [1], rng=random.Random(0)).save(path)
    for bad in (dict, "MLP", (Recorder, "x"), 5):
        with pytest.raises(TypeError, match="Module subclasses"):
            nn.load(path, classes=bad)  # type: ignore[arg-type]


def test_a_named_class_sharing_a_builtin_name_is_chosen_by_module(tmp_path: Path) -> None:
    class Other(Module):
        def __init__(self) -> None:
            self.v = Value(1.0)

        def config(self) -> dict[str, Any]:
            return {}

    Other.__name__ = Other.__qualname__ = "MLP"  # same class name as tapegrad's
    mine, theirs = tmp_path / "mine.json", tmp_path / "builtin.json"
    Other().save(mine)
    MLP(2, [1], rng=random.Random(0)).save(theirs)
    assert type(nn.load(mine, classes=(Other,))) is Other
    assert type(nn.load(theirs, classes=(Other,))) is MLP
    with pytest.raises(ModelFileError, match="MLP config field 'nin' is missing"):
        nn.load(mine)  # the built-in MLP is asked to read Other's (empty) config


# --- the config check agrees with what the constructors build -------------------------------

configs = st.one_of(
    st.builds(
        lambda nin, nonlin, act, init, fan_out: (
            Neuron,
            {"nin": nin, "nonlin": nonlin, "activation": act, "init": init, "fan_out": fan_out},
        ),
        st.integers(1, 5),
        st.booleans(),
        st.sampled_from(ACTIVATIONS),
        st.sampled_from(INITS),
        st.integers(1, 4),
    ),
    st.builds(
        lambda nin, nout: (Layer, {"nin": nin, "nout": nout}), st.integers(1, 5), st.integers(1, 5)
    ),
    st.builds(
        lambda nin, nouts: (MLP, {"nin": nin, "nouts": nouts}),
        st.integers(1, 4),
        st.lists(st.integers(1, 4), min_size=1, max_size=3),
    ),
)


@given(configs)
def test_expected_parameters_are_the_names_the_constructor_makes(
    case: tuple[type[Module], dict[str, Any]],
) -> None:
    cls, config = case
    expected = cls._expected_parameters(config)
    assert expected is not None
    count, names = expected
    built = [name for name, _ in cls(**config, rng=random.Random(0)).named_parameters()]
    assert list(names) == built
    assert count == len(built)
