"""Checkpoints: self-describing files, written atomically, loaded without running code.

A ferviz checkpoint is ``torch.save`` of a dict of plain types and tensors only, always read
back with ``torch.load(weights_only=True)``:

    format, version            "ferviz-checkpoint", FORMAT_VERSION
    arch, arch_args            registered architecture name and its keyword arguments
    state_dict                 the network's weights and buffers
    class_names                in output order; evaluation matches labels by these names
    input                      {"channels": 1, "size": 48}
    preprocessing              {"mode", "mean", "std"} (see ferviz.model.preprocessing)
    train_config, history, best_epoch, epoch, ferviz_version
    checksum                   SHA-256 over the tensors of state_dict (and scales), checked on load
    storage, scales            optional: 16-bit weights (see ferviz.model.storage)
    resume                     optional: optimizer/early-stopping/RNG state for --resume

Loading never trusts the file: the zip records' CRC-32 are checked (torch does not, so a flipped
class name would load silently) and their decompressed size is capped; every field is type- and
range-checked; the network is first built on the meta device and compared with the weights,
so hostile ``arch_args`` cannot make it allocate; NaN or infinite weights are refused. Anything
wrong raises `CheckpointError` (`UnknownNameError` for an unregistered architecture). This
module reads and writes the file; :mod:`ferviz.model.validate` checks what it holds and builds
the :class:`~ferviz.model.loaded.LoadedModel`.

Other formats (:mod:`ferviz.model.foreign`): a TorchScript file or a ``torch.export`` program (.pt2;
loading either runs code or unpickles objects from the file, so only with ``trust=True``), a
plain state_dict with an architecture name, or anything a plugin's ``load_checkpoint`` hook
accepts; the user declares what such a file lacks (classes, preprocessing, input size).
"""

from __future__ import annotations

import io
import pickle
import re
import tarfile
import zipfile
from pathlib import Path

import torch

from ferviz import __version__
from ferviz.errors import CheckpointError
from ferviz.fileio import atomic_file
from ferviz.model import foreign
from ferviz.model.declared import warn_ignored
from ferviz.model.loaded import LoadedModel
from ferviz.model.messages import first_sentence
from ferviz.model.pretrained import resolve_checkpoint
from ferviz.model.storage import checksummed, encode
from ferviz.model.validate import FORMAT, FORMAT_VERSION, ZIP_ERRORS, from_ferviz_dict, tensor_checksum

#: Cap on what a checkpoint's zip records hold decompressed, in all, and on their ratio to the
#: file's size: torch inflates a compressed record whole, so a "zip bomb" would fill memory.
MAX_CHECKPOINT_BYTES = 4 * 2**30
MAX_INFLATION = 100


def save_checkpoint(path: Path, model: LoadedModel, *, storage: str = "float32", **extra) -> Path:
    """Write `model` and `extra` fields (history, train_config, resume...) atomically.

    ``storage`` ``int16`` or ``float16`` stores weight matrices and kernels in 16 bits, for
    shipping a model (see :mod:`ferviz.model.storage`); loading gives float32 weights either way.
    """
    state, scales = encode({k: v.detach().cpu() for k, v in model.net.state_dict().items()}, storage)
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "arch": model.arch,
        "arch_args": model.arch_args,
        "state_dict": state,
        "class_names": list(model.class_names),
        "input": {"channels": model.in_channels, "size": model.input_size},
        "preprocessing": model.preprocessing.to_dict(),
        "ferviz_version": __version__,
        "checksum": tensor_checksum(checksummed(state, scales)),
        **({"storage": storage} if storage != "float32" else {}),
        **({"scales": scales} if scales else {}),
        **extra,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_file(path) as fh:
        fh.write(buffer.getbuffer())
    return Path(path)


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())
    except ZIP_ERRORS:
        return False


def _check_zip_records(path: Path) -> None:
    """A zip checkpoint's records: bounded decompressed size, and intact (CRC-32).

    torch checks neither: a bit flip in the pickled metadata (class names, preprocessing) would
    load silently, and a compressed record is inflated whole into memory.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            limit = min(MAX_CHECKPOINT_BYTES, MAX_INFLATION * path.stat().st_size + 2**20)
            if total > limit:
                raise CheckpointError(f"checkpoint {path}: its records hold {total:,} bytes decompressed, "
                                      f"more than the {limit:,} byte limit; refused")
            for info in infos:
                if info.CRC == 0:
                    continue  # torch.save after set_crc32_options(False) writes no CRC
                try:
                    with zf.open(info) as f:
                        while f.read(1 << 20):  # zipfile checks the CRC-32 at the end
                            pass
                except zipfile.BadZipFile as exc:
                    raise CheckpointError(f"checkpoint {path}: record {info.filename!r} fails its CRC-32 "
                                          f"check; the file is corrupted ({exc})") from None
    except CheckpointError:
        raise
    except ZIP_ERRORS as exc:
        raise CheckpointError(f"checkpoint {path}: unreadable or truncated ({first_sentence(exc)})") from None


def _is_legacy_tar(path: Path) -> bool:
    """torch's oldest format, a tar archive (torch refuses it with weights_only, after making a temp dir)."""
    try:
        with tarfile.open(path, "r:"):
            return True
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return False


