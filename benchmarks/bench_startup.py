"""Start-up time of the ferviz command: --help, --version and every command's --help.

    python benchmarks/bench_startup.py               # each command 5 times, in a fresh process
    python benchmarks/bench_startup.py --repeat 1    # a smoke run

Each run is a new process, as a user's is. For scale it also times the bare interpreter and
`import torch`, which every --help paid before the CLI imported torch only inside commands.
Target: under 0.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def commands() -> list[list[str]]:
    """--help, --version and `PATH... --help` for every command and group of the CLI."""
    import click

    from ferviz.cli import main

    found = [["--help"], ["--version"]]

    def walk(group: click.Group, path: list[str]) -> None:
        for name, command in sorted(group.commands.items()):
            found.append(path + [name, "--help"])
            if isinstance(command, click.Group):
                walk(command, path + [name])

    walk(main, [])
    return found


def ferviz_command() -> list[str]:
    """The console script next to this interpreter (what users run), else `python -m ferviz`."""
    script = Path(sys.executable).with_name("ferviz")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ferviz"]


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command; medians are reported")
    args = parser.parse_args(argv)
    repeat = max(args.repeat, 1)
    base = ferviz_command()
    todo = commands()
    times: dict[str, list[float]] = {" ".join(c): [] for c in todo}
    python, torch = [], []
    for _ in range(repeat):  # interleaved, so that machine load hits every command alike
        python.append(seconds([sys.executable, "-c", "pass"]))
        torch.append(seconds([sys.executable, "-c", "import torch"]))
        for command in todo:
            times[" ".join(command)].append(seconds(base + command))
    medians = {name: statistics.median(t) for name, t in times.items()}
    overall = statistics.median([t for ts in times.values() for t in ts])
    slowest = max(medians, key=medians.get)
    print(f"{'ferviz' if len(base) == 1 else 'python -m ferviz'} start-up, {len(todo)} commands x {repeat} runs:")
    print(f"  median {overall:.3f} s; --help {medians['--help']:.3f} s, --version {medians['--version']:.3f} s; "
          f"slowest: {slowest} {medians[slowest]:.3f} s (target < 0.5 s)")
    print(f"  for scale: python -c pass {statistics.median(python):.3f} s, "
          f"python -c 'import torch' {statistics.median(torch):.3f} s")
    return overall


if __name__ == "__main__":
    main()
