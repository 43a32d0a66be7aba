"""Shared test configuration: hypothesis profiles, and a guard that CI never skips."""

from __future__ import annotations

import os
import shutil

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
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

IN_CI = bool(os.environ.get("CI"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In CI, everything the suite needs must be installed: fail loudly instead of skipping."""
    if IN_CI and shutil.which("dot") is None:
        raise pytest.UsageError("CI needs Graphviz 'dot' (make test installs it)")


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    if IN_CI and call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
        # importorskip/skip would hide a missing dependency in CI: turn it into a failure.
        call.excinfo = pytest.ExceptionInfo.from_exception(
            RuntimeError(f"test skipped in CI: {call.excinfo.value}")
        )
