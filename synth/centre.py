"""A number that its row's category nearly determines, modelled as its rank within that category.

bank_marketing's three-month Euribor rate is almost a function of the period that its price index names;
king_county's latitude and longitude, of the zip code. A generator drawing the rate and the category side by side
ties them only loosely, and a detector reads the pair at once (bank_marketing: 0.91 for that pair alone). Here such
a column reaches the networks as its normal score within its category: its rank among the category's values mapped
onto a standard normal. The category carries where the number sits and how it spreads there; the networks learn
only where in that spread a row falls, which is one standard normal in every category. Decoding maps the score
back through the category's own quantile function, so each category's values come back with their own shape (a
rate that a period holds at a few exact values comes back at those values).

A second category joins the first when it splits the first's categories further: within a period, the day of the
week picks among the period's few rates. The groups are then the pairs of categories, and a pair with too few rows
uses its first category's function.

The model stores, per category (or pair), its quantile function at GROUP_POINTS points, each the mean of k neighbouring
order statistics (synth.protect's window_quantiles), so none is one row's value. A category with fewer rows than
MIN_ROWS (or k) uses the column's quantile function over all rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from synth.protect import window_quantiles
from synth.scores import normal_scores

# A category must explain at least this share of a column's variance to centre it: only near-functions, where
# the pair is otherwise the easiest thing for a detector to read. Lower shares (insurance's charges by smoker,
# 0.62) are left to the networks, which condition on the category anyway.
MIN_EXPLAINED = 0.9
MIN_ROWS = 30  # a category needs this many rows (and k, synth.protect) for a quantile function of its own
SECOND_GAIN = 0.1  # a second category is kept when it removes this share of what the first leaves unexplained
MAX_GROUPS = 1_000  # pairs of categories kept in the model at most (each a quantile function of GROUP_POINTS)
GROUP_POINTS = 65


@dataclass
class Centre:
    on: list[str]  # the categorical column, and a second one when it splits the first's categories further
    widths: list[int]  # their blocks' widths (categories, then the "other" slot if any)
    quantiles: list[list[float]]  # per combined code (`code`)

    def code(self, codes: list[np.ndarray]) -> np.ndarray:
        """Each row's group: its codes in the `on` columns' blocks, as one index (the first column's code times
        the second's width, plus the second's)."""
        combined = np.asarray(codes[0], dtype=np.intp)
        for c, width in zip(codes[1:], self.widths[1:], strict=True):
            combined = combined * width + c
        return combined

    def apply(self, x: np.ndarray, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Each value's normal score within its group (NaN stays NaN)."""
        r = np.full(len(x), np.nan)
        for c, rows in rows_by_code(codes, ~np.isnan(x)):
            r[rows] = normal_scores(x[rows], np.asarray(self.quantiles[c]), rng)
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


def rows_by_code(codes: np.ndarray, keep: np.ndarray):
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
    share of the variance of `x` (float, NaN for null), if that share is at least MIN_EXPLAINED; then the second
    column, if any, that removes at least SECOND_GAIN of what the first leaves unexplained (bank_marketing's rate:
    the period, then the day of the week, which picks among the period's few rates). A category, or a pair, with
    fewer than MIN_ROWS (or `min_rows`) rows falls back to the first column's category, then to the whole column."""
    known = ~np.isnan(x)
    values = x[known]
    if len(values) < 2 or values.std() == 0:
        return None
    enough = max(MIN_ROWS, min_rows)
    overall = np.full(1, values.mean())
    best = None  # (unexplained, name, codes, own, means)
    for name, (codes, width) in groups.items():
        unexplained, own, means = _unexplained(values, codes[known], width, enough, np.zeros(width, np.intp), overall)
        if unexplained <= 1 - MIN_EXPLAINED and (best is None or unexplained < best[0]):
            best = unexplained, name, codes[known], own, means
    if best is None:
        return None
    first_unexplained, first, first_codes, first_own, first_means = best
    width = groups[first][1]
    chosen = None  # the second column: (name, width, pair codes, whether each pair has its own rows, fallback)
    least = (1 - SECOND_GAIN) * first_unexplained  # what a second column must get under, then the best so far
    for name, (codes, second) in groups.items():
        if name == first or width * second > MAX_GROUPS:
            continue
        pair = first_codes * second + codes[known]
        fallback = np.repeat(np.arange(width), second)  # a pair's first category
        unexplained, own, _ = _unexplained(values, pair, width * second, enough, fallback, first_means)
        if unexplained <= least:
            least, chosen = unexplained, (name, second, pair, own, fallback)
    whole = window_quantiles(values, GROUP_POINTS, min_rows).tolist()
    firsts = [window_quantiles(values[first_codes == c], GROUP_POINTS, min_rows).tolist() if first_own[c] else whole
              for c in range(width)]
    if chosen is None:
        return Centre(on=[first], widths=[width], quantiles=firsts)
    name, second, pair, own, fallback = chosen
    quantiles = [window_quantiles(values[pair == c], GROUP_POINTS, min_rows).tolist() if own[c] else firsts[fallback[c]]
                 for c in range(width * second)]
    return Centre(on=[first, name], widths=[width, second], quantiles=quantiles)


def _unexplained(values: np.ndarray, codes: np.ndarray, width: int, enough: int, fallback: np.ndarray,
                 fallback_means: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The share of the variance of `values` left around their groups' means; whether each group has enough rows
    of its own; each group's mean, or else its fallback's (`fallback_means[fallback[group]]`)."""
    counts = np.bincount(codes, minlength=width)
    sums = np.bincount(codes, weights=values, minlength=width)
    own = counts >= enough
    means = np.where(own, sums / np.maximum(counts, 1), fallback_means[fallback])
    return float(np.mean((values - means[codes]) ** 2)) / values.var(), own, means
