"""A number that its row's category nearly determines, modelled as its rank within that category.

bank_marketing's three-month Euribor rate is almost a function of the period that its price index names;
king_county's latitude and longitude, of the zip code. A generator drawing the rate and the category side by side
ties them only loosely, and a detector reads the pair at once (bank_marketing: 0.91 for that pair alone). Here such
a column reaches the networks as its normal score within its category: its rank among the category's values mapped
onto a standard normal. The category carries where the number sits and how it spreads there; the networks learn
only where in that spread a row falls, which is one standard normal in every category. Decoding maps the score
back through the category's own quantile function, so each category's values come back with their own shape (a
rate that a period holds at a few exact values comes back at those values).

The model stores, per category, its quantile function at GROUP_POINTS points, each the mean of k neighbouring
order statistics (synth.protect's window_quantiles), so none is one row's value. A category with fewer rows than
MIN_ROWS (or k), the "other" slot and null use the column's quantile function over all rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from synth.protect import window_quantiles

# A category must explain at least this share of a column's variance to centre it: only near-functions, where
# the pair is otherwise the easiest thing for a detector to read. Lower shares (insurance's charges by smoker,
# 0.62) are left to the networks, which condition on the category anyway.
MIN_EXPLAINED = 0.9
MIN_ROWS = 30  # a category needs this many rows (and k, synth.protect) for a quantile function of its own
GROUP_POINTS = 65
_TAIL = 1e-3  # scores are kept within the standard normal's 0.1% and 99.9% points


@dataclass
class Centre:
    on: str  # the categorical column
    quantiles: list[list[float]]  # per code of its block (categories, then the "other" slot if any)

    def apply(self, x: np.ndarray, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Each value's normal score within its category (NaN stays NaN). A value that several quantile points
        share takes a probability drawn uniformly over their span, as `synth.transformer.normal_scores` does."""
        r = np.full(len(x), np.nan)
        probs = np.linspace(0, 1, GROUP_POINTS)
        for c, rows in _rows_by_code(codes, ~np.isnan(x)):
            q = np.asarray(self.quantiles[c])
            v = x[rows]
            p = np.interp(v, q, probs)
            first, last = np.searchsorted(q, v, "left"), np.searchsorted(q, v, "right") - 1
            tied = last > first
            p[tied] = probs[first[tied]] + rng.random(int(tied.sum())) * (probs[last[tied]] - probs[first[tied]])
            r[rows] = ndtri(np.clip(p, _TAIL, 1 - _TAIL))
        return r

    def undo(self, r: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Scores back to values through each category's quantile function: every function has the same
        equally spaced probabilities, so a value's segment is found by arithmetic, for all categories at once
        (NaN stays NaN)."""
        table = self.__dict__.get("_table")
        if table is None:  # built on first use, kept outside the dataclass's fields
            table = self.__dict__["_table"] = np.asarray(self.quantiles, dtype=np.float64)
        position = ndtr(r) * (GROUP_POINTS - 1)
        j = np.clip(np.floor(np.nan_to_num(position)), 0, GROUP_POINTS - 2).astype(np.intp)
        low, high = table[codes, j], table[codes, j + 1]
        return low + (position - j) * (high - low)


def _rows_by_code(codes: np.ndarray, keep: np.ndarray):
    """(code, row indices) for each code among the kept rows, in one sort rather than a scan per code."""
    rows = np.flatnonzero(keep)
    order = np.argsort(codes[rows], kind="stable")
    rows = rows[order]
    sorted_codes = codes[rows]
    cuts = np.flatnonzero(np.diff(sorted_codes)) + 1
    for part in np.split(rows, cuts):
        if len(part):
            yield int(codes[part[0]]), part


def find_centre(x: np.ndarray, groups: dict[str, tuple[np.ndarray, int]], min_rows: int) -> Centre | None:
    """The categorical column among `groups` ({name: (codes per row, block width)}) that explains the largest
    share of the variance of `x` (float, NaN for null), if that share is at least MIN_EXPLAINED; categories with
    fewer than MIN_ROWS (or `min_rows`) rows count as explaining nothing."""
    known = ~np.isnan(x)
    values = x[known]
    if len(values) < 2 or values.std() == 0:
        return None
    enough = max(MIN_ROWS, min_rows)
    best: tuple[float, str, np.ndarray] | None = None
    for name, (codes, width) in groups.items():
        c = codes[known]
        counts = np.bincount(c, minlength=width)
        sums = np.bincount(c, weights=values, minlength=width)
        means = np.where(counts >= enough, sums / np.maximum(counts, 1), values.mean())
        explained = 1 - float(np.sum((values - means[c]) ** 2)) / (len(values) * values.var())
        if explained >= MIN_EXPLAINED and (best is None or explained > best[0]):
            best = explained, name, counts >= enough
    if best is None:
        return None
    _, name, own = best
    codes = groups[name][0][known]
    overall = window_quantiles(values, GROUP_POINTS, min_rows).tolist()
    quantiles = [window_quantiles(values[codes == c], GROUP_POINTS, min_rows).tolist() if own[c] else overall
                 for c in range(len(own))]
    return Centre(on=name, quantiles=quantiles)
