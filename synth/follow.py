"""A number that another number nearly orders, modelled as its rank among the rows near that number.

california_housing's longitude, at a given latitude, lies on the coast or in its cities; its bedrooms follow its
households on a narrow band; credit_default's bill of one month lies on a ridge along the month before's;
insurance's ages sit on bands along the charges. A generator draws such a pair as a loose cloud, and a detector
reads the pair at once. Here the follower reaches the networks as its normal score
among the rows whose leading number is near its own: its conditional rank. The leader's value carries where the
follower sits and how it spreads there; the networks learn only where in that spread a row falls.

The leader's values are cut into bins of at least MIN_ROWS rows (equal values stay in one bin), and a row belongs
to the bin whose centre (the mean of its leader values) is nearest. Each bin keeps the follower's mean there (the
trend, linear between the centres, so a band sloping with the leader stays sloped within a bin) and the quantile
function of the follower less the trend. The networks see a row's rank within its bin as a normal score; decoding
adds the trend at the leader's decoded value to the bin's quantile of the score.

A follower may take a second leader where the two set it together (covertype's hillshades, the sun on a slope, by the
aspect and the slope): the bins of the two make a grid of cells, the trend is bilinear between the cells' centres,
and each cell keeps its own function.

The model stores, per bin (cell), the two means and the quantile function at GROUP_POINTS points, each the mean of k
neighbouring order statistics (synth.protect's window_quantiles): none is one row's value. What is learnt reads
the real rows, so none of it runs under DP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

from synth.centre import GROUP_POINTS, Centre, rows_by_code
from synth.protect import window_quantiles

# The leader's bins must explain at least this share of the variance of the follower's ranks. Only close relations
# qualify: the pairs a detector reads first. Looser ones are left to the networks.
MIN_EXPLAINED = 0.6
MIN_ROWS = 30  # a bin holds at least this many rows (and k, synth.protect)
MAX_BINS = 64
# A follower's most frequent value is a slot of its own in its block (Follow.spike) when it holds at least
# this share of the rows and SPIKE_RATIO times the next value's: credit_default's bills of zero. Decoding along the
# leader's trend would shift it off its value; a mere mode of an integer column (insurance's age of 18, beside 19)
# stays with the other values.
SPIKE_SHARE = 0.02
SPIKE_RATIO = 4
PROBE_ROWS = 50_000  # pairs are scored on at most this many rows (a seeded subset): every pair of numbers is tried
# A follower takes a second leader when the cells of the two (up to CELL_BINS bins of each) explain at least this
# share of what its first leader's bins leave unexplained: covertype's hillshades are the sun on a slope, set by the
# aspect and the slope together (aspect alone explains 67-89% of their ranks, the two 97-98%).
ALSO_GAIN = 0.5
CELL_BINS = ((16, 8), (8, 4))  # the cells tried, finest first: every cell must hold MIN_ROWS rows (and k)


@dataclass
class Follow:
    by: str  # the leading column
    centres: list[float]  # per bin, the leader's mean over the bin's rows; increasing
    trend: list[float]  # per bin (per cell with a second leader), the follower's mean over its rows
    quantiles: list[list[float]]  # per bin (cell), the follower less its trend: its quantile function (GROUP_POINTS)
    # A second leader (covertype's hillshades, by the aspect and the slope): the bins become cells, a bin of each
    # leader (bin * len(also_centres) + its bin), and the trend is bilinear between the cells' centres.
    also: str | None = None
    also_centres: list[float] = field(default_factory=list)
    # The follower's spike (find_spike): its rows are not ranked here but take a slot of the column's block
    # (ContinuousEncoder.spike_code), and decoding writes the value.
    spike: float | None = None

    @property
    def leaders(self) -> list[str]:
        return [self.by] if self.also is None else [self.by, self.also]

    def apply(self, y: np.ndarray, x: np.ndarray, rng: np.random.Generator, x2: np.ndarray | None = None,
              ) -> np.ndarray:
        """Each follower value's normal score within its row's bin, of its distance from the trend: its rank there
        (ties broken at random), so that the scores of the rows fitted on are standard normal in every bin, their
        ends included, which the stored functions (protected) do not reach (NaN where any is NaN, and at the spike).
        `x2`: the second leader's values, with one."""
        r = np.full(len(y), np.nan)
        known = ~np.isnan(y) & self._known(x, x2)
        if self.spike is not None:
            known &= y != self.spike
        known = np.flatnonzero(known)
        bins, trend = self.place(x[known], None if x2 is None else x2[known])
        residual = y[known] - trend
        order = np.lexsort((rng.random(len(known)), residual, bins))  # by bin, then value, ties at random
        counts = np.bincount(bins, minlength=len(self.trend))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(len(known))
        rank[order] = np.arange(len(known)) - starts[bins[order]]
        r[known] = ndtri((rank + rng.random(len(known))) / counts[bins])
        return r

    def undo(self, r: np.ndarray, x: np.ndarray, x2: np.ndarray | None = None) -> np.ndarray:
        """Scores back to values: the trend at the leaders' values plus the bin's quantile of the score (NaN stays
        NaN)."""
        out = np.full(len(r), np.nan)
        known = ~np.isnan(r) & self._known(x, x2)
        bins, trend = self.place(x[known], None if x2 is None else x2[known])
        out[known] = trend + _centre(self).undo(r[known], bins)
        return out

    def _known(self, x: np.ndarray, x2: np.ndarray | None) -> np.ndarray:
        return ~np.isnan(x) if self.also is None else ~np.isnan(x) & ~np.isnan(x2)

    def place(self, x: np.ndarray, x2: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """For each row, the bin (cell) whose centre is nearest, and the trend there: linear between the bins'
        centres (bilinear between the cells'), flat beyond the first and last."""
        if self.also is None:
            position = _position(x, self.centres)
            trend = np.asarray(self.trend)
            if len(trend) == 1:
                return np.zeros(len(x), np.intp), np.full(len(x), trend[0])
            low = np.minimum(position.astype(np.intp), len(trend) - 2)
            return _nearest(position), trend[low] + (position - low) * (trend[low + 1] - trend[low])
        width = len(self.also_centres)
        grid = np.asarray(self.trend).reshape(-1, width)
        p, q = _position(x, self.centres), _position(x2, self.also_centres)
        i, j = np.minimum(p.astype(np.intp), len(grid) - 2), np.minimum(q.astype(np.intp), width - 2)
        f, g = p - i, q - j
        trend = ((1 - f) * (1 - g) * grid[i, j] + f * (1 - g) * grid[i + 1, j] + (1 - f) * g * grid[i, j + 1]
                 + f * g * grid[i + 1, j + 1])
        return _nearest(p) * width + _nearest(q), trend


def _position(x: np.ndarray, centres) -> np.ndarray:  # noqa: ANN001
    """Each value's place among the centres, as a fractional index from 0 (at or below the first) to the last."""
    return np.interp(x, centres, np.arange(len(centres), dtype=np.float64))


def _nearest(position: np.ndarray) -> np.ndarray:
    """The nearest centre: linear between two centres, a value past their midpoint is past half way."""
    return np.floor(position + 0.5).astype(np.intp)


def _centre(follow: Follow) -> Centre:
    """The bins' quantile functions as synth.centre's groups (built on first use, kept outside the fields)."""
    centre = follow.__dict__.get("_centre")
    if centre is None:
        centre = follow.__dict__["_centre"] = Centre(on=[follow.by], widths=[len(follow.quantiles)],
                                                     quantiles=follow.quantiles)
    return centre


def leader_bins(x: np.ndarray, min_rows: int, most: int = MAX_BINS) -> np.ndarray:
    """Each row's bin of `x` (no NaN): consecutive runs of the sorted values, about len / `most` rows each and at
    least MIN_ROWS (and `min_rows`), equal values in one bin."""
    enough = max(MIN_ROWS, min_rows)
    size = max(enough, -(-len(x) // most))
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    before = np.concatenate([[0], np.cumsum(counts)[:-1]])  # rows below each distinct value
    bins = np.unique(before // size, return_inverse=True)[1]  # the bin a distinct value starts in, renumbered
    sizes = np.bincount(bins, weights=counts).astype(np.int64)
    # A bin with too few rows (after a long run of one value, or the last) joins the one before it.
    merged = np.arange(len(sizes))
    for b in range(1, len(sizes)):
        if sizes[b] < enough or sizes[merged[b - 1]] < enough:
            sizes[merged[b - 1]] += sizes[b]
            merged[b] = merged[b - 1]
    return np.unique(merged, return_inverse=True)[1][bins][inverse]


def explained(y: np.ndarray, bins: np.ndarray) -> float:
    """The share of the variance of `y`'s ranks that the bins' means explain (a correlation ratio)."""
    return _explained_ranks(_ranks(y), bins)


def _ranks(y: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(y, kind="stable"), kind="stable").astype(np.float64)


def _explained_ranks(ranks: np.ndarray, bins: np.ndarray) -> float:
    counts = np.bincount(bins)
    means = np.bincount(bins, weights=ranks) / counts
    return 1 - float(np.mean((ranks - means[bins]) ** 2)) / ranks.var()


def fit_follow(y: np.ndarray, x: np.ndarray, by: str, bins: np.ndarray, min_rows: int) -> Follow:
    """The follower `y`'s trend and functions per bin of the leader `x` (rows where both are known). The rank bins
    give the centres; each row then belongs to the nearest centre, as decoding places it."""
    enough = max(MIN_ROWS, min_rows)
    centres = _bin_means(x, bins)
    while True:  # a bin that nearest-centre placement leaves thin is dropped, and the rows placed again
        near = _nearest(_position(x, centres))
        counts = np.bincount(near, minlength=len(centres))
        if counts.min() >= enough or len(centres) == 1:
            break
        centres = centres[counts >= enough] if counts.max() >= enough else centres[[counts.argmax()]]
    return _fitted(Follow(by=by, centres=centres.tolist(), trend=[], quantiles=[]), y, near, min_rows, x)


def fit_on(y: np.ndarray, values: dict[str, np.ndarray], leaders: list[str], min_rows: int) -> Follow:
    """The follower `y` along its leaders (one or two of `values`), fitted on the rows where all are known, its
    spike's rows (find_spike) left to the spike's slot: in cells of the two where every cell of CELL_BINS holds
    enough rows, else along the first alone."""
    spike = find_spike(y, min_rows)
    x = values[leaders[0]]
    known = ~np.isnan(x) & ~np.isnan(y)
    if spike is not None:
        known &= y != spike
    follow = None
    if len(leaders) == 2:
        x2 = values[leaders[1]]
        both = known & ~np.isnan(x2)
        follow = fit_cells(y[both], x[both], x2[both], leaders, min_rows)
    if follow is None:
        follow = fit_follow(y[known], x[known], leaders[0], leader_bins(x[known], min_rows), min_rows)
    follow.spike = spike
    return follow


def fit_cells(y: np.ndarray, x: np.ndarray, x2: np.ndarray, leaders: list[str], min_rows: int) -> Follow | None:
    """The follower `y` in cells of two leaders (rows all known): each cell's mean (the trend, bilinear between
    the cells' centres) and the quantile function of the follower less the trend there. None when no CELL_BINS
    leaves every cell, placed by nearest centres as decoding places it, with enough rows."""
    enough = max(MIN_ROWS, min_rows)
    for most, most2 in CELL_BINS:
        centres = [_bin_means(v, leader_bins(v, min_rows, m)) for v, m in ((x, most), (x2, most2))]
        if min(len(c) for c in centres) < 2:
            return None
        near = _nearest(_position(x, centres[0])) * len(centres[1]) + _nearest(_position(x2, centres[1]))
        if np.bincount(near, minlength=len(centres[0]) * len(centres[1])).min() >= enough:
            follow = Follow(by=leaders[0], centres=centres[0].tolist(), trend=[], quantiles=[], also=leaders[1],
                            also_centres=centres[1].tolist())
            return _fitted(follow, y, near, min_rows, x, x2)
    return None


def _fitted(follow: Follow, y: np.ndarray, near: np.ndarray, min_rows: int, x: np.ndarray,
            x2: np.ndarray | None = None) -> Follow:
    """`follow` with its trend (each bin's or cell's mean of `y`, every one holding rows) and each one's quantile
    function of `y` less the trend."""
    follow.trend = _bin_means(y, near).tolist()
    residual = y - follow.place(x, x2)[1]
    follow.quantiles = [window_quantiles(residual[rows], GROUP_POINTS, min_rows).tolist()
                        for _, rows in rows_by_code(near, np.ones(len(near), bool))]
    return follow


def _bin_means(x: np.ndarray, bins: np.ndarray) -> np.ndarray:
    return np.bincount(bins, weights=x) / np.bincount(bins)


def find_spike(y: np.ndarray, min_rows: int) -> float | None:
    """The follower's value that gets a slot of its own (SPIKE_SHARE, SPIKE_RATIO), if one stands out."""
    known = y[~np.isnan(y)]
    values, counts = np.unique(known, return_counts=True)
    if len(values) < 2:
        return None
    top, second = np.argsort(counts)[::-1][:2]
    if counts[top] >= max(SPIKE_SHARE * len(known), min_rows, MIN_ROWS) and counts[top] >= SPIKE_RATIO * counts[second]:
        return float(values[top])
    return None


def probe_rows(values: dict[str, np.ndarray], names) -> dict[str, np.ndarray]:  # noqa: ANN001
    """`names`' values on at most PROBE_ROWS rows, a seeded subset (the same rows for every column)."""
    n = len(next(iter(values.values()))) if values else 0
    keep = slice(None) if n <= PROBE_ROWS else np.sort(np.random.default_rng(0).permutation(n)[:PROBE_ROWS])
    return {name: values[name][keep] for name in names}


def find_follows(values: dict[str, np.ndarray], candidates: list[str], leaders: list[str], min_rows: int,
                 ) -> dict[str, Follow]:
    """{follower: Follow} for numeric columns (`values`: float, NaN for null). A follower is one of `candidates`,
    a leader one of `leaders`, known wherever the follower is (a null leader could not place a known value). The
    pairs are taken closest first, a column follows one leader at most, and a leader may follow another
    (credit_default's six monthly bills, each along the month before's) but never in a cycle. In decoding order: a
    leader's value is known before its followers'. Pairs are scored on at most PROBE_ROWS rows, and each chosen pair
    is fitted on all of them."""
    probe = probe_rows(values, set(candidates) | set(leaders))
    complete = {name: not np.isnan(x).any() for name, x in probe.items()}
    bins_of = {name: leader_bins(probe[name], min_rows) for name in leaders if complete[name]}
    ranks_of = {name: _ranks(probe[name]) for name in candidates if complete[name]}
    scored = []
    for lead in leaders:
        for name in candidates:
            x, y = probe[lead], probe[name]
            if name == lead or np.any(np.isnan(x) & ~np.isnan(y)):
                continue  # a leader must be known wherever its follower is, to place it
            both = ~np.isnan(x) & ~np.isnan(y)
            if both.sum() < 2 * max(MIN_ROWS, min_rows) or y[both].std() == 0 or x[both].std() == 0:
                continue
            if complete[lead] and complete[name]:
                bins, ranks = bins_of[lead], ranks_of[name]
            else:
                bins, ranks = leader_bins(x[both], min_rows), _ranks(y[both])
            share = _explained_ranks(ranks, bins) if bins.max() >= 1 else 0.0
            if share >= MIN_EXPLAINED:
                scored.append((share, lead, name))
    leader_of: dict[str, str] = {}
    for _, lead, name in sorted(scored, key=lambda s: -s[0]):
        if name not in leader_of and name not in _chain(lead, leader_of):  # one leader each, and no cycle
            leader_of[name] = lead
    shares = {(lead, name): share for share, lead, name in scored}
    also_of = _second_leaders(probe, leader_of, shares, leaders, min_rows)
    follows = {name: fit_on(values[name], values, [lead] + ([also_of[name]] if name in also_of else []), min_rows)
               for name, lead in leader_of.items()}
    return {name: follows[name] for name in decoding_order(follows)}


def _second_leaders(probe: dict[str, np.ndarray], leader_of: dict[str, str], shares: dict[tuple[str, str], float],
                    leaders: list[str], min_rows: int) -> dict[str, str]:
    """{follower: second leader} where the cells of the two explain ALSO_GAIN of what the first leaves unexplained
    (the most of any leader), the second is known wherever the follower is, and no cycle forms."""
    most, most2 = CELL_BINS[0]
    bins_of: dict[tuple[str, int], np.ndarray] = {}

    def bins(name: str, known: np.ndarray, m: int) -> np.ndarray:
        if known.all():
            if (name, m) not in bins_of:
                bins_of[name, m] = leader_bins(probe[name], min_rows, m)
            return bins_of[name, m]
        return leader_bins(probe[name][known], min_rows, m)

    also_of: dict[str, str] = {}
    for name, lead in leader_of.items():
        first = shares[lead, name]
        y = probe[name]
        best = (first + ALSO_GAIN * (1 - first), None)
        for extra in leaders:
            if extra in (name, lead) or np.any(np.isnan(probe[extra]) & ~np.isnan(y)):
                continue
            if name in _ancestors(extra, leader_of, also_of):
                continue
            known = ~np.isnan(y) & ~np.isnan(probe[lead]) & ~np.isnan(probe[extra])
            b2 = bins(extra, known, most2)
            cells = np.unique(bins(lead, known, most) * (b2.max() + 1) + b2, return_inverse=True)[1]
            share = _explained_ranks(_ranks(y[known]), cells)
            if share >= best[0]:
                best = (share, extra)
        if best[1] is not None:
            also_of[name] = best[1]
    return also_of


def _ancestors(name: str, leader_of: dict[str, str], also_of: dict[str, str]) -> set[str]:
    """Every column `name` is decoded after: its leaders, theirs, and so on."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        for lead in (leader_of.get(current), also_of.get(current)):
            if lead is not None and lead not in seen:
                seen.add(lead)
                todo.append(lead)
    return seen


def _chain(name: str, leader_of: dict[str, str]) -> list[str]:
    """`name` and its leaders, up to a column that follows none."""
    chain = [name]
    while chain[-1] in leader_of:
        chain.append(leader_of[chain[-1]])
    return chain


def decoding_order(follows: dict[str, Follow]) -> list[str]:
    """The followers, each after its leaders when they follow others."""
    depth: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((level(lead) for lead in follows[name].leaders if lead in follows), default=0)
        return depth[name]

    return sorted(follows, key=level)
