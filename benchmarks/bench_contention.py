"""Training throughput when other work shares the CPU: thread settings side by side.

On a 2-core machine a training run used to fall from about 210 to 15 images/s when other
processes ran beside it (load average 6). Intra-op threads that wait for each other at every
operation suffer most: when one is descheduled, the others spin or stall until it returns.
This measures bf16 training steps (ferviz's Trainer) alone and beside --competitors busy
processes (each a pure-Python loop that keeps one core busy), for each thread setting:

    threads=all            torch's default: one intra-op thread per core
    threads=all, passive   the same with OMP_WAIT_POLICY=PASSIVE (waiting threads sleep)
    threads=1              one thread

    python benchmarks/bench_contention.py [--batch 256] [--steps 3] [--reps 3] [--competitors 1]

Each measurement runs in a fresh process; prints images/s (medians) alone and contended, and
the share kept under contention.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import run_variant  # noqa: E402

SETTINGS = {
    "threads=all": {},
    "threads=all, passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "threads=1": {"OMP_NUM_THREADS": "1"},
}
BUSY = "import time\nend = time.time() + 600\nwhile time.time() < end: pass\n"


def run(setting: str, batch: int, steps: int) -> float:
    return run_variant("bf16", batch, steps, None, env_extra=SETTINGS[setting])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--competitors", type=int, default=1, help="busy processes beside the contended runs")
    args = p.parse_args(argv)
    alone = {s: [] for s in SETTINGS}
    contended = {s: [] for s in SETTINGS}
    for _ in range(args.reps):
        for setting in SETTINGS:
            alone[setting].append(run(setting, args.batch, args.steps))
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.competitors)]
        try:
            for setting in SETTINGS:
                contended[setting].append(run(setting, args.batch, args.steps))
        finally:
            for proc in busy:
                proc.kill()
                proc.wait()
    res = {}
    print(f"bf16 training, seed VGG, batch {args.batch}, {args.steps} steps x {args.reps} reps, {os.cpu_count()} "
          f"CPUs, {args.competitors} busy process(es) beside the contended runs")
    for setting in SETTINGS:
        a, c = statistics.median(alone[setting]), statistics.median(contended[setting])
        res[setting] = {"alone": a, "contended": c, "kept": c / a}
        print(f"  {setting:<22}: alone {a:7.1f} images/s, contended {c:7.1f} images/s, kept {c / a:6.0%}")
    return res


if __name__ == "__main__":
    main()
