"""Numeric columns that are the sum of two others on every training row, such as a house's living area, its area
above ground plus its basement.

A generator that models all three draws each one near its real distribution and the identity almost never holds
(king_county: in 0.1% of the rows), which is the first thing a detector or a database constraint finds. So the
total is not modelled: sampling draws the parts and adds them. The model stores only the three columns' names.

The total keeps synth.protect's rule on extremes: a sum that leaves the total's protected bounds is brought to the
nearest bound and one part moves by the same amount, inside its own bounds, so the identity still holds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.schema import ColumnSpec, numeric_values

# A sum must hold on at least this many rows where neither part is zero: with fewer, two sparse columns (mostly
# zero) and a third can meet it by chance.
MIN_ROWS_BOTH_PARTS = 20
_PROBE_ROWS = 256  # every triple is tried on these rows first; the survivors on every row
_TOLERANCE = 1e-9  # relative: decimals that add up in floating point (0.1 + 0.2) still count as equal


@dataclass
class NumericSum:
    name: str  # the total, not modelled
    parts: list[str]  # the two modelled columns it is the sum of


def find_sums(df: pd.DataFrame, specs: list[ColumnSpec], modelled: set[str] = frozenset()) -> list[NumericSum]:
    """Continuous or integer columns (`specs`) that equal the sum of two others on every row of `df`, null exactly
    where a part is null. A column in `modelled` (the target) is never a total; a total is never a part of another
    sum, and a part belongs to one sum only, so sampling adds modelled columns and can move a part for its sum."""
    numbers = [s for s in specs if s.kind in ("continuous", "integer") and not s.discrete]
    if len(numbers) < 3 or len(df) < MIN_ROWS_BOTH_PARTS:
        return []
    names = [s.name for s in numbers]
    values = np.column_stack([numeric_values(df[s.name], s) for s in numbers])
    probe = values[np.random.default_rng(0).permutation(len(values))[:_PROBE_ROWS]]
    found: list[NumericSum] = []
    totals: set[str] = set()
    parts: set[str] = set()
    for i, j in itertools.combinations(range(len(names)), 2):
        if {names[i], names[j]} & (totals | parts):  # a part in two sums could not move for both
            continue
        for k in np.flatnonzero(_holds(probe, probe[:, i:i + 1], probe[:, j:j + 1]).all(axis=0)):
            total = names[k]
            if k in (i, j) or total in modelled or total in totals or total in parts:
                continue
            if _holds(values[:, k], values[:, i], values[:, j]).all() and _both_parts_seen(values[:, i], values[:, j]):
                found.append(NumericSum(name=total, parts=[names[i], names[j]]))
                totals.add(total)
                parts.update((names[i], names[j]))
                break
    return found


def _holds(total: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per value: total = a + b, or total is null exactly where a or b is."""
    null = np.isnan(a) | np.isnan(b)
    s = a + b
    equal = np.abs(total - s) <= _TOLERANCE * np.maximum(1.0, np.abs(total))
    return np.where(null, np.isnan(total), equal)


def _both_parts_seen(a: np.ndarray, b: np.ndarray) -> bool:
    return int(np.sum((a != 0) & (b != 0) & ~np.isnan(a) & ~np.isnan(b))) >= MIN_ROWS_BOTH_PARTS


def grid_of(spec: ColumnSpec) -> tuple[float, int] | None:
    """(step, decimals) of the grid a numeric column's values sit on: the one found for it, 1 for integers, None
    for real numbers on no grid."""
    if "step" in spec.extra:
        return spec.extra["step"], spec.extra["decimals"]
    return (1.0, 0) if spec.kind == "integer" or spec.dtype.startswith(("int", "uint")) else None


def bounds_of(spec: ColumnSpec) -> tuple[float, float]:
    return (-np.inf if spec.minimum is None else spec.minimum, np.inf if spec.maximum is None else spec.maximum)


def total_grid(*grids: tuple[float, int] | None) -> tuple[float, int] | None:
    """The grid a sum of the parts sits on, given each part's (step, decimals) (synth.output.numeric_grid): the
    largest common divisor of the steps, at the most decimals. None when a part has no grid."""
    if any(g is None for g in grids):
        return None
    decimals = max(d for _, d in grids)
    units = [round(step * 10 ** decimals) for step, _ in grids]
    return int(np.gcd.reduce(units)) / 10 ** decimals, decimals


def add_parts(a: np.ndarray, b: np.ndarray, bounds_a: tuple[float, float], bounds_b: tuple[float, float],
              bounds_total: tuple[float, float], decimals: int | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray]:
    """(a, b, total) with total = a + b, each within its bounds: where a + b leaves the total's bounds, the total
    is the nearest bound and b takes the difference, brought inside its own bounds with a taking what is left.
    That a then stays inside its bounds: a b clipped to its top means total - a > high_b, so the new a =
    total - high_b is above low_a (and below the old a); likewise at the bottom."""
    low = max(bounds_total[0], bounds_a[0] + bounds_b[0])
    high = min(bounds_total[1], bounds_a[1] + bounds_b[1])
    total = a + b
    if decimals is not None:
        total = np.round(total, decimals)  # 0.1 + 0.2 is 0.3 on the grid
    outside = (total < low) | (total > high)
    if not outside.any():
        return a, b, total
    a, b, total = a.copy(), b.copy(), total.copy()
    t = np.clip(total[outside], low, high)
    new_b = np.clip(t - a[outside], bounds_b[0], bounds_b[1])
    new_a = t - new_b
    if decimals is not None:
        new_a = np.round(new_a, decimals)
    a[outside], b[outside], total[outside] = new_a, new_b, t
    return a, b, total
