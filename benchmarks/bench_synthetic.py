"""Throughput of the synthetic-face generator on one thread.

    python benchmarks/bench_synthetic.py                # 20,000 faces, median of 5 runs
    python benchmarks/bench_synthetic.py --count 200 --repeat 1   # a smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="faces per run (default 20000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs; the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # effective only before numpy loads its BLAS
    import torch

    torch.set_num_threads(1)
    from ferviz.data.synthetic import generate

    generate(min(args.count, 256), args.seed)  # warm-up: imports, caches
    times = []
    for _ in range(max(args.repeat, 1)):
        start = time.perf_counter()
        generate(args.count, args.seed)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    rate = args.count / median
    print(f"generate({args.count}): median {median:.3f} s over {len(times)} runs, "
          f"{rate:,.0f} faces/s on 1 thread")
    return rate


if __name__ == "__main__":
    main()
