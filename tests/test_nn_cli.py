"""Tests of the tapegrad command line, run as a subprocess (python -m nn) like a user would."""

from __future__ import annotations

import errno
import html
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import nn
from autograd import no_grad
from nn.cli import OUTPUTS, main

ROOT = Path(__file__).resolve().parents[1]


PYTHON_M_NN = (sys.executable, "-m", "nn")


def run(
    *args: str, cwd: Path = ROOT, command: Sequence[str] = PYTHON_M_NN
) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess, as a user runs it (`python -m nn` unless told otherwise)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_writes_plots_model_and_graph_then_predict_reads_the_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run("train", "--steps", "3", "--hidden", "4,4", "--samples", "30", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "W_new = W_old - lr * dL/dW" in result.stdout
    assert "training accuracy" in result.stdout
    assert "loss=" in result.stderr  # the progress bar
    names = {p.name for p in out.iterdir()}
    assert {"loss.png", "decision_boundary.png", "model.json"} <= names
    if shutil.which("dot"):
        assert "graph.svg" in names
        assert (out / "graph.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    else:
        assert "graph.svg skipped" in result.stdout
    model = nn.load(out / "model.json")
    assert repr(model) == "MLP(2, [4, 4, 1], activation='relu')"
    assert nn.read_meta(out / "model.json")["steps"] == 3

    predicted = run("predict", "--model", str(out / "model.json"), "0.5", "-0.25")
    assert predicted.returncode == 0, predicted.stderr
    score, cls = predicted.stdout.split("(class ")
    out_value = model([0.5, -0.25])
    assert not isinstance(out_value, list)
    assert float(score) == pytest.approx(out_value.data, rel=1e-5)
    assert int(cls.rstrip(")\n")) == int(out_value.data > 0)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "--dataset", "mnist"], "choose from 'blobs', 'circles', 'moons'"),
        (["train", "--optimizer", "rmsprop"], "choose from 'adam', 'adamw', 'sgd'"),
        (["train", "--activation", "gelu"], "'relu', 'tanh', 'sigmoid', 'leaky_relu', 'linear'"),
        (["train", "--loss", "huber"], "choose from 'hinge', 'mse'"),
        (["train", "--schedule", "warmup"], "'constant', 'linear', 'step'"),
        (["train", "--hidden", "16,x"], "malformed '16,x'"),
        (["train", "--hidden", "16,0"], "positive integers"),
        (["train", "--lr", "0"], "--lr: must be a positive"),
        (["train", "--lr", "-1"], "--lr: must be a positive"),
        (["train", "--steps", "0"], "--steps: must be a positive integer"),
        (["train", "--steps", "2", "--epochs", "2"], "not allowed with argument"),
        (["train", "--dataset", "moons", "--classes", "3"], "--classes applies to"),
        (["train", "--dataset", "spirals", "--classes", "3"], "use --loss cross_entropy"),
        (["train", "--csv", "x.csv", "--noise", "0.2"], "--noise applies to"),
        (["predict", "--model", "/no/such/model.json", "1", "2"], "no such file"),
        (["predict", "1_0", "2"], "'1_0' is not a finite number"),
        (["train", "--lr", "1_0"], "--lr: '1_0' is not a finite number"),
        (["train", "--steps", "1_0"], "--steps: '1_0' is not an integer"),
        (["train", "--datset", "moons"], "did you mean --dataset? (see tapegrad train --help)"),
        (["train", "--batchsize=4"], "did you mean --batch-size?"),
        (["train", "--dataset", "moon"], "did you mean 'moons'? (see tapegrad train --help)"),
        (["trian"], "did you mean 'train'? (see tapegrad --help)"),
        (["predict", "--modle", "m.json"], "did you mean --model?"),
        ([], "required"),
        (["fly"], "invalid choice: 'fly'"),
    ],
)
def test_bad_options_give_one_line_and_status_2(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        status = main(args)
        raise SystemExit(status)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("tapegrad: error: ")
    assert "Traceback" not in err


def test_bad_option_in_a_real_process_has_no_traceback() -> None:
    result = run("train", "--dataset", "mnist")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "moons" in result.stderr


def test_without_graphviz_the_graph_is_skipped_with_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=str(empty))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nn",
            "train",
            "--steps",
            "1",
            "--hidden",
            "2",
            "--samples",
            "10",
            "--no-progress",
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stdout.splitlines() if "graph.svg skipped" in line]
    assert len(skipped) == 1
    assert "Graphviz" in skipped[0]
    assert "apt-get install graphviz" in skipped[0]
    assert "graph.source" not in result.stdout  # a Python attribute means nothing on a terminal
    assert result.stderr == ""
    assert not (tmp_path / "out" / "graph.svg").exists()
    network = [line for line in result.stdout.splitlines() if "network.svg skipped" in line]
    assert len(network) == 1 and "apt-get install graphviz" in network[0]
    assert not (tmp_path / "out" / "network.svg").exists()
    assert "data-tg-node" in (tmp_path / "out" / "explain.html").read_text()  # no dot needed
    assert (tmp_path / "out" / "model.json").exists()


