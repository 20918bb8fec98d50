"""Checkpoints: self-describing files, written atomically, loaded without running code.

A ferviz checkpoint is ``torch.save`` of a dict of plain types and tensors only, always read
back with ``torch.load(weights_only=True)``:

    format, version            "ferviz-checkpoint", FORMAT_VERSION
    arch, arch_args            registered architecture name and its keyword arguments
    state_dict                 the network's weights and buffers
    class_names                in output order; evaluation matches labels by these names
    input                      {"channels": 1, "size": 48}
    preprocessing              {"mode", "mean", "std"} (see ferviz.preprocessing)
    train_config, history, best_epoch, epoch, ferviz_version
    checksum                   SHA-256 over the tensors of state_dict, checked on load
    resume                     optional: optimizer/early-stopping/RNG state for --resume

Other formats: a TorchScript file (runs code from the file, so only with ``trust=True``), a plain
state_dict with an architecture name, or anything a plugin's ``load_checkpoint`` hook accepts.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ferviz import FER2013_CLASSES, __version__
from ferviz.errors import CheckpointError, FervizError
from ferviz.preprocessing import Preprocessing

FORMAT = "ferviz-checkpoint"
FORMAT_VERSION = 1


class LoadedModel(nn.Module):
    """A network together with what it needs to be used: classes, input spec, preprocessing.

    ``forward`` takes plain pixels, float on the 0-255 scale, (N, C, H, W), applies the
    checkpoint's preprocessing and returns logits (N, classes). Explainers work on it alone.
    """

    def __init__(self, net: nn.Module, class_names, preprocessing: Preprocessing, *,
                 in_channels: int = 1, input_size: int = 48, arch: str = "", arch_args: dict | None = None,
                 meta: dict | None = None, source: str = ""):
        super().__init__()
        self.net = net
        self.class_names = tuple(class_names)
        self.preprocessing = preprocessing
        self.in_channels = in_channels
        self.input_size = input_size
        self.arch = arch
        self.arch_args = dict(arch_args or {})
        self.meta = dict(meta or {})
        self.source = source

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(self.preprocessing(pixels))

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def pixels(self, images) -> torch.Tensor:
        """uint8 (N, H, W) images (numpy or tensor) -> float (N, C, H, W) pixels on this model's device."""
        x = torch.as_tensor(images)
        if x.ndim == 3:
            x = x.unsqueeze(1)
        x = x.to(self.device, torch.float32)
        if x.shape[1] != self.in_channels:
            x = x.expand(-1, self.in_channels, -1, -1).contiguous()
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                          align_corners=False, antialias=True)
        return x

    def named_layers(self) -> dict[str, nn.Module]:
        """Module name (``features.conv2``) -> module, for every leaf layer of the network."""
        return {name: m for name, m in self.net.named_modules() if name and not list(m.children())}

    def layer(self, name: str) -> nn.Module:
        from ferviz.errors import UnknownNameError

        modules = dict(self.net.named_modules())
        if not name or name not in modules:
            raise UnknownNameError("layer", name, self.named_layers())
        return modules[name]

    @torch.inference_mode()
    def predict_proba(self, images, batch_size: int = 512) -> torch.Tensor:
        """Class probabilities (N, classes) for uint8 images, in eval mode, batched."""
        was_training = self.training
        self.eval()
        out = [torch.softmax(self(self.pixels(images[i:i + batch_size])), dim=1).float().cpu()
               for i in range(0, len(images), batch_size)]
        self.train(was_training)
        return torch.cat(out) if out else torch.empty(0, len(self.class_names))


def build_model(arch: str, **arch_args) -> nn.Module:
    """A fresh network of a registered architecture (UnknownNameError lists the known ones)."""
    from ferviz import registry

    factory = registry.models().get_or_raise(arch)
    try:
        return factory(**arch_args)
    except TypeError as exc:
        raise FervizError(f"model {arch!r} does not accept arguments {arch_args}: {exc}") from exc


def tensor_checksum(state_dict: dict) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of every tensor, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


