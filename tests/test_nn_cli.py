"""Tests of the tapegrad command line, run as a subprocess (python -m nn) like a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import nn
from nn.cli import main

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
    assert not (tmp_path / "out" / "graph.svg").exists()
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
    for name in ("model.json", "loss.png", "decision_boundary.png", "graph.svg"):
        assert (tmp_path / name).stat().st_size > 0
