"""Benchmark the data readers.

* parsing a FER2013-format CSV (35,887 rows of random pixels, built in a temporary folder):
  a plain ``csv`` + ``str.split`` + ``int()`` loop against ferviz's vectorised parser (median of
  ``--repeat`` runs each, file reading included), and their ratio;
* the cached second load of the same CSV;
* reading the real FER2013 zip (images/s, class counts) when it is present, and its cached load;
* the peak resident memory of the process.

    python benchmarks/bench_data.py               # full size (about a minute: the baseline is slow)
    python benchmarks/bench_data.py --rows 700    # a quick check
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REAL_ZIP = (
    Path("/work/shared/data/fer2013-train.zip"),
    Path(__file__).resolve().parents[1].parent / "shared/data/fer2013-train.zip",
)


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    """A FER2013-format CSV with random pixels, labels and Usage."""
    rng = np.random.default_rng(seed)
    words = np.array([str(i) for i in range(256)], dtype=object)
    usage = ("Training", "PublicTest", "PrivateTest")
    with open(path, "w", newline="") as f:
        f.write("emotion,pixels,Usage\n")
        for start in range(0, rows, 1000):
            n = min(1000, rows - start)
            pixels = rng.integers(0, 256, (n, 2304))
            labels = rng.integers(0, 7, n)
            lines = [f"{labels[i]},{' '.join(words[pixels[i]])},{usage[min(2, 3 * (start + i) // rows)]}\n"
                     for i in range(n)]
            f.write("".join(lines))


def baseline_parse(path: Path):
    """What a plain Python FER2013 loader does."""
    labels, images, usage = [], [], []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            labels.append(int(row[0]))
            images.append([int(p) for p in row[1].split()])
            usage.append(row[2])
    return np.array(images, dtype=np.uint8).reshape(-1, 48, 48), np.array(labels), usage


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=35887, help="CSV rows (FER2013 has 35,887)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not time the slow plain parser")
    parser.add_argument("--real-zip", type=Path, default=None,
                        help="the real FER2013 image zip (default: shared/data/fer2013-train.zip if present)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="ferviz-bench-") as tmp:
        tmp = Path(tmp)
        os.environ["FERVIZ_CACHE_DIR"] = str(tmp / "cache")
        os.environ.pop("FERVIZ_NO_CACHE", None)
        from ferviz.data import cache
        from ferviz.data.readers import CsvReader, FolderReader

        cache.MIN_IMAGES = 0  # cache even a --rows 100 file, so the cached load is measured

        path = tmp / "fer2013.csv"
        t = time.perf_counter()
        write_csv(path, args.rows)
        print(f"csv: {args.rows} rows, {path.stat().st_size / 1e6:.0f} MB (written in {time.perf_counter() - t:.1f} s)")

        reader = CsvReader()
        fast, splits = timed(lambda: reader.read(str(path), {"skip_bad": False, "cache": "0"}), args.repeat)
        n = sum(len(d) for d in splits.values())
        assert n == args.rows, (n, args.rows)
        print(f"ferviz parser:       {fast:8.3f} s  ({args.rows / fast:,.0f} rows/s)")
        reader.read(str(path), {"skip_bad": False})  # fills the cache
        cached, _ = timed(lambda: reader.read(str(path), {"skip_bad": False}), max(args.repeat, 3))
        print(f"cached second load:  {cached:8.3f} s")

        real = args.real_zip or next((p for p in REAL_ZIP if p.is_file()), None)
        if real is not None and real.is_file():
            folder = FolderReader()
            t = time.perf_counter()
            out = folder.read(str(real), {"skip_bad": False, "cache": "0"})
            dt = time.perf_counter() - t
            count = sum(len(d) for d in out.values())
            print(f"real zip {real.name}: {count} images in {dt:.2f} s = {count / dt:,.0f} images/s")
            for name, d in out.items():
                print(f"  {name}: {d.class_counts()}")
            folder.read(str(real), {"skip_bad": False})
            cached_zip, _ = timed(lambda: folder.read(str(real), {"skip_bad": False}), 3)
            print(f"real zip cached load: {cached_zip:.3f} s")
        else:
            print("real zip: not present, skipped")
        print(f"peak RSS so far (ferviz readers only): {peak_rss_mb():,.0f} MB")

        if not args.skip_baseline:
            slow, (images, _, _) = timed(lambda: baseline_parse(path), args.repeat)
            ours = np.concatenate([d.images for d in splits.values()])
            ids = np.concatenate([d.ids for d in splits.values()]).astype(int)
            assert np.array_equal(ours, images[ids]), "the two parsers disagree"
            print(f"plain csv + split:   {slow:8.3f} s  ({args.rows / slow:,.0f} rows/s)")
            print(f"speed-up:            {slow / fast:8.1f} x  (plain / ferviz, median of {args.repeat})")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
