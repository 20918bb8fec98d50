"""`ferviz report`: the whole analysis of one or more checkpoints in one batch, as one HTML report.

`ferviz explore` (its explorer alone) builds through the same :func:`report_config` and
:func:`run_report`.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ferviz.cli import echo_err, main
from ferviz.cli.options import LOAD_OPTIONS, analysis_options, load_from_options, overwrite_option, resolve
from ferviz.fileio import check_target


def run_report(config, checkpoint: Path) -> None:
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


def report_config(checkpoints, out, options: dict, **extra):
    """The ReportConfig of a `report` or `explore` command from its options (and `extra` fields), with
    the checkpoint-loading ones (--classes, --arch...) as load_options."""
    from ferviz.report import ReportConfig

    options = {**options, **extra}
    load_options = {k: options.pop(k) for k in LOAD_OPTIONS}
    quiet, device, params, skip = (options.pop(k) for k in ("quiet", "device", "params", "skip"))
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
    run_report(report_config(checkpoints, out, options, study=study, overwrite=overwrite), checkpoints[0])

