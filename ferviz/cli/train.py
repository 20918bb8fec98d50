"""`ferviz train`, `ferviz evaluate`, `ferviz predict`."""

from __future__ import annotations

import csv
import io
import json
import sys

from pathlib import Path

import click

from ferviz.cli import EXIT_INTERRUPTED, echo_err, main
from ferviz.cli.options import (checkpoint_options, device_option, faces_option, load_from_options, overwrite_option,
                                resolve, set_threads, SPLIT_DEFAULT, training_options)
from ferviz.fileio import check_target

#: What a bare `ferviz train` does: a budget that finishes in a few minutes on 2 CPU cores.
QUICK_START = {"data": "synthetic:count=6000,val=1000,test=1000", "epochs": 6, "batch_size": 64}


@main.command()
@click.option("--data", default=None,
              help="Data source: synthetic[:count=N,seed=S], a FER2013 CSV, an image folder, a .zip/.tar.gz, "
                   "or KIND:PATH.  [default: synthetic faces, quick-start budget]")
@click.option("--arch", default="seed-vgg", show_default=True, help="Registered architecture (ferviz models list).")
@click.option("--epochs", type=int, default=None, help="Maximum epochs.  [default: 40; 6 for the quick start]")
@click.option("--batch-size", type=int, default=None, help="Images per step.  [default: 256; 64 for the quick start]")
@click.option("--normalize", type=click.Choice(["standard", "unit", "none"]), default="standard", show_default=True,
              help="standard: data-set mean/std of the train split; unit: x/255; none: raw 0-255.")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Random rotation, shear, zoom and horizontal flip (no shift), per batch on the device.")
@click.option("--augment-copies", type=int, default=0, show_default=True,
              help="The report's offline expansion: K fixed augmented copies per image (5 in the report); "
                   "0 augments on the fly instead.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for initialisation, shuffling, augmentation.")
@device_option
@training_options
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="bf16: mixed-precision training (autocast; weights and checkpoints stay fp32), about 1.9x "
                   "faster than fp32 on CPUs with AVX512-BF16/AMX. auto: bf16 where the CPU or GPU computes "
                   "bf16 natively, else fp32.")
@click.option("--deterministic", is_flag=True,
              help="CUDA: use only deterministic kernels (slower). CPU runs are bit-for-bit repeatable anyway.")
@click.option("--skip-bad", is_flag=True, help="Skip malformed rows or images (with a warning) instead of failing.")
@click.option("--shuffle-labels", is_flag=True,
              help="Train on randomly permuted labels: the control model for "
                   "ferviz assess --random-labels-checkpoint.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run folder.  [default: the next free runs/run-NNN]")
@overwrite_option("a previous run in --out")
@click.option("--resume", type=click.Path(path_type=Path), default=None,
              help="Continue the run in this folder from its last.pt. Its own options are used; only --epochs "
                   "may be given, to extend the budget.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes on this machine: >1 relaunches this command under torchrun "
                   "(DistributedDataParallel; gloo on CPU, NCCL on CUDA).")
def train(data, arch, epochs, batch_size, rotation, shear, zoom, flip, out, overwrite, resume, quiet, nproc,
          **options):
    """Train a model and write a self-describing run folder.

    With no options this trains the report's seed CNN on embedded synthetic faces with a quick
    budget (a few minutes on 2 CPU cores). The run folder gets best.pt, last.pt, history.json,
    history.csv, config.json and curves.png.
    """
    from ferviz.train import distributed
    from ferviz.train.config import TrainConfig
    from ferviz.train.trainer import run_training

    if nproc > 1 and not distributed.launched():
        raise SystemExit(distributed.launch_torchrun(nproc, _argv_without_nproc()))
    quick = data is None and resume is None
    if quick:
        data = QUICK_START["data"]
        epochs = QUICK_START["epochs"] if epochs is None else epochs
        batch_size = QUICK_START["batch_size"] if batch_size is None else batch_size
        echo_err(f"quick start: synthetic faces ({data}), {epochs} epochs, batch {batch_size}; "
                 "give --data for real data and the report's full recipe (40 epochs, batch 256)")
    set_threads(options.pop("threads"))
    config = TrainConfig(data=data, arch=arch, epochs=40 if epochs is None else epochs,
                         batch_size=256 if batch_size is None else batch_size,
                         augmentation={"rotation": rotation, "shear": shear, "zoom": zoom, "flip": flip},
                         **options)
    result = run_training(config, out, overwrite=overwrite, resume=resume, resume_epochs=epochs,
                          progress=not quiet, log=echo_err)
    if not distributed.is_main():
        return
    click.echo(f"best val accuracy {result.best_val_accuracy:.4f} at epoch {result.best_epoch} "
               f"({result.stopped}, {result.images_per_second:.1f} train images/s)")
    click.echo(f"run folder: {result.run_dir}")
    if result.stopped == "interrupted":
        raise click.exceptions.Exit(EXIT_INTERRUPTED)  # saved, but stopped by Ctrl-C: scripts must know


def _argv_without_nproc() -> list[str]:
    """This command's own arguments (from sys.argv), minus --nproc, to hand to torchrun."""
    argv = sys.argv[sys.argv.index("train"):] if "train" in sys.argv else ["train"]
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def _eval_split(data, split, skip_bad, models):
    """The split to score: --split, else test, else the validation split the models were trained
    beside (carved out of train as their checkpoints record), never the training images."""
    from ferviz.data.sources import Holdout, open_source, select_split

    return select_split(open_source(data, skip_bad=skip_bad), split, data, Holdout.of_model(models[0]))


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
    from ferviz.model.evaluation import evaluate as run_eval

    models = [load_from_options(c, load_options, resolve(device)) for c in checkpoints]
    dataset = _eval_split(data, split, skip_bad, models)
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


def _predict_inputs(data, split, skip_bad, models, faces_mode):
    """(images, ids) to predict: the faces of an unlabelled image folder or photo (found by
    --faces), else the chosen split of the data source."""
    from ferviz.data.sources import unlabelled_images
    from ferviz.inputs.images import read_images

    folder = unlabelled_images(data)
    if folder is not None:
        faces = read_images(folder, model=models[0], faces=faces_mode, skip_bad=skip_bad)
        return faces.images, faces.ids
    dataset = _eval_split(data, split, skip_bad, models)
    return dataset.images, (dataset.ids if dataset.ids is not None else range(len(dataset)))


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
    from ferviz.model.evaluation import check_same_classes, ensemble_proba
    from ferviz.fileio import atomic_file

    check_target(out, folder=False, overwrite=overwrite)
    models = [load_from_options(c, load_options, resolve(device)) for c in checkpoints]
    names = check_same_classes(models)
    if label_format == "index" and not set(names) <= set(FER2013_CLASSES):
        raise OptionError(f"the model's classes {list(names)} are not FER2013's; use --label-format name")
    images, ids = _predict_inputs(data, split, skip_bad, models, faces_mode)
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


