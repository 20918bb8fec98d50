"""`ferviz evaluate`: accuracy, per-class accuracy and confusion of checkpoints on a data split."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ferviz.cli import main
from ferviz.cli.options import SPLIT_DEFAULT, checkpoint_options, device_option, load_from_options, resolve


@main.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--data", required=True, help="Labelled data source (see ferviz train --help).")
@click.option("--split", default=None, help="Split to evaluate.  " + SPLIT_DEFAULT)
@click.option("--tta", type=click.Choice(["none", "flip"]), default="none", show_default=True,
              help="Test-time augmentation: flip also scores the mean of each face's and its mirror image's "
                   "probabilities, printed beside the plain accuracy.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (accuracy, per-class, confusion).")
@click.option("--skip-bad", is_flag=True, help="Skip malformed rows or images instead of failing.")
@checkpoint_options
@device_option
def evaluate(checkpoints, data, split, tta, as_json, skip_bad, device, **load_options):
    """Accuracy, per-class accuracy and confusion of CHECKPOINTS on a data split.

    CHECKPOINTS are files or pretrained names (ferviz models list). Several are evaluated one by
    one and as an ensemble (mean of probabilities). Labels are matched to outputs by class name.
    """
    from ferviz.data.sources import describe_split
    from ferviz.inputs.requests import model_split
    from ferviz.model.evaluation import evaluate as run_eval

    models = [load_from_options(c, load_options, resolve(device)) for c in checkpoints]
    dataset = model_split(data, split, models[0], skip_bad)
    members = {str(c): [m] for c, m in zip(checkpoints, models)}
    if len(models) > 1:
        members["ensemble"] = models
    results = {name: run_eval(ms, dataset) for name, ms in members.items()}
    flipped = {name: run_eval(ms, dataset, tta=tta) for name, ms in members.items()} if tta != "none" else {}
    where = describe_split(dataset)
    if as_json:
        out = {name: {**r.to_dict(), **({"tta": {"method": tta, **flipped[name].to_dict()}} if flipped else {})}
               for name, r in results.items()}
        click.echo(json.dumps({"data": data, "split": dataset.split, "split_description": where,
                               "results": out}, indent=1))
        return
    for name, r in results.items():
        extra = f", {tta} TTA {flipped[name].accuracy:.4f}" if flipped else ""
        click.echo(f"{name}: accuracy {r.accuracy:.4f}{extra} on {r.n} images ({data}, split {where})")
        click.echo("  " + "  ".join(f"{c} {a:.3f}" if a is not None else f"{c} -"
                                    for c, a in r.per_class_accuracy.items()))
        pairs = ", ".join(f"{t} -> {p} {s:.0%}" for t, p, s, _ in r.most_confused(3))
        click.echo(f"  most confused: {pairs or 'none'}")
