"""Explaining under torchrun: images split across ranks; rank 0 drives, merges and writes.

``torchrun --nproc_per_node=N -m ferviz explain ...`` (and ``... -m ferviz report ...``) runs the
command on rank 0 only. The other ranks load the same model and wait in :func:`serve`. Whenever
rank 0 runs an explainer that splits its work into ``compute`` (per-image arrays) and
``render`` (figures, summary), as every :class:`~ferviz.explain.MapExplainer` does, through
:func:`run_distributed`, it sends the job to the workers.
Every rank then computes a contiguous share of the images, the arrays are gathered on rank 0 in
the original order, and rank 0 renders exactly what one process would have. Everything else
(data-set and model-level explainers, report sections) runs on rank 0 alone.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import fields
from typing import Iterator

import numpy as np
import torch.distributed as dist

from ferviz.train import distributed
from ferviz.explain import Explainer, Explanation, Request, explaining, get_explainer


#: Seconds a worker may wait for rank 0's next job (unless FERVIZ_DIST_TIMEOUT says otherwise).
WORKER_TIMEOUT = 6 * 3600


def shard(request: Request, rank: int, world: int) -> Request:
    """This rank's contiguous share of the request's images (ranks in order cover them all)."""
    return request.subset(np.array_split(np.arange(len(request.images)), world)[rank])


def _compute_share(explainer: Explainer, request: Request) -> list[dict]:
    with explaining(explainer.model):
        arrays = explainer.compute(shard(request, distributed.rank(), distributed.world_size()))
    gathered = [None] * distributed.world_size()
    dist.all_gather_object(gathered, arrays)
    return gathered


def run_distributed(explainer: Explainer, request: Request) -> Explanation:
    """Run `explainer` on `request`, spread over the torchrun workers when there are any.

    Call it on rank 0 (the driver) while the other ranks are in :func:`serve`; in one process
    it is ``explainer.run(request)``.
    """
    if not (dist.is_initialized() and distributed.world_size() > 1 and explainer.shardable()):
        return explainer.run(request)
    plain = {f.name: getattr(request, f.name) for f in fields(Request) if f.name not in ("progress", "dataset")}
    job = {"name": explainer.name, "options": dict(vars(explainer.opts)), "request": plain}
    dist.broadcast_object_list([job], 0)
    gathered = _compute_share(explainer, request)
    shares = [part for part in gathered if part]  # a rank with no images (more ranks than images) has none
    merged = {name: np.concatenate([part[name] for part in shares]) for name in shares[0]}
    return explainer.run(request, arrays=merged)


def serve(model) -> None:
    """A worker rank: compute shares of the jobs rank 0 sends until it sends None."""
    while True:
        box = [None]
        dist.broadcast_object_list(box, 0)
        if box[0] is None:
            return
        job = box[0]
        explainer = get_explainer(job["name"])(model, **job["options"])
        _compute_share(explainer, Request(**job["request"]))


@contextmanager
def workers(model) -> Iterator[bool]:
    """Around a command that explains with `model`: yields True where the command should run.

    In one process that is always. Under torchrun it is rank 0 only; the other ranks serve
    shards (see :func:`serve`) until rank 0 leaves the block, then yield False.
    """
    if not distributed.launched():
        yield True
        return
    # Workers wait while rank 0 does work of its own (figures, report sections), so collectives
    # may wait long; a rank that dies still ends the job, since torchrun stops the others.
    model.to(distributed.setup(model.device, timeout=WORKER_TIMEOUT))  # cuda: this rank's own GPU
    try:
        if distributed.rank() == 0:
            try:
                yield True
            finally:
                dist.broadcast_object_list([None], 0)  # release the workers, also after an error
        else:
            serve(model)
            yield False
    finally:
        distributed.teardown()
