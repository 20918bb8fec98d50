"""`ferviz explore`: the report's explorer alone, for one checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from ferviz.cli import main
from ferviz.cli.options import analysis_options, overwrite_option
from ferviz.cli.report import report_config, run_report
from ferviz.fileio import check_target


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
    run_report(report_config([checkpoint], out, options, overwrite=overwrite, explorer_only=True), checkpoint)
