"""tapegrad serve in a real browser: the page trains a real server's run through window.tapegrad."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import headless
import pytest

import nn
from nn.serve import MAX_RUNS

ROOT = Path(__file__).resolve().parents[1]
SERVE = [sys.executable, "-m", "nn", "serve", "--port", "0", "--no-browser"]
URL = re.compile(r"https?://\S+/")
DEADLINE = 20.0  # seconds any one wait may take before the test fails
SMALL = {"dataset": "moons", "samples": 60, "hidden": "6", "seed": 3}  # a run that steps fast


# --- one server and one browser for the module ---------------------------------------------


@contextlib.contextmanager
def _serving(log: Path, **env: str) -> Iterator[str]:
    """A real `tapegrad serve` subprocess on a free port; yields its address."""
    with log.open("w", encoding="utf-8") as err:  # a file: a full pipe would block the server
        proc = subprocess.Popen(
            SERVE,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**os.environ, **env},
        )
    lines: queue.Queue[str] = queue.Queue()
    out = proc.stdout
    assert out is not None

    def read() -> None:
        for line in out:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        try:
            first = lines.get(timeout=DEADLINE)
        except queue.Empty:
            pytest.fail(f"tapegrad serve printed no address within {DEADLINE} s")
        found = URL.search(first)
        assert found, f"tapegrad serve's first line names no address: {first!r}"
        yield found.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=DEADLINE)  # the server's end closes its stdout
        out.close()
    text = log.read_text(encoding="utf-8")
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _serving(tmp_path_factory.mktemp("serve") / "stderr.txt") as url:
        yield url


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    # Only the local server answers: a name would not resolve (the IP address needs none).
    browser = headless.start(
        window="1280,900", resolver="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
    )
    browser.set_script_timeout(DEADLINE)
    yield browser
    browser.quit()


# --- helpers ------------------------------------------------------------------------------


def _open(driver: Any, url: str) -> None:
    """Load the page (a new run) and wait until its own configure({}) has created the run."""
    driver.get(url)
    _wait(driver, lambda s: s["lr"] is not None or s["error"] is not None)
    assert _state(driver)["error"] is None
    driver.get_log("browser")  # start from an empty console


def _state(driver: Any) -> dict[str, Any]:
    state: dict[str, Any] = driver.execute_script("return window.tapegrad.state()")
    return state


def _call(driver: Any, js: str) -> dict[str, Any]:
    """Run `window.tapegrad.<js>`, wait for its Promise, return state() once it resolved."""
    got: dict[str, Any] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"Promise.resolve(window.tapegrad.{js}).then("
        "  () => done(window.tapegrad.state()), (e) => done({rejected: String(e)}));"
    )
    assert "rejected" not in got, got
    return got


def _configure(driver: Any, options: dict[str, Any]) -> dict[str, Any]:
    return _call(driver, f"configure({json.dumps(options)})")


def _wait(driver: Any, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll state() until `ok` holds (the page polls the server; this polls the page)."""
    from selenium.webdriver.support.ui import WebDriverWait

    found: list[dict[str, Any]] = []

    def check(d: Any) -> bool:
        found[:] = [_state(d)]
        return ok(found[0])

    WebDriverWait(driver, DEADLINE, poll_frequency=0.05).until(check)
    return found[0]


def _run_path(driver: Any) -> str:
    """The page's run, as its download link names it: /api/runs/<id>."""
    href: str = driver.execute_script("return document.getElementById('tg-download').href")
    found = re.search(r"/api/runs/[0-9a-f]+", href)
    assert found, href
    return found.group(0)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=DEADLINE) as reply:
        return reply.read()


def _create(server: str, options: dict[str, Any]) -> str:
    """A run made over HTTP, not by the page: its path, /api/runs/<id>."""
    request = urllib.request.Request(
        server.rstrip("/") + "/api/runs",
        data=json.dumps(options).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=DEADLINE) as reply:
        run: str = json.loads(reply.read())["run"]
    return f"/api/runs/{run}"


