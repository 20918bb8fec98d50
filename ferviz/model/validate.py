"""What a ferviz checkpoint must hold, checked before anything is built from it.

`from_ferviz_dict` turns the dict that :func:`ferviz.model.checkpoint.read_checkpoint_dict` read
into a :class:`~ferviz.model.loaded.LoadedModel`, after checking its format version, that every
field has the right type and range, the tensor checksum, that no weight is NaN or infinite, and
that the network its ``arch_args`` describe, built on the meta device (no memory), has exactly
these weights, takes the declared input and gives one output per class. Anything wrong raises
`CheckpointError`, one line; foreign formats (:mod:`ferviz.model.foreign`) go through the same checks.
"""

from __future__ import annotations

import hashlib
import math
import zipfile
import zlib
from pathlib import Path

import torch

from ferviz.errors import CheckpointError, FervizError, UnknownNameError
from ferviz.model.build import build_error, build_model, meta_build
from ferviz.model.declared import MAX_INPUT_CHANNELS, MAX_INPUT_SIZE
from ferviz.model.loaded import LoadedModel
from ferviz.model.messages import first_sentence, short
from ferviz.model.preprocessing import Preprocessing
from ferviz.model.storage import checksummed, decode

FORMAT = "ferviz-checkpoint"
FORMAT_VERSION = 1
#: What reading a damaged zip (every checkpoint format but torch's oldest is one) can raise.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError,
              IndexError, OverflowError)


def tensor_checksum(state_dict: dict) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of every tensor, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _brief(value) -> str:
    text = repr(value) if not isinstance(value, torch.Tensor) else f"a tensor {tuple(value.shape)}"
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _check_fields(ckpt: dict, path: Path) -> None:
    """CheckpointError unless every field `from_ferviz_dict` uses has the right type and range."""
    def bad(field, what):
        return CheckpointError(f"checkpoint {path}: field {field!r} must be {what}, got {_brief(ckpt[field])}")

    if not isinstance(ckpt["arch"], str) or not ckpt["arch"]:
        raise bad("arch", "an architecture name")
    args = ckpt["arch_args"]
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise bad("arch_args", "a dict of keyword arguments")
    state = ckpt["state_dict"]
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) and v.layout == torch.strided
            and not v.is_quantized for k, v in state.items()):
        raise bad("state_dict", "a dict of names to (dense) tensors")
    names = ckpt["class_names"]
    if (not isinstance(names, (list, tuple)) or not names or not all(isinstance(c, str) and c for c in names)
            or len(set(names)) != len(names)):
        raise bad("class_names", "a list of distinct class names")
    spec = ckpt["input"]
    if (not isinstance(spec, dict) or not _is_int(spec.get("channels")) or not _is_int(spec.get("size"))
            or not 1 <= spec["channels"] <= MAX_INPUT_CHANNELS or not 1 <= spec["size"] <= MAX_INPUT_SIZE):
        raise bad("input", f"{{'channels': 1..{MAX_INPUT_CHANNELS}, 'size': 1..{MAX_INPUT_SIZE}}}")
    prep = ckpt["preprocessing"]
    if (not isinstance(prep, dict) or not set(prep) <= {"mode", "mean", "std"}
            or not isinstance(prep.get("mode", ""), str)
            or not all(_is_number(prep[k]) for k in ("mean", "std") if k in prep)):
        raise bad("preprocessing", "{'mode': str, 'mean': number, 'std': number}")
    # optional fields that reports read
    if "history" in ckpt and not (isinstance(ckpt["history"], list)
                                  and all(isinstance(h, dict) for h in ckpt["history"])):
        raise bad("history", "a list of per-epoch dicts")
    if "train_config" in ckpt and not isinstance(ckpt["train_config"], dict):
        raise bad("train_config", "a dict")


