"""ferviz as it was at an earlier commit, built from this repository's history, for same-run baselines.

`install(rev, into)` checks the commit out into a temporary git worktree, installs it without
dependencies (``pip install --no-deps --target``) into ``into/site`` and keeps a copy of its
``benchmarks/`` folder in ``into/benchmarks``; run its code with ``into/site`` first on
``PYTHONPATH`` (`environment`). The same Python, torch and data serve both sides.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: main when the speed issue (#18) was filed: the "today's ferviz" the issue's targets are against.
DEFAULT_REV = "edc4659"


def has_commit(rev: str) -> bool:
    """Whether this clone's history holds `rev` (a shallow clone may not)."""
    return subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{rev}^{{commit}}"],
                          capture_output=True).returncode == 0


def missing(rev: str) -> str:
    return f"commit {rev} is not in this clone's history (a shallow clone?); `git fetch --unshallow` brings it"


def install(rev: str, into: Path) -> Path:
    """`rev` installed into `into`/site, its benchmarks copied to `into`/benchmarks; returns `into`."""
    into.mkdir(parents=True, exist_ok=True)
    tree = into / "tree"
    _run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(tree), rev], f"check out {rev}")
    try:
        _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
              "--target", str(into / "site"), str(tree)], f"install {rev} (offline: needs setuptools in this venv)")
        shutil.copytree(tree / "benchmarks", into / "benchmarks")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    return into


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"baseline: could not {what}: {(done.stderr or done.stdout).strip()[-1500:]}")


def environment(into: Path | None, env: dict | None = None) -> dict:
    """`env` (default: this process's) with the baseline installed at `into` first on the path; unchanged for None."""
    env = dict(os.environ if env is None else env)
    if into is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(into / "site"), *filter(None, [env.get("PYTHONPATH")])])
    return env
