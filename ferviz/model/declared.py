"""What a user declares about a checkpoint file that does not carry it (torch-free).

A ferviz checkpoint carries its class names, input spec and preprocessing. TorchScript files,
torch.export programs, plain state_dicts and files other plugins read do not, so every command
that loads a checkpoint takes these options (``load_checkpoint(path, **options)`` in Python):

    classes     names in output order: ``a,b,c``, ``fer2013`` (the Kaggle CSV's order: angry,
                disgust, fear, happy, sad, surprise, neutral) or ``alphabetical`` (the image-folder
                version's order). ferviz cannot check the order: a wrong one is scored silently.
    normalize   ``standard:MEAN,STD`` on the 0-255 scale | ``signed`` ([-1, 1]) | ``unit`` | ``none``
                (:meth:`ferviz.model.preprocessing.Preprocessing.parse`)
    channels, size   the (C, S, S) input of a TorchScript file or a state_dict (default 1 and 48);
                a torch.export program records its own
    arch, arch_args  a registered architecture and its keyword arguments, for a state_dict
    outputs     ``logits`` (log-probabilities too) or ``probabilities``

:func:`declared` parses and checks them, for ferviz's loaders and for ``load_checkpoint``
plugins alike. This module imports neither torch nor matplotlib: the CLI checks the flags with
it before loading either.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ferviz import FER2013_CLASSES
from ferviz.errors import CheckpointError, OptionError
from ferviz.model.preprocessing import Preprocessing

#: Bounds of an input spec (a hostile size would make `pixels` allocate).
MAX_INPUT_SIZE = 4096
MAX_INPUT_CHANNELS = 64
#: What a network's forward may return (``LoadedModel.outputs``). Log-probabilities count as logits.
OUTPUTS = ("logits", "probabilities")
#: --classes shorthands: FER2013's two published orders.
CLASS_ORDERS = {"fer2013": FER2013_CLASSES, "alphabetical": tuple(sorted(FER2013_CLASSES))}
#: The options a user may declare for a foreign file (the CLI's flags, without dashes).
DECLARED = ("classes", "normalize", "channels", "size", "arch", "arch_args", "outputs")


def flag(key: str) -> str:
    """The command-line flag of option `key`: ``arch_args`` -> ``--arch-arg``."""
    return "--arch-arg" if key == "arch_args" else f"--{key.replace('_', '-')}"


def parse_classes(value) -> tuple[str, ...]:
    """``"a,b,c"``, ``"fer2013"``, ``"alphabetical"`` or a sequence -> distinct lower-case names."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in CLASS_ORDERS:
            return CLASS_ORDERS[text]
        value = text.split(",")
    names = tuple(str(c).strip().lower() for c in value if str(c).strip())
    if not names:
        raise OptionError("--classes: give the class names in output order (a,b,c), or fer2013 or alphabetical")
    if len(set(names)) != len(names):
        twice = sorted({c for c in names if names.count(c) > 1})
        raise OptionError(f"--classes: each class once; {', '.join(twice)} appear(s) twice")
    return names


def parse_arch_args(value) -> dict:
    """A dict, or ``KEY=VALUE`` strings whose values are read as JSON when they can be (``3``,
    ``0.5``, ``true``, ``[1, 2]``) and as text otherwise."""
    if isinstance(value, dict):
        return dict(value)
    out: dict = {}
    for pair in value or ():
        key, sep, text = str(pair).partition("=")
        if not sep or not key.strip().isidentifier():
            raise OptionError(f"--arch-arg {pair!r}: expected KEY=VALUE with KEY a Python name, as in "
                              "--arch-arg width=2")
        try:
            out[key.strip()] = json.loads(text)
        except ValueError:
            out[key.strip()] = text.strip()
    return out


def _bounded(options: dict, key: str, limit: int) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    whole = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str)
                                                                        and value.strip().isdigit())
    if not whole or not 1 <= int(value) <= limit:
        raise OptionError(f"--{key} must be a whole number from 1 to {limit}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Declared:
    """What the user declared for a foreign file (see the module docstring); None: not given."""

    classes: tuple[str, ...] | None
    preprocessing: Preprocessing | None
    channels: int | None
    size: int | None
    outputs: str | None
    arch_args: dict = field(default_factory=dict)


def declared(options: dict, path: Path | None = None, what: str = "", *, required: bool = True) -> Declared:
    """The declared options, parsed and checked (OptionError names the flag).

    With `required`, class names and preprocessing must be given (a CheckpointError naming the
    missing flags and `path`, which is `what`): ferviz never guesses them.
    """
    classes, normalize = options.get("classes"), options.get("normalize")
    if required:
        missing = [flag for flag, v in (("--classes", classes), ("--normalize", normalize)) if not v]
        if missing:
            raise CheckpointError(
                f"checkpoint {path} is {what} without class names or preprocessing; give {' and '.join(missing)} "
                "(e.g. --classes fer2013 --normalize unit)")
    outputs = options.get("outputs") or None
    if outputs is not None and outputs not in OUTPUTS:
        raise OptionError(f"--outputs must be one of {', '.join(OUTPUTS)}, got {outputs!r}")
    return Declared(
        classes=parse_classes(classes) if classes else None,
        preprocessing=(normalize if isinstance(normalize, Preprocessing)
                       else Preprocessing.parse(normalize) if normalize else None),
        channels=_bounded(options, "channels", MAX_INPUT_CHANNELS),
        size=_bounded(options, "size", MAX_INPUT_SIZE),
        outputs=outputs,
        arch_args=parse_arch_args(options.get("arch_args") or {}),
    )


def warn_ignored(options: dict, path: Path) -> None:
    """A ferviz checkpoint carries its classes, input and preprocessing: say that flags for them are unused."""
    given = [flag(key) for key in DECLARED if options.get(key)]
    if given:
        warnings.warn(f"checkpoint {path} is a ferviz checkpoint and carries its own classes, input and "
                      f"preprocessing; {', '.join(given)} ignored", UserWarning, stacklevel=3)
