"""`ferviz models`: list architectures, print a summary, list a checkpoint's layers."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ferviz import registry
from ferviz.cli import main
from ferviz.cli.options import checkpoint_options, load_from_options, overwrite_option


@main.group()
def models():
    """Model architectures and their layers."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_models(as_json):
    """List registered architectures and pretrained checkpoints, and the plugin behind each.

    A pretrained name works wherever a checkpoint file does (--checkpoint NAME).
    """
    reg, shipped = registry.models(), registry.pretrained()
    if as_json:
        click.echo(json.dumps({
            "architectures": {name: reg.owner[name] for name in sorted(reg)},
            "pretrained": {name: {"plugin": shipped.owner[name], "arch": e.arch, "data": e.data,
                                  "metrics": e.metrics, "summary": e.summary, "card": e.card,
                                  "path": str(e.path), "sha256": e.sha256}
                           for name, e in sorted(shipped.items())},
        }, indent=1))
        return
    width = max([20, *(len(n) + 1 for n in [*reg, *shipped])])  # one column for every name
    click.echo("architectures:")
    for name in sorted(reg):
        click.echo(f"  {name:<{width}} {reg.owner[name]}")
    click.echo("pretrained checkpoints (use the name as --checkpoint):")
    for name, e in sorted(shipped.items()):
        numbers = ", ".join(f"{k.replace('_', ' ')} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in e.metrics.items())
        click.echo(f"  {name:<{width}} {e.arch}; {e.data}; {numbers}  ({shipped.owner[name]})")
        if e.card:
            click.echo(f"  {'':<{width}} model card: {e.card}")
    if not shipped:
        click.echo("  (none installed)")


@models.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="File to write.")
@click.option("--storage", type=click.Choice(["int16", "float16", "float32"]), default="int16", show_default=True,
              help="How weight matrices and kernels are stored (int16: per-channel scales); loading always "
                   "gives float32 weights.")
@click.option("--data", default=None,
              help="Check fidelity on faces of this source (its test or held-out validation split): the packed "
                   "model's saliency and integrated-gradients maps must match the original's.")
@click.option("--faces", type=click.IntRange(min=2), default=50, show_default=True, help="Faces to check on.")
@overwrite_option("an existing --out file")
def pack(checkpoint, out, storage, data, faces, overwrite):
    """Write a release copy of CHECKPOINT for shipping: no resume state, 16-bit weights.

    Prints the file's SHA-256, which a plugin registers with the file (hook register_pretrained).
    With --data, the copy is refused unless its maps match the original's to a Spearman
    correlation of at least 0.999 (mean over the faces checked).
    """
    from ferviz.fileio import check_target
    from ferviz.inputs.requests import model_split
    from ferviz.model.pack import MIN_SPEARMAN, pack_checkpoint

    check_target(out, folder=False, overwrite=overwrite)
    images = None
    if data:
        reference = load_from_options(checkpoint, {})
        split = model_split(data, None, reference)
        import numpy as np

        images = split.images[np.random.default_rng(0).permutation(len(split))[:faces]]
    result = pack_checkpoint(checkpoint, out, storage=storage, faces=images, overwrite=overwrite)
    for method, r in result.spearman.items():
        click.echo(f"{method}: Spearman with the original's maps: mean {r['mean']:.5f} (need >= {MIN_SPEARMAN}), "
                   f"least face {r['min']:.5f}, on {r['faces']} faces")
    click.echo(f"{result.path}: {result.bytes:,} bytes, {result.storage}, sha256 {result.sha256}")


@models.command()
@click.argument("name")
@click.option("--classes", default=7, show_default=True, help="Number of output classes.")
@click.option("--channels", default=1, show_default=True, help="Input channels (1 grayscale, 3 colour).")
@click.option("--size", default=48, show_default=True, help="Input height and width in pixels.")
def summary(name, classes, channels, size):
    """Print a Keras-like table of architecture NAME: layer, output shape, parameters."""
    from ferviz.model.build import build_model
    from ferviz.model.summary import format_summary

    kwargs = {"num_classes": classes, "in_channels": channels}
    if registry.factory_takes(name, "input_size"):  # the architecture's own signature says whether it is sized
        kwargs["input_size"] = size
    click.echo(format_summary(build_model(name, **kwargs), name, channels, size))


@models.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@checkpoint_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def layers(checkpoint, as_json, **load_options):
    """List the named layers of CHECKPOINT with output shapes (names for --layer options).

    Eager PyTorch models only: the layers of a TorchScript file or a torch.export program run as
    compiled code, which no hook sees (such a file is refused in one line).
    """
    from ferviz.model.summary import layer_table

    model = load_from_options(checkpoint, load_options)
    model.require_eager("ferviz models layers")
    rows = layer_table(model.net, model.in_channels, model.input_size)
    if as_json:
        click.echo(json.dumps([{**r, "shape": list(r["shape"])} for r in rows], indent=1))
        return
    for r in rows:
        click.echo(f"{r['name']:<28} {r['type']:<14} {str(tuple(r['shape'])):<18} {r['params']:>10,}")