def _check_fit(arch: str, arch_args: dict, state: dict, class_names, spec: dict, path: Path) -> None:
    """Build the network on the meta device (no memory), compare its tensors with `state`, and
    check that it takes `spec`'s input and gives one output per class.

    Refuses a file whose arch_args would build a network larger than its weights (or one that
    cannot be built at all) before a real, allocating build.
    """
    probe = meta_build(arch, arch_args, path)
    if probe is None:
        return
    want = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    if want != have:
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        shape = [k for k in want if k in have and want[k] != have[k]]
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra else
                  f"{shape[0]} is {list(have[shape[0]])} in the file, {list(want[shape[0]])} in the network")
        raise CheckpointError(f"checkpoint {path}: weights do not fit architecture {arch!r} "
                              f"with arguments {short(arch_args)}: {detail}")
    # one forward pass on meta tensors: the input spec fits the network, one output per class
    channels, size = spec["channels"], spec["size"]
    try:
        with torch.no_grad():
            out = probe.eval()(torch.empty(1, channels, size, size, device="meta"))
    except Exception as exc:  # noqa: BLE001
        if isinstance(exc, NotImplementedError) or "meta" in str(exc).lower():
            return
        raise CheckpointError(f"checkpoint {path}: input {channels}x{size}x{size} does not fit architecture "
                              f"{arch!r}: {type(exc).__name__}: {first_sentence(exc)}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, len(class_names)):
        got = (f"{out.shape[-1]} outputs per image" if isinstance(out, torch.Tensor) and out.ndim == 2 and len(out) == 1
               else f"outputs of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__)
        raise CheckpointError(f"checkpoint {path}: architecture {arch!r} gives {got}, but there are "
                              f"{len(class_names)} class names ({short(', '.join(class_names), 60)}); the two "
                              "must agree")


def from_ferviz_dict(ckpt: dict, path: Path) -> LoadedModel:
    version = ckpt.get("version")
    if not _is_int(version) or version < 1:
        raise CheckpointError(f"checkpoint {path}: format version {version!r} is not a version number")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path}: format version {version!r} is newer than this ferviz understands "
            f"({FORMAT_VERSION}); upgrade ferviz"
        )
    missing = [k for k in ("arch", "arch_args", "state_dict", "class_names", "input", "preprocessing")
               if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {path}: missing fields {missing}")
    _check_fields(ckpt, path)
    state = ckpt["state_dict"]
    if "checksum" in ckpt:
        try:
            scales = ckpt.get("scales", {})
            same = tensor_checksum(checksummed(state, scales if isinstance(scales, dict) else {})) == ckpt["checksum"]
        except (RuntimeError, TypeError, ValueError, AttributeError):
            same = False
        if not same:
            raise CheckpointError(f"checkpoint {path}: tensor checksum mismatch; the file is corrupted")
    for name, t in state.items():
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"checkpoint {path}: weight {name} holds NaN or infinite values")
    state = decode(state, ckpt.get("scales"), ckpt.get("storage"), path)  # 16-bit storage: float32 weights
    arch, arch_args = ckpt["arch"], ckpt["arch_args"]
    try:
        _check_fit(arch, arch_args, state, ckpt["class_names"], ckpt["input"], path)
        net = build_model(arch, **arch_args)
    except (CheckpointError, UnknownNameError):
        raise
    except FervizError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001  a factory given arguments from a file
        raise build_error(arch, arch_args, path, exc) from None
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path}: weights do not fit architecture {ckpt['arch']!r}: {str(exc).splitlines()[0]}"
        ) from None
    try:
        preprocessing = Preprocessing(**ckpt["preprocessing"])
    except FervizError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from None
    meta = {k: v for k, v in ckpt.items() if k not in ("state_dict", "resume", "scales")}
    return LoadedModel(
        net, ckpt["class_names"], preprocessing,
        in_channels=ckpt["input"]["channels"], input_size=ckpt["input"]["size"],
        arch=arch, arch_args=arch_args, meta=meta, source=str(path),
    )
