"""Shared test configuration: hypothesis profiles, and a guard that CI never skips."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# "ci": thorough but bounded, deterministic so a red run reproduces.
# "dev": quick local runs. Pick with HYPOTHESIS_PROFILE; CI=true selects "ci".
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=40, deadline=None)
# a long hunt, by hand: HYPOTHESIS_PROFILE=stress pytest tests/test_oracle.py
settings.register_profile("stress", max_examples=3000, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

IN_CI = bool(os.environ.get("CI"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In CI, everything the suite needs must be installed: fail loudly instead of skipping."""
    if IN_CI and shutil.which("dot") is None:
        raise pytest.UsageError("CI needs Graphviz 'dot' (make test installs it)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """In CI a skip (importorskip of torch, say) would hide a missing dependency: fail instead."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (
            f"skipped in CI, where every dependency must be installed: {report.longrepr}"
        )
