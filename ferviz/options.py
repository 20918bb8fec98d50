"""Typed options: what explainers, metrics and the report accept as ``-p name=value``.

An :class:`Option` declares one value's name, type, default and bounds; :func:`parse_options`
checks what a user gave against a class's declared ``options`` (an explainer's or a metric's)
before any work starts, and fills in the defaults. Errors are :class:`~ferviz.errors.OptionError`
lines that name the option and what it accepts. Nothing heavy is imported here: the CLI checks
options before torch loads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ferviz.errors import OptionError

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Option:
    """One typed option of an explainer, given on the command line as ``-p name=value``.

    ``type`` is ``int``, ``float``, ``str`` or ``bool``; ``choices`` makes a str option a
    choice; ``min``/``max`` bound numbers (inclusive).
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None

    def __post_init__(self):
        if self.type not in (int, float, str, bool):
            raise TypeError(f"option {self.name!r}: type must be int, float, str or bool, not {self.type!r}")

    def describe(self) -> str:
        """The accepted values in words: ``int >= 1``, ``one of black|mean|blurred``."""
        if self.choices:
            return "one of " + "|".join(self.choices)
        if self.type is bool:
            return "true|false"
        name = self.type.__name__
        if self.min is not None and self.max is not None:
            return f"{name} in [{self.min:g}, {self.max:g}]"
        if self.min is not None:
            return f"{name} >= {self.min:g}"
        if self.max is not None:
            return f"{name} <= {self.max:g}"
        return name

    def parse(self, value: Any, owner: str = "") -> Any:
        """`value` (a string from the command line, or already typed) as this option's type."""
        where = f"{owner}: " if owner else ""
        bad = OptionError(f"{where}bad value {self.name}={value!r}: expected {self.describe()}")
        if self.type is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise bad
        if isinstance(value, bool) and self.type is not str:
            raise bad
        try:
            parsed = self.type(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise bad from None
        if self.type is int and isinstance(value, float) and value != parsed:
            raise bad
        if self.type is float and not math.isfinite(parsed):
            raise bad
        if self.choices and parsed not in self.choices:
            raise bad
        if (self.min is not None and parsed < self.min) or (self.max is not None and parsed > self.max):
            raise bad
        return parsed


def parse_key_values(pairs) -> dict[str, str]:
    """``["steps=20", "baseline=mean"]`` -> ``{"steps": "20", "baseline": "mean"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"option {pair!r} is not of the form key=value (as in -p threshold=0.5)")
        out[key.strip()] = value.strip()
    return out


def parse_options(owner_cls: type, given: dict[str, Any]) -> dict[str, Any]:
    """Every declared option of `owner_cls` (an explainer or metric class, with ``name`` and ``options``):
    the given values parsed and checked, else defaults."""
    declared = {o.name: o for o in owner_cls.options}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        valid = ", ".join(f"{o.name} ({o.describe()}, default {o.default})" for o in owner_cls.options)
        raise OptionError(f"{owner_cls.name} has no option {', '.join(map(repr, unknown))}; "
                          f"valid options: {valid or '(none)'}")
    return {name: (opt.parse(given[name], owner_cls.name) if name in given else opt.default)
            for name, opt in declared.items()}