def _wait_for_explain(driver: Any, path: str, step: int) -> None:
    """Wait until the explain view shows `path` at `step`, loaded (the server has answered)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, DEADLINE, poll_frequency=0.05).until(
        lambda d: d.execute_script(
            "const doc = document.getElementById('tg-explain').contentDocument;"
            "if (!doc || doc.readyState !== 'complete') return false;"
            "const at = new URL(doc.location.href);"
            "return at.pathname === arguments[0] && at.searchParams.get('step') === arguments[1]"
            " && doc.querySelectorAll('[data-tg-node]').length > 0;",
            path,
            str(step),
        )
    )


def _server_view(driver: Any, server: str) -> dict[str, Any]:
    """The run as the server has it (not through the page)."""
    got: dict[str, Any] = json.loads(_get(server.rstrip("/") + _run_path(driver)))
    return got


def _pointer(driver: Any, k: int, along: float = 0.2) -> Any:
    """Actions that move the mouse onto edge `k`, a fifth of the way along it (where no other
    edge crosses: edges into one neuron meet at their far end, not near their start)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    x, y = driver.execute_script(
        "const e = document.querySelector(`#tg-network .tg-hit[data-k='${arguments[0]}']`);"
        "const a = (n) => e[n].baseVal.value, t = arguments[1];"
        "const p = new DOMPoint(a('x1') + t * (a('x2') - a('x1')),"
        " a('y1') + t * (a('y2') - a('y1')));"
        "const q = p.matrixTransform(e.getScreenCTM()); return [q.x, q.y];",
        k,
        along,
    )
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(round(x), round(y))
    return actions


def _console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


# --- the tests ----------------------------------------------------------------------------


def test_play_trains_pause_holds_and_step_once_takes_one_step(driver: Any, server: str) -> None:
    _open(driver, server)
    first = _configure(driver, SMALL)
    assert first["step"] == 0 and first["loss"] is None and not first["running"]
    one = _call(driver, "stepOnce()")
    assert one["step"] == 1 and one["loss"] is not None

    _call(driver, "play()")
    _wait(driver, lambda s: s["step"] >= 40 and s["loss"] < one["loss"])
    paused = _call(driver, "pause()")
    assert paused["running"] is False
    held = _server_view(driver, server)["state"]
    again = _server_view(driver, server)["state"]
    assert held["step"] == again["step"] == paused["step"] == _state(driver)["step"]
    assert driver.find_element("id", "tg-stepno").text == str(paused["step"])

    stepped = _call(driver, "stepOnce()")
    assert stepped["step"] == paused["step"] + 1
    assert _server_view(driver, server)["state"]["step"] == stepped["step"]
    assert _console_errors(driver) == []


