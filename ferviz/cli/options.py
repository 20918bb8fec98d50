"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import click


#: The --split default of every command that reads a split for a checkpoint.
SPLIT_DEFAULT = ("[default: test, private-test or val; for a source with only a train split, the validation "
                 "images held out of it, as the checkpoint records]")


def checkpoint_options(func):
    """--classes/--normalize/--arch/--trust: what a foreign checkpoint file does not carry."""
    options = [
        click.option("--classes", default=None,
                     help="Comma-separated class names in output order, for files that lack them."),
        click.option("--normalize", default=None,
                     help="Preprocessing for files that lack it: standard:MEAN,STD | unit | none."),
        click.option("--arch", default=None, help="Registered architecture of a plain state_dict file."),
        click.option("--trust", is_flag=True,
                     help="Allow TorchScript files. Loading TorchScript RUNS CODE stored in the file."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load_from_options(path: Path, options: dict, device: str = "cpu"):
    from ferviz.checkpoint import load_checkpoint

    return load_checkpoint(path, device=device, **{k: v for k, v in options.items() if v})


def device_option(func):
    return click.option("--device", default="auto", show_default=True,
                        type=click.Choice(["auto", "cpu", "cuda"]),
                        help="Where to run: auto picks CUDA when available.")(func)


def overwrite_option(what: str):
    """--overwrite: replace an existing --out, all of it (see ferviz.fileio for the rule)."""
    return click.option("--overwrite", is_flag=True,
                        help=f"Replace {what}, all of it. Without it an existing --out is refused.")


def resolve(device: str) -> str:
    from ferviz.training import resolve_device

    return str(resolve_device(device))


def training_options(func):
    """Options that `ferviz train` and `ferviz study` share: optimiser, early stopping,
    augmentation ranges, validation split and memory format (defaults: the report's recipe)."""
    options = [
        click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate."),
        click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), default="constant",
                     show_default=True,
                     help="constant: the report's recipe; cosine: decay the rate to 0 over --epochs."),
        click.option("--weight-decay", type=float, default=0.0, show_default=True, help="Adam weight decay."),
        click.option("--patience", type=int, default=10, show_default=True,
                     help="Early stopping: epochs without a better val accuracy; 0 disables it."),
        click.option("--rotation", type=float, default=10.0, show_default=True, help="Rotation range in degrees."),
        click.option("--shear", type=float, default=10.0, show_default=True, help="Shear range in degrees."),
        click.option("--zoom", type=float, default=0.1, show_default=True, help="Zoom range (scale in 1 +/- zoom)."),
        click.option("--flip/--no-flip", default=True, show_default=True, help="Random horizontal flips."),
        click.option("--val-fraction", type=float, default=0.1, show_default=True,
                     help="Share of train carved out (stratified) as validation when the source has no val split."),
        click.option("--split-seed", type=int, default=0, show_default=True,
                     help="Seed of that carve-out; independent of --seed, so runs with different seeds "
                          "hold out the same images (evaluate and report score them by default)."),
        click.option("--channels-last", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
                     help="Channels-last memory format (auto: on for CPU, where it is faster)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func

