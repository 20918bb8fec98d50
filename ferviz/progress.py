"""Progress bars on stderr (results stay on stdout)."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import click


@contextmanager
def progress_bar(length: int, label: str, enabled: bool = True):
    """A click progress bar on stderr; ``bar.status`` is shown after the bar; ``bar.update(n)``."""
    if not enabled:
        yield _Silent()
        return
    holder = {"status": ""}
    with click.progressbar(length=length, label=label, file=sys.stderr, show_eta=True, show_pos=True,
                           item_show_func=lambda _: holder["status"], width=24) as bar:
        bar.status = ""

        def set_status(text: str) -> None:
            holder["status"] = text

        bar.set_status = set_status
        yield bar


class _Silent:
    def update(self, n, current_item=None):
        pass

    def set_status(self, text):
        pass