@contextmanager
def atomic_write(path: Path, mode: str = "wb"):
    """Write to a temporary file beside `path`, fsync, then rename over it: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, model: LoadedModel, **extra) -> Path:
    """Write `model` and `extra` fields (history, train_config, resume...) atomically."""
    state = {k: v.detach().cpu() for k, v in model.net.state_dict().items()}
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
        "checksum": tensor_checksum(state),
        **extra,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_write(path) as fh:
        fh.write(buffer.getbuffer())
    return Path(path)


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_checkpoint_dict(path: Path) -> dict:
    """The raw dict of a checkpoint file, read with weights_only=True (no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise CheckpointError(
            f"checkpoint {path}: refused; it holds objects that would run code when loaded "
            f"({first[:200]}). ferviz only loads tensors and plain values."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"checkpoint {path}: unreadable or truncated ({str(exc)[:200]})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path}: expected a dict, found {type(obj).__name__}")
    return obj


def _from_ferviz_dict(ckpt: dict, path: Path) -> LoadedModel:
    version = ckpt.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path}: format version {version!r} is newer than this ferviz understands "
            f"({FORMAT_VERSION}); upgrade ferviz"
        )
    missing = [k for k in ("arch", "arch_args", "state_dict", "class_names", "input", "preprocessing")
               if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {path}: missing fields {missing}")
    state = ckpt["state_dict"]
    if "checksum" in ckpt and tensor_checksum(state) != ckpt["checksum"]:
        raise CheckpointError(f"checkpoint {path}: tensor checksum mismatch; the file is corrupted")
    net = build_model(ckpt["arch"], **ckpt["arch_args"])
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint {path}: weights do not fit architecture {ckpt['arch']!r}: {str(exc).splitlines()[0]}"
        ) from None
    meta = {k: v for k, v in ckpt.items() if k not in ("state_dict", "resume")}
    return LoadedModel(
        net, ckpt["class_names"], Preprocessing(**ckpt["preprocessing"]),
        in_channels=int(ckpt["input"]["channels"]), input_size=int(ckpt["input"]["size"]),
        arch=ckpt["arch"], arch_args=ckpt["arch_args"], meta=meta, source=str(path),
    )


def _declared(options: dict, path: Path, what: str) -> tuple[tuple[str, ...], Preprocessing]:
    """Classes and preprocessing the user must declare for a foreign file (never guessed)."""
    classes, normalize = options.get("classes"), options.get("normalize")
    missing = [flag for flag, v in (("--classes", classes), ("--normalize", normalize)) if not v]
    if missing:
        raise CheckpointError(
            f"checkpoint {path} is {what} without class names or preprocessing; give "
            f"{' and '.join(missing)} (e.g. --classes {','.join(FER2013_CLASSES)} --normalize unit)"
        )
    if isinstance(classes, str):
        classes = tuple(c.strip().lower() for c in classes.split(",") if c.strip())
    if isinstance(normalize, str):
        mode, _, rest = normalize.partition(":")
        mean, _, std = rest.partition(",")
        normalize = Preprocessing(mode, float(mean or 0), float(std or 1))
    return tuple(classes), normalize


def load_checkpoint(path, *, device: str | torch.device = "cpu", **options) -> LoadedModel:
    """Load any supported checkpoint as a LoadedModel in eval mode on `device`.

    options: ``classes`` (comma list) and ``normalize`` (``standard:MEAN,STD`` | ``unit`` |
    ``none``) for files that do not carry them; ``arch`` (+ ``arch_args``) for a plain
    state_dict; ``trust=True`` to allow TorchScript, whose loading runs code from the file.
    """
    path = Path(path)
    model = _load_any(path, options)
    return model.to(device).eval()


def _load_any(path: Path, options: dict) -> LoadedModel:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    if _is_torchscript(path):
        if not options.get("trust"):
            raise CheckpointError(
                f"checkpoint {path} is TorchScript, whose loading runs code stored in the file; "
                "pass --trust if you trust its author"
            )
        classes, prep = _declared(options, path, "a TorchScript file")
        net = torch.jit.load(str(path), map_location="cpu")
        return LoadedModel(net, classes, prep, in_channels=int(options.get("channels", 1)),
                           input_size=int(options.get("size", 48)), arch="torchscript", source=str(path))
    from ferviz import registry

    try:
        ckpt = read_checkpoint_dict(path)
    except CheckpointError:
        loaded = registry.get_plugin_manager().hook.load_checkpoint(path=path, options=options)
        if loaded is not None:
            return loaded
        raise
    if ckpt.get("format") == FORMAT:
        return _from_ferviz_dict(ckpt, path)
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        arch = options.get("arch")
        if not arch:
            loaded = registry.get_plugin_manager().hook.load_checkpoint(path=path, options=options)
            if loaded is not None:
                return loaded
            raise CheckpointError(f"checkpoint {path} is a plain state_dict; name its architecture "
                                  f"with --arch ({', '.join(sorted(registry.models()))})")
        classes, prep = _declared(options, path, "a plain state_dict")
        fake = {"arch": arch, "arch_args": {"num_classes": len(classes), **options.get("arch_args", {})},
                "state_dict": ckpt, "class_names": list(classes),
                "input": {"channels": options.get("channels", 1), "size": options.get("size", 48)},
                "preprocessing": prep.to_dict(), "version": FORMAT_VERSION}
        return _from_ferviz_dict(fake, path)
    loaded = registry.get_plugin_manager().hook.load_checkpoint(path=path, options=options)
    if loaded is None:
        raise CheckpointError(f"checkpoint {path}: not a ferviz checkpoint, a state_dict or TorchScript, "
                              "and no installed plugin can read it")
    return loaded
