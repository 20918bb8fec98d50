"""The ``ferviz`` command line. One thin function per command; library code does the work.

Results go to stdout, progress and status to stderr. Library errors (FervizError) become
one-line messages with a non-zero exit code; anything else is a bug and keeps its traceback.
Warnings are one ``warning:`` line each; Ctrl-C (SIGINT) exits with 130. Importing this
package and showing --help or --version loads neither torch nor matplotlib: commands import
what they need when they run.
"""

from __future__ import annotations

import warnings

import click

from ferviz import __version__
from ferviz.errors import FervizError, Interrupted

#: The exit status of a command stopped by Ctrl-C (SIGINT), as shells report it: 128 + 2.
EXIT_INTERRUPTED = 130


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a warning as ``warning: MESSAGE`` on stderr, without Python's source line."""
    click.echo(f"warning: {str(message).strip()}", err=True)


class FervizGroup(click.Group):
    """A group whose commands turn FervizError into a clean one-line error, show warnings as
    one line each, and exit with 130 when Ctrl-C stops them."""

    def invoke(self, ctx):
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            try:
                return super().invoke(ctx)
            except Interrupted as exc:
                echo_err(str(exc))
                raise click.exceptions.Exit(EXIT_INTERRUPTED) from exc
            except KeyboardInterrupt:
                echo_err("interrupted (Ctrl-C)")
                raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
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
      ferviz explore                    click through maps, confusions and filters
      ferviz assess                     score explainers: localisation, sanity, faithfulness
      ferviz plugins                    list installed plugins
    """
    from ferviz.train.allocator import retain_freed_memory

    retain_freed_memory()  # every command reuses its large buffers (see ferviz.train.allocator)


def echo_err(message: str) -> None:
    click.echo(message, err=True)


# Sub-command modules attach themselves to `main`: one module per command, named after it.
from ferviz.cli import data as _data  # noqa: E402,F401
from ferviz.cli import train as _train  # noqa: E402,F401
from ferviz.cli import evaluate as _evaluate  # noqa: E402,F401
from ferviz.cli import predict as _predict  # noqa: E402,F401
from ferviz.cli import models as _models  # noqa: E402,F401
from ferviz.cli import explain as _explain  # noqa: E402,F401
from ferviz.cli import plugins as _plugins  # noqa: E402,F401
from ferviz.cli import report as _report  # noqa: E402,F401
from ferviz.cli import explore as _explore  # noqa: E402,F401
from ferviz.cli import study as _study  # noqa: E402,F401
from ferviz.cli import assess as _assess  # noqa: E402,F401
