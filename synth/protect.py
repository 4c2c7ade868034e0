"""Protection by default: what the model stores and emits about values that few training rows hold.

Two rules, both with the same k (`Config.rare_threshold`):
- **Rare values.** A category held by fewer than k training rows is never stored and never emitted as
  itself. In a text column it becomes the marker `_RARE_` (or, with `rare_categories="frequent"`, a frequent
  category drawn by frequency); in a numeric or boolean column modelled by its values, the nearest value
  that k rows hold (numbers) or a frequent value (anything else), since a marker would change the column's
  type. The "other" slot of a wide column keeps only categories held by at least k rows, and derived
  columns are detected on the protected values, so their tables hold only those.
- **Extremes.** Every number the model keeps about a numeric column is an average over at least k rows:
  the bounds a column is clipped to are the mean of its k smallest and of its k largest values (rounded
  inward to the column's grid for integers and dates), the stored quantiles are means of k neighbouring
  order statistics, and a mixture mode is kept only when it holds at least k rows' weight. The mean of
  the k largest values equals the maximum only when k rows hold the maximum, so a one-off extreme is never
  stored and, clipped to these bounds, never emitted.

Nothing here runs while sampling: the rules shape what the transformer stores, and sampling decodes that.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from synth.schema import Schema, numeric_values

MARKER = "_RARE_"
RARE_MODES = ("marker", "frequent")
_TEXT_DTYPES = ("object", "str", "string", "category")


def marker_allowed(kind: str, dtype: str) -> bool:
    """Whether a column can hold the marker: a categorical column of text."""
    return kind == "categorical" and dtype in _TEXT_DTYPES


def protected_bounds(x: np.ndarray, k: int, step: float | None = None) -> tuple[float, float] | None:
    """(low, high): the means of the k smallest and the k largest finite values of `x`, rounded inward
    to multiples of `step` when given (integers, dates). None when `x` has no finite value.

    The mean of the k smallest values exceeds the minimum unless k rows hold the minimum, and rounding
    up keeps it above; so the bounds are never a value that fewer than k rows hold at the ends."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not len(x):
        return None
    if k <= 1:
        return float(x.min()), float(x.max())
    k = min(k, len(x))
    low = float(np.partition(x, k - 1)[:k].mean())
    high = float(np.partition(x, len(x) - k)[len(x) - k:].mean())
    if step:
        inner_low, inner_high = math.ceil(low / step - 1e-9) * step, math.floor(high / step + 1e-9) * step
        if inner_low > inner_high:  # a range narrower than a step: its middle, on the grid
            inner_low = inner_high = round((low + high) / 2 / step) * step
        low, high = float(inner_low), float(inner_high)
    return low, high


def protect_schema(schema: Schema, df: pd.DataFrame, k: int) -> None:
    """Set each numeric column's stored bounds to protected ones (in place): continuous, integer, datetime
    and numeric ID columns get `protected_bounds` (on the grid of integers or of the column's date
    resolution), a numeric column modelled by its values the range of the values k rows hold; a constant
    column's value held by fewer than k rows becomes the marker (text) or null."""
    if k <= 1:
        return
    for spec in schema.columns:
        if spec.kind == "constant":
            if int(df[spec.name].notna().sum()) < k:
                spec.extra["value"] = MARKER if spec.dtype in _TEXT_DTYPES else None
            continue
        if spec.minimum is None or not (spec.numeric or spec.kind == "id"):
            continue
        x = numeric_values(df[spec.name], spec) if spec.numeric else pd.to_numeric(df[spec.name]).to_numpy(float)
        if spec.discrete:
            values, counts = np.unique(x[np.isfinite(x)], return_counts=True)
            kept = values[counts >= k]
            if len(kept):
                spec.minimum, spec.maximum = float(kept.min()), float(kept.max())
                continue
        step = _grid(spec)
        bounds = protected_bounds(x, k, step)
        if bounds is not None:
            spec.minimum, spec.maximum = bounds


def _grid(spec) -> float | None:
    """The step a column's values sit on: its date resolution, the grid found for its numbers (0.01, 0.25,
    1000...), 1 for other integers, None for real numbers on no grid."""
    if spec.kind == "datetime":
        return float(spec.extra.get("resolution", 1))
    if "step" in spec.extra:
        return float(spec.extra["step"])
    if spec.kind in ("integer", "id") or spec.dtype.startswith(("int", "uint", "Int", "UInt")):
        return 1.0
    return None


def window_quantiles(x: np.ndarray, points: int, k: int) -> np.ndarray:
    """`points` values of the quantile function of `x` from 0 to 1, each the mean of the k order
    statistics around its position (np.quantile's interpolation when k <= 1). Non-decreasing, and none is
    one row's value unless k rows share it."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = len(x)
    if k <= 1:
        return np.quantile(x, np.linspace(0, 1, points))
    if n <= k:
        return np.full(points, x.mean())
    sums = np.concatenate([[0.0], np.cumsum(x)])
    start = np.clip(np.round(np.linspace(0, n - 1, points) - (k - 1) / 2).astype(np.int64), 0, n - k)
    return (sums[start + k] - sums[start]) / k


def protect_discrete(series: pd.Series, k: int, mode: str, text: bool, rng: np.random.Generator) -> pd.Series:
    """The column with every value held by fewer than k rows replaced (nulls stay): by the marker in a
    text column with `mode` "marker"; else by the nearest kept value for numbers, or a kept value drawn by
    frequency. When no value is held by k rows, all become the marker (text) or null."""
    if k <= 1:
        return series
    counts = series.value_counts(dropna=True)
    rare = counts.index[counts.to_numpy() < k]
    if not len(rare):
        return series
    hit = series.isin(rare).to_numpy()
    kept = counts[counts.to_numpy() >= k]
    out = series.astype(object).copy()
    if text and mode == "marker":
        out[hit] = MARKER
    elif not len(kept):
        out[hit] = MARKER if text else None
    else:
        out[hit] = replacements(series[hit].to_numpy(dtype=object), list(kept.index), kept.to_numpy(), rng)
    return out


def replacements(values: np.ndarray, kept: list, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For suppressed `values`: the nearest of the `kept` values when all are numbers, else kept values
    drawn by their `counts`."""
    out = np.empty(len(values), dtype=object)
    if not len(values):
        return out
    numbers = _numbers(kept)
    wanted = _numbers(list(values)) if numbers is not None else None
    if numbers is not None and wanted is not None:
        order = np.argsort(numbers)
        sorted_numbers = numbers[order]
        right = np.clip(np.searchsorted(sorted_numbers, wanted), 0, len(numbers) - 1)
        left = np.clip(right - 1, 0, len(numbers) - 1)
        nearer = np.where(np.abs(sorted_numbers[left] - wanted) <= np.abs(sorted_numbers[right] - wanted), left, right)
        picks = order[nearer]
    else:
        p = np.asarray(counts, dtype=np.float64)
        picks = rng.choice(len(kept), len(values), p=p / p.sum())
    out[:] = [kept[i] for i in picks]
    return out


def _numbers(values: list) -> np.ndarray | None:
    if not values or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating))
                         for v in values):
        return None
    return np.asarray(values, dtype=np.float64)
