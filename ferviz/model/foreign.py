"""Checkpoints that ferviz did not write: TorchScript, torch.export programs, plain state_dicts.

Such a file lacks what a ferviz checkpoint carries, so the user declares it (the options of
:mod:`ferviz.model.declared`: classes, normalize, channels, size, arch and arch_args, outputs). Loading
TorchScript runs code stored in the file, and ``torch.export.load`` unpickles objects from it:
either is loaded only with ``trust=True`` (``--trust``). When ``outputs`` is not given, a network
whose outputs are non-negative rows summing to 1 is taken as giving probabilities, with a warning.

Every foreign network is run once on two probe images when it is loaded: a network that fails
on the declared input, gives anything but one row of scores per image, or more or fewer scores
than there are class names is refused in one line that gives both numbers.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from ferviz.errors import CheckpointError, FervizError
from ferviz.model.build import meta_build
from ferviz.model.declared import declared
from ferviz.model.loaded import LoadedModel
from ferviz.model.messages import first_sentence, short
from ferviz.model.validate import FORMAT_VERSION, ZIP_ERRORS, from_ferviz_dict
from ferviz.registry import factory_takes as _factory_takes

# ----------------------------------------------------------------------------- the probe
def check_outputs(model: LoadedModel, path: Path, outputs: str | None) -> LoadedModel:
    """Run the network once on two probe images (flat grey, seeded noise) of its declared input.

    Refuses (CheckpointError, one line) a network that fails on that input, returns anything but
    one row of scores per image, or a number of scores other than the number of class names.
    Sets ``model.outputs``: as declared, else ``probabilities`` when every row is non-negative
    and sums to 1 (with a warning), else ``logits``.
    """
    c, s = model.in_channels, model.input_size
    noise = torch.rand((1, c, s, s), generator=torch.Generator().manual_seed(0)) * 255
    probe = torch.cat([torch.full((1, c, s, s), 128.0), noise]).to(model.device)
    model.eval()
    try:
        with torch.no_grad():
            out = model.net(model.preprocessing(probe))
    except Exception as exc:  # noqa: BLE001  the user's network on the declared input: any failure is a misfit
        raise CheckpointError(f"checkpoint {path}: the network fails on {c}x{s}x{s} input ({type(exc).__name__}: "
                              f"{first_sentence(exc)}); declare its input with --channels and --size") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or len(out) != 2:
        got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise CheckpointError(f"checkpoint {path}: the network returns {got} for 2 images, not one row of class "
                              "scores per image")
    classes = len(model.class_names)
    if out.shape[1] != classes:
        raise CheckpointError(f"checkpoint {path}: the network gives {out.shape[1]} outputs per image, but there "
                              f"are {classes} class names ({short(', '.join(model.class_names), 60)}); give "
                              f"{out.shape[1]} names in output order with --classes")
    out = out.double()
    if not bool(torch.isfinite(out).all()):
        raise CheckpointError(f"checkpoint {path}: the network gives NaN or infinite outputs on a plain grey face")
    rows_are_probabilities = bool((out >= 0).all()) and bool(((out.sum(dim=1) - 1).abs() < 1e-4).all())
    if outputs == "probabilities" and not rows_are_probabilities:
        raise CheckpointError(f"checkpoint {path}: --outputs probabilities, but the network's outputs are not "
                              "non-negative rows that sum to 1; leave --outputs out, or give --outputs logits")
    if outputs is None and rows_are_probabilities:
        warnings.warn(f"checkpoint {path}: the network returns probabilities (its rows sum to 1); ferviz explains "
                      "their logarithm, which softmax turns back into the same probabilities (--outputs "
                      "probabilities says so and silences this)", UserWarning, stacklevel=4)
        outputs = "probabilities"
    model.outputs = outputs or "logits"
    return model


def checked_plugin_model(loaded, path: Path, options: dict) -> LoadedModel:
    """A plugin's answer to ``load_checkpoint``: a LoadedModel, probed like any foreign network.

    ``--outputs`` overrides what the plugin set; a plugin that set ``probabilities`` has it checked.
    """
    if not isinstance(loaded, LoadedModel):
        raise CheckpointError(f"checkpoint {path}: a load_checkpoint plugin returned a {type(loaded).__name__}, "
                              "not a ferviz.model.LoadedModel")
    given = declared(options, required=False).outputs
    return check_outputs(loaded, path, given or (loaded.outputs if loaded.outputs != "logits" else None))


# ----------------------------------------------------------------------------- TorchScript
def _require_trust(options: dict, path: Path, what: str, why: str) -> None:
    if not options.get("trust"):
        raise CheckpointError(f"checkpoint {path} is {what}, whose loading {why}; pass --trust if you trust "
                              "its author")


def load_torchscript(path: Path, options: dict) -> LoadedModel:
    """A TorchScript file (``torch.jit.save``): runs code from the file, so ``trust`` is required."""
    _require_trust(options, path, "TorchScript", "runs code stored in the file")
    d = declared(options, path, "a TorchScript file")
    try:
        with warnings.catch_warnings():  # torch calls TorchScript deprecated: not the user's concern here
            warnings.simplefilter("ignore", DeprecationWarning)
            net = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001  a damaged or foreign TorchScript file
        raise CheckpointError(f"checkpoint {path}: unreadable TorchScript file "
                              f"({type(exc).__name__}: {first_sentence(exc)})") from None
    model = LoadedModel(net, d.classes, d.preprocessing, in_channels=d.channels or 1, input_size=d.size or 48,
                        arch="torchscript", kind="torchscript", source=str(path))
    return check_outputs(model, path, d.outputs)


# ----------------------------------------------------------------------------- torch.export
def is_exported_program(path: Path) -> bool:
    """A ``torch.export.save`` archive (.pt2): a zip with an ``archive_format`` record."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n == "archive_format" or n.endswith("/archive_format") for n in zf.namelist())
    except ZIP_ERRORS:  # a damaged zip is not a program; the checkpoint reader says what is wrong with it
        return False


