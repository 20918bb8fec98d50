"""Multi-process training with PyTorch's own engine (torchrun + DistributedDataParallel).

``torchrun --nproc_per_node=N -m ferviz train ...`` (or ``ferviz train --nproc N``, which
launches torchrun) runs one process per rank: gloo on CPU, NCCL on CUDA. Every rank samples the
same global batch order and trains on its own slice of each global batch, so the effective batch
is ``--batch-size`` whatever the number of processes. Gradients are averaged by DDP, validation
counts are summed across ranks, and only rank 0 writes files. BatchNorm: SyncBatchNorm on CUDA;
on CPU PyTorch has no SyncBatchNorm, so each rank normalises with its own slice's statistics and
the running statistics are broadcast from rank 0 (DDP's ``broadcast_buffers``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import torch
import torch.distributed as dist

from ferviz.errors import FervizError

#: Seconds a collective may wait before a dead peer turns into an error instead of a hang.
TIMEOUT_ENV = "FERVIZ_DIST_TIMEOUT"


def launched() -> bool:
    """True when this process was started by torchrun (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device, timeout: float | None = None) -> torch.device:
    """Join the process group torchrun describes; return this rank's device.

    `timeout`: seconds a collective may wait (default FERVIZ_DIST_TIMEOUT, else 300).
    """
    if not launched() or dist.is_initialized():
        return device
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    seconds = float(os.environ.get(TIMEOUT_ENV, timeout or 300))
    dist.init_process_group(backend, timeout=timedelta(seconds=seconds))
    return device


def rank() -> int:
    """This process's rank (torchrun's RANK before the group is joined or after it is left)."""
    return dist.get_rank() if dist.is_initialized() else int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of `values` over all ranks (identity in one process)."""
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_flag(flag: bool, device: torch.device) -> bool:
    """Rank 0's decision, on every rank."""
    if not dist.is_initialized():
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def broadcast_object(obj):
    """Rank 0's `obj` (any picklable value), on every rank."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0)
    return box[0]


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def launch_torchrun(nproc: int, argv: list[str]) -> int:
    """Re-run `ferviz <argv>` under torchrun with `nproc` processes on this machine."""
    if nproc < 1:
        raise FervizError(f"--nproc must be at least 1, got {nproc}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "ferviz", *argv]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc))))
    return subprocess.call(cmd, env=env)
