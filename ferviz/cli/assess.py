"""`ferviz assess`: score explainers with explanation-quality metrics on a checkpoint."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ferviz import registry
from ferviz.cli import echo_err, main
from ferviz.cli.options import (SPLIT_DEFAULT, checkpoint_options, device_option, load_from_options, overwrite_option,
                                resolve)
from ferviz.fileio import check_target

DEFAULT_COUNT = 70


class AssessCommand(click.Command):
    """`ferviz assess`: its --help also says where the metrics and their options are listed."""

    def format_help(self, ctx, formatter):
        super().format_help(ctx, formatter)
        with formatter.section("Metrics (-p METRIC.KEY=VALUE sets an option)"):  # listing them would load torch
            formatter.write_text("`ferviz plugins` lists the installed metrics; `ferviz plugins show METRIC` "
                                 "shows one's options.")


def split_params(params, methods: list[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """``-p NAME.KEY=VALUE`` pairs -> (explainer options, metric options), keyed by name."""
    from ferviz.options import parse_key_values

    method_options: dict[str, dict] = {}
    metric_options: dict[str, dict] = {}
    for key, value in parse_key_values(params).items():
        owner, dot, option = key.partition(".")
        if not dot or not option:
            raise click.UsageError(f"-p {key}={value}: name the method or metric it is for, as in "
                                   "-p occlusion.patch=6 or -p deletion.steps=10")
        is_method, is_metric = owner in registry.explainers(), owner in registry.metrics()
        if is_method and is_metric:
            raise click.UsageError(f"-p {key}: {owner!r} is both an explainer and a metric")
        if is_method:
            if owner not in methods:
                raise click.UsageError(f"-p {key}: {owner} is not among --methods ({', '.join(methods)})")
            method_options.setdefault(owner, {})[option] = value
        elif is_metric:
            metric_options.setdefault(owner, {})[option] = value
        else:
            known = sorted(set(methods) | set(registry.metrics()))
            raise click.UsageError(f"-p {key}: no method or metric {owner!r}; known: {', '.join(known)}")
    return method_options, metric_options


@main.command(cls=AssessCommand)
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path), help="Checkpoint file to assess.")
@click.option("--data", required=True, help="Data source (as for ferviz train); synthetic faces carry cue masks.")
@click.option("--split", default=None, help="Split of --data.  " + SPLIT_DEFAULT)
@click.option("--methods", default="all", show_default=True,
              help="Comma-separated explainers, or all (every per-image explainer).")
@click.option("--metrics", default="all", show_default=True,
              help="Comma-separated metrics, or all (those that can run on this data).")
@click.option("--count", type=click.IntRange(min=1), default=DEFAULT_COUNT, show_default=True,
              help="Images assessed, taken from the classes in turn.")
@click.option("--target", default="auto", show_default=True,
              help="Class each map explains: auto (true when labelled, else predicted), true, predicted, or a name.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME.KEY=VALUE",
              help="An option of a method or a metric (repeatable): -p occlusion.patch=6 -p deletion.fill=blur.")
@click.option("--random-labels-checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="A model of the same kind trained on shuffled labels, for label-randomisation.")
@click.option("--baseline/--no-baseline", default=True, show_default=True, help="Add the random-map baseline row.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for random maps, noise and re-initialisation.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result instead of the Markdown table.")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
@click.option("--skip-bad", is_flag=True, help="Skip malformed rows or images of --data (with one warning).")
@checkpoint_options
@device_option
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Folder for assessment.md/.json, figures and arrays.npz (written atomically).")
@overwrite_option("a previous assessment in --out")
def assess(checkpoint, data, split, methods, metrics, count, target, params, random_labels_checkpoint, baseline,
           seed, as_json, quiet, skip_bad, device, out, overwrite, **load_options):
    """Score explainers (rows) with explanation-quality metrics (columns) on a checkpoint.

    Each method's maps are computed once and handed to every metric; a random-map row is the
    baseline. Localisation metrics need cue masks (synthetic faces); sanity checks re-initialise a
    copy of the model; deletion/insertion perturb the images.

    \b
    ferviz assess --checkpoint run/best.pt --data synthetic --count 70 --out out/assess
    ferviz assess --checkpoint run/best.pt --data fer2013.csv --methods saliency,grad-cam \\
        --metrics deletion,insertion -p deletion.fill=blur --out out/fer-assess
    """
    from ferviz.assess import assess as run_assessment
    from ferviz.assess import eager_only, get_metric, resolve_methods, resolve_metrics
    from ferviz.data.sources import open_source, select_split
    from ferviz.explain import display_images, get_explainer, parse_options, pick_faces, resolve_targets
    from ferviz.assess.output import markdown_table, to_dict, write

    check_target(out, folder=True, overwrite=overwrite, owner="assessment.json")
    started = time.perf_counter()
    names = resolve_methods(methods)
    method_options, metric_options = split_params(params, names)
    if random_labels_checkpoint is not None:
        metric_options.setdefault("label-randomisation", {})["checkpoint"] = str(random_labels_checkpoint)
    for name in names:  # bad names and options fail here, before anything is loaded
        parse_options(get_explainer(name), method_options.get(name, {}))
    for name in (registry.metrics() if metrics.strip() == "all" else metrics.split(",")):
        if name.strip():
            parse_options(get_metric(name.strip()), metric_options.get(name.strip(), {}))
    dataset = select_split(open_source(data, skip_bad=skip_bad), split, data)
    chosen, skipped = resolve_metrics(metrics, has_masks=dataset.masks is not None, options=metric_options,
                                      seed=seed)
    if random_labels_checkpoint is not None and "label-randomisation" not in [m.name for m in chosen]:
        echo_err("note: --random-labels-checkpoint is unused without the label-randomisation metric")
    model = load_from_options(checkpoint, load_options, device=resolve(device))
    unsupported = eager_only(model, names, chosen)  # on a compiled network: "all" leaves them out, a name refuses
    for name in unsupported:
        if name in names and methods.strip() != "all" or name not in names and metrics.strip() != "all":
            model.require_eager(name if name in names else f"metric {name}")
    names = [n for n in names if n not in unsupported]
    chosen = [m for m in chosen if m.name not in unsupported]
    skipped.update(unsupported)
    dataset = dataset.relabelled(model.class_names)
    if count > len(dataset):
        echo_err(f"{dataset.source}: only {len(dataset)} images in split {dataset.split}; assessing all of them")
    dataset = dataset.subset(pick_faces(dataset.labels, count=min(count, len(dataset)), size=len(dataset)))
    spec = target if target != "auto" else ("true" if dataset.labelled else "predicted")
    targets = resolve_targets(model, spec, dataset.images, dataset.labels)
    log = (lambda _m: None) if quiet else echo_err
    log(f"assessing {', '.join(names)} with {', '.join(m.name for m in chosen) or 'no metric'} on "
        f"{len(dataset)} images of {dataset.source} ({dataset.split}), {spec} class")
    for name, why in skipped.items():
        log(f"skipping {name}: it {why}")
    result = run_assessment(model, dataset.images, targets, masks=dataset.masks, methods=names, metrics=chosen,
                            method_options=method_options, baseline=baseline, seed=seed, log=log)
    result.skipped = skipped
    result.meta.update(checkpoint=str(checkpoint), data=data, split=dataset.split, target=spec, seed=seed,
                       random_labels_checkpoint=str(random_labels_checkpoint or "") or None,
                       seconds=round(time.perf_counter() - started, 1))
    files = write(result, out, faces=display_images(model, dataset.images), overwrite=overwrite)
    log(f"wrote {len(files)} files to {out} in {time.perf_counter() - started:.0f} s")
    click.echo(json.dumps(to_dict(result), indent=1) if as_json else markdown_table(result))

