"""`ferviz plugins` (what is installed, and what failed to load) and `ferviz plugins show NAME`."""

from __future__ import annotations

import json

import click

from ferviz import registry
from ferviz.cli import echo_err, main
from ferviz.cli.options import option_rows


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with full tracebacks) instead of a table.")
@click.pass_context
def plugins(ctx, as_json):
    """List plugins: name, version, origin, what each registers, and any that failed to load."""
    if ctx.invoked_subcommand is not None:
        return
    rows, conflicts = registry.plugin_table()
    if as_json:
        click.echo(json.dumps({"plugins": rows, "conflicts": conflicts}, indent=1))
        return
    widths = [max([len(r[key]) for r in rows] + [len(key)]) for key in ("name", "version", "origin")]
    click.echo(f"{'name':<{widths[0]}}  {'version':<{widths[1]}}  {'origin':<{widths[2]}}  registers")
    for row in rows:
        what = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in row["registers"].items())
        if row["status"] == "failed":
            what = "FAILED TO LOAD: " + row["error"].strip().splitlines()[-1]
        elif row["status"] == "disabled":
            what = f"disabled by {registry.DISABLE_ENV}"
        click.echo(f"{row['name']:<{widths[0]}}  {row['version']:<{widths[1]}}  {row['origin']:<{widths[2]}}  "
                   f"{what or '-'}")
    for conflict in conflicts:
        echo_err(f"conflict: {conflict}")
    if any(r["status"] == "failed" for r in rows):
        echo_err("some plugins failed to load; `ferviz plugins --json` shows their tracebacks")


@plugins.command("show")
@click.argument("name")
def show(name):
    """Describe explainer or metric NAME: summary, what it needs, and its options."""
    from ferviz.explain import get_explainer

    if name in registry.metrics() and name not in registry.explainers():
        cls = registry.metrics()[name]
        click.echo(f"{name}: {cls.summary}")
        click.echo(f"metric    registered by: {registry.metrics().owner[name]}")
    else:
        cls = get_explainer(name)
        click.echo(f"{cls.name}: {cls.summary}")
        click.echo(f"needs: {cls.needs}    registered by: {registry.explainers().owner[cls.name]}")
    if not cls.options:
        click.echo("options: (none)")
        return
    click.echo("options (-p key=value):")
    width = max(len(left) for left, _ in option_rows(cls))
    for left, right in option_rows(cls):
        click.echo(f"  {left:<{width}}  {right}")