class ExportedNet(nn.Module):
    """A torch.export program's module, usable as a network.

    A program is compiled for one mode (export it in eval mode), so ``train``/``eval`` leave it
    as it is; one compiled for a fixed batch of B images runs any batch, B at a time, the last
    piece padded with copies of its last image (whose outputs are dropped, so they get no
    gradient).
    """

    def __init__(self, program: nn.Module, batch: int | None):
        super().__init__()
        self.program = program
        self.batch = batch

    def train(self, mode: bool = True) -> "ExportedNet":
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.batch is None or len(x) == self.batch:
            return self.program(x)
        outs = []
        for start in range(0, len(x), self.batch):
            part = x[start:start + self.batch]
            n = len(part)
            if n < self.batch:
                part = torch.cat([part, part[-1:].expand(self.batch - n, *part.shape[1:])])
            outs.append(self.program(part)[:n])
        return torch.cat(outs)


def _program_input(program, path: Path) -> list[int | None]:
    """The (N, C, H, W) input of an exported program; None for a dynamic dimension."""
    names = list(program.graph_signature.user_inputs)
    if len(names) != 1:
        raise CheckpointError(f"checkpoint {path}: the program takes {len(names)} inputs; ferviz feeds one batch of "
                              "images (N, C, H, W)")
    node = next((n for n in program.graph.nodes if n.op == "placeholder" and n.name == names[0]), None)
    value = node.meta.get("val") if node is not None else None
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) != 4:
        raise CheckpointError(f"checkpoint {path}: the program's input is {tuple(shape) if shape else 'unknown'}, "
                              "not a batch of images (N, C, H, W)")
    return [d if isinstance(d, int) else None for d in shape]


