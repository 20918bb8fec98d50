"""Start-up: `ferviz --help`, `--version` and every command's `--help` load neither torch nor
matplotlib, which take seconds to import (benchmarks/bench_startup.py times them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
import click
from ferviz.cli import main

def walk(command, path):
    yield path
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, path + [name])

shown = []
for args in [["--version"]] + [path + ["--help"] for path in walk(main, [])]:
    code = main(args, prog_name="ferviz", standalone_mode=False)
    shown.append((" ".join(args), code))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "matplotlib", "captum"))
print(json.dumps({"shown": shown, "heavy": heavy}))
"""


def test_help_and_version_import_neither_torch_nor_matplotlib():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    shown = dict(result["shown"])
    for command in ("--version", "--help", "train --help", "explain --help", "report --help", "explore --help", "assess --help",
                    "data synth --help", "plugins show --help", "models layers --help", "study --help"):
        assert shown.get(command) == 0, f"{command} was not shown: {sorted(shown)}"
    assert result["heavy"] == [], f"help imported {result['heavy'][:5]}"


def test_the_console_command_starts_light():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "ferviz", "--help"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and "Usage: " in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    assert "ferviz.cli" in imported and not {"torch", "matplotlib"} & imported
