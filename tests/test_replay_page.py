"""tapegrad train --html: the replay page opens from disk, network off, and shows its frames."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import headless
import pytest

import nn

ROOT = Path(__file__).resolve().parents[1]
REPLAY = re.compile(r'<script type="application/json" id="tg-replay">(.*?)</script>', re.S)
TRAIN = ["--dataset", "moons", "--samples", "40", "--hidden", "4", "--steps", "30", "--seed", "5"]


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A small run's out/training.html and the frames it embeds."""
    out = tmp_path_factory.mktemp("replay") / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nn",
            "train",
            *TRAIN,
            "--html",
            "--no-plots",
            "--no-progress",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    page = out / "training.html"
    found = REPLAY.search(page.read_text(encoding="utf-8"))
    assert found, "training.html embeds no #tg-replay script"
    assert "</" not in found.group(1)  # escaped as <\/, so the script tag cannot end early
    return page, json.loads(found.group(1))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # No name resolves: any request would fail; the performance log records every
    # request the page makes (Network.requestWillBeSent).
    driver = headless.start(
        window="1280,900", resolver="MAP * ~NOTFOUND", logs=("browser", "performance")
    )
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    yield driver
    driver.quit()


def _requests(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _edges(driver: Any) -> dict[str, tuple[float, float]]:
    got = driver.execute_script(
        "const r = {}; document.querySelectorAll('#tg-network [data-tg-edge]').forEach(e => {"
        "r[e.getAttribute('data-tg-edge')] = [e.getAttribute('data-tg-w'),"
        " e.getAttribute('data-tg-grad')]}); return r;"
    )
    return {k: (float(w), float(g)) for k, (w, g) in got.items()}


def _expected_edges(frame: dict[str, Any]) -> dict[str, tuple[float, float]]:
    net = frame["network"]
    return {
        f"{layer},{j},{i}": (w, net["grads"][layer][j][i])
        for layer, rows in enumerate(net["weights"])
        for j, row in enumerate(rows)
        for i, w in enumerate(row)
    }


def test_the_replay_opens_offline_and_its_slider_walks_the_frames(
    browser: Any, replay: tuple[Path, dict[str, Any]]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page, embedded = replay
    frames = embedded["frames"]
    assert len(frames) >= 2 and all(f["points"] is not None for f in frames)
    browser.get(page.as_uri())
    api = "return window.tapegrad."
    n = browser.execute_script(api + "replay.frames()")
    assert n == len(frames)
    slider = browser.find_element(By.ID, "tg-slider")
    assert slider.is_displayed() and slider.get_attribute("max") == str(n - 1)
    assert not browser.find_element(By.ID, "tg-controls").is_displayed()
    # It opens on the last frame: the trained model, the same weights as model.json.
    assert browser.execute_script(api + "state()")["step"] == frames[-1]["step"]
    assert _edges(browser) == _expected_edges(frames[-1])
    model = nn.load(page.parent / "model.json")
    assert isinstance(model, nn.MLP)
    saved = {
        f"{layer},{j},{i}": w.data
        for layer, lay in enumerate(model.layers)
        for j, neuron in enumerate(lay.neurons)
        for i, w in enumerate(neuron.w)
    }
    assert {k: w for k, (w, _) in _edges(browser).items()} == saved

    browser.execute_script("window.tapegrad.replay.show(0)")
    assert browser.execute_script(api + "state()")["step"] == frames[0]["step"]
    assert _edges(browser) == _expected_edges(frames[0])
    slider.send_keys(Keys.ARROW_RIGHT)  # the slider itself moves the views
    assert browser.execute_script(api + "state()")["step"] == frames[1]["step"]
    assert slider.get_attribute("value") == "1"
    assert f"step {frames[1]['step']}" in browser.find_element(By.ID, "tg-replay-pos").text
    assert _edges(browser) == _expected_edges(frames[1])

    text = browser.find_element(By.TAG_NAME, "body").text
    assert "NaN" not in text and "undefined" not in text
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    requests = _requests(browser)
    assert all(not re.match(r"(https?|wss?):", url) for url in requests), requests
