"""`ferviz predict`: labels from checkpoints (an ensemble when several), written as id,label CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click

from ferviz.cli import echo_err, main
from ferviz.cli.options import (SPLIT_DEFAULT, checkpoint_options, device_option, faces_option, load_from_options,
                                overwrite_option, resolve)
from ferviz.fileio import check_target


@main.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--data", required=True, help="Data source; labels, if any, are ignored.")
@click.option("--split", default=None, help="Split to predict.  " + SPLIT_DEFAULT)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="CSV to write (Kaggle format id,label).")
@overwrite_option("an existing --out file")
@click.option("--label-format", type=click.Choice(["index", "name"]), default="index", show_default=True,
              help="index: FER2013's 0-6 codes (Kaggle); name: the class name.")
@click.option("--skip-bad", is_flag=True, help="Skip malformed rows or images instead of failing.")
@faces_option
@checkpoint_options
@device_option
def predict(checkpoints, data, split, out, overwrite, label_format, skip_bad, faces_mode, device, **load_options):
    """Predict labels with CHECKPOINTS (an ensemble when several) and write id,label CSV.

    With --label-format index, labels are FER2013 codes (angry=0 ... neutral=6), whatever the
    model's own class order. Kaggle's unlabelled test.csv (header pixels, or id,pixels) works as
    --data; its id column, if any, gives the ids. A folder of photos (or one photo) works too:
    with --faces detect each face found is one row, its id FILE#K (faces numbered left to right).
    """
    from ferviz import FER2013_CLASSES
    from ferviz.errors import OptionError
    from ferviz.fileio import atomic_file
    from ferviz.inputs.requests import prediction_inputs
    from ferviz.model.evaluation import check_same_classes, ensemble_proba

    check_target(out, folder=False, overwrite=overwrite)
    models = [load_from_options(c, load_options, resolve(device)) for c in checkpoints]
    names = check_same_classes(models)
    if label_format == "index" and not set(names) <= set(FER2013_CLASSES):
        raise OptionError(f"the model's classes {list(names)} are not FER2013's; use --label-format name")
    images, ids = prediction_inputs(data, split, models[0], skip_bad, faces_mode)
    predicted = ensemble_proba(models, images).argmax(axis=1)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "label"])
    for i, p in zip(ids, predicted):
        writer.writerow([i, FER2013_CLASSES.index(names[p]) if label_format == "index" else names[p]])
    with atomic_file(out, "w", overwrite=overwrite) as fh:
        fh.write(buffer.getvalue())
    echo_err(f"{len(predicted)} predictions from {len(models)} model(s)")
    click.echo(str(out))
