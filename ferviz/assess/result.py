"""An assessment's results: every explainer (row) scored by every metric, with means, errors and curves."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ferviz.assess.metric import Metric


@dataclass
class Assessment:
    """Every explainer (row) scored by every metric; built by :func:`assess`.

    results[row][metric] is the metric's raw result dict; maps[row] the (N, S, S) maps;
    seconds[row] {"maps": s, metric: s}.
    """

    rows: list[str]
    metrics: list[Metric]
    class_names: tuple[str, ...]
    targets: np.ndarray
    results: dict[str, dict[str, dict]] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    method_options: dict[str, dict] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)

    def per_image(self, row: str, metric: str, key: str | None = None) -> np.ndarray | None:
        """The (N,) per-image values of `key` (default the headline), or None when it is a number."""
        value = self.results[row][metric].get(key or self.metric(metric).headline)
        if isinstance(value, np.ndarray) and value.ndim == 1 and len(value) == len(self.targets):
            return value.astype(np.float64)
        return None

    def value(self, row: str, metric: str, key: str | None = None) -> float:
        """The mean over images (NaN ignored) of `key` (default the headline); NaN when none."""
        values = self.per_image(row, metric, key)
        if values is None:
            raw = self.results[row][metric].get(key or self.metric(metric).headline)
            return float(raw) if raw is not None else float("nan")
        return _nanmean(values)

    def sem(self, row: str, metric: str) -> float:
        """Standard error of the headline mean (NaN for a single number)."""
        values = self.per_image(row, metric)
        if values is None:
            return float("nan")
        values = values[np.isfinite(values)]
        return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")

    def flagged(self, row: str, metric: str) -> bool:
        limit = self.metric(metric).flag_above
        value = self.value(row, metric)
        return limit is not None and np.isfinite(value) and value > limit

    def chance(self, metric: str) -> float:
        """Mean of the metric's ``chance`` values (the same for every row), NaN when it has none."""
        for row in self.rows:
            if "chance" in self.results[row][metric]:
                return self.value(row, metric, "chance")
        return float("nan")

    def per_class(self, row: str, metric: str, key: str | None = None) -> dict[str, float | None]:
        """Class name -> mean of `key` over the images explaining that class (None when none)."""
        values = self.per_image(row, metric, key)
        out: dict[str, float | None] = {}
        for c, name in enumerate(self.class_names):
            chosen = values[self.targets == c] if values is not None else np.empty(0)
            mean = _nanmean(chosen) if len(chosen) else float("nan")
            out[name] = None if not np.isfinite(mean) else mean
        return out

    def curves(self, row: str, metric: str) -> dict[str, np.ndarray]:
        """Key -> mean curve over images (NaN rows ignored), for every (N, K) result."""
        out = {}
        for key, value in self.results[row][metric].items():
            if isinstance(value, np.ndarray) and value.ndim == 2 and len(value) == len(self.targets):
                rows = value[np.isfinite(value).all(axis=1)]
                if len(rows):
                    out[key] = rows.mean(axis=0)
        return out


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")
