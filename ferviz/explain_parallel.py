"""Explaining under torchrun: the images are split across ranks, rank 0 merges and writes.

``torchrun --nproc_per_node=N -m ferviz explain ...`` gives each rank a contiguous share of the
selected images. Explainers that split their work into ``compute`` (per-image arrays) and
``render`` (figures, summary) are spread this way: every rank computes its share, the arrays
are gathered on rank 0 in the original order, and rank 0 renders and saves exactly what one
process would have. Other explainers (data-set or model-level ones, and images explainers with
only ``explain``) run whole on rank 0 while the other ranks wait.
"""

from __future__ import annotations

import numpy as np
import torch.distributed as dist

from ferviz import distributed
from ferviz.explain import Explainer, Explanation, Request, explaining


def shard(request: Request, rank: int, world: int) -> Request:
    """This rank's contiguous share of the request's images (ranks in order cover them all)."""
    part = np.array_split(np.arange(len(request.images)), world)[rank]
    pick = lambda a: None if a is None else np.asarray(a)[part]  # noqa: E731
    return Request(images=request.images[part], targets=pick(request.targets), labels=pick(request.labels),
                   ids=[request.ids[i] for i in part], seed=request.seed)


def run_distributed(explainer: Explainer, request: Request) -> Explanation | None:
    """Run `explainer` across the torchrun ranks; rank 0 gets the Explanation, the others None."""
    rank, world = distributed.rank(), distributed.world_size()
    if world == 1:
        return explainer.run(request)
    if not explainer.shardable():
        explanation = explainer.run(request) if rank == 0 else None
        dist.barrier()
        return explanation
    with explaining(explainer.model):
        arrays = explainer.compute(shard(request, rank, world))
    gathered = [None] * world
    dist.all_gather_object(gathered, arrays)
    if rank:
        return None
    merged = {name: np.concatenate([part[name] for part in gathered]) for name in gathered[0]}
    return explainer.run(request, arrays=merged)
