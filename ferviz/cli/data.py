"""`ferviz data info | synth | show | kinds`: look at data sources, make synthetic ones."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ferviz.cli import echo_err, main
from ferviz.cli.options import overwrite_option
from ferviz.fileio import check_target


@main.group()
def data():
    """Inspect data sources and make synthetic data sets."""


@data.command()
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON instead of a table.")
@click.option("--skip-bad", is_flag=True, help="Skip malformed rows or images (with one warning) instead of failing.")
def info(source, as_json, skip_bad):
    """Count images per split and class; report image size, blank images and duplicates.

    Duplicates are images with identical pixels, within a split and shared between splits.

    \b
    SOURCE: a FER2013 CSV, an image folder, a .zip / .tar.gz of either, a ferviz .npz,
    synthetic[:count=N], or KIND:PATH[,key=value...] (see `ferviz data kinds`).
    """
    from ferviz.data.info import describe, format_table
    from ferviz.data.sources import open_source

    echo_err(f"reading {source} ...")
    splits = open_source(source, skip_bad=skip_bad)
    description = describe(splits)
    if as_json:
        click.echo(json.dumps(description, indent=2))
    else:
        click.echo(format_table(description))


@data.command()
@click.option("--count", type=click.IntRange(min=1), default=6000, show_default=True,
              help="Faces in the train split.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed; the same seed gives the same faces.")
@click.option("--balance", type=click.Choice(["equal", "fer2013"]), default="equal", show_default=True,
              help="Class balance: equal counts, or FER2013's proportions (few disgust, many happy).")
@click.option("--val", type=click.IntRange(min=0), default=0, show_default=True,
              help="Faces in an extra val split (0: none).")
@click.option("--test", type=click.IntRange(min=0), default=0, show_default=True,
              help="Faces in an extra test split (0: none).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The .npz file to write (read it back with --data FILE.npz).")
@overwrite_option("an existing --out file")
def synth(count, seed, balance, val, test, out, overwrite):
    """Draw synthetic faces with cue masks and save them as a ferviz .npz file."""
    from ferviz.data.npzfile import save_npz
    from ferviz.data.synthetic import generate

    check_target(out, folder=False, overwrite=overwrite)
    weights = None if balance == "equal" else balance
    sizes = {"train": count, "val": val, "test": test}
    splits = {}
    for split, n in sizes.items():
        if n:
            echo_err(f"drawing {n} {split} faces ...")
            splits[split] = generate(n, seed, class_weights=weights, split=split)
    path = save_npz(splits, out, overwrite=overwrite)
    click.echo(f"{path}: " + ", ".join(f"{name} {len(d)}" for name, d in splits.items()))


@data.command()
@click.argument("source")
@click.option("--split", default=None,
              help="Split to show.  [default: test, else private-test, val, public-test, else the validation "
                   "images held out of a train-only source (10%, split seed 0)]")
@click.option("--per-class", type=click.IntRange(min=1), default=6, show_default=True,
              help="Faces shown per class.")
@click.option("--skip-bad", is_flag=True, help="Skip malformed rows or images (with one warning) instead of failing.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The .png file to write.")
@overwrite_option("an existing --out file")
def show(source, split, per_class, skip_bad, out, overwrite):
    """Save a grid of example faces per class (with cue masks where the data has them).

    \b
    SOURCE: a FER2013 CSV, an image folder, a .zip / .tar.gz of either, a ferviz .npz,
    synthetic[:count=N], or KIND:PATH[,key=value...] (see `ferviz data kinds`).
    """
    from ferviz.data.sources import open_source, select_split
    from ferviz.data.synthetic import render_examples

    check_target(out, folder=False, overwrite=overwrite)
    echo_err(f"reading {source} ...")
    dataset = select_split(open_source(source, skip_bad=skip_bad), split, source)
    render_examples(dataset, out, per_class=per_class, overwrite=overwrite)
    click.echo(str(out))


@data.command()
def kinds():
    """List the data-source kinds that can be named as KIND:PATH."""
    from ferviz import registry

    readers = registry.data_readers()
    width = max((len(k) for k in readers), default=0)
    for kind in sorted(readers):
        click.echo(f"{kind.ljust(width)}  {getattr(readers[kind], 'summary', '')}")
