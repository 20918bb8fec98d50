"""`ferviz models`: list architectures, print a summary, list a checkpoint's layers."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ferviz import registry
from ferviz.cli import main
from ferviz.cli.options import checkpoint_options, load_from_options


@main.group()
def models():
    """Model architectures and their layers."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_models(as_json):
    """List registered architectures and the plugin that registered each."""
    reg = registry.models()
    if as_json:
        click.echo(json.dumps({name: reg.owner[name] for name in sorted(reg)}, indent=1))
        return
    for name in sorted(reg):
        click.echo(f"{name:<20} {reg.owner[name]}")


@models.command()
@click.argument("name")
@click.option("--classes", default=7, show_default=True, help="Number of output classes.")
@click.option("--channels", default=1, show_default=True, help="Input channels (1 grayscale, 3 colour).")
@click.option("--size", default=48, show_default=True, help="Input height and width in pixels.")
def summary(name, classes, channels, size):
    """Print a Keras-like table of architecture NAME: layer, output shape, parameters."""
    from ferviz.checkpoint import build_model
    from ferviz.summary import format_summary

    kwargs = {"num_classes": classes, "in_channels": channels}
    if name == "seed-vgg":
        kwargs["input_size"] = size
    click.echo(format_summary(build_model(name, **kwargs), name, channels, size))


@models.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@checkpoint_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def layers(checkpoint, as_json, **load_options):
    """List the named layers of CHECKPOINT with output shapes (names for --layer options)."""
    from ferviz.summary import layer_table

    model = load_from_options(checkpoint, load_options)
    rows = layer_table(model.net, model.in_channels, model.input_size)
    if as_json:
        click.echo(json.dumps([{**r, "shape": list(r["shape"])} for r in rows], indent=1))
        return
    for r in rows:
        click.echo(f"{r['name']:<28} {r['type']:<14} {str(tuple(r['shape'])):<18} {r['params']:>10,}")
