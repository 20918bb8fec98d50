"""The ``ferviz`` command line. One thin function per command; library code does the work.

Results go to stdout, progress and status to stderr. Library errors (FervizError) become
one-line messages with a non-zero exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import click

from ferviz import __version__
from ferviz.errors import FervizError


class FervizGroup(click.Group):
    """A group whose commands turn FervizError into a clean one-line error."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FervizError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=FervizGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ferviz")
def main():
    """Train facial-expression CNNs and see what they see.

    \b
    Start here:
      ferviz train                      train the seed CNN on synthetic faces
      ferviz explain --method saliency  explain a checkpoint's predictions
      ferviz report                     render every figure of the report
      ferviz assess                     score explainers: localisation, sanity, faithfulness
      ferviz plugins                    list installed plugins
    """


def echo_err(message: str) -> None:
    click.echo(message, err=True)


# Sub-command modules attach themselves to `main`.
from ferviz.cli import data as _data  # noqa: E402,F401
from ferviz.cli import train as _train  # noqa: E402,F401
from ferviz.cli import models as _models  # noqa: E402,F401
from ferviz.cli import explain as _explain  # noqa: E402,F401
from ferviz.cli import report as _report  # noqa: E402,F401
from ferviz.cli import assess as _assess  # noqa: E402,F401
