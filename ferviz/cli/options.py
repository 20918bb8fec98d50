"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import click


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


def resolve(device: str) -> str:
    from ferviz.training import resolve_device

    return str(resolve_device(device))


