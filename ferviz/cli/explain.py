"""`ferviz explain` (run one explainer on a checkpoint) and `ferviz plugins` (what is installed)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ferviz import registry
from ferviz.cli import echo_err, main
from ferviz.cli.options import (checkpoint_options, device_option, faces_option, load_from_options, overwrite_option,
                                resolve, SPLIT_DEFAULT)
from ferviz.errors import FervizError, PluginError
from ferviz.fileio import FIGURE_FORMATS, check_target

if TYPE_CHECKING:  # torch, numpy and the plugins load only when a command runs, not for --help
    import numpy as np

    from ferviz.explain import Explainer, Request
    from ferviz.inputs.images import Faces

#: Images per class explained from --data when --per-class is not given.
DEFAULT_PER_CLASS = 2


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


def option_rows(cls: type[Explainer]) -> list[tuple[str, str]]:
    """(``name=DEFAULT``, ``[type] help``) per declared option, for help tables."""
    return [(f"{o.name}={o.default}", f"[{o.describe()}] {o.help}") for o in cls.options]


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

    check_target(out, folder=True, overwrite=overwrite, owner="manifest.json")
    plan = plan_methods(split_methods(_required_method(method)), parse_key_values(params))  # bad options fail here
    for cls, _ in plan.values():
        check_inputs(cls, data, image_files)
    model = load_from_options(checkpoint, load_options, device=resolve(device))
    # options that depend on the model (layers) are checked here, before any method runs
    explainers = [cls(model, **options) for cls, options in plan.values()]
    request, faces = build_request(type(explainers[0]), model, data, split, image_files, per_class, target, seed,
                                   skip_bad, faces_mode)
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


def build_request(cls, model, data, split, image_files, per_class, target, seed, skip_bad=False,
                  faces_mode=None) -> tuple[Request, Faces | None]:
    """The Request for `cls` from the command-line inputs (images, targets, data set), and the
    Faces read from image files or an unlabelled image folder (None for other data)."""
    import numpy as np

    from ferviz.data.sources import unlabelled_images
    from ferviz.explain import Request, resolve_targets, select_per_class
    from ferviz.inputs.images import image_files as files_in, read_images

    if cls.needs == "dataset":
        dataset = _open(data, split, model, skip_bad).relabelled(model.class_names)
        return Request(dataset=select_per_class(dataset, per_class) if per_class else dataset, seed=seed), None
    faces = None
    folder = unlabelled_images(data) if data else None
    if image_files:
        faces = read_images(image_files, model=model, faces=faces_mode)
    elif folder is not None:
        files = files_in(folder) if folder.is_dir() else [folder]
        count = (per_class or DEFAULT_PER_CLASS) * len(model.class_names)
        if len(files) > count:
            echo_err(f"{data}: no labels; explaining the first {count} images")
        faces = read_images(files[:count], model=model, faces=faces_mode, skip_bad=skip_bad)
    if faces is not None:
        images, labels, ids = faces.images, None, faces.ids
    elif data:
        dataset = _open(data, split, model, skip_bad).relabelled(model.class_names)
        if dataset.labelled:
            dataset = select_per_class(dataset, per_class or DEFAULT_PER_CLASS)
        else:
            count = (per_class or DEFAULT_PER_CLASS) * len(model.class_names)
            echo_err(f"{dataset.source}: no labels; explaining the first {count} images")
            dataset = dataset.subset(np.arange(min(count, len(dataset))))
        images, labels = dataset.images, dataset.labels
        ids = ([str(i) for i in dataset.ids] if dataset.ids is not None
               else [f"{dataset.split}:{k}" for k in range(len(images))])
    else:
        return Request(seed=seed), None  # model-level method without inputs
    targets = resolve_targets(model, target, images, labels)
    return Request(images=images, targets=targets, labels=labels, ids=ids, seed=seed), faces


def terminal_progress(label: str):
    """A ``(done, total)`` callback drawing ``label: done/total`` on an interactive stderr, else None."""
    if not sys.stderr.isatty():
        return None

    def update(done: int, total: int) -> None:
        click.echo(f"\r{label}: {done}/{total}", err=True, nl=done >= total)

    return update


def _open(spec: str, split: str | None, model, skip_bad: bool = False):
    """--split, else test, else the validation images the model was trained beside."""
    from ferviz.data.sources import Holdout, open_source, select_split

    return select_split(open_source(spec, skip_bad=skip_bad), split, spec, Holdout.of_model(model))


# ----------------------------------------------------------------------------- ferviz plugins
def plugin_table() -> tuple[list[dict], list[str]]:
    """One row per plugin (loaded, failed, disabled) and the registration conflicts found."""
    from importlib import metadata

    pm = registry.get_plugin_manager()
    registers: dict[str, dict[str, list[str]]] = {}
    conflicts: list[str] = []
    for kind, collect in (("models", registry.models), ("explainers", registry.explainers),
                          ("data sources", registry.data_readers), ("metrics", registry.metrics),
                          ("pretrained", registry.pretrained), ("face detectors", registry.face_detectors)):
        try:
            reg = collect()
        except PluginError as exc:  # a duplicate name: report it, keep listing
            conflicts.append(str(exc))
            continue
        for name, plugin in reg.owner.items():
            registers.setdefault(plugin, {}).setdefault(kind, []).append(name)
    rows = []
    for name, info in pm.infos.items():
        rows.append({"name": name, "version": info.version, "origin": info.origin, "module": info.module,
                     "status": "failed" if info.error else "ok", "registers": registers.get(name, {}),
                     "error": info.error})
    for name, plugin in pm.list_name_plugin():
        if name not in pm.infos and plugin is not None:
            rows.append({"name": name, "version": "", "origin": "in-process", "module": repr(plugin),
                         "status": "ok", "registers": registers.get(name, {}), "error": None})
    blocked = {n.strip() for n in os.environ.get(registry.DISABLE_ENV, "").split(",") if n.strip()}
    for ep in metadata.entry_points(group=registry.PROJECT):
        if ep.name in blocked:
            rows.append({"name": ep.name, "version": ep.dist.version if ep.dist else "?",
                         "origin": ep.dist.name if ep.dist else "?", "module": ep.value, "status": "disabled",
                         "registers": {}, "error": None})
    return rows, conflicts


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with full tracebacks) instead of a table.")
@click.pass_context
def plugins(ctx, as_json):
    """List plugins: name, version, origin, what each registers, and any that failed to load."""
    if ctx.invoked_subcommand is not None:
        return
    rows, conflicts = plugin_table()
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
