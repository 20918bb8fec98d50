"""Options shared by several commands, and the help rows of an explainer's or a metric's own options."""

from __future__ import annotations

from pathlib import Path

import click


#: The --split default of every command that reads a split for a checkpoint.
SPLIT_DEFAULT = ("[default: test, private-test or val; for a source with only a train split, the validation "
                 "images held out of it, as the checkpoint records]")


def _checked(parse):
    """A click callback that checks a value with `parse` (a ferviz.model.declared parser) and keeps it as given."""
    def callback(ctx, param, value):
        from ferviz.errors import OptionError

        if value:
            try:
                parse(value)
            except OptionError as exc:  # click names the option itself: do not say it twice
                message, flag = str(exc), param.opts[0]
                raise click.BadParameter(message[len(flag):].lstrip(": ") if message.startswith(flag)
                                         else message) from None
        return value
    return callback


def _classes(value):
    from ferviz.model.declared import parse_classes

    return parse_classes(value)


def _normalize(value):
    from ferviz.model.preprocessing import Preprocessing

    return Preprocessing.parse(value)


def _arch_args(value):
    from ferviz.model.declared import parse_arch_args

    return parse_arch_args(value)


def checkpoint_options(func):
    """What a checkpoint file that ferviz did not write lacks (see ferviz.model.declared), and --trust.

    Every command that loads a checkpoint takes these; a ferviz checkpoint carries all of it.
    """
    options = [
        click.option("--classes", default=None, callback=_checked(_classes), metavar="NAMES|fer2013|alphabetical",
                     help="Class names in output order, for files that lack them: a,b,c; fer2013 (angry, disgust, "
                          "fear, happy, sad, surprise, neutral: the Kaggle CSV's order); alphabetical (the "
                          "image-folder version's). The order cannot be checked: a wrong one is scored silently."),
        click.option("--normalize", default=None, callback=_checked(_normalize),
                     metavar="standard:MEAN,STD|signed|unit|none",
                     help="Preprocessing for files that lack it: standard:MEAN,STD with both numbers on the 0-255 "
                          "pixel scale (e.g. standard:127.5,63.75); signed, the range [-1, 1] "
                          "(= standard:127.5,127.5); unit, [0, 1]; none, raw 0-255."),
        click.option("--size", type=click.IntRange(1, 4096), default=None,
                     help="Input height and width in pixels of a TorchScript file or state_dict.  [default: 48; a "
                          "torch.export program records its own]"),
        click.option("--channels", type=click.IntRange(1, 64), default=None,
                     help="Input channels of a TorchScript file or state_dict; grey faces are repeated across "
                          "them.  [default: 1]"),
        click.option("--arch", default=None, help="Registered architecture of a plain state_dict file."),
        click.option("--arch-arg", "arch_args", multiple=True, metavar="KEY=VALUE", callback=_checked(_arch_args),
                     help="A keyword argument of --arch (repeatable; VALUE read as JSON when it can be), e.g. "
                          "--arch-arg width=2. Unless given, num_classes is the number of --classes, and "
                          "in_channels and input_size follow --channels and --size (when the architecture takes "
                          "them)."),
        click.option("--outputs", type=click.Choice(["logits", "probabilities"]), default=None,
                     help="What the network returns, for files that lack it.  [default: logits, or probabilities "
                          "when its rows are non-negative and sum to 1 (with a warning)]"),
        click.option("--trust", is_flag=True,
                     help="Allow TorchScript and torch.export (.pt2) files. Loading them RUNS CODE or unpickles "
                          "objects stored in the file."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


#: The keyword names checkpoint_options gives a command.
LOAD_OPTIONS = ("classes", "normalize", "size", "channels", "arch", "arch_args", "outputs", "trust")


def load_from_options(path: Path, options: dict, device: str = "cpu"):
    from ferviz.model.checkpoint import load_checkpoint

    return load_checkpoint(path, device=device, **{k: v for k, v in options.items() if v})


def device_option(func):
    return click.option("--device", default="auto", show_default=True,
                        type=click.Choice(["auto", "cpu", "cuda"]),
                        help="Where to run: auto picks CUDA when available.")(func)


def faces_option(func):
    """--faces detect|center|none: how photos become faces (ferviz.inputs.faces)."""
    return click.option("--faces", "faces_mode", type=click.Choice(["detect", "center", "none"]), default=None,
                        help="How --image files and unlabelled image folders become faces: detect finds every face "
                             "in a photo (needs pip install \"ferviz[faces]\"), center takes the middle square, "
                             "none the whole image padded to a square.  [default: detect when a face detector is "
                             "installed, else center]")(func)


def overwrite_option(what: str):
    """--overwrite: replace an existing --out, all of it (see ferviz.fileio for the rule)."""
    return click.option("--overwrite", is_flag=True,
                        help=f"Replace {what}, all of it. Without it an existing --out is refused.")


def resolve(device: str) -> str:
    from ferviz.device import resolve_device

    return str(resolve_device(device))


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads for this process (`--threads`); None leaves torch's default."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def training_options(func):
    """Options that `ferviz train` and `ferviz study` share: optimiser, early stopping,
    augmentation ranges, validation split and memory format (defaults: the report's recipe)."""
    options = [
        click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate."),
        click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), default="constant",
                     show_default=True,
                     help="constant: the report's recipe; cosine: decay the rate to 0 over --epochs."),
        click.option("--weight-decay", type=float, default=0.0, show_default=True, help="Adam weight decay."),
        click.option("--patience", type=int, default=10, show_default=True,
                     help="Early stopping: epochs without a better val accuracy; 0 disables it."),
        click.option("--rotation", type=float, default=10.0, show_default=True, help="Rotation range in degrees."),
        click.option("--shear", type=float, default=10.0, show_default=True, help="Shear range in degrees."),
        click.option("--zoom", type=float, default=0.1, show_default=True, help="Zoom range (scale in 1 +/- zoom)."),
        click.option("--flip/--no-flip", default=True, show_default=True, help="Random horizontal flips."),
        click.option("--val-fraction", type=float, default=0.1, show_default=True,
                     help="Share of train carved out (stratified) as validation when the source has no val split."),
        click.option("--split-seed", type=int, default=0, show_default=True,
                     help="Seed of that carve-out; independent of --seed, so runs with different seeds "
                          "hold out the same images (evaluate and report score them by default)."),
        click.option("--threads", type=click.IntRange(min=1), default=None,
                     help="CPU threads for the network's arithmetic  [default: torch's, one per core]. Alone on "
                          "the machine, all cores are fastest; where other work shares the CPU, 1 holds up best "
                          "(benchmarks/bench_contention.py: beside one busy process, 1 thread kept 100% of its "
                          "speed, all cores 42%)."),
        click.option("--channels-last", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
                     help="Channels-last memory format (auto: on for CPU, where it is faster, unless the network "
                          "does not run in it, e.g. .view after a conv)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


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


def option_rows(cls) -> list[tuple[str, str]]:
    """(``name=DEFAULT``, ``[type] help``) per option declared by explainer or metric `cls`, for help tables."""
    return [(f"{o.name}={o.default}", f"[{o.describe()}] {o.help}") for o in cls.options]
