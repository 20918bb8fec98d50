"""`ferviz report` (the whole analysis in one batch), `ferviz explore` (its explorer alone) and `ferviz study`
(variants x seeds)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ferviz.cli import echo_err, main
from ferviz.cli.options import (LOAD_OPTIONS, SPLIT_DEFAULT, checkpoint_options, device_option, load_from_options,
                                overwrite_option, resolve, set_threads, training_options)
from ferviz.fileio import check_target


def _layers(ctx, param, value):
    if value is None:
        return None
    layers = tuple(v.strip() for v in value.split(",") if v.strip())
    if not layers:
        raise click.BadParameter("give at least one layer name")
    return layers


def analysis_options(func):
    """The options that `ferviz report` and `ferviz explore` share: data, faces, explainer options."""
    options = [
        click.option("--data", required=True, help="Labelled data source (see ferviz train --help)."),
        click.option("--split", default=None, help="Split to analyse.  " + SPLIT_DEFAULT),
        click.option("--per-class", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Faces per class for saliency, integrated gradients, image plugins and the explorer "
                          "(a seeded draw)."),
        click.option("--cell-faces", type=click.IntRange(min=0), default=1, show_default=True,
                     help="Explorer: faces explained from each confusion-matrix cell besides the --per-class ones "
                          "(wrong predictions first, then the least sure); 0: those only."),
        click.option("--layers", default=None, callback=_layers, metavar="NAME[,NAME...]",
                     help="Layers for filter ascent.  [default: features.conv2,features.relu2 when the model has "
                          "them, else the explainer's auto]"),
        click.option("-p", "--param", "params", multiple=True, metavar="EXPLAINER.KEY=VALUE",
                     help="An explainer option (repeatable), e.g. -p integrated-gradients.steps=32 "
                          "-p filter-ascent.filters=16; ferviz plugins show NAME lists them."),
        click.option("--skip", multiple=True, metavar="NAME",
                     help="Leave out a section (model, training, accuracy, confusion, saliency, integrated-gradients, "
                          "filters, study, explorer) or an explainer, from its section and the explorer "
                          "(repeatable)."),
        click.option("--quick", is_flag=True,
                     help="Each explainer's quick (low-quality) options, for a fast preview."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed for the face draw and noise starts."),
        click.option("--skip-bad", is_flag=True, help="Skip malformed rows or images instead of failing."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    func = checkpoint_options(device_option(func))  # listed last
    for option in reversed(options):
        func = option(func)
    return func


def _build(config, checkpoint: Path) -> None:
    """Build the report of `config` (under torchrun: rank 0 builds, the others compute shares of its maps).

    A report whose sections failed is still written; its path is printed and the exit status is 1.
    """
    from ferviz.train import distributed
    from ferviz.errors import ReportIncomplete
    from ferviz.explain.parallel import workers
    from ferviz.report import build_report

    try:
        if not distributed.launched():
            index = build_report(config, log=echo_err)
        else:
            with workers(load_from_options(checkpoint, config.load_options, config.device)) as driver:
                if not driver:
                    return
                index = build_report(config, log=echo_err)
    except ReportIncomplete as exc:  # written, with failed sections shown in place: say where, exit non-zero
        click.echo(str(exc.index))
        raise
    echo_err(f"{'explorer' if config.explorer_only else 'report'} written to {config.out}")
    click.echo(str(index))


def _config(checkpoints, out, *, quiet, device, params, skip, load_options, **options):
    from ferviz.report import ReportConfig

    command = shlex.join(["ferviz", *sys.argv[1:]]) if sys.argv[1:2] in (["report"], ["explore"]) else ""
    return ReportConfig(checkpoints=list(checkpoints), out=out, params=tuple(params), skip=tuple(skip),
                        device=resolve(device), load_options={k: v for k, v in load_options.items() if v},
                        progress=not quiet, command=command, **options)


@main.command()
@click.option("--checkpoint", "checkpoints", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Checkpoint to report on (repeatable: several are compared and ensembled; explanations use "
                   "the first).")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Report folder: index.html, the figures, explorer/ and report.json (written atomically).")
@click.option("--study", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A `ferviz study` folder whose table and figure join the report.")
@overwrite_option("a previous report in --out")
@analysis_options
def report(checkpoints, out, study, overwrite, **options):
    """Render the whole analysis of CHECKPOINTs into one HTML report, in one batch.

    \b
    Sections: model summary and training curves; accuracy per class (each checkpoint and
    their ensemble); confusion matrix and most confused pairs; saliency and integrated
    gradients for N faces per class; filter-ascent grids from noise and from a face; every
    other installed explainer; optionally a study (--study); the explorer (see ferviz
    explore). Prints the path of index.html. A section that fails shows its error in place and
    the others still render; the report is written, and the exit status is 1, with the failed
    sections named on stderr.

    \b
    ferviz report --checkpoint runs/fer/best.pt --data synthetic --out report
    ferviz report --checkpoint a.pt --checkpoint b.pt --data fer2013.csv --split private-test \\
        --per-class 2 --study studies/norm -p integrated-gradients.steps=32 --out report
    """
    check_target(out, folder=True, overwrite=overwrite, owner="report.json")
    _build(_config(checkpoints, out, study=study, overwrite=overwrite, **_split_load(options)), checkpoints[0])


@main.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Explorer folder: index.html, explorer/ and report.json (written atomically).")
@overwrite_option("a previous explorer or report in --out")
@analysis_options
def explore(checkpoint, out, overwrite, **options):
    """Write the report's explorer alone: click through CHECKPOINT's maps, confusions and filters.

    \b
    One self-contained folder (inline script and style, images beside index.html; it opens
    from file://): for each explained face every installed attribution explainer's map for
    its predicted, true and runner-up class, switchable, with an opacity slider; the
    confusion matrix, whose cells list their faces and open them in the viewer; filter-ascent
    images that enlarge on click. Prints the path of index.html.

    \b
    ferviz explore runs/fer/best.pt --data synthetic --out explorer
    ferviz explore best.pt --data fer2013.csv --split private-test --cell-faces 3 --skip occlusion --out ex
    """
    check_target(out, folder=True, overwrite=overwrite, owner="report.json")
    _build(_config([checkpoint], out, overwrite=overwrite, explorer_only=True, **_split_load(options)), checkpoint)


def _split_load(options: dict) -> dict:
    """The command's options with the checkpoint-loading ones (--classes, --arch...) as load_options."""
    load = {k: options.pop(k) for k in LOAD_OPTIONS}
    return {**options, "load_options": load}


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