def test_the_views_show_the_engines_numbers_exactly(
    driver: Any, server: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _open(driver, server)
    _configure(driver, {**SMALL, "watch": "1,0,2"})
    _call(driver, "stepOnce()")
    _call(driver, "stepOnce()")
    frame = _server_view(driver, server)["frame"]
    net = frame["network"]
    assert net["sizes"] == [2, 6, 1]

    edges = driver.execute_script(
        "return Array.from(document.querySelectorAll('#tg-network [data-tg-edge]')).map(e =>"
        " [e.getAttribute('data-tg-edge'), e.getAttribute('data-tg-w'),"
        " e.getAttribute('data-tg-grad')])"
    )
    assert len(edges) == 2 * 6 + 6 * 1
    for name, w, g in edges:
        layer, neuron, inp = (int(k) for k in name.split(","))
        assert float(w) == net["weights"][layer][neuron][inp]
        assert float(g) == net["grads"][layer][neuron][inp]

    # Hovering an edge tells its weight and gradient. Edges are in the order of the weights:
    # layer 1's come after layer 0's 2 x 6; edge 14 is layer 1, neuron 0, input 2.
    _pointer(driver, 14).perform()
    tip = driver.find_element(By.ID, "tg-tooltip")
    name, w, g = edges[14]
    assert name == "1,0,2"
    assert tip.is_displayed() and f"w = {w}" in tip.text and f"dL/dw = {g}" in tip.text

    # The followed weight's update, with the frame's numbers: W_new = W_old - lr * dL/dW.
    u = frame["update"]
    assert (u["layer"], u["neuron"], u["input"]) == (1, 0, 2)
    shown = {
        key: float(
            driver.find_element(By.CSS_SELECTOR, f"#tg-update [data-tg-{key}]").get_attribute(
                f"data-tg-{key}"
            )
        )
        for key in ("w-old", "lr", "grad", "w-new")
    }
    assert shown == {"w-old": u["w_old"], "lr": u["lr"], "grad": u["grad"], "w-new": u["w_new"]}
    assert u["w_new"] == u["w_old"] - u["lr"] * u["grad"]
    assert u["w_new"] == net["weights"][1][0][2]
    watched = driver.find_element(By.CSS_SELECTOR, "#tg-network .tg-watched")
    assert watched.get_attribute("data-tg-edge") == "1,0,2"

    # Clicking another edge follows that weight (watch never restarts the run).
    clicks = _pointer(driver, 17)
    clicks.pointer_action.click()
    clicks.perform()
    WebDriverWait(driver, DEADLINE, poll_frequency=0.05).until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "#tg-network .tg-watched").get_attribute("data-tg-edge")
            == "1,0,5"
        )
    )
    assert _state(driver)["step"] == 2

    # The explain view shows the chosen example's graph, from the server, at this step.
    frame_el = driver.find_element(By.ID, "tg-explain")
    assert "/explain" in frame_el.get_attribute("src")
    driver.switch_to.frame(frame_el)
    try:
        WebDriverWait(driver, DEADLINE, poll_frequency=0.05).until(
            lambda d: d.execute_script(
                "return !!window.tapegrad && document.querySelectorAll('[data-tg-node]').length > 0"
            )
        )
    finally:
        driver.switch_to.default_content()

    # The download link gives a model file nn.load reads, with this run's weights.
    path = tmp_path / "model.json"
    path.write_bytes(_get(server.rstrip("/") + _run_path(driver) + "/model.json"))
    model = nn.load(path)
    assert isinstance(model, nn.MLP)
    assert model.layers[1].neurons[0].w[2].data == net["weights"][1][0][2]
    assert _console_errors(driver) == []


def test_an_lr_change_alone_keeps_the_run_any_other_change_restarts_it(
    driver: Any, server: str
) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, server)
    _configure(driver, {**SMALL, "lr": 0.5})
    _call(driver, "play()")
    before = _wait(driver, lambda s: s["step"] >= 5)
    changed = _configure(driver, {"lr": 0.125})
    assert changed["lr"] == 0.125 and changed["running"] is True
    assert changed["step"] >= before["step"]
    later = _wait(driver, lambda s: s["step"] > changed["step"])
    assert later["lr"] == 0.125
    assert driver.find_element(By.ID, "opt-lr").get_attribute("value") == "0.125"
    restarted = _configure(driver, {"hidden": "3"})
    assert restarted["step"] < later["step"] and restarted["running"] is True
    _call(driver, "pause()")
    frame = _server_view(driver, server)["frame"]
    assert frame["network"]["sizes"] == [2, 3, 1]
    assert _console_errors(driver) == []


def test_a_diverging_run_says_so_and_stops_without_drawing_nan(driver: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, server)
    _configure(driver, {**SMALL, "loss": "mse", "lr": 1e150})
    _call(driver, "play()")
    state = _wait(driver, lambda s: s["diverged"] is not None and not s["running"])
    diverged = state["diverged"]
    assert "learning rate" in diverged["message"]
    banner = driver.find_element(By.ID, "tg-banner")
    assert banner.is_displayed()
    assert f"diverged at step {diverged['step']}" in banner.text
    assert "learning rate" in banner.text
    text = driver.find_element(By.TAG_NAME, "body").text
    assert "NaN" not in text and "Infinity" not in text
    assert driver.find_element(By.ID, "tg-play").get_attribute("disabled") is not None
    assert _console_errors(driver) == []


