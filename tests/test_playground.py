"""Tests of nn.playground: runs built by the CLI's own checks, stepped by fit, drawn as JSON."""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd import no_grad
from nn import MLP, data, fit
from nn.cli import main, training_meta
from nn.playground import (
    GRID,
    MAX_SAMPLES,
    OPTIONS,
    OptionError,
    Recorder,
    Run,
    replay_html,
)

SMALL = {"samples": 40, "hidden": "4"}


def cli_error(argv: list[str], out: Path) -> str:
    """The one-line message `tapegrad train ARGV` stops with (out is a file, so it always stops)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as info:
        main(["train", *argv, f"--out={out}"])
    assert info.value.code == 2
    line = stderr.getvalue()
    assert line.count("\n") == 1, line
    found = re.fullmatch(r"tapegrad: error: (.*) \(see tapegrad train --help\)\n", line)
    assert found, line
    return found.group(1)


def playground_error(options: dict[str, object]) -> str | None:
    try:
        Run(options).close()
    except OptionError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def not_a_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("out") / "a-file"
    path.write_text("in the way of --out")
    return path


def out_error(out: Path) -> str:
    return cli_error([], out)


BAD = [
    {"lr": "-1"},
    {"lr": "fast"},
    {"dataset": "moon"},
    {"hidden": "8,x"},
    {"loss": "hinge2"},
    {"optimizer": "sgdd"},
    {"activation": "gelu"},
    {"samples": "0"},
    {"seed": "1.5"},
    {"noise": "-0.1"},
    {"batch_size": "-3"},
    {"dataset": "spirals", "classes": 3},
    {"classes": 3},
    {"optimizer": "adam", "momentum": 0.9},
]


@pytest.mark.parametrize("options", BAD, ids=[json.dumps(o) for o in BAD])
def test_a_bad_option_gets_the_clis_message(options: dict[str, object], not_a_folder: Path) -> None:
    argv = [f"{OPTIONS[k]}={v}" for k, v in options.items()]
    message = playground_error(options)
    assert message is not None
    assert message == cli_error(argv, not_a_folder)


@given(
    # Not samples or hidden: the CLI would build what the playground refuses to (1e8 examples).
    name=st.sampled_from(["lr", "seed", "noise", "l2", "momentum", "batch_size"]),
    value=st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=8),
        st.integers(-5, 5).map(str),
        st.floats(-2, 2, allow_nan=False).map(repr),
    ),
)
def test_any_value_is_refused_exactly_when_the_cli_refuses_it(name: str, value: str) -> None:
    out = Path(__file__)  # a file: the CLI stops at --out at the latest, before any training
    message = playground_error({name: value, "samples": 30})
    if name == "batch_size" and value.strip() == "0":
        # the protocol's one difference: 0 is the full batch (the page's "all"), which
        # the CLI spells by leaving --batch-size out
        assert message is None
        return
    argv = [f"{OPTIONS[name]}={value}", "--samples=30"]
    cli = cli_error(argv, out)
    if message is None:
        assert cli.startswith("cannot create --out folder"), cli
    else:
        assert message == cli


def test_a_bad_csv_gets_the_clis_message_naming_the_upload(tmp_path: Path) -> None:
    text = "x0,x1,label\n0.5,1,a\n0.25,oops,b\n"
    csv = tmp_path / "points.csv"
    csv.write_text(text)
    message = playground_error({"dataset": "csv", "csv": text})
    assert message is not None
    assert "line 3" in message
    assert message == cli_error([f"--csv={csv}"], tmp_path / "points.csv").replace(
        str(csv), "the uploaded CSV"
    )


def test_unknown_option_names_list_the_valid_ones() -> None:
    message = playground_error({"learning_rate": 0.1})
    assert message is not None
    assert "'learning_rate'" in message
    for name in OPTIONS:
        assert name in message


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"samples": MAX_SAMPLES + 1}, "at most 2000 examples"),
        ({"hidden": "65"}, "at most 64 neurons"),
        ({"hidden": "2,2,2,2,2"}, "at most 4 hidden layers"),
        ({"dataset": "blobs", "classes": 11, "loss": "cross_entropy"}, "at most 10 classes"),
        ({"dataset": "csv"}, "upload a CSV"),
        ({"lr": [1]}, "expected a string or a number"),
        ({"watch": "3,0,0"}, "no weight 3,0,0"),
        ({"watch": "a"}, "layer,neuron,input"),
        ({"example": 40}, "examples 0..39"),
    ],
)
def test_the_playgrounds_limits_and_own_options(options: dict[str, object], needle: str) -> None:
    message = playground_error({**SMALL, **options})
    assert message is not None and needle in message, message


def test_a_csv_over_the_row_limit_or_not_2d_is_refused() -> None:
    rows = "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(MAX_SAMPLES + 1))
    message = playground_error({"dataset": "csv", "csv": rows})
    assert message is not None and "2001 rows" in message
    message = playground_error({"dataset": "csv", "csv": "1,2,3,0\n2,3,4,1\n"})
    assert message is not None and "3 feature columns" in message


def weights(run: Run) -> list[float]:
    return [p.data for p in run.training.model.parameters()]


def test_step_is_one_step_of_fit_itself() -> None:
    run = Run({**SMALL, "batch_size": 8, "optimizer": "adam", "lr": 0.02})
    for k in range(1, 6):
        assert run.step()
        assert run.state()["step"] == k == len(run.history)
    # The same five steps by nn.fit: the same data, weights and batches give the same floats.
    X, y = data.make_moons(40, seed=1337)
    model = MLP(2, [4, 1], rng=random.Random(1337))
    history = fit(
        model,
        X,
        y,
        loss="hinge",
        optimizer=nn.Adam(model.parameters(), lr=0.02),
        steps=5,
        batch_size=8,
        l2=1e-4,
        progress=False,
        seed=1337,
        compiled=True,
    )
    assert weights(run) == [p.data for p in model.parameters()]
    assert run.history.loss == history.loss
    state = run.state()
    assert state["loss"] == history.loss[-1] and state["accuracy"] == history.accuracy[-1]
    run.close()


def test_an_lr_change_alone_keeps_the_run_and_applies_from_the_next_step() -> None:
    run = Run(SMALL)
    for _ in range(3):
        run.step()
    before = weights(run)
    run.running = True
    same = run.configure({"lr": 0.05, "watch": "1,0,2"})
    assert same is run
    assert run.state()["step"] == 3 and run.state()["lr"] == 0.05 and run.running
    assert weights(run) == before
    run.step()
    assert run.history.lr[-2:] == [1.0, 0.05]
    update = run.frame()["update"]
    assert (update["layer"], update["neuron"], update["input"]) == (1, 0, 2)
    w = run.training.model.layers[1].neurons[0].w[2]
    assert update["w_after"] == w.data == update["w_new"]
    assert update["w_old"] - 0.05 * update["grad"] == w.data  # plain SGD: exactly the rule
    assert "delta" not in update
    run.close()


def test_any_other_change_starts_a_new_run_keeping_running() -> None:
    run = Run(SMALL)
    run.step()
    run.running = True
    new = run.configure({"seed": 7})
    assert new is not run
    assert new.state()["step"] == 0 and new.running
    assert new.options == {**SMALL, "seed": 7}
    assert weights(new) != weights(run)
    back = new.configure({"seed": None})  # None: back to the default
    assert back.options == SMALL and weights(back) == weights(Run(SMALL))
    for r in (run, new, back):
        r.close()


def test_a_bad_change_changes_nothing() -> None:
    run = Run(SMALL)
    run.step()
    with pytest.raises(OptionError, match="--lr"):
        run.configure({"lr": "-2", "seed": 3})
    assert run.options == SMALL and run.lr == 1.0 and run.state()["step"] == 1
    run.close()


def test_adam_updates_show_the_actual_change_beside_the_sgd_form() -> None:
    run = Run({**SMALL, "optimizer": "adam"})
    assert run.frame()["update"]["grad"] is None  # no step yet
    run.step()
    update = run.frame()["update"]
    assert update["w_new"] == update["w_old"] - update["lr"] * update["grad"]
    assert update["delta"] == update["w_after"] - update["w_old"]
    assert "Adam" in update["note"]
    run.close()


def no_nan(text: str) -> Any:
    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_divergence_stops_the_run_with_fits_message() -> None:
    run = Run({**SMALL, "lr": 1e9})
    run.running = True
    steps = 0
    while run.step():
        steps += 1
        assert steps < 100
    diverged = run.state()["diverged"]
    assert diverged is not None and not run.running
    assert diverged["message"].startswith(f"training diverged at step {diverged['step']}")
    assert "smaller learning rate" in diverged["message"]
    assert run.state()["step"] == diverged["step"] + 1
    assert not run.step()  # it stays stopped
    for part in (run.state(), run.frame()):
        text = json.dumps(part, allow_nan=False)
        assert no_nan(text) == part
    # An lr change now starts again: the diverged weights cannot continue.
    fresh = run.configure({"lr": 0.1})
    assert fresh is not run and fresh.state()["diverged"] is None
    run.close()
    fresh.close()


def test_a_run_stops_itself_at_its_step_limit() -> None:
    run = Run(SMALL, max_steps=3)
    run.running = True
    assert [run.step() for _ in range(4)] == [True, True, True, False]
    assert run.state()["step"] == 3 and not run.running and "3 steps" in run.state()["error"]
    run.close()


def test_frame_is_json_and_the_boundary_is_the_models_prediction() -> None:
    run = Run({**SMALL, "dataset": "blobs", "classes": 3, "loss": "cross_entropy"})
    run.step()
    frame = run.frame()
    assert no_nan(json.dumps(frame, allow_nan=False)) == frame
    b = frame["boundary"]
    assert b["n"] == GRID and len(b["cls"]) == GRID and all(len(r) == GRID for r in b["cls"])
    assert b["score"] is None  # several classes: no single score
    model = run.training.model
    for row, col in [(0, 0), (0, GRID - 1), (GRID - 1, 0), (17, 23), (GRID - 1, GRID - 1)]:
        x0 = b["x0"][0] + (b["x0"][1] - b["x0"][0]) * col / (GRID - 1)
        x1 = b["x1"][0] + (b["x1"][1] - b["x1"][0]) * row / (GRID - 1)  # row 0 = lowest x1
        with no_grad():
            out = [v.data for v in model([x0, x1])]
        assert b["cls"][row][col] == max(range(3), key=out.__getitem__)
    points = frame["points"]
    assert points["x"] == run.training.X and points["y"] == run.training.y
    assert points["classes"] == 3 and run.frame(points=False)["points"] is None
    net = frame["network"]
    assert net["sizes"] == [2, 4, 3]
    assert net["weights"][1][2] == [w.data for w in model.layers[1].neurons[2].w]
    assert net["grads"][0][1][0] == model.layers[0].neurons[1].w[0].grad
    run.close()


def test_binary_boundary_scores_are_the_raw_output() -> None:
    run = Run(SMALL)
    b = run.frame()["boundary"]
    with no_grad():
        out = run.training.model([b["x0"][0], b["x1"][1]]).data  # row GRID-1, column 0
    assert b["score"][GRID - 1][0] == pytest.approx(out, rel=1e-3)
    assert b["cls"][GRID - 1][0] == int(out > 0)
    run.close()


def test_history_is_thinned_evenly_with_its_steps() -> None:
    run = Run(SMALL)
    for _ in range(30):
        run.step()
    run.recorder.history_points = 7
    h = run.frame()["history"]
    assert h["step"][0] == 1 and h["step"][-1] == 30 and len(h["step"]) == 7
    assert h["loss"] == [run.history.loss[s - 1] for s in h["step"]]
    run.close()


def test_model_json_is_what_module_save_writes_and_nn_load_reads(tmp_path: Path) -> None:
    run = Run(SMALL)
    for _ in range(4):
        run.step()
    path = tmp_path / "model.json"
    path.write_bytes(run.model_json())
    model = nn.load(path)
    assert model.state_dict() == run.training.model.state_dict()
    assert nn.read_meta(path)["steps"] == 4
    saved = tmp_path / "saved.json"
    run.training.model.save(saved, meta=training_meta(run.training, run.history))
    assert saved.read_bytes() == path.read_bytes()
    run.close()


def test_explain_shows_the_chosen_example() -> None:
    run = Run({**SMALL, "example": 5})
    page = run.explain_html()
    assert page.lstrip().lower().startswith("<!doctype html")
    assert run.chosen_example() == 5
    with pytest.raises(OptionError, match=r"examples 0\.\.39"):
        run.explain_html(99)
    run.close()


def test_the_default_example_is_the_first_with_a_nonzero_loss() -> None:
    run = Run(SMALL)
    k = run.chosen_example()
    t = run.training
    with no_grad():
        values = [nn.losses.example_loss(t.model(x), c, "hinge").data for x, c in zip(t.X, t.y)]
    assert values[k] != 0 and all(v == 0 for v in values[:k])
    run.close()


def replay_data(page: str) -> Any:
    found = re.search(r'<script type="application/json" id="tg-replay">(.*?)</script>', page, re.S)
    assert found, "no tg-replay element"
    return no_nan(found.group(1))


def test_replay_holds_the_frames_and_nothing_can_end_its_script_early() -> None:
    names = ["</script><b>x", "<!--<script>", "plain"]
    csv = "".join(f"{i * 0.1},{(i * 7) % 5},{names[i % 3]}\n" for i in range(30))
    run = Run({"dataset": "csv", "csv": csv, "hidden": "3", "loss": "cross_entropy"})
    recorder = Recorder(run.training, every=2)
    frames = list(recorder.frames)
    page = replay_html(recorder.options(), frames)
    assert "</script><b>" not in page and "<!--<script>" not in page
    back = replay_data(page)
    assert back["frames"] == frames
    assert back["frames"][0]["points"]["labels"] == sorted(names)
    assert "<!--TG-CSS-->" not in page and "<!--TG-JS-->" not in page
    run.close()


def test_recorder_frames_every_k_steps_and_the_last(tmp_path: Path) -> None:
    run = Run(SMALL)
    recorder = Recorder(run.training, every=3)
    history = fit(
        run.training.model,
        run.training.X,
        run.training.y,
        optimizer=run.training.optimizer,
        steps=10,
        progress=False,
        callback=recorder,
    )
    recorder.finish(history)
    assert [f["step"] for f in recorder.frames] == [0, 3, 6, 9, 10]
    last = recorder.frames[-1]
    first = run.training.model.layers[0].neurons[0]
    assert last["network"]["weights"][0][0] == [w.data for w in first.w]
    assert len(last["history"]["loss"]) == 10 and all(f["points"] for f in recorder.frames)
    assert not math.isnan(last["history"]["loss"][-1])
    run.close()


def test_a_restart_drops_a_chosen_weight_or_example_that_no_longer_fits() -> None:
    run = Run({**SMALL, "hidden": "4,4", "watch": "1,3,3", "example": 39})
    new = run.configure({"hidden": "2", "samples": 20})
    assert new.watch == (0, 0, 0) and new.example is None
    assert "watch" not in new.options and "example" not in new.options
    with pytest.raises(OptionError, match="option watch"):
        run.configure({"hidden": "2", "watch": "1,3,3"})  # asked for now: refused
    run.close()
    new.close()


def test_a_run_whose_training_loop_failed_is_stopped() -> None:
    run = Run(SMALL)
    assert run.step()
    run.lr = math.nan  # what configure refuses: fit's loop refuses it at the next step
    with pytest.raises(ValueError, match=r"schedule\(1\) returned nan"):
        run.step()
    assert run.stopped and not run.step()
    assert len(run.history) == 1
    run.close()


def test_a_run_steps_in_the_callers_thread_and_a_closed_run_takes_no_step() -> None:
    before = set(threading.enumerate())
    run = Run(SMALL)
    assert run.step() and run.step()
    assert set(threading.enumerate()) == before  # no training thread of its own to hold
    run.close()
    assert run.stopped and not run.step()
    assert len(run.history) == 2
    unstarted = Run(SMALL)
    unstarted.close()
    assert not unstarted.step() and len(unstarted.history) == 0