def read_checkpoint_dict(path: Path) -> dict:
    """The raw dict of a checkpoint file, read with weights_only=True (no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path}: the file is empty (0 bytes), so it was never written "
                              "completely; use another checkpoint, or train again")
    if zipfile.is_zipfile(path):
        _check_zip_records(path)
    elif _is_legacy_tar(path):
        raise CheckpointError(f"checkpoint {path}: torch's legacy tar format cannot be loaded safely; "
                              "re-save it with a current torch")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        unsafe = re.search(r"GLOBAL (\S+) was not an allowed global|unsupported GLOBAL (\S+)|"
                           r"reduce for unrecognized function|Can only create new object", text)
        if unsafe:
            what = next((g for g in unsafe.groups() if g), unsafe.group(0))
            raise CheckpointError(
                f"checkpoint {path}: refused; it holds objects that would run code when loaded "
                f"({first_sentence(what)}). ferviz only loads tensors and plain values."
            ) from None
        detail = text.rsplit("WeightsUnpickler error:", 1)[-1].strip().splitlines()
        raise CheckpointError(f"checkpoint {path}: unreadable or truncated (not a valid pickle: "
                              f"{first_sentence(detail[0] if detail else text)})") from None
    except Exception as exc:  # noqa: BLE001  torch.load parses an untrusted file: any failure means a bad file
        raise CheckpointError(f"checkpoint {path}: unreadable or truncated "
                              f"({type(exc).__name__}: {first_sentence(exc)})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path}: expected a dict, found {type(obj).__name__}")
    return obj


def load_checkpoint(path, *, device: str | torch.device = "cpu", **options) -> LoadedModel:
    """Load any supported checkpoint as a LoadedModel in eval mode on `device`.

    `path` is a file, or the name of a registered pretrained model (``fer2013-seed-vgg``),
    whose file is checked against its SHA-256 first. A ferviz checkpoint carries everything; for
    other files (see :mod:`ferviz.model.foreign`) the options declare what they lack:

    ``classes``: names in output order, a comma list, or ``fer2013`` / ``alphabetical``;
    ``normalize``: ``standard:MEAN,STD`` (0-255 scale) | ``signed`` | ``unit`` | ``none``;
    ``arch`` and ``arch_args`` (a dict, or ``KEY=VALUE`` strings) for a plain state_dict;
    ``channels`` and ``size``: the input (C, S, S) of TorchScript files and state_dicts;
    ``outputs``: ``logits`` or ``probabilities`` (found out from the network when not given);
    ``trust=True`` to allow TorchScript and torch.export files, whose loading runs code or
    unpickles objects from the file.
    """
    path = resolve_checkpoint(path)
    model = _load_any(path, options)
    return model.to(device).eval()


def _load_any(path: Path, options: dict) -> LoadedModel:
    from ferviz import registry  # loads the plugins: only when a file needs them

    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    if _is_torchscript(path):
        return foreign.load_torchscript(path, options)
    if foreign.is_exported_program(path):
        return foreign.load_exported(path, options)
    try:
        ckpt = read_checkpoint_dict(path)
    except CheckpointError:
        loaded = registry.get_plugin_manager().hook.load_checkpoint(path=path, options=options)
        if loaded is not None:
            return foreign.checked_plugin_model(loaded, path, options)
        raise
    if ckpt.get("format") == FORMAT:
        warn_ignored(options, path)
        return from_ferviz_dict(ckpt, path)
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        if not options.get("arch"):
            loaded = registry.get_plugin_manager().hook.load_checkpoint(path=path, options=options)
            if loaded is not None:
                return foreign.checked_plugin_model(loaded, path, options)
            raise CheckpointError(f"checkpoint {path} is a plain state_dict; name its architecture "
                                  f"with --arch ({', '.join(sorted(registry.models()))})")
        return foreign.load_state_dict(ckpt, path, options)
    loaded = registry.get_plugin_manager().hook.load_checkpoint(path=path, options=options)
    if loaded is None:
        raise CheckpointError(f"checkpoint {path}: not a ferviz checkpoint, a state_dict, TorchScript or a "
                              "torch.export program, and no installed plugin can read it")
    return foreign.checked_plugin_model(loaded, path, options)