def test_a_bad_option_shows_the_message_naming_the_valid_choices(driver: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, server)
    _configure(driver, SMALL)
    _call(driver, "stepOnce()")
    bad = _configure(driver, {"activation": "banana"})
    error = bad["error"]
    assert error is not None and "banana" in error
    assert all(name in error for name in ("relu", "tanh", "sigmoid"))
    assert bad["step"] == 1  # the run is as it was
    line = driver.find_element(By.ID, "tg-error")
    assert line.is_displayed() and line.text == error
    # The refused request is the only thing in the console (the browser logs any 4xx reply).
    errors = _console_errors(driver)
    assert all(e["source"] == "network" and "400" in e["message"] for e in errors), errors
    good = _configure(driver, {"activation": "tanh"})
    assert good["error"] is None and good["step"] == 0
    assert not line.is_displayed()
    assert _console_errors(driver) == []


def test_two_tabs_are_two_independent_runs(driver: Any, server: str) -> None:
    _open(driver, server)
    _configure(driver, SMALL)
    _call(driver, "stepOnce()")
    _call(driver, "stepOnce()")
    first_tab, first_run = driver.current_window_handle, _run_path(driver)
    driver.switch_to.new_window("tab")
    try:
        _open(driver, server)
        _configure(driver, {**SMALL, "hidden": "2"})
        assert _call(driver, "stepOnce()")["step"] == 1
        second_run = _run_path(driver)
        assert second_run != first_run
        assert _server_view(driver, server)["frame"]["network"]["sizes"] == [2, 2, 1]
        assert _console_errors(driver) == []
    finally:
        driver.close()
        driver.switch_to.window(first_tab)
    assert _state(driver)["step"] == 2
    assert _server_view(driver, server)["state"]["step"] == 2
    assert _server_view(driver, server)["frame"]["network"]["sizes"] == [2, 6, 1]


def test_a_run_the_server_forgot_is_started_again_with_the_same_options(
    driver: Any, tmp_path: Path
) -> None:
    # A server of its own, so the test knows every run on it. It forgets the page's run
    # without any clock: MAX_RUNS newer runs push out the one left alone longest. (A run
    # left alone for minutes is forgotten too; test_serve_http.py times that over HTTP.
    # Timed here, the page's run could be forgotten before the test had configured it.)
    with _serving(tmp_path / "stderr.txt") as url:
        _open(driver, url)
        _configure(driver, {**SMALL, "hidden": "5"})
        _call(driver, "stepOnce()")
        old = _run_path(driver)
        # The page's last request for its run is the explain view of step 1: once that has
        # loaded, the page leaves the run alone (it does not poll a paused run).
        _wait_for_explain(driver, f"{old}/explain", step=1)
        others = [_create(url, SMALL) for _ in range(MAX_RUNS)]
        assert old not in others
        with pytest.raises(urllib.error.HTTPError) as forgotten:
            _get(url.rstrip("/") + old)
        assert forgotten.value.code == 404

        state = _call(driver, "stepOnce()")
        assert state["step"] == 1 and "new run" in state["error"]
        new = _run_path(driver)
        assert new != old and new not in others
        assert _server_view(driver, url)["frame"]["network"]["sizes"] == [2, 5, 1]
        # The browser logs the one refused request (404, stepping the forgotten run), nothing else.
        errors = _console_errors(driver)
        assert len(errors) == 1, errors
        assert errors[0]["source"] == "network" and "404" in errors[0]["message"], errors
        assert f"{old}/step" in errors[0]["message"], errors
