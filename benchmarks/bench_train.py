"""Training throughput of the seed model: ferviz's training step vs a plain PyTorch loop.

Baseline: default memory format, a DataLoader over float tensors, per-sample augmentation in
the Dataset (one affine warp per image, as a torchvision-style pipeline does).
ferviz: uint8 data, one batched affine warp per step, channels-last memory format on CPU; in
fp32 and with ``--precision bf16`` (autocast mixed precision); and bf16 as ferviz was before it
kept freed memory for reuse (glibc's default allocator thresholds, ``FERVIZ_MALLOC=system``),
which is the "before" of the allocator change (see ferviz/train/allocator.py); and bf16 as ferviz
was at --baseline-rev (default edc4659, main when the speed issue #18 was filed), installed from
this repository's history (benchmarks/baseline.py) and timed by that commit's own copy of this
script: the "today's ferviz" that #18's 1.5x is against.

    python benchmarks/bench_train.py [--batch 256] [--steps 4] [--reps 3] [--threads N]
                                     [--baseline-rev REV | --no-baseline]

Every variant runs in a fresh process (the allocator setting is per process), interleaved
--reps times so that machine load hits all alike. Prints images/s (medians), the ratios, and the
share of the CPU's measured peak FLOP rate (a large matmul) that ferviz reaches (training costs
about 3x the 0.42 GFLOP forward pass per image).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset as TorchDataset

from ferviz.train.augment import Augmentation
from ferviz.model.build import build_model
from ferviz.data import Dataset
from ferviz.model.preprocessing import Preprocessing
from ferviz.train.config import TrainConfig
from ferviz.train.trainer import Trainer

import baseline

FORWARD_GFLOP = 0.42  # seed VGG, one 48x48 image (multiply-adds counted as 2 FLOP)


class PerSampleAugmented(TorchDataset):
    """The plain baseline: float tensors, one image augmented at a time."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, aug: Augmentation):
        self.x = images.float().unsqueeze(1)  # (N, 1, H, W) float32 copy of the data
        self.y, self.aug = labels, aug
        self.g = torch.Generator().manual_seed(0)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.aug(self.x[i:i + 1], self.g)[0], self.y[i]


