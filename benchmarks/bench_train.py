"""Training throughput of the seed model: ferviz's training step vs a plain PyTorch loop.

Baseline: default memory format, a DataLoader over float tensors, per-sample augmentation in
the Dataset (one affine warp per image, as a torchvision-style pipeline does).
ferviz: uint8 data, one batched affine warp per step, channels-last memory format on CPU; and
the same with ``--precision bf16`` (autocast mixed precision).

    python benchmarks/bench_train.py [--batch 256] [--steps 4] [--reps 3]

Prints images/s (median of --reps) for both, the ratio, and the share of the CPU's measured
peak FLOP rate (a large matmul) that ferviz reaches (training costs about 3x the 0.42 GFLOP
forward pass per image).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset as TorchDataset

from ferviz.augment import Augmentation
from ferviz.checkpoint import build_model
from ferviz.data import Dataset
from ferviz.preprocessing import Preprocessing
from ferviz.training import Trainer, TrainConfig

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


def plain_loop(images, labels, batch, steps, prep) -> float:
    torch.manual_seed(0)
    net = build_model("seed-vgg")
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    loader = DataLoader(PerSampleAugmented(images, labels, Augmentation()), batch_size=batch,
                        shuffle=True, drop_last=True)
    net.train()
    start, done = time.perf_counter(), 0
    for step, (x, y) in enumerate(loader):
        loss = F.cross_entropy(net(prep(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += len(y)
        if step + 1 == steps:
            break
    return done / (time.perf_counter() - start)


def ferviz_loop(images, labels, batch, steps, precision="fp32") -> float:
    data = Dataset(images.numpy(), labels.numpy(), tuple("abcdefg"))
    config = TrainConfig(epochs=1, batch_size=batch, patience=0, precision=precision)
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
    return seen / (time.perf_counter() - start)


def peak_gflops() -> float:
    """Best fp32 matrix-multiply rate over a few sizes: a practical peak for this CPU."""
    best = 0.0
    for n in (1024, 2048, 3072):
        a = torch.randn(n, n)
        torch.mm(a, a)
        for _ in range(5):
            t = time.perf_counter()
            torch.mm(a, a)
            best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args(argv)
    n = args.batch * args.steps
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 48, 48), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 7, (n,), generator=g)
    prep = Preprocessing("standard", 128.0, 64.0)
    plain, ours, mixed = [], [], []
    for _ in range(args.reps):  # interleaved, so drifting machine load hits both alike
        plain.append(plain_loop(images, labels, args.batch, args.steps, prep))
        ours.append(ferviz_loop(images, labels, args.batch, args.steps))
        mixed.append(ferviz_loop(images, labels, args.batch, args.steps, "bf16"))
    peak = peak_gflops()
    res = {"plain_images_per_s": statistics.median(plain), "ferviz_images_per_s": statistics.median(ours),
           "ferviz_bf16_images_per_s": statistics.median(mixed)}
    res["ratio"] = res["ferviz_images_per_s"] / res["plain_images_per_s"]
    res["ratio_bf16"] = res["ferviz_bf16_images_per_s"] / res["plain_images_per_s"]
    res["peak_gflops"] = peak
    res["share_of_peak"] = res["ferviz_images_per_s"] * 3 * FORWARD_GFLOP / peak
    print(f"training, seed VGG, batch {args.batch}, {args.steps} steps x {args.reps} reps, "
          f"{torch.get_num_threads()} threads")
    print(f"  plain PyTorch loop : {res['plain_images_per_s']:8.1f} images/s (median)")
    print(f"  ferviz             : {res['ferviz_images_per_s']:8.1f} images/s (median)")
    print(f"  ratio              : {res['ratio']:8.2f}x")
    print(f"  ferviz --precision bf16: {res['ferviz_bf16_images_per_s']:8.1f} images/s (median), "
          f"ratio {res['ratio_bf16']:.2f}x")
    print(f"  CPU peak (fp32 mm) : {peak:8.1f} GFLOP/s; ferviz's step runs at ~{res['share_of_peak']:.0%} of it "
          f"(counting 3 x {FORWARD_GFLOP} GFLOP per image)")
    return res


if __name__ == "__main__":
    main()
