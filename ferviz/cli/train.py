"""`ferviz train`: train a model and write a self-describing run folder."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ferviz.cli import EXIT_INTERRUPTED, echo_err, main
from ferviz.cli.options import device_option, overwrite_option, set_threads, training_options

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
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for initialisation, shuffling, augmentation.")
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
