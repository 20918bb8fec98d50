"""Everything to measure when a GPU is lent, in one run that prints one table.

    python benchmarks/gpu.py --data ../shared/data/fer2013-train.zip --out runs/gpu   # on the GPU machine
    python benchmarks/gpu.py --device cpu --tiny --out /tmp/gpu-smoke                 # checks the script runs

Steps, each timed; a step that fails is reported in the table and the rest go on:

1. training throughput: `bench_train.py` on the device (plain loop, ferviz fp32, bf16; without the
   baseline commit, which needs the git history);
2. explainer throughput: `bench_explain.py` on the device (saliency and integrated gradients
   against Captum's defaults, batched filter ascent);
3. `--deterministic`: two identical 1-epoch runs must give bit-identical weights;
4. the report's recipe: `ferviz train --data DATA` for up to 40 epochs, then `ferviz evaluate`
   with flip TTA on the held-out validation faces (skip with --no-recipe).

The table goes to stdout and to OUT/gpu.md; the raw outputs to OUT/*.log.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def step(name: str, cmd: list[str], out: Path, rows: list) -> str:
    """Run `cmd`, keep its output in OUT/<name>.log, add a row; returns stdout ('' on failure)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (out / f"{name}.log").write_text(f"$ {' '.join(cmd)}\n\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        rows.append((name, f"FAILED (exit {proc.returncode}): {tail[:150]}", seconds))
        return ""
    rows.append((name, "ok", seconds))
    return proc.stdout


def lines_with(text: str, *words: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if any(w in line for w in words)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--data", default=None, help="data for the recipe (default: synthetic faces with --tiny)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--no-recipe", action="store_true", help="skip the 40-epoch recipe")
    p.add_argument("--tiny", action="store_true", help="tiny sizes: checks that the script runs")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    py, ferviz = sys.executable, [sys.executable, "-m", "ferviz"]
    import torch

    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") and torch.cuda.is_available() \
        else platform.processor() or platform.machine()
    rows: list = []
    facts = [f"device: {args.device} ({device_name}); torch {torch.__version__}, CUDA {torch.version.cuda}"]

    train_args = ["--batch", "16", "--steps", "1", "--reps", "1"] if args.tiny else []
    text = step("bench_train", [py, str(HERE / "bench_train.py"), "--device", args.device, "--no-baseline",
                                *train_args], args.out, rows)  # a device copy may have no git history
    facts += lines_with(text, "images/s", "ratio")
    explain_args = (["--saliency", "4", "--ig", "2", "--ig-steps", "4", "--filters", "2", "--ascent-steps", "2",
                     "--reps", "1"] if args.tiny else [])
    text = step("bench_explain", [py, str(HERE / "bench_explain.py"), "--device", args.device, *explain_args],
                args.out, rows)
    facts += lines_with(text, "ratio", "max |")

    small = "synthetic:count=256,val=64,test=64" if args.tiny else "synthetic:count=2000,val=200,test=200"
    weights = []
    for k in (1, 2):
        run_dir = args.out / f"deterministic-{k}"
        step(f"deterministic-{k}", [*ferviz, "train", "--data", small, "--epochs", "1", "--batch-size", "64",
                                    "--device", args.device, "--deterministic", "--quiet", "--overwrite",
                                    "--out", str(run_dir)], args.out, rows)
        weights.append(run_dir / "last.pt")
    if all(w.is_file() for w in weights):
        a, b = (torch.load(w, map_location="cpu", weights_only=True)["state_dict"] for w in weights)
        same = all(torch.equal(a[k], b[k]) for k in a)
        facts.append(f"--deterministic: two runs {'bit-identical' if same else 'DIFFER'}")

    if not args.no_recipe:
        data = args.data or small
        epochs = 1 if args.tiny else args.epochs
        recipe = args.out / "recipe"
        text = step("recipe", [*ferviz, "train", "--data", data, "--epochs", str(epochs), "--device", args.device,
                               "--quiet", "--overwrite", "--out", str(recipe)], args.out, rows)
        facts += lines_with(text, "best val accuracy")
        if (recipe / "best.pt").is_file():
            text = step("evaluate", [*ferviz, "evaluate", str(recipe / "best.pt"), "--data", data, "--tta", "flip",
                                     "--device", args.device], args.out, rows)
            facts += lines_with(text, "accuracy")
            history = json.loads((recipe / "history.json").read_text())
            facts.append(f"recipe: {len(history)} epochs, {sum(h['seconds'] for h in history):.0f} s of epochs")

    table = ["| step | status | seconds |", "|---|---|---:|"]
    table += [f"| {name} | {status} | {seconds:.1f} |" for name, status, seconds in rows]
    report = "\n".join(["# GPU run", "", *table, "", *[f"- {f}" for f in facts], ""])
    (args.out / "gpu.md").write_text(report)
    print(report)
    return 1 if any(status != "ok" for _, status, _ in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