def plain_loop(images, labels, batch, steps, prep, device: str = "cpu") -> float:
    torch.manual_seed(0)
    net = build_model("seed-vgg").to(device)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    loader = DataLoader(PerSampleAugmented(images, labels, Augmentation()), batch_size=batch,
                        shuffle=True, drop_last=True)
    net.train()
    start, done = time.perf_counter(), 0
    for step, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(net(prep(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += len(y)
        if step + 1 == steps:
            break
    return done / (time.perf_counter() - start)


def ferviz_loop(images, labels, batch, steps, precision="fp32", device: str = "cpu") -> float:
    data = Dataset(images.numpy(), labels.numpy(), tuple("abcdefg"))
    config = TrainConfig(epochs=1, batch_size=batch, patience=0, precision=precision, device=device)
    trainer = Trainer(config, data, data.subset(slice(0, 2 * batch)), "/tmp/ferviz-bench-train",
                      progress=False, log=lambda s: None)

    class Bar:
        def update(self, n):
            pass

        def set_status(self, s):
            pass

    # time exactly `steps` steps: shrink the epoch to steps * batch images
    trainer.train_x, trainer.train_y = trainer.train_x[: steps * batch], trainer.train_y[: steps * batch]
    start = time.perf_counter()
    _, _, seen = trainer.train_epoch(Bar())
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def peak_gflops(device: str = "cpu") -> float:
    """Best fp32 matrix-multiply rate over a few sizes: a practical peak for this device."""
    best = 0.0
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for n in (1024, 2048, 3072):
        a = torch.randn(n, n, device=device)
        torch.mm(a, a)
        for _ in range(5):
            sync()
            t = time.perf_counter()
            torch.mm(a, a)
            sync()
            best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


#: variant -> (what it runs, extra environment of its process)
VARIANTS = {
    "plain": ("plain PyTorch loop (fp32)", {}),
    "fp32": ("ferviz", {}),
    "bf16-system-malloc": ("ferviz --precision bf16, glibc defaults (before)", {"FERVIZ_MALLOC": "system"}),
    "bf16": ("ferviz --precision bf16", {}),
}


def measure(variant: str, batch: int, steps: int, device: str = "cpu") -> float:
    """Images/s of one variant, in this process (the child side of `run_variant`)."""
    n = batch * steps
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 48, 48), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 7, (n,), generator=g)
    if variant == "plain":
        return plain_loop(images, labels, batch, steps, Preprocessing("standard", 128.0, 64.0), device)
    precision = "fp32" if variant == "fp32" else "bf16"
    ferviz_loop(images, labels, batch, 1, precision, device)  # warm-up: kernels, allocator
    return ferviz_loop(images, labels, batch, steps, precision, device)


#: The variant timed by the baseline commit's own copy of this script, with its ferviz.
BASELINE = "bf16-baseline"


def run_variant(variant: str, batch: int, steps: int, threads: int | None, device: str = "cpu",
                env_extra: dict | None = None, installed: Path | None = None) -> float:
    """Images/s of `variant` in a fresh process (with `env_extra` in its environment); `BASELINE`
    runs the bf16 variant of the baseline `installed` by benchmarks/baseline.py."""
    script, child = (installed / "benchmarks" / "bench_train.py", "bf16") if variant == BASELINE else (__file__, variant)
    env = {**baseline.environment(installed if variant == BASELINE else None), **VARIANTS.get(variant, ("", {}))[1],
           **(env_extra or {})}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, str(script), "--child", child, "--batch", str(batch), "--steps", str(steps),
                          "--device", device],
                         capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"bench_train {variant} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the measured processes")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--baseline-rev", default=baseline.DEFAULT_REV, help="commit whose bf16 step is the baseline")
    p.add_argument("--no-baseline", action="store_true", help="leave the baseline commit out (a shallow clone)")
    p.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.batch, args.steps, args.device)))
        return {}
    rev = None if args.no_baseline else args.baseline_rev
    if rev and not baseline.has_commit(rev):
        raise SystemExit(f"bench_train: {baseline.missing(rev)}; or pass --no-baseline")
    variants = [*VARIANTS, *([BASELINE] if rev else [])]
    runs: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="ferviz-bench-train-") as tmp:
        installed = baseline.install(rev, Path(tmp)) if rev else None
        for _ in range(args.reps):  # interleaved, so drifting machine load hits all alike
            for variant in variants:
                runs[variant].append(run_variant(variant, args.batch, args.steps, args.threads, args.device,
                                                 installed=installed))
    med = {v: statistics.median(r) for v, r in runs.items()}
    peak = peak_gflops(args.device)
    res = {"plain_images_per_s": med["plain"], "ferviz_images_per_s": med["fp32"],
           "ferviz_bf16_images_per_s": med["bf16"], "ferviz_bf16_system_malloc_images_per_s": med["bf16-system-malloc"],
           "ratio": med["fp32"] / med["plain"], "ratio_bf16": med["bf16"] / med["plain"],
           "ratio_allocator": med["bf16"] / med["bf16-system-malloc"], "peak_gflops": peak,
           "share_of_peak": med["fp32"] * 3 * FORWARD_GFLOP / peak}
    if rev:
        res.update(baseline_rev=rev, baseline_bf16_images_per_s=med[BASELINE], ratio_vs_baseline=med["bf16"] / med[BASELINE])
    threads = args.threads or torch.get_num_threads()
    print(f"training, seed VGG, batch {args.batch}, {args.steps} steps x {args.reps} reps, {args.device}, "
          f"{threads} threads, each variant in its own process")
    for variant, (what, _) in VARIANTS.items():
        print(f"  {what:<50}: {med[variant]:8.1f} images/s (median)")
    if rev:
        print(f"  {'ferviz --precision bf16 at ' + rev + ' (#18 filed)':<50}: {med[BASELINE]:8.1f} images/s (median)")
    print(f"  ratio ferviz fp32 / plain                         : {res['ratio']:8.2f}x")
    print(f"  ratio ferviz bf16 / plain                         : {res['ratio_bf16']:8.2f}x")
    print(f"  ratio bf16 now / bf16 before (allocator)          : {res['ratio_allocator']:8.2f}x")
    if rev:
        print(f"  ratio bf16 now / bf16 at {rev:<24} : {res['ratio_vs_baseline']:8.2f}x")
    print(f"  {args.device} peak (fp32 mm) : {peak:8.1f} GFLOP/s; ferviz's fp32 step runs at ~{res['share_of_peak']:.0%} of it "
          f"(counting 3 x {FORWARD_GFLOP} GFLOP per image)")
    return res


if __name__ == "__main__":
    main()