def test_predict_rejects_a_corrupt_model_and_a_wrong_input_count(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"format": "tapegrad.nn", "vers')
    result = run("predict", "--model", str(path), "1", "2")
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr
    nn.MLP(3, [2, 1]).save(path)
    assert main(["predict", "--model", str(path), "1", "2", "3"]) == 0
    with pytest.raises(SystemExit) as info:
        main(["predict", "--model", str(path), "1", "2"])
    assert info.value.code == 2


def test_multiclass_csv_training_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    X, y = nn.data.make_spirals(30, n_classes=3, seed=0)
    csv = tmp_path / "spirals.csv"
    csv.write_text("a,b,label\n" + "".join(f"{a},{b},{7 + c}\n" for (a, b), c in zip(X, y)))
    out = tmp_path / "out"
    status = main(
        [
            "train",
            "--csv",
            str(csv),
            "--loss",
            "cross_entropy",
            "--optimizer",
            "adam",
            "--steps",
            "5",
            "--hidden",
            "6",
            "--batch-size",
            "8",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    assert "3 classes" in capsys.readouterr().out
    doc = json.loads((out / "model.json").read_text())
    assert doc["config"]["nouts"] == [6, 3]
    assert doc["meta"]["labels"] == [7, 8, 9]
    assert main(["predict", "--model", str(out / "model.json"), "0.1", "0.2"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("[")
    assert "(class " in printed
    assert int(printed.split("(class ")[1].rstrip(")\n")) in (7, 8, 9)


def test_diverging_run_reports_it_and_exits_1(tmp_path: Path) -> None:
    status = main(
        [
            "train",
            "--loss",
            "mse",
            "--lr",
            "1e150",
            "--schedule",
            "constant",
            "--steps",
            "40",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 1
    assert not (tmp_path / "model.json").exists()


def test_bad_csv_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("1,2,0\n3,oops,1\n")
    with pytest.raises(SystemExit) as info:
        main(["train", "--csv", str(csv), "--out", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "line 2, column 2: 'oops' is not a finite number" in err
    assert len(err.strip().splitlines()) == 1


def test_compiled_training_writes_the_same_model(tmp_path: Path) -> None:
    common = ["train", "--steps", "15", "--hidden", "8,8", "--no-progress", "--no-plots"]
    assert main([*common, "--out", str(tmp_path / "eager")]) == 0
    assert main([*common, "--compiled", "--out", str(tmp_path / "compiled")]) == 0
    eager = nn.load(tmp_path / "eager" / "model.json")
    compiled = nn.load(tmp_path / "compiled" / "model.json")
    for p, q in zip(eager.parameters(), compiled.parameters(), strict=True):
        assert q.data == pytest.approx(p.data, abs=1e-12)


def test_the_console_script_trains_micrograds_demo_by_default(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("tapegrad")  # installed by pip into the venv
    if not script.exists():
        pytest.skip("the tapegrad console script is not installed (pip install -e .)")
    proc = run("train", "--out", str(tmp_path), cwd=tmp_path, command=[str(script)])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "MLP(2, [16, 16, 1], activation='relu'), 337 parameters" in out
    assert "moons (noise 0.1, seed 1337): 100 examples" in out
    assert "hinge + 0.0001 * sum(W^2)" in out and "100 steps, full batch" in out
    assert "training accuracy 100.0%" in out  # micrograd's demo result
    for name in OUTPUTS:
        if name in ("model.pt", "model.onnx", "training.html"):  # only with --export / --html
            assert not (tmp_path / name).exists()
        else:
            assert (tmp_path / name).stat().st_size > 0


# --- failures are one line, exit status as --help documents, nothing half-written ---

QUICK = ["train", "--steps", "2", "--hidden", "3", "--samples", "12", "--no-progress"]


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tapegrad: error: ")
    assert "Traceback" not in err
    return lines[0]


def _contents(folder: Path) -> dict[str, bytes | None]:
    """Every entry of a folder (hidden ones too): file bytes, None for folders."""
    return {p.name: (None if p.is_dir() else p.read_bytes()) for p in folder.iterdir()}


def test_help_documents_the_exit_statuses_main_returns(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--help"], ["train", "--help"], ["predict", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 0
        text = capsys.readouterr().out
        assert "exit status:" in text
        assert "0  success" in text
        assert "1  the run failed: training diverged, an output could not be written" in text
        assert "2  usage error" in text


def test_a_folder_named_loss_png_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "loss.png").mkdir()
    with pytest.raises(SystemExit) as info:
        main([*QUICK, "--out", str(tmp_path)])
    assert info.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"cannot write {tmp_path / 'loss.png'}: a folder of that name is in the way" in line
    assert "training accuracy" not in capsys.readouterr().out
    assert _contents(tmp_path) == {"loss.png": None}  # nothing written, no hidden leftovers


def test_an_out_folder_under_a_regular_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as info:
        main([*QUICK, "--out", str(blocker / "out")])
    assert info.value.code == 2
    assert "cannot create --out folder" in _one_error_line(capsys.readouterr().err)
    assert _contents(tmp_path) == {"file": b"not a folder"}


def test_an_unwritable_out_folder_in_a_real_process_is_one_line() -> None:
    result = run(*QUICK, "--out", str(Path(__file__).resolve() / "out"))
    assert result.returncode == 2
    assert "cannot create --out folder" in _one_error_line(result.stderr)


def test_a_folder_that_appears_during_training_fails_the_run_and_writes_no_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import nn.cli

    real_fit = nn.cli.fit

    def fit_then_block(*args: object, **kwargs: object) -> nn.History:
        history = real_fit(*args, **kwargs)  # type: ignore[arg-type]
        (tmp_path / "loss.png").mkdir()  # e.g. the user, while it trained
        return history

    monkeypatch.setattr(nn.cli, "fit", fit_then_block)
    assert main([*QUICK, "--out", str(tmp_path)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "loss.png: a folder of that name is in the way" in line
    assert _contents(tmp_path) == {"loss.png": None}


@pytest.mark.parametrize("failing", ["loss.png", "decision_boundary.png", "model.json"])
def test_a_full_disk_leaves_the_previous_run_untouched(
    tmp_path: Path,
    failing: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nn.cli
    import nn.io
    import nn.module

    assert main([*QUICK, "--seed", "1", "--out", str(tmp_path)]) == 0
    before = _contents(tmp_path)
    assert "model.json" in before
    capsys.readouterr()
    full = os.strerror(errno.ENOSPC)
    real_write = nn.io.write_atomically

    def write(path: str | os.PathLike[str], content: str | bytes) -> None:
        """The writer, on a disk that fills up half-way through the failing file."""
        if os.path.basename(path) != failing:
            real_write(path, content)
            return
        raw = content.encode() if isinstance(content, str) else content
        with open(path, "wb") as f:
            f.write(raw[: len(raw) // 2])
        raise nn.io.ModelFileError(path, f"cannot write: {full}")

    monkeypatch.setattr(nn.cli, "write_atomically", write)  # the plots and graph.svg
    monkeypatch.setattr(nn.module, "write_atomically", write)  # model.json, via Module.save
    assert main([*QUICK, "--seed", "2", "--out", str(tmp_path)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"cannot write {tmp_path / failing}: {full}" in line
    assert _contents(tmp_path) == before  # byte for byte, and no hidden staging folder


def test_a_failure_while_moving_outputs_into_place_leaves_no_model_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main([*QUICK, "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        if Path(dst).resolve() == tmp_path.resolve() / "decision_boundary.png":  # the move
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    assert main([*QUICK, "--seed", "3", "--out", str(tmp_path)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "decision_boundary.png: Input/output error; no model.json was written" in line
    assert not (tmp_path / "model.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- predict ---


def test_predict_runs_a_saved_neuron_and_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import random

    neuron = nn.Neuron(2, activation="tanh", rng=random.Random(0))
    layer = nn.Layer(2, 3, nonlin=False, rng=random.Random(1))
    neuron.save(tmp_path / "neuron.json")
    layer.save(tmp_path / "layer.json")
    assert main(["predict", "--model", str(tmp_path / "neuron.json"), "0.5", "-2"]) == 0
    score = neuron([0.5, -2.0])
    assert not isinstance(score, list)
    shown, cls = capsys.readouterr().out.split("  (class ")
    assert float(shown) == pytest.approx(score.data, rel=1e-5)
    assert cls == f"{int(score.data > 0)})\n"
    assert main(["predict", "--model", str(tmp_path / "layer.json"), "0.5", "-2"]) == 0
    scores = layer([0.5, -2.0])
    assert isinstance(scores, list)
    shown, cls = capsys.readouterr().out.split("  (class ")
    assert [float(v) for v in shown.strip("[]").split(", ")] == pytest.approx(
        [v.data for v in scores], rel=1e-5
    )
    assert cls == f"{max(range(3), key=lambda k: scores[k].data)})\n"
    for path, count in (("neuron.json", 2), ("layer.json", 2)):
        with pytest.raises(SystemExit) as info:
            main(["predict", "--model", str(tmp_path / path), "1", "2", "3"])
        assert info.value.code == 2
        line = _one_error_line(capsys.readouterr().err)
        assert f"the model takes {count} inputs, got 3" in line


def test_predict_refuses_inputs_that_overflow_the_model(tmp_path: Path) -> None:
    model = nn.MLP(2, [3, 1])
    model.load_state_dict({name: 1.0 for name, _ in model.named_parameters()})
    path = tmp_path / "m.json"
    model.save(path)
    with no_grad():
        out = model([1e308, 1e308])
    assert not isinstance(out, list) and not math.isfinite(out.data)  # what it would print
    result = run("predict", "--model", str(path), "1e308", "1e308")
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "the inputs are too large for this model" in line
    assert result.stdout == ""


def test_predict_help_documents_the_inputs_and_the_default_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: out/model.json" in text
    assert "as many plain decimal numbers as the model has inputs" in text
    assert "a Layer (prints a list of scores) or a Neuron (prints one score)" in text


# --- divergence ---


def test_a_diverged_run_keeps_its_marked_loss_curve_and_writes_no_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import nn.plot

    assert main([*QUICK, "--out", str(tmp_path)]) == 0  # an earlier, successful run
    capsys.readouterr()
    marked: list[int | None] = []
    real_plot = nn.plot.plot_history

    def spy(history: nn.History, *args: object, **kwargs: object) -> object:
        marked.append(kwargs.get("diverged_at"))  # type: ignore[arg-type]
        assert not math.isfinite(history.loss[-1])  # the curve goes up to the bad step
        return real_plot(history, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(nn.plot, "plot_history", spy)
    args = ["train", "--loss", "mse", "--lr", "10", "--no-progress", "--out", str(tmp_path)]
    assert main(args) == 1
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert "diverged" in line and "smaller learning rate" in line
    step = int(line.split("at step ")[1].split(":")[0].split()[0])
    assert marked == [step]
    assert f"training diverged at step {step}: no model.json written" in captured.out
    assert {p.name for p in tmp_path.iterdir()} == {"loss.png"}  # nothing of the earlier run
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")


def test_a_diverged_run_in_a_real_process_exits_1_with_one_line(tmp_path: Path) -> None:
    result = run("train", "--loss", "mse", "--lr", "10", "--no-progress", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "diverged" in _one_error_line(result.stderr)
    assert not (tmp_path / "model.json").exists()
    assert (tmp_path / "loss.png").exists()


# --- CSV with class names, the shipped example ---


def test_train_on_the_example_csv_as_the_readme_says(tmp_path: Path) -> None:
    import csv as csv_module

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    result = run("train", "--csv", "examples/points.csv", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with open(ROOT / "examples" / "points.csv", newline="") as f:
        names = sorted({row[-1] for row in list(csv_module.reader(f))[1:]})
    mapping = ", ".join(f"{k} = {name}" for k, name in enumerate(names))
    assert f"classes    {mapping}" in result.stdout
    out = tmp_path / "out"
    assert {"loss.png", "decision_boundary.png", "model.json"} <= {p.name for p in out.iterdir()}
    assert nn.read_meta(out / "model.json")["labels"] == names
    predicted = run("predict", "0", "0", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.split("(class ")[1].rstrip(")\n") in names


# --- the CLI people expect ---


def test_a_misspelled_option_in_a_real_process_suggests_the_right_one() -> None:
    result = run("train", "--datset", "moons")
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert "unrecognized option --datset; did you mean --dataset?" in line
    assert line.endswith("(see tapegrad train --help)")


def test_a_batch_larger_than_the_data_is_the_full_batch_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [*QUICK, "--no-plots", "--steps", "4"]
    assert main([*common, "--batch-size", "1000", "--out", str(tmp_path / "big")]) == 0
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if "--batch-size 1000" in line]
    assert len(notes) == 1
    assert "more than the 12 examples" in notes[0] and "full batch" in notes[0]
    assert main([*common, "--out", str(tmp_path / "full")]) == 0
    big = nn.load(tmp_path / "big" / "model.json")
    full = nn.load(tmp_path / "full" / "model.json")
    assert [p.data for p in big.parameters()] == [p.data for p in full.parameters()]


def test_the_summary_prints_the_learning_rates_the_schedule_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    last = 1.0 - 0.9 * 99 / 100  # micrograd's demo: learning_rate = 1.0 - 0.9*k/100
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    assert f"from 1 at step 0 to {last:g} at step 99" in helptext
    args = ["train", "--hidden", "2", "--samples", "20", "--no-progress", "--no-plots"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"lr 1 at step 0 -> {last:g} at step 99 (linear schedule)" in out
    assert f"the learning rate went from 1 (step 0) to {last:g} (step 99)" in out


# --- the pictures: the example with the largest loss, at a readable size ---

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")


def svg_size(path: Path) -> tuple[float, float]:
    """The width and height, in pt, that an SVG written by Graphviz declares."""
    found = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', path.read_text())
    assert found is not None, f"no width/height in {path}"
    return float(found[1]), float(found[2])


def record_fields(svg: str, name: str) -> list[str]:
    """The texts of the record node `name` in graph.svg (name, data ..., grad ...)."""
    node = re.search(rf"<title>{re.escape(name)}</title>(.*?)</g>", svg, re.S)
    assert node is not None, f"no node {name} in graph.svg"
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", node[1])]


@needs_dot
@pytest.mark.parametrize("loss", ["hinge", "bce"])
def test_train_draws_the_example_with_the_largest_loss(tmp_path: Path, loss: str) -> None:
    out = tmp_path / "run"
    args = ["--steps", "8", "--hidden", "8,8", "--samples", "40", "--seed", "3", "--loss", loss]
    result = run("train", *args, "--no-progress", "--out", str(out))
    assert result.returncode == 0, result.stderr
    wrote = next(line for line in result.stdout.splitlines() if line.startswith("wrote "))
    for name in ("graph.svg", "network.svg", "explain.html"):
        assert str(out / name) in wrote

    # recompute every example's loss under the saved model, without the CLI's code
    model = nn.load(out / "model.json")
    X, y = nn.data.make_moons(n_samples=40, seed=3)
    with no_grad():
        outputs = [model(list(x)) for x in X]
    if loss == "hinge":
        scores = [max(0.0, 1.0 - (1.0 if c else -1.0) * o.data) for o, c in zip(outputs, y)]
    else:
        scores = [math.log1p(math.exp(-o.data if c else o.data)) for o, c in zip(outputs, y)]
    largest = max(scores)
    assert largest > 0
    k = scores.index(largest)  # ties: the first
    assert f"show example {k} " in result.stdout

    svg = (out / "graph.svg").read_text()
    name, data, grad = record_fields(svg, "loss")
    assert name == "loss" and float(data.split()[1]) == pytest.approx(largest, rel=1e-3)
    assert grad == "grad 1"
    for x in ("x0", "x1"):  # the inputs are in view, not in the "… more" box
        assert record_fields(svg, x)[1] == f"data {X[k][int(x[1])]:.4g}"
    grads = [float(html.unescape(g)) for g in re.findall(r">grad ([^<]*)<", svg)]
    assert sum(g != 0 for g in grads) > len(grads) // 4  # X[0] had 1 of 300 non-zero

    for picture in ("graph.svg", "network.svg"):
        width, height = svg_size(out / picture)
        assert width < 3000 and height < 3000, (picture, width, height)

    page = (out / "explain.html").read_text()
    assert "data-tg-node" in page
    # self-contained: nothing fetched (the SVG namespace URI is a name, not a request)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"""url\(\s*["']?\s*(https?:)?//|@import""", page, re.I)


@pytest.mark.parametrize("fmt", ["torch", "onnx"])
def test_train_export_writes_the_network_beside_model_json(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        ["train", "--steps", "3", "--no-plots", "--no-progress", "--out", str(out), "--export", fmt]
    )
    assert code == 0
    model = nn.load(out / "model.json")
    x = [0.3, -0.7]
    expected = model(x).data  # type: ignore[union-attr]
    if fmt == "torch":
        torch = pytest.importorskip("torch")
        seq = torch.load(out / "model.pt", weights_only=False)
        got = seq(torch.tensor([x], dtype=torch.float64)).item()
    else:
        ort = pytest.importorskip("onnxruntime")
        np = pytest.importorskip("numpy")
        session = ort.InferenceSession(str(out / "model.onnx"))
        name = session.get_inputs()[0].name
        got = float(session.run(None, {name: np.array([x], dtype=np.float64)})[0].ravel()[0])
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert f"model.{'pt' if fmt == 'torch' else 'onnx'}" in capsys.readouterr().out


def test_train_export_without_the_extra_is_one_line_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a)
    )
    with pytest.raises(SystemExit) as info:
        main(["train", "--out", str(tmp_path / "o"), "--export", "onnx", "--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tapegrad[onnx]" in err
    assert not (tmp_path / "o" / "model.json").exists()
