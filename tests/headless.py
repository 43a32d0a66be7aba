"""Headless Chromium for the page tests: Debian's chromium and chromedriver, driven by selenium."""

from __future__ import annotations

import shutil
from typing import Any

import pytest


def start(*, window: str, resolver: str, logs: tuple[str, ...] = ("browser",)) -> Any:
    """A headless Chromium (skips the test when it is not installed; CI turns skips into failures).

    Args:
        window: the window size, "width,height".
        resolver: Chromium's --host-resolver-rules: which names may resolve (none
            means the page cannot reach the network).
        logs: the logs to record at every level ("browser" for the console,
            "performance" for every request the page makes).
    """
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("needs Debian's chromium and chromium-driver (make test installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--window-size={window}",
        f"--host-resolver-rules={resolver}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", dict.fromkeys(logs, "ALL"))
    return webdriver.Chrome(options=options, service=Service(driver_path))
