"""Smoke test: every benchmark script runs on a tiny size (no timing is asserted)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_all_benchmarks_run_on_tiny_sizes():
    result = subprocess.run([sys.executable, "benchmarks/run_all.py", "--quick"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for heading in ("== training", "== explainers", "== data", "== synthetic faces", "== memory", "== start-up",
                    "== contention", "== report"):
        assert heading in result.stdout
    assert "ratio" in result.stdout and "peak RSS" in result.stdout and "contended" in result.stdout
    assert "bf16 now / bf16 before (allocator)" in result.stdout
    assert "ratio now / baseline (total)" in result.stdout or "no baseline" in result.stdout


def test_gpu_script_runs_its_every_step_on_the_cpu(tmp_path):
    """benchmarks/gpu.py is what a lent GPU runs; --device cpu --tiny checks each of its steps works."""
    result = subprocess.run([sys.executable, "benchmarks/gpu.py", "--device", "cpu", "--tiny", "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = (tmp_path / "gpu.md").read_text()
    for name in ("bench_train", "bench_explain", "deterministic-1", "deterministic-2", "recipe", "evaluate"):
        assert f"| {name} | ok |" in table, table
    assert "two runs bit-identical" in table and "precision=bf16" in table
