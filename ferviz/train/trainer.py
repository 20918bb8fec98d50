"""The training core: one loop for every architecture and data source.

Data stays uint8 in memory (on the training device); each batch is gathered, turned to float,
augmented as a whole batch with ``affine_grid``/``grid_sample`` and fed in channels-last
memory format on the CPU. The run folder gets ``best.pt``, ``last.pt`` (with the state needed
to resume), ``history.json``, ``history.csv``, ``config.json`` and ``curves.png``.

Every epoch reseeds torch from (seed, epoch), so a resumed run follows the same path as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ferviz.data import Dataset
from ferviz.device import autocast, resolve_device, resolve_precision
from ferviz.errors import CheckpointError, FervizError, OptionError
from ferviz.explain import channels_last_works
from ferviz.fileio import check_unlocked, run_lock
from ferviz.model.build import build_model
from ferviz.model.checkpoint import save_checkpoint
from ferviz.model.loaded import LoadedModel
from ferviz.model.preprocessing import Preprocessing
from ferviz.progress import progress_bar
from ferviz.train import distributed
from ferviz.train.allocator import retain_freed_memory
from ferviz.train.augment import Augmentation, augment_uint8
from ferviz.train.config import TrainConfig, learning_rate
from ferviz.train.rundir import load_resume, prepare_run_dir, write_config, write_history


@dataclass
class TrainResult:
    run_dir: Path
    history: list[dict]
    best_epoch: int
    best_val_accuracy: float
    stopped: str  # "completed", "early-stopped", "interrupted"
    images_per_second: float


class Trainer:
    """Holds the model, data and state of one run; `fit()` runs the epochs."""

    def __init__(self, config: TrainConfig, train: Dataset, val: Dataset, run_dir: Path,
                 *, progress: bool = True, log: Callable[[str], None] = print):
        config.validate()
        retain_freed_memory()  # reuse activation buffers instead of faulting them in every step
        if train.labels is None or val.labels is None:
            raise FervizError("training needs labelled train and validation splits")
        self.config, self.run_dir, self.progress, self.log = config, Path(run_dir), progress, log
        self.device = distributed.setup(resolve_device(config.device))
        self.rank, self.world = distributed.rank(), distributed.world_size()
        if config.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        if config.batch_size % self.world:
            raise OptionError(f"--batch-size {config.batch_size} must be divisible by the {self.world} processes")
        if self.rank:
            self.progress, self.log = False, lambda message: None
        config.precision = resolve_precision(config.precision, self.device)
        self.class_names = train.class_names
        val = val.relabelled(self.class_names)
        torch.manual_seed(config.seed)
        net = build_model(config.arch, num_classes=len(self.class_names), in_channels=1, **config.arch_args)
        size = train.images.shape[-1]
        arch_args = {"num_classes": len(self.class_names), "in_channels": 1, **config.arch_args}
        self.model = LoadedModel(net, self.class_names, Preprocessing.fit(config.normalize, train.images),
                                 in_channels=1, input_size=size, arch=config.arch, arch_args=arch_args)
        self.model.to(self.device)
        # auto: on the CPU, where it is faster, unless the network does not run in it (.view after a conv)
        self.channels_last = config.channels_last == "on" or (
            config.channels_last == "auto" and self.device.type == "cpu" and channels_last_works(self.model))
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.step_module: torch.nn.Module = self.model  # what training calls; DDP-wrapped when distributed
        if self.world > 1:
            if self.device.type == "cuda":
                self.model.net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model.net)
            self.step_module = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.augmentation = Augmentation(**config.augmentation) if config.augment else None
        self.train_x = torch.from_numpy(train.images).to(self.device)  # uint8 (N, H, W)
        self.train_y = torch.from_numpy(train.labels).to(self.device)
        if self.augmentation and config.augment_copies:
            self._expand_offline(config.augment_copies)
        self.val_x = torch.from_numpy(val.images).to(self.device)
        self.val_y = torch.from_numpy(val.labels).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.history: list[dict] = []
        self.best_val_accuracy, self.best_epoch, self.bad_epochs, self.epoch = -1.0, 0, 0, 0

    def _expand_offline(self, copies: int) -> None:
        """The report's offline augmentation: `copies` fixed augmented uint8 copies per image."""
        g = torch.Generator().manual_seed(self.config.seed + 7919)
        extra = [augment_uint8(self.train_x, self.augmentation, g) for _ in range(copies)]
        self.train_x = torch.cat([self.train_x, *extra])
        self.train_y = self.train_y.repeat(copies + 1)
        self.augmentation = None  # the copies are the augmentation

    def _batch(self, x_uint8: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        x = x_uint8.unsqueeze(1).float()  # (B, 1, H, W), pixels 0-255
        if generator is not None and self.augmentation is not None:
            x = self.augmentation(x, generator)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _epoch_seed(self, rank: int) -> int:
        return (self.config.seed * 100_003 + self.epoch) * 1_009 + rank

    def train_epoch(self, bar) -> tuple[float, float, int]:
        """One pass over the training set; returns (mean loss, accuracy, images) over all ranks.

        Every rank draws the same global order and takes its slice of each global batch.
        """
        cfg, n = self.config, len(self.train_x)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg, self.epoch)
        torch.manual_seed(self._epoch_seed(self.rank))  # dropout; resumable per epoch
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self._epoch_seed(0))).to(self.device)
        g = torch.Generator().manual_seed(self._epoch_seed(self.rank) + 1)  # augmentation, per rank
        steps = n // cfg.batch_size if n >= cfg.batch_size else 1
        local = cfg.batch_size // self.world
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        for step in range(steps):  # the last partial batch is dropped: BatchNorm needs full batches
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size][self.rank * local:(self.rank + 1) * local]
            x, y = self._batch(self.train_x[idx], g), self.train_y[idx]
            with autocast(self.device, cfg.precision):  # resolved to fp32 or bf16 in __init__
                logits = self.step_module(x)
            loss = F.cross_entropy(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
            bar.update(len(y) * self.world)
            if step % 4 == 0 or step == steps - 1:
                bar.set_status(f"loss {loss_sum.item() / seen:.3f} acc {correct.item() / seen:.3f}")
        loss_total, correct_total, seen = distributed.all_sum([loss_sum.item(), correct.item(), seen], self.device)
        if not math.isfinite(loss_total):
            raise FervizError(f"training diverged at epoch {self.epoch} (loss is not finite); "
                              "lower --lr or check the data")
        return loss_total / seen, correct_total / seen, int(seen)

    @torch.inference_mode()
    def validate(self) -> tuple[float, float]:
        """(loss, accuracy) on the validation set; each rank scores every world-th image."""
        self.model.eval()
        val_x, val_y = self.val_x[self.rank::self.world], self.val_y[self.rank::self.world]
        loss_sum, correct = 0.0, 0
        for start in range(0, len(val_x), 1024):
            x = self._batch(val_x[start:start + 1024], None)
            y = val_y[start:start + 1024]
            logits = self.model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
        loss_sum, correct = distributed.all_sum([loss_sum, correct], self.device)
        n = max(len(self.val_x), 1)
        return loss_sum / n, correct / n

    def fit(self) -> TrainResult:
        cfg = self.config
        stopped, total_images, total_time = "completed", 0, 0.0
        per_epoch = (len(self.train_x) // cfg.batch_size) * cfg.batch_size or len(self.train_x)
        try:
            while self.epoch < cfg.epochs:
                start = time.perf_counter()
                with progress_bar(per_epoch, f"epoch {self.epoch + 1}/{cfg.epochs}", self.progress) as bar:
                    train_loss, train_acc, seen = self.train_epoch(bar)
                train_time = time.perf_counter() - start
                _fault_injection(self.rank, self.epoch)
                val_loss, val_acc = self.validate()
                total_images, total_time = total_images + seen, total_time + train_time
                self.epoch += 1
                self._record(train_loss, train_acc, val_loss, val_acc, seen / train_time,
                             time.perf_counter() - start)
                if distributed.broadcast_flag(bool(cfg.patience and self.bad_epochs >= cfg.patience), self.device):
                    stopped = "early-stopped"
                    self.log(f"early stop: no better val accuracy for {cfg.patience} epochs")
                    break
        except KeyboardInterrupt:
            stopped = "interrupted"
            self.log(f"interrupted; the last complete epoch ({self.epoch}) is saved in {self.run_dir}")
        if not self.rank:
            write_history(self.run_dir, self.history, f"{self.config.arch} on {self.config.data}")
        return TrainResult(self.run_dir, self.history, self.best_epoch, self.best_val_accuracy, stopped,
                           total_images / total_time if total_time else 0.0)

    def _record(self, train_loss, train_acc, val_loss, val_acc, images_per_s, seconds) -> None:
        improved = val_acc > self.best_val_accuracy
        if improved:
            self.best_val_accuracy, self.best_epoch, self.bad_epochs = val_acc, self.epoch, 0
        else:
            self.bad_epochs += 1
        self.history.append({
            "epoch": self.epoch, "train_loss": train_loss, "train_accuracy": train_acc,
            "val_loss": val_loss, "val_accuracy": val_acc, "images_per_s": images_per_s,
            "seconds": seconds, "lr": self.optimizer.param_groups[0]["lr"],
        })
        if self.rank:
            return  # only rank 0 writes
        self.log(f"epoch {self.epoch:3d}  loss {train_loss:.4f}  acc {train_acc:.4f}  "
                 f"val_loss {val_loss:.4f}  val_acc {val_acc:.4f}  {images_per_s:6.1f} img/s"
                 + ("  *best" if improved else ""))
        common = {"history": self.history, "train_config": asdict(self.config),
                  "best_epoch": self.best_epoch, "epoch": self.epoch}
        if improved:
            save_checkpoint(self.run_dir / "best.pt", self.model, **common)
        save_checkpoint(self.run_dir / "last.pt", self.model, **common, resume=self._resume_state())
        write_history(self.run_dir, self.history, f"{self.config.arch} on {self.config.data}")

    def _resume_state(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "best_val_accuracy": self.best_val_accuracy,
                "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def restore(self, ckpt: dict) -> None:
        """Continue from a `last.pt` dict: weights, optimizer, early-stopping state, epoch."""
        state = ckpt.get("resume")
        if state is None:
            raise CheckpointError("the checkpoint has no resume state (only last.pt has it)")
        self.model.net.load_state_dict(ckpt["state_dict"])
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer.load_state_dict(state["optimizer"])
        self.best_val_accuracy, self.best_epoch = state["best_val_accuracy"], state["best_epoch"]
        self.bad_epochs, self.epoch = state["bad_epochs"], int(ckpt["epoch"])
        self.history = list(ckpt.get("history", []))
        self.model.preprocessing = Preprocessing(**ckpt["preprocessing"])


def _fault_injection(rank: int, epoch: int) -> None:
    """FERVIZ_FAIL_RANK=R kills rank R after its first epoch (tests that a dead rank stops the job)."""
    if os.environ.get("FERVIZ_FAIL_RANK") == str(rank) and epoch == 0:
        os._exit(17)


def class_balance_note(train: Dataset) -> str:
    counts = np.bincount(train.labels, minlength=len(train.class_names))
    return ", ".join(f"{c} {n}" for c, n in zip(train.class_names, counts))


def run_training(config: TrainConfig, out: Path | None = None, *, overwrite: bool = False,
                 resume: Path | None = None, resume_epochs: int | None = None, progress: bool = True,
                 log: Callable[[str], None] = print) -> TrainResult:
    """Load the data, build or restore the model, train, and write the run folder.

    With `resume`, the run's own config is used; `resume_epochs` may extend its epoch budget.
    The run folder is locked while the run writes it (:func:`ferviz.fileio.run_lock`).
    """
    with contextlib.ExitStack() as held:
        return _train(config, out, overwrite, resume, resume_epochs, progress, log, held)


def _train(config: TrainConfig, out: Path | None, overwrite: bool, resume: Path | None, resume_epochs: int | None,
           progress: bool, log: Callable[[str], None], held: contextlib.ExitStack) -> TrainResult:
    from ferviz.data.sources import open_source, train_val

    distributed.setup(resolve_device(config.device))
    if not distributed.is_main():
        log = lambda message: None  # noqa: E731
    ckpt = None
    if resume is not None:
        if distributed.is_main():
            check_unlocked(resume, option="--resume")  # a run that another process still writes
        config, ckpt = load_resume(resume)
        if resume_epochs is not None:
            config.epochs = resume_epochs
        run_dir = Path(resume)
        if distributed.is_main():
            held.enter_context(run_lock(run_dir, option="--resume"))
    else:
        config.validate()
        run_dir = prepare_run_dir(out, overwrite=overwrite, held=held) if distributed.is_main() else Path(out or ".")
    if distributed.world_size() > 1:
        run_dir = Path(distributed.broadcast_object(str(run_dir)))
    splits = open_source(config.data, skip_bad=config.skip_bad)
    train, val = train_val(splits, config.val_fraction, config.split_seed)
    if config.shuffle_labels:
        train = replace(train, labels=np.random.default_rng(config.seed).permutation(train.labels))
        log("labels of the train split shuffled (a control model for `ferviz assess` label randomisation)")
    log(f"data: {config.data}: {len(train)} train / {len(val)} val images, classes: {class_balance_note(train)}")
    trainer = Trainer(config, train, val, run_dir, progress=progress, log=log)
    if ckpt is not None:
        trainer.restore(ckpt)
        log(f"resuming {run_dir} after epoch {trainer.epoch}")
    log(f"model: {config.arch}, {sum(p.numel() for p in trainer.model.parameters()):,} parameters, "
        f"device {trainer.device}{', channels-last' if trainer.channels_last else ''}, {config.precision}"
        f"{f', {trainer.world} processes' if trainer.world > 1 else ''}; "
        f"{config.epochs} epochs, batch {config.batch_size}, normalize {config.normalize}, "
        f"augment {'off' if not config.augment else (f'{config.augment_copies} offline copies' if config.augment_copies else 'on the fly')}")
    if distributed.is_main():
        write_config(run_dir, config, {"train_images": len(train), "val_images": len(val),
                                       "class_names": list(train.class_names)})
    try:
        return trainer.fit()
    finally:
        distributed.teardown()
