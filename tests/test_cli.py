"""Tests of the CLI's second wave: train --html (the replay), serve's options, shared pieces."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

import nn
import nn.cli
from nn import MLP, fit, losses
from nn.cli import REPLAY_FRAMES, UsageError, main, parse_train, prepare_training
from nn.train import step_count

QUICK = ["train", "--hidden", "3", "--samples", "20", "--no-progress", "--no-plots"]


def replay(path: Path) -> Any:
    page = path.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="tg-replay">(.*?)</script>', page, re.S)
    assert found, "no tg-replay element"

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in the replay's JSON")

    return json.loads(found.group(1), parse_constant=refuse)


def test_train_html_writes_a_replay_whose_last_frame_is_the_saved_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*QUICK, "--steps", "7", "--html", "--out", str(tmp_path)]) == 0
    assert "training.html" in capsys.readouterr().out
    data = replay(tmp_path / "training.html")
    frames = data["frames"]
    assert [f["step"] for f in frames] == list(range(8))  # step 0, then after every step
    assert all(f["points"] and len(f["points"]["x"]) == 20 for f in frames)
    assert data["options"]["hidden"] == "3" and data["options"]["steps"] == 7
    model = nn.load(tmp_path / "model.json")
    last = frames[-1]["network"]
    layers = model.layers
    assert last["weights"] == [[[w.data for w in n.w] for n in layer.neurons] for layer in layers]
    assert last["biases"] == [[n.b.data for n in layer.neurons] for layer in layers]
    assert frames[-1]["history"]["loss"][-1] == nn.read_meta(tmp_path / "model.json")["final_loss"]


def test_a_long_run_records_at_most_the_frame_limit_plus_the_last(tmp_path: Path) -> None:
    assert main([*QUICK, "--steps", "450", "--html", "--out", str(tmp_path)]) == 0
    steps = [f["step"] for f in replay(tmp_path / "training.html")["frames"]]
    assert len(steps) <= REPLAY_FRAMES + 1 and steps[0] == 0 and steps[-1] == 450
    assert steps == sorted(set(steps))


def test_a_diverging_run_keeps_its_replay_and_writes_no_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main([*QUICK, "--steps", "50", "--lr", "1e9", "--html", "--out", str(tmp_path)])
    assert status == 1
    assert not (tmp_path / "model.json").exists()
    last = replay(tmp_path / "training.html")["frames"][-1]
    assert last["diverged"]["message"].startswith("training diverged at step")
    assert last["step"] == last["diverged"]["step"] + 1
    assert "training diverged" in capsys.readouterr().err


def test_a_run_without_html_removes_an_old_replay(tmp_path: Path) -> None:
    (tmp_path / "training.html").write_text("left by an earlier run")
    assert main([*QUICK, "--steps", "2", "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "training.html").exists()


def test_html_skips_data_that_is_not_2d(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "three.csv"
    csv.write_text("".join(f"{i},{i % 3},{i % 5},{i % 2}\n" for i in range(12)))
    out = tmp_path / "out"
    assert main([*QUICK, "--csv", str(csv), "--steps", "2", "--html", "--out", str(out)]) == 0
    assert "training.html skipped" in capsys.readouterr().out
    assert not (out / "training.html").exists() and (out / "model.json").exists()


def test_help_documents_serve_and_html(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "serve" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    for needle in ("--port", "--host", "--no-browser", "127.0.0.1", "Host header", "2000"):
        assert needle in " ".join(text.split()), needle
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--html" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["serve", "--port", "70000"],
            "argument --port: must be a TCP port from 0 to 65535, got 70000",
        ),
        (["serve", "--port", "http"], "argument --port: 'http' is not an integer"),
        (["serve", "--hots", "x"], "unrecognized option --hots; did you mean --host?"),
    ],
)
def test_serve_options_are_checked_in_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tapegrad: error: {needle}") and err.count("\n") == 1
    assert err.endswith(" (see tapegrad serve --help)\n")


def test_parse_and_prepare_raise_usage_errors_instead_of_exiting() -> None:
    with pytest.raises(UsageError, match="argument --lr") as info:
        parse_train(["--lr=-1"])
    assert info.value.prog == "tapegrad train"
    with pytest.raises(UsageError, match="use --loss cross_entropy"):
        prepare_training(parse_train(["--dataset=blobs", "--classes=3"]))
    run = prepare_training(parse_train(["--epochs=3", "--batch-size=7", "--samples=20"]))
    assert run.steps == 9 and run.batch_size == 7  # 3 epochs of ceil(20 / 7) batches, as fit counts


@pytest.mark.parametrize(
    ("loss", "label", "nout"),
    [("hinge", 0, 1), ("hinge", 1, 1), ("mse", 0, 1), ("bce", 1, 1), ("cross_entropy", 2, 3)],
)
def test_example_loss_is_the_loss_fit_trains_on(loss: str, label: int, nout: int) -> None:
    x = [0.3, -1.1]
    model = MLP(2, [3, nout], rng=random.Random(4))
    expected = losses.example_loss(model(x), label, loss).data
    history = fit(model, [x], [label], loss=loss, steps=1, progress=False)  # a batch of one
    assert history.loss[0] == pytest.approx(expected, rel=1e-12)


def test_example_loss_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="unknown loss 'hinj'"):
        losses.example_loss(0.5, 1, "hinj")
    with pytest.raises(ValueError, match="needs the list of class scores"):
        losses.example_loss(0.5, 1, "cross_entropy")
    with pytest.raises(ValueError, match="needs one score"):
        losses.example_loss([0.5, 1.0], 1, "hinge")
    assert losses.example_loss(0.25, 0, "hinge") == 1.25  # label 0 is the -1 side


@pytest.mark.parametrize(
    ("options", "counted", "batch"),
    [
        (["--epochs", "2", "--batch-size", "6"], (20, None, 2, 6), "batches of 6"),
        (
            ["--epochs", "3", "--batch-size", "50"],
            (20, None, 3, None),
            "full batch (--batch-size 50",
        ),
        (["--steps", "5"], (20, 5, None, None), "full batch"),
        ([], (20, None, None, None), "full batch"),
    ],
)
def test_train_counts_its_steps_with_fits_step_count(
    options: list[str],
    counted: tuple[Any, ...],
    batch: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[tuple[Any, ...]] = []

    def spy(*args: Any) -> int:
        calls.append(args)
        return step_count(*args)

    monkeypatch.setattr(nn.cli, "step_count", spy)  # the name the CLI calls (no copy of its own)
    assert main([*QUICK, *options, "--out", str(tmp_path)]) == 0
    assert calls == [counted]
    steps = step_count(*counted)
    out = capsys.readouterr().out
    summary = next(line for line in out.splitlines() if line.startswith("  optimizer  "))
    assert f" at step {steps - 1} " in summary and f", {steps} steps, {batch}" in summary
    assert f"(step {steps - 1})" in out  # the done line: fit took exactly that many steps
    assert nn.read_meta(tmp_path / "model.json")["steps"] == steps