def _agree(given: int | None, recorded: int | None, flag: str, path: Path, where: str) -> int | None:
    """`given` or `recorded`, which must agree when both are there (`where` says where `recorded` is from)."""
    if given is not None and recorded is not None and given != recorded:
        raise CheckpointError(f"checkpoint {path}: {flag} {given}, but {where} {recorded}; the two must agree")
    return given if given is not None else recorded


def load_exported(path: Path, options: dict) -> LoadedModel:
    """A ``torch.export`` program (.pt2). ``torch.export.load`` unpickles objects from the file (torch's
    own warning), so ``trust`` is required. The program records its input's channels and size."""
    _require_trust(options, path, "a torch.export program", "unpickles objects stored in the file (torch "
                   "warns never to load one from an untrusted source)")
    d = declared(options, path, "a torch.export program")
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # noqa: BLE001  a damaged or foreign archive
        raise CheckpointError(f"checkpoint {path}: unreadable torch.export program "
                              f"({type(exc).__name__}: {first_sentence(exc)})") from None
    batch, channels, height, width = _program_input(program, path)
    if height is not None and width is not None and height != width:
        raise CheckpointError(f"checkpoint {path}: the program takes {height}x{width} images; ferviz feeds square "
                              "faces")
    channels = _agree(d.channels, channels, "--channels", path, "the program was exported for channels")
    size = _agree(d.size, height if height is not None else width, "--size", path, "the program was exported for size")
    model = LoadedModel(ExportedNet(program.module(), batch), d.classes, d.preprocessing, in_channels=channels or 1,
                        input_size=size or 48, arch="torch.export", kind="torch.export", source=str(path))
    return check_outputs(model, path, d.outputs)


# ----------------------------------------------------------------------------- plain state_dict
def load_state_dict(state: dict, path: Path, options: dict) -> LoadedModel:
    """A plain state_dict of registered architecture ``options["arch"]``.

    The factory gets ``num_classes`` (the number of class names), ``in_channels`` (``--channels``)
    and ``input_size`` (``--size``) when it takes those arguments, and every ``--arch-arg``, which win.
    """
    arch = options["arch"]
    d = declared(options, path, "a plain state_dict")
    args = dict(d.arch_args)
    channels = _agree(d.channels, args.get("in_channels"), "--channels", path, "--arch-arg in_channels is") or 1
    size = _agree(d.size, args.get("input_size"), "--size", path, "--arch-arg input_size is") or 48
    args.setdefault("num_classes", len(d.classes))
    if _factory_takes(arch, "in_channels"):
        args.setdefault("in_channels", channels)
    if d.size and _factory_takes(arch, "input_size"):
        args.setdefault("input_size", size)
    fake = {"arch": arch, "arch_args": args, "state_dict": state, "class_names": list(d.classes),
            "input": {"channels": channels, "size": size}, "preprocessing": d.preprocessing.to_dict(),
            "version": FORMAT_VERSION}
    try:
        model = from_ferviz_dict(fake, path)
    except CheckpointError:
        if "num_classes" not in d.arch_args:
            _refuse_class_count(arch, args, state, len(d.classes), path)
        raise
    return check_outputs(model, path, d.outputs)


def _refuse_class_count(arch: str, args: dict, state: dict, classes: int, path: Path) -> None:
    """When the weights fit `arch` with another num_classes K: CheckpointError giving K and `classes`."""
    probe = meta_build(arch, args, path)
    if probe is None:
        return
    want = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    candidates = {h for k in have.keys() & want.keys() if have[k] != want[k] and len(have[k]) == len(want[k])
                  for h, w in zip(have[k], want[k]) if w == classes and h != w}
    for k in sorted(candidates):
        try:
            other = meta_build(arch, {**args, "num_classes": k}, path)
        except FervizError:
            continue
        if other is not None and {n: tuple(t.shape) for n, t in other.state_dict().items()} == have:
            raise CheckpointError(f"checkpoint {path}: its weights give {k} outputs per image (architecture {arch!r}), "
                                  f"but there are {classes} class names; give {k} names in output order with --classes")
