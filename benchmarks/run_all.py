"""Run every benchmark and print one table.

    python benchmarks/run_all.py            # full sizes (about 15 minutes on 2 CPU cores)
    python benchmarks/run_all.py --quick    # tiny sizes: checks that every benchmark runs

Each benchmark times ferviz and its baseline in the same run and reports medians and ratios.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_contention  # noqa: E402
import bench_data  # noqa: E402
import bench_explain  # noqa: E402
import bench_memory  # noqa: E402
import bench_report  # noqa: E402
import bench_startup  # noqa: E402
import bench_synthetic  # noqa: E402
import bench_train  # noqa: E402

QUICK = {
    "train": ["--batch", "16", "--steps", "1", "--reps", "1", "--no-baseline"],  # bench_report builds one
    "explain": ["--saliency", "4", "--ig", "2", "--ig-steps", "4", "--filters", "2", "--ascent-steps", "2",
                "--reps", "1"],
    "data": ["--rows", "300", "--repeat", "1"],
    "synthetic": ["--count", "200", "--repeat", "1"],
    "memory": ["--data", "synthetic:count=128,val=32,test=32", "--batch-size", "32",
               "--report-data", "synthetic:count=70,val=14,test=70",
               "--quick-report"],
    "startup": ["--repeat", "1"],
    "contention": ["--batch", "16", "--steps", "1", "--reps", "1"],
    "report": ["--quick", "--data", "synthetic:count=70,val=14,test=70"],
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, to check the scripts run")
    args = p.parse_args(argv)
    pick = lambda name: QUICK[name] if args.quick else []  # noqa: E731
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, Python {platform.python_version()}\n")
    sections = [("training", bench_train, "train"), ("explainers", bench_explain, "explain"),
                ("data", bench_data, "data"), ("synthetic faces", bench_synthetic, "synthetic"),
                ("memory", bench_memory, "memory"), ("start-up", bench_startup, "startup"),
                ("contention", bench_contention, "contention"), ("report", bench_report, "report")]
    for title, module, key in sections:
        print(f"== {title}")
        module.main(pick(key))
        print()


if __name__ == "__main__":
    main()
