"""What decides a training run: `TrainConfig`, its checks, and the learning-rate schedule.

A run's config is written to its folder (``config.json``) and into every checkpoint
(``train_config``), so that ``--resume`` and studies read it back with `TrainConfig.from_dict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from ferviz.errors import OptionError
from ferviz.model.preprocessing import MODES
from ferviz.train.augment import Augmentation


@dataclass
class TrainConfig:
    """Everything that decides a training run. Defaults are the original report's recipe."""

    data: str = "synthetic"
    arch: str = "seed-vgg"
    arch_args: dict = field(default_factory=dict)
    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    lr_schedule: str = "constant"  # constant (the report) | cosine: decay to 0 over the epoch budget
    weight_decay: float = 0.0
    patience: int = 10  # epochs without a better val accuracy before stopping; 0 = never stop early
    normalize: str = "standard"
    augment: bool = True
    augmentation: dict = field(default_factory=lambda: Augmentation().to_dict())
    augment_copies: int = 0  # >0: the report's offline expansion (K augmented copies per image)
    val_fraction: float = 0.1
    split_seed: int = 0  # carves the validation split; independent of `seed`, so every seed of an
    #                      ensemble or a study holds out the same images
    seed: int = 0
    device: str = "auto"
    channels_last: str = "auto"  # auto = on for CPU, off for CUDA
    deterministic: bool = False  # CUDA: deterministic kernels only (CPU runs are bit-exact already)
    precision: str = "auto"  # auto | fp32 | bf16 (autocast mixed precision; weights stay fp32)
    skip_bad: bool = False
    shuffle_labels: bool = False  # a control model for the label-randomisation sanity check

    def validate(self) -> None:
        checks = [
            ("epochs", self.epochs >= 1, "at least 1"),
            ("batch_size", self.batch_size >= 2, "at least 2 (BatchNorm needs two images)"),
            ("lr", self.lr > 0 and math.isfinite(self.lr), "a positive number"),
            ("weight_decay", self.weight_decay >= 0, "zero or more"),
            ("patience", self.patience >= 0, "zero or more"),
            ("augment_copies", 0 <= self.augment_copies <= 20, "between 0 and 20"),
            ("val_fraction", 0 < self.val_fraction < 1, "between 0 and 1"),
            ("normalize", self.normalize in MODES, f"one of {', '.join(MODES)}"),
            ("device", self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
             "auto, cpu or cuda"),
            ("channels_last", self.channels_last in ("auto", "on", "off"), "auto, on or off"),
            ("precision", self.precision in ("auto", "fp32", "bf16"), "auto, fp32 or bf16"),
            ("lr_schedule", self.lr_schedule in LR_SCHEDULES, f"one of {', '.join(LR_SCHEDULES)}"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise OptionError(f"--{name.replace('_', '-')} must be {rule}, got {getattr(self, name)!r}")
        Augmentation(**self.augmentation)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in d.items() if k in names}
        if "split_seed" not in known and "seed" in known:
            known["split_seed"] = known["seed"]  # written before split_seed existed: carved with seed
        return cls(**known)


LR_SCHEDULES = ("constant", "cosine")


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of 0-based `epoch`: a function of the epoch alone, so a resumed run
    follows the same schedule. cosine: lr x (1 + cos(pi x epoch / epochs)) / 2."""
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / config.epochs))
    return config.lr
