"""benchmarks/run.py in its tiny configuration: it runs and reports every field (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

KEYS = ["micrograd", "eager", "compiled", "numpy", "floor", "torch_scalar", "torch_batched"]
TAPEGRAD = ["eager", "compiled", "numpy", "floor"]


def test_quick_benchmark_prints_the_table_and_writes_json_and_chart(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "results.json").read_text())

    assert list(result["demo_step"]) == KEYS
    for key in TAPEGRAD:  # always measurable: they need only tapegrad and numpy
        row = result["demo_step"][key]
        assert row["median_ms"] > 0 and len(row["runs_ms"]) == result["config"]["rounds"]
    for row in result["demo_step"].values():
        assert (row["median_ms"] is None) == bool(row["note"])  # skipped only when not installed
        assert row["name"] in proc.stdout
    assert result["first_losses_agree"] is True
    assert result["compile_ms"]["compiled"] > 0

    assert result["memory"]["tapegrad"]["bytes_per_node"] > 0
    assert result["memory"]["tapegrad_nn"]["nodes"] < result["memory"]["tapegrad"]["nodes"]
    assert [r["nodes"] for r in result["chains"]] == [10**3, 10**4]
    assert all(r["backward_s"] > 0 for r in result["chains"])

    machine = result["machine"]
    assert machine["python"] == ".".join(map(str, sys.version_info[:3]))
    assert machine["cpu"] and machine["platform"]
    assert datetime.fromisoformat(result["date"]).tzinfo is not None
    assert machine["cpu"] in proc.stdout and "vs micrograd" in proc.stdout

    assert (tmp_path / "table.txt").read_text().strip() in proc.stdout
    assert (tmp_path / "demo_step.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
