"""`ferviz explain`: run one explainer, or several side by side, on a checkpoint.

Its --help also lists the options of the method named by --method (:class:`ExplainCommand`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ferviz import registry
from ferviz.cli import echo_err, main
from ferviz.cli.options import (SPLIT_DEFAULT, checkpoint_options, device_option, faces_option, load_from_options,
                                option_rows, overwrite_option, resolve)
from ferviz.errors import FervizError
from ferviz.fileio import FIGURE_FORMATS, check_target
from ferviz.inputs.requests import DEFAULT_PER_CLASS

if TYPE_CHECKING:  # torch, numpy and the plugins load only when a command runs, not for --help
    from ferviz.explain import Explainer, Request


def _method_in(args: list[str]) -> str | None:
    """The value of --method/-m in raw command-line arguments, wherever it appears."""
    for i, arg in enumerate(args):
        if arg in ("--method", "-m"):
            return args[i + 1] if i + 1 < len(args) else None
        if arg.startswith("--method="):
            return arg.split("=", 1)[1]
        if arg.startswith("-m") and not arg.startswith("--"):
            return arg[2:]
    return None


class ExplainCommand(click.Command):
    """`ferviz explain`: its --help also lists the options of the method named by --method."""

    def parse_args(self, ctx, args):
        ctx.meta["ferviz.explain.args"] = list(args)  # --help is eager: read --method from here
        return super().parse_args(ctx, args)

    def format_help(self, ctx, formatter):
        super().format_help(ctx, formatter)
        method = _method_in(ctx.meta.get("ferviz.explain.args", []))
        if method is None:  # listing the methods would load every plugin, and torch with them
            with formatter.section("Methods"):
                formatter.write_text("`ferviz plugins` lists the installed explainers; `ferviz explain --method "
                                     "NAME --help` (or `ferviz plugins show NAME`) shows one's options.")
            return
        from ferviz.explain.compare import split_methods
        from ferviz.explain import get_explainer

        try:
            classes = [get_explainer(name) for name in split_methods(method)]
        except FervizError as exc:
            formatter.write_paragraph()
            formatter.write_text(str(exc))
            return
        for cls in classes:
            prefix = f"; -p {cls.name}.KEY=VALUE for it alone" if len(classes) > 1 else ""
            with formatter.section(f"Options of {cls.name} (-p key=value{prefix}; needs {cls.needs})"):
                formatter.write_text(cls.summary)
                formatter.write_paragraph()
                formatter.write_dl(option_rows(cls) or [("(none)", "")])


@main.command(cls=ExplainCommand)
@click.option("--method", "-m", default=None,
              help="Explainer name (ferviz plugins lists them), or several per-image ones separated by commas "
                   "(saliency,grad-cam): one side-by-side grid, one folder.")
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path), help="Checkpoint file to explain.")
@click.option("--data", default=None, help="Data source (as for ferviz train), for data-set methods or to pick faces.")
@click.option("--split", default=None, help="Split of --data.  " + SPLIT_DEFAULT)
@click.option("--image", "image_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An image file to explain (repeatable); converted to grayscale and resized.")
@click.option("--per-class", type=click.IntRange(min=1), default=None,
              help=f"The first N images of each true class of --data.  [default: {DEFAULT_PER_CLASS} for image "
                   "methods; all of the split for data-set methods]")
@click.option("--target", default="predicted", show_default=True,
              help="Class to explain per image: predicted, true (needs labels) or a class name.")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A method option (repeatable); --method NAME --help lists them. With several methods KEY "
                   "goes to each method that has it; METHOD.KEY to that one alone.")
@click.option("--format", "fmt", type=click.Choice(FIGURE_FORMATS), default="png", show_default=True,
              help="Figure file format.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for noise starts and jitter.")
@click.option("--skip-bad", is_flag=True, help="Skip malformed rows or images of --data (with one warning).")
@faces_option
@checkpoint_options
@device_option
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Folder for arrays.npz, figures, summary.json and manifest.json (written atomically).")
@overwrite_option("a previous explanation in --out")
def explain(method, checkpoint, data, split, image_files, per_class, target, params, fmt, seed, skip_bad, faces_mode,
            device, out, overwrite, **load_options):
    """Explain a checkpoint with one explainer, or several side by side; print the files written.

    \b
    ferviz explain -m saliency --checkpoint seed.pt --data synthetic --per-class 2 --out out/sal
    ferviz explain -m confusion --checkpoint seed.pt --data fer2013.csv --split private-test --out out/cm
    ferviz explain -m filter-ascent --checkpoint seed.pt -p layer=features.relu2 --out out/filters
    ferviz explain -m saliency,grad-cam,integrated-gradients --checkpoint seed.pt --image face.jpg --out out/all
    ferviz explain -m saliency,grad-cam --checkpoint seed.pt --image group_photo.jpg --faces detect --out out/group
    """
    from ferviz.explain.compare import combine, plan_methods, split_methods
    from ferviz.inputs.faces import add_photo_overview
    from ferviz.explain import parse_key_values, save
    from ferviz.explain.parallel import run_distributed, workers
    from ferviz.inputs.requests import explain_request

    check_target(out, folder=True, overwrite=overwrite, owner="manifest.json")
    plan = plan_methods(split_methods(_required_method(method)), parse_key_values(params))  # bad options fail here
    for cls, _ in plan.values():
        check_inputs(cls, data, image_files)
    model = load_from_options(checkpoint, load_options, device=resolve(device))
    # options that depend on the model (layers) are checked here, before any method runs
    explainers = [cls(model, **options) for cls, options in plan.values()]
    request, faces = explain_request(explainers[0].needs, model, data=data, split=split, image_files=image_files,
                                     per_class=per_class, target=target, seed=seed, skip_bad=skip_bad,
                                     faces_mode=faces_mode, log=echo_err)
    echo_err(f"{', '.join(plan)}: {describe(request)}, checkpoint {checkpoint} "
             f"({model.arch or 'model'}, {len(model.class_names)} classes)")
    with workers(model) as driver:  # under torchrun: rank 0 drives, the others compute shares
        if not driver:
            return
        explanations = {}
        for explainer in explainers:
            request.progress = terminal_progress(explainer.name)
            explanations[explainer.name] = run_distributed(explainer, request)
        explanation = combine(explanations, model, request)
    if faces is not None:
        add_photo_overview(explanation, faces)
    inputs = {"data": data, "split": split, "target": target, "per_class": per_class,
              "images": [str(p) for p in image_files]}
    if faces is not None and faces.photos:
        inputs["faces"] = {"mode": "detect", "detector": faces.detector, "count": len(faces)}
    manifest = save(explanation, out, fmt, extra={"inputs": inputs}, overwrite=overwrite)
    files = json.loads(manifest.read_text())["files"]
    echo_err(f"wrote {len(files)} files to {out}")
    for name in files:
        click.echo(str(out / name))


def _required_method(method: str | None) -> str:
    if method is None:
        raise click.UsageError(f"choose a method with --method: {', '.join(sorted(registry.explainers()))}")
    return method


def check_inputs(cls: type[Explainer], data: str | None, image_files) -> None:
    """Usage errors for inputs that cannot suit the method, before anything is loaded."""
    if data and image_files:
        raise click.UsageError("give --data or --image, not both")
    if cls.needs == "images" and not (data or image_files):
        raise click.UsageError(f"{cls.name} explains images: give --image FILE or --data SOURCE")
    if cls.needs == "dataset" and not data:
        raise click.UsageError(f"{cls.name} analyses a data set: give --data SOURCE")


def describe(request: Request) -> str:
    if request.dataset is not None:
        from ferviz.data.sources import describe_split

        return f"{len(request.dataset)} images of {request.dataset.source} ({describe_split(request.dataset)})"
    return f"{len(request.images)} images" if request.images is not None else "model-level"


def terminal_progress(label: str):
    """A ``(done, total)`` callback drawing ``label: done/total`` on an interactive stderr, else None."""
    if not sys.stderr.isatty():
        return None

    def update(done: int, total: int) -> None:
        click.echo(f"\r{label}: {done}/{total}", err=True, nl=done >= total)

    return update
