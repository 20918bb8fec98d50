"""`ferviz study`: train the variants of a study over the same seeds and budget, and compare them."""

from __future__ import annotations

from pathlib import Path

import click

from ferviz.cli import echo_err, main
from ferviz.cli.options import device_option, overwrite_option, set_threads, training_options


@main.command()
@click.argument("kind", type=click.Choice(["normalization", "augmentation", "grid"]))
@click.option("--data", required=True, help="Data source to train on (see ferviz train --help).")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Study folder: OUT/<variant>/seed-<k> runs, study.md, study.json, study.png. Running the "
                   "same command again resumes the study in it.")
@overwrite_option("a previous study in --out (instead of resuming it)")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Seeds per variant (0..N-1), the same for every variant.")
@click.option("--variants", default=None, metavar="NAME[,NAME...]",
              help="Only these variants (e.g. standard,none).  [default: all of the study]")
@click.option("--copies", type=click.IntRange(1, 20), default=2, show_default=True,
              help="Augmentation study: fixed augmented copies per image of the offline variant (5 in the report).")
@click.option("--arch", default="seed-vgg", show_default=True, help="Registered architecture (ferviz models list).")
@click.option("--epochs", type=int, default=40, show_default=True, help="Maximum epochs per run.")
@click.option("--batch-size", type=int, default=256, show_default=True, help="Images per step.")
@click.option("--normalize", type=click.Choice(["standard", "unit", "none"]), default="standard", show_default=True,
              help="Normalisation of the augmentation study's runs (the normalization study varies it).")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Augmentation of the normalization study's runs (the augmentation study varies it).")
@device_option
@training_options
@click.option("--skip-bad", is_flag=True, help="Skip malformed rows or images instead of failing.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def study(kind, data, out, overwrite, seeds, variants, copies, rotation, shear, zoom, flip, quiet, **options):
    """Train the variants of a KIND study over the same seeds and budget; compare them.

    \b
    normalization  standard | unit | none
    augmentation   off | on-the-fly | offline-xK (K = --copies)
    grid           every pair of the two
    Re-running the same command skips finished runs and continues cut-short ones.
    Prints study.md (a Markdown table with mean and spread over seeds).

    \b
    ferviz study normalization --data synthetic:count=2000 --seeds 2 --epochs 2 --batch-size 64 --out st/norm
    """
    from ferviz.train.study import check_out, run_study
    from ferviz.train.config import TrainConfig

    check_out(out)
    set_threads(options.pop("threads"))
    config = TrainConfig(data=data, augmentation={"rotation": rotation, "shear": shear, "zoom": zoom, "flip": flip},
                         **options)
    only = [v.strip() for v in variants.split(",") if v.strip()] if variants else None
    run_study(kind, config, out, seeds=seeds, copies=copies, only=only, overwrite=overwrite, progress=not quiet,
              log=echo_err)
    click.echo((out / "study.md").read_text(), nl=False)
