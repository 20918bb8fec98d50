"""The default report's wall time: ferviz now against ferviz as it was at a baseline revision.

    python benchmarks/bench_report.py [--baseline-rev edc4659] [--reps 1] [--data synthetic]
                                      [--checkpoint fer2013-seed-vgg] [--quick]

The baseline is the same project at an earlier commit (by default edc4659, main when the speed
issue #18 was filed), built from this repository's own history into a temporary folder
(``git worktree`` + ``pip install --no-deps --target``) and run with the same Python, torch and
data. Each rep runs the baseline, then ferviz now, each as ``python -m ferviz report`` in a fresh
process, so machine load hits both alike. Prints the medians of the report's own ``timings_s``
(total and per section) and the ratio now / baseline. Needs git and the repository's history;
``--quick`` passes ``--quick`` to both reports (a smoke test); with ``--quick`` only, a clone
without the baseline commit (a shallow one) times ferviz now alone and says so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import baseline


def run_report(site: Path | None, args, out: Path) -> dict:
    """The report's ``timings_s`` from one fresh process: the baseline installed at `site`, or ferviz now (None)."""
    env = baseline.environment(site)
    command = [sys.executable, "-m", "ferviz", "report", "--checkpoint", args.checkpoint, "--data", args.data,
               "--out", str(out), "--overwrite", "--quiet", *(["--quick"] if args.quick else [])]
    done = subprocess.run(command, env=env, cwd=out.parent, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"bench_report: {' '.join(command)} failed ({'baseline' if site else 'now'}):\n"
                         f"{done.stderr[-2000:]}")
    return json.loads((out / "report.json").read_text())["timings_s"]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline-rev", default=baseline.DEFAULT_REV,
                   help="commit of the baseline (default: main when #18 was filed)")
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--data", default="synthetic")
    p.add_argument("--checkpoint", default="fer2013-seed-vgg")
    p.add_argument("--quick", action="store_true", help="both reports with --quick (checks the script runs)")
    args = p.parse_args(argv)
    known = baseline.has_commit(args.baseline_rev)
    if not known:
        if not args.quick:
            raise SystemExit(f"bench_report: {baseline.missing(args.baseline_rev)}")
        print(f"bench_report: {baseline.missing(args.baseline_rev)}; timing ferviz now alone")
    with tempfile.TemporaryDirectory(prefix="ferviz-bench-report-") as tmp:
        tmp = Path(tmp)
        site = baseline.install(args.baseline_rev, tmp / "baseline-install") if known else None
        runs: dict[str, list[dict]] = {"baseline": [], "now": []}
        for _ in range(args.reps):
            if site is not None:
                runs["baseline"].append(run_report(site, args, tmp / "baseline"))
            runs["now"].append(run_report(None, args, tmp / "now"))
    if not runs["baseline"]:
        total = statistics.median(t["total"] for t in runs["now"])
        print(f"  now: {total:.2f} s (no baseline)")
        return {"now_s": total}
    med = {who: {key: statistics.median(t.get(key, 0.0) for t in timings) for key in timings[0]}
           for who, timings in runs.items()}
    ratio = med["now"]["total"] / med["baseline"]["total"]
    print(f"ferviz report --checkpoint {args.checkpoint} --data {args.data}{' --quick' if args.quick else ''}: "
          f"medians of {args.reps} run(s) each, baseline = {args.baseline_rev}")
    keys = [k for k in med["baseline"] if k != "total"] + [k for k in med["now"] if k not in med["baseline"]]
    for key in [*keys, "total"]:
        print(f"  {key:<24} baseline {med['baseline'].get(key, 0.0):7.2f} s   now {med['now'].get(key, 0.0):7.2f} s")
    print(f"  ratio now / baseline (total) : {ratio:.2f}")
    return {"baseline_s": med["baseline"]["total"], "now_s": med["now"]["total"], "ratio": ratio,
            "baseline_rev": args.baseline_rev, "sections": med}


if __name__ == "__main__":
    main()
