"""Turning a ``--data`` specification into data sets.

A specification is ``KIND:LOCATION`` (``csv:fer2013.csv``, ``synthetic:count=2000,seed=1``), a
bare kind with no location (``synthetic``), or a bare path whose kind is sniffed by the
registered readers. Readers are plugins (hook ``register_data_sources``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ferviz.data import Dataset, stratified_split
from ferviz.errors import DataError, UnknownNameError


class Reader:
    """A data-source reader. Subclass, set ``kind`` and ``summary``, implement ``read``.

    ``read(location, options)`` returns ``{split_name: Dataset}``. ``options`` holds
    ``skip_bad`` (bool: skip malformed rows/files with a warning instead of failing) and any
    ``key=value`` pairs the user gave after the location (``csv:fer.csv,ferplus=new.csv``).
    """

    kind: str = ""
    summary: str = ""
    #: True when the reader needs no location (``synthetic``).
    location_optional: bool = False

    def sniff(self, path: Path) -> bool:
        """Claim an unprefixed path (return True) if this reader can read it."""
        return False

    def read(self, location: str, options: dict) -> dict[str, Dataset]:
        raise NotImplementedError


def parse_spec(spec: str) -> tuple[str | None, str, dict]:
    """Split ``KIND:LOCATION,key=value,...`` into (kind or None, location, options).

    A Windows-style drive letter or a path that exists is never taken for a kind.
    """
    from ferviz import registry

    kind, location = None, spec
    head, sep, tail = spec.partition(":")
    if sep and head in registry.data_readers():
        kind, location = head, tail
    elif sep and len(head) > 1 and "/" not in head and not Path(spec).exists():
        raise UnknownNameError("data source kind", head, registry.data_readers())
    elif not sep and spec in registry.data_readers():
        kind, location = spec, ""
    options: dict = {}
    parts = location.split(",") if location else []
    # key=value pairs come after the location; for location-optional kinds they may be all.
    rest = [p for p in parts if "=" in p]
    paths = [p for p in parts if "=" not in p]
    if len(paths) > 1:
        # a comma inside a real path: keep the whole location
        rest, paths = [], [location]
    for item in rest:
        key, _, value = item.partition("=")
        options[key.strip()] = value.strip()
    return kind, (paths[0] if paths else ""), options


def sniff_kind(path: Path) -> str | None:
    """The kind of the first reader that claims the unprefixed `path`, or None."""
    from ferviz import registry

    return next((r.kind for r in registry.data_readers().values() if r.sniff(path)), None)


def unlabelled_images(spec: str) -> Path | None:
    """The file or folder of `spec` when it is a source of unlabelled images (kind ``images``,
    given or sniffed), which ``explain`` and ``predict`` read with face finding; else None."""
    kind, location, _ = parse_spec(spec)
    if kind is None and Path(location).exists():
        kind = sniff_kind(Path(location))
    return Path(location).expanduser() if kind == "images" and location else None


def open_source(spec: str, *, skip_bad: bool = False) -> dict[str, Dataset]:
    """Read every split of a data source. Raises DataError with what and where on failure."""
    from ferviz import registry

    readers = registry.data_readers()
    kind, location, options = parse_spec(spec)
    options["skip_bad"] = skip_bad
    if kind is None:
        path = Path(location)
        if not path.exists():
            raise DataError(f"data source {spec!r}: no such file or folder, and not a known kind "
                            f"({', '.join(sorted(readers))})")
        kind = sniff_kind(path)
        if kind is None:
            raise DataError(f"data source {spec!r}: cannot tell what kind of data this is; "
                            f"prefix it with one of: {', '.join(sorted(readers))}")
    reader = readers[kind]
    if not location and not reader.location_optional:
        raise DataError(f"data source {spec!r}: kind {kind!r} needs a path ({kind}:PATH)")
    splits = reader.read(location, options)
    if not splits:
        raise DataError(f"data source {spec!r} holds no images")
    return splits


@dataclass(frozen=True)
class Holdout:
    """How a validation split is carved out of a source's train split when it has none.

    Training records both numbers (``val_fraction`` and ``split_seed`` in the checkpoint's
    ``train_config``), so `evaluate`, `report` and `explain` later score the same held-out images
    rather than images the model was trained on.
    """

    fraction: float = 0.1
    seed: int = 0

    @classmethod
    def of_model(cls, model) -> "Holdout":
        """The hold-out a ferviz-trained model was validated on (the default for other models).

        Checkpoints written before ``split_seed`` existed carved with the training ``seed``.
        """
        config = (getattr(model, "meta", None) or {}).get("train_config") or {}
        fraction = config.get("val_fraction", cls.fraction)
        seed = config.get("split_seed", config.get("seed", cls.seed))
        ok = isinstance(fraction, float) and 0 < fraction < 1 and isinstance(seed, int) and not isinstance(seed, bool)
        return cls(fraction, seed) if ok else cls()

    def describe(self) -> str:
        return f"{self.fraction:.0%} held out of train with split seed {self.seed}"


def select_split(splits: dict[str, Dataset], name: str | None, spec: str,
                 holdout: Holdout | None = None) -> Dataset:
    """One split by name. With no name: the test split if there is one, else the validation
    split (carved out of train by `holdout` when the source has none), else the only split.

    The training images are never the default: a model scored on them looks better than it is.
    """
    holdout = holdout or Holdout()
    if name is None:
        for candidate in ("test", "private-test", "val", "public-test"):
            if candidate in splits:
                return splits[candidate]
        train = splits.get("train")
        if train is not None and train.labels is not None and len(train) > 1:
            return train_val(splits, holdout.fraction, holdout.seed)[1]
        if len(splits) == 1:
            return next(iter(splits.values()))
        raise DataError(f"data source {spec!r} has splits {sorted(splits)}; choose one with --split")
    if name not in splits:
        if name == "val" and "train" in splits:
            return train_val(splits, holdout.fraction, holdout.seed)[1]
        raise DataError(f"data source {spec!r} has no split {name!r}; it has {sorted(splits)}")
    return splits[name]


def describe_split(dataset: Dataset) -> str:
    """``val (10% held out of train with split seed 0)`` for a carved split, else its name."""
    carved = dataset.meta.get("holdout")
    return f"{dataset.split} ({carved})" if carved else dataset.split


def train_val(splits: dict[str, Dataset], val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """(train, val): the source's own validation split if it has one, else a stratified carve-out."""
    if "train" not in splits:
        raise DataError(f"the data source has no train split (it has {sorted(splits)})")
    train = splits["train"]
    for own in ("val", "public-test"):
        if own in splits:
            return train, replace(splits[own], split="val")
    if train.labels is None:
        raise DataError(f"{train.source}: the train split has no labels")
    keep, held = stratified_split(train.labels, val_fraction, seed)
    note = Holdout(val_fraction, seed).describe()
    val = train.subset(held, "val")
    return train.subset(keep, "train"), replace(val, meta={**val.meta, "holdout": note})
