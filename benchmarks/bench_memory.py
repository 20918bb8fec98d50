"""Peak resident memory (RSS) of a training run and of a full report, each in its own process.

    python benchmarks/bench_memory.py [--data SOURCE] [--epochs 1] [--report-data SOURCE]

Each command runs in a fresh child process; its peak RSS is read from the kernel's accounting
(``getrusage(RUSAGE_CHILDREN)`` in a one-command wrapper), so nothing else is counted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

WRAPPER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")


def peak_rss_mb(cmd: list[str]) -> float:
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # KiB -> MiB


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="synthetic:count=6000,val=1000,test=1000")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--report-data", default="synthetic:count=600,val=100,test=700")
    p.add_argument("--quick-report", action="store_true", help="the report's quick (low-quality) options")
    args = p.parse_args(argv)
    ferviz = [sys.executable, "-m", "ferviz"]
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        train = peak_rss_mb([*ferviz, "train", "--data", args.data, "--epochs", str(args.epochs),
                             "--batch-size", str(args.batch_size), "--quiet", "--out", str(run)])
        report = peak_rss_mb([*ferviz, "report", "--checkpoint", str(run / "best.pt"), "--data",
                              args.report_data, "--out", str(Path(tmp) / "report"), "--quiet",
                              *(["--quick"] if args.quick_report else [])])
    print(f"peak RSS: train ({args.data}, {args.epochs} epoch) {train:7.0f} MiB")
    print(f"peak RSS: report ({args.report_data})          {report:7.0f} MiB")
    return {"train_rss_mb": train, "report_rss_mb": report}


if __name__ == "__main__":
    main()
