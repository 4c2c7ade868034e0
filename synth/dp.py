"""Differential privacy on demand: `Synthesizer(privacy={"epsilon": 1.0, "delta": 1e-6})`.

The whole pipeline is (epsilon, delta)-DP with respect to one training row under the replace-one relation
(two tables are neighbours when they differ in the values of one row; the row count is public, as the
service's budget check and the DP-SGD batch size use it). Every step that reads the rows is one of:

1. **Data statistics**, released once before training, with Gaussian noise (DESIGN.md, "Differential
   privacy"):
   - stage 1, per numeric column, a histogram over a fixed grid (signed powers of sqrt(2); calendar years for
     dates) whose bulk gives the bounds of a column without public ones (`_bounds`), then, for the columns whose
     bounds lie within a factor of 2 (a price index near 93: one or two of the grid's bins), a histogram of 32
     even bins between them, whose full bins say where stage 2 puts its fine bins (`_zoomed`);
   - stage 2, per numeric column, a histogram between those bounds with as many bins as the noise allows
     (`fine_bins`), holding equal shares of stage 1's bulk (`_shares`) or inside the zoom, plus a null bin, and
     per categorical, boolean or constant column the counts of its values and nulls.
   A row falls in one bin of each histogram, so changing it moves at most two counts by 1 in each: the
   L2 sensitivity of a release's counts is sqrt(2 * histograms). Each release is one Gaussian mechanism. A
   category is released only when its noisy count passes a threshold set so that a value held by one
   row is released with probability at most delta/2 over all columns (partition selection), unless the user
   declared the column's values public (`privacy.categories`); the values below it become the marker, as rare
   values do without DP (synth.protect). Everything the transformer stores is computed from these noisy counts
   alone (post-processing): bounds, null rates, quantiles, column scales, category frequencies, and the
   mixtures, fitted on points drawn from the histograms. Column kinds and formats are public (inferred, or set
   with column_kinds); no derived columns and no ID formats are learnt (integer keys run over 1..rows, text
   keys are digits).
2. **Pair tables** (stage 3, `release_pairs`): two Gaussian releases of the two-way counts of the training codes,
   which the generator is taught (synth.pairs).
3. **The critic's training**: DP-SGD. Each step samples `batch_size` rows without replacement, puts them in
   pac groups, and takes each group's gradient of its own loss (its generated rows' score, less its real
   rows' score, plus its gradient penalty term), clipped to norm C = max_grad_norm; Gaussian noise of
   standard deviation noise_multiplier * 2C (changing a row changes one group's clipped gradient by at most
   2C) is added to their sum. The conditional vector of each row is read from the row itself, not used to
   pick rows (training-by-sampling would make a row's chance of being picked depend on the data, which the
   accountant's uniform sampling does not allow).
4. **The generator** sees only the critic, the released pair tables and conditions drawn from the released
   frequencies: post-processing, as are the calibration after training (from the released frequencies and
   quantiles) and sampling.

Accounting: one dp_accounting RDP accountant (replace-one) composes the statistics releases, the pair tables'
and every critic step (sampled without replacement, Wang, Balle & Kasiviswanathan 2019); delta/2 goes to its
conversion to (epsilon, delta), delta/2 to the threshold above. The statistics are given a noise that would cost
STATS_SHARE of epsilon on their own, the pair tables PAIRS_SHARE; the critic steps that the rest buys are spread
over the training's generator steps, so the budget is spent by the last epoch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from torch import nn

from synth.config import check_public_domains, privacy_settings
from synth.errors import SynthError
from synth.gmm import fit_mixture
from synth.ids import IdSpec
from synth.networks import Discriminator, Dropout
from synth.protect import MARKER, marker_allowed
from synth.schema import DISCRETE_MAX_VALUES, Schema, numeric_values
from synth.transformer import QUANTILES, ContinuousEncoder, DataTransformer, DiscreteEncoder, json_value

STATS_SHARE = 0.4  # of epsilon: what the data statistics would cost alone
PAIRS_SHARE = 0.4  # of epsilon: what the pair tables (stage 3) would cost alone, when the generator learns them
# Of the pair tables' cost, what their first release takes: every table, read to choose the ones released again.
# On 2,100 rows at epsilon 1 or 3 it is mostly noise, while the second holds the tables the generator is taught
# most (BENCHMARKS.md, "The pair tables' first release: a fifth of their cost").
FIRST_SHARE = 0.2
BOUNDS_NOISE = 2.0  # stage 1 (bounds) takes this times stage 2's noise multiplier: coarse bins need little
SELECT_DELTA_SHARE = 0.5  # of delta: categories released by thresholding; the rest for the RDP conversion
FINE_BINS = 128  # most bins of a numeric column's histogram
MIN_BINS = 4
ZOOM_BINS = 32  # stage 1's zoom: even bins between a narrow column's bounds
ZOOM_NOISE = 4.0  # the zoom takes this times stage 2's noise multiplier: it only looks for full bins
ZOOM_FACTOR = 2.0  # a column is narrow when its bounds lie within this factor of each other (_narrow)
ZOOM_NOISES = 3.0  # a zoom bin is full above this many noise sds: noise alone passes one of 32 4% of the time
BOUNDS_WINDOW = 4  # stage 1's bins summed to grow a column's bulk: a factor of 4 in value on the sqrt(2) grid
GROW_NOISES = 1.5  # the bulk grows while the bins beyond pass this many noise sds: noise alone does 7% of the time
BIN_NOISES = 4.0  # fewer bins while an even spread would put fewer rows than this many noise sds in each
EMPTY_NOISES = 2.0  # a noisy count under this many noise sds is taken as empty: noise alone passes 2 sds 2% of the time
MIXTURE_POINTS = 10_000  # points drawn from a column's noisy histogram to fit its mixture on
# RDP orders: dp_accounting's default list thinned (a bound at fewer orders is looser, never wrong), so that an
# accounting takes about a second.
ORDERS = (1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0, 24.0, 32.0, 40.0, 48.0,
          64.0, 96.0, 128.0, 256.0)
_COARSE = np.concatenate([-(2.0 ** np.arange(64, -10.5, -0.5)), 2.0 ** np.arange(-10, 64.5, 0.5)])
# Whole numbers: no bins between -1 and 1 but the one that holds 0, so that -1, 0 and 1 are neighbours.
_COARSE_WHOLE = np.concatenate([-(2.0 ** np.arange(64, -0.5, -0.5)), [-0.5, 0.5], 2.0 ** np.arange(0, 64.5, 0.5)])
_YEAR_SECONDS = np.array([pd.Timestamp(year=y, month=1, day=1).value / 1e9 for y in range(1800, 2201)])


@dataclass(frozen=True)
class Privacy:
    epsilon: float
    delta: float
    noise_multiplier: float
    max_grad_norm: float
    categories: dict = field(default_factory=dict)  # public domains: {column: [values]}
    bounds: dict = field(default_factory=dict)  # public ranges: {column: [low, high]}

    @classmethod
    def of(cls, settings: dict) -> Privacy:
        return cls(**privacy_settings(settings))

    @property
    def delta_rdp(self) -> float:
        return self.delta * (1 - SELECT_DELTA_SHARE)

    @property
    def delta_select(self) -> float:
        return self.delta * SELECT_DELTA_SHARE


def _dp():  # noqa: ANN202 - the accounting library, imported on first use (only DP jobs need it)
    from dp_accounting import dp_event, mechanism_calibration, rdp
    from dp_accounting.privacy_accountant import NeighboringRelation
    from dp_accounting.rdp.rdp_privacy_accountant import compute_epsilon

    return dp_event, mechanism_calibration, rdp, NeighboringRelation, compute_epsilon


def _accountant():  # noqa: ANN202
    _, _, rdp, relation, _ = _dp()
    return rdp.RdpAccountant(orders=list(ORDERS), neighboring_relation=relation.REPLACE_ONE)


@functools.lru_cache(maxsize=64)
def stats_noise(epsilon: float, delta_rdp: float) -> float:
    """The noise multiplier of each of the two statistics releases: the one at which both together cost
    STATS_SHARE * epsilon at delta_rdp (dp_accounting's calibration)."""
    _, calibration, _, _, _ = _dp()
    return float(calibration.calibrate_dp_mechanism(
        _accountant, _stats_event, STATS_SHARE * epsilon, delta_rdp,
        calibration.ExplicitBracketInterval(0.05, 1e5), tol=1e-3))


@functools.lru_cache(maxsize=64)
def pairs_noise(epsilon: float, delta_rdp: float) -> float:
    """The pair tables' noise multiplier (stage 3): that of one Gaussian release costing what their two cost
    together, PAIRS_SHARE * epsilon at delta_rdp (`_release_noises` gives each release's)."""
    _, calibration, _, _, _ = _dp()
    return float(calibration.calibrate_dp_mechanism(
        _accountant, _pairs_event, PAIRS_SHARE * epsilon, delta_rdp,
        calibration.ExplicitBracketInterval(0.05, 1e5), tol=1e-3))


def _pairs_event(noise: float):  # noqa: ANN202
    """Stage 3's two releases: every pair table, then the strongest ones again (`_release_noises`)."""
    dp_event = _dp()[0]
    return dp_event.ComposedDpEvent([dp_event.GaussianDpEvent(m) for m in _release_noises(noise)])


def _release_noises(noise: float) -> tuple[float, float]:
    """The noise multipliers of stage 3's first and second release, which together cost what one release at
    `noise` does, the first FIRST_SHARE of it: a Gaussian release's RDP at every order goes as 1 / multiplier^2."""
    return noise / math.sqrt(FIRST_SHARE), noise / math.sqrt(1 - FIRST_SHARE)


def _stats_event(noise: float, pairs: float | None = None):  # noqa: ANN202
    """The statistics releases: stage 1 at BOUNDS_NOISE * noise and its zoom at ZOOM_NOISE * noise (accounted
    whether or not a column is narrow), stage 2 at noise, and stage 3 (the pair tables) at `pairs` when they are
    released."""
    dp_event = _dp()[0]
    events = [dp_event.GaussianDpEvent(BOUNDS_NOISE * noise), dp_event.GaussianDpEvent(ZOOM_NOISE * noise),
              dp_event.GaussianDpEvent(noise)]
    return dp_event.ComposedDpEvent(events + ([] if pairs is None else [_pairs_event(pairs)]))


@functools.lru_cache(maxsize=64)
def _rdp_of(n_rows: int, batch: int, noise: float, stats: float, pairs: float | None
            ) -> tuple[np.ndarray, np.ndarray]:
    """(RDP of one critic step, RDP of the statistics) at ORDERS, from dp_accounting's accountant; RDP adds up
    over composed steps, which is how the accountant composes them."""
    dp_event, _, _, _, _ = _dp()
    step = _accountant()
    step.compose(dp_event.SampledWithoutReplacementDpEvent(n_rows, batch, dp_event.GaussianDpEvent(noise)))
    first = _accountant()
    first.compose(_stats_event(stats, pairs))
    return np.asarray(step.rdp, dtype=np.float64), np.asarray(first.rdp, dtype=np.float64)


class Budget:
    """The accountant of one training: the statistics releases (with the pair tables when `pairs`), then `steps`
    critic steps on `n_rows` rows in batches of `batch`."""

    def __init__(self, privacy: Privacy, n_rows: int, batch: int, steps: int = 0, pairs: bool = False):
        self.privacy, self.n_rows, self.batch, self.steps, self.pairs = privacy, n_rows, batch, steps, pairs
        self.stats = stats_noise(privacy.epsilon, privacy.delta_rdp)
        self.pair_noise = pairs_noise(privacy.epsilon, privacy.delta_rdp) if pairs else None
        self.pair_noises = _release_noises(self.pair_noise) if pairs else None  # the first release's, the second's
        self._step_rdp, self._stats_rdp = _rdp_of(n_rows, batch, privacy.noise_multiplier, self.stats,
                                                  self.pair_noise)

    def epsilon(self, steps: int | None = None) -> float:
        """Epsilon spent after `steps` critic steps (those taken so far by default), at delta."""
        _, _, _, _, compute_epsilon = _dp()
        steps = self.steps if steps is None else steps
        eps, _ = compute_epsilon(np.asarray(ORDERS), self._stats_rdp + steps * self._step_rdp, self.privacy.delta_rdp)
        return float(eps)

    def affordable(self, limit: int) -> int:
        """Most critic steps in total, at most `limit`, whose epsilon stays within the budget."""
        if self.epsilon(0) > self.privacy.epsilon:
            return 0
        low, high = 0, max(1, limit)
        if self.epsilon(high) <= self.privacy.epsilon:
            return high
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if self.epsilon(mid) <= self.privacy.epsilon else (low, mid)
        return low

    def spent(self) -> dict:
        return {"epsilon": round(self.epsilon(), 6), "delta": self.privacy.delta,
                "target_epsilon": self.privacy.epsilon, "critic_steps": self.steps,
                "noise_multiplier": self.privacy.noise_multiplier, "max_grad_norm": self.privacy.max_grad_norm,
                "statistics_noise_multiplier": round(self.stats, 6),
                "pair_tables_noise_multipliers": None if self.pair_noises is None else [
                    round(m, 6) for m in self.pair_noises],
                "accountant": "dp_accounting RDP, replace-one, sampling without replacement"}


def dp_batch(n_rows: int, batch_size: int, pac: int) -> int:
    """Rows per DP-SGD step: batch_size, or the most whole pac groups the table holds."""
    return min(batch_size, (n_rows // pac) * pac)


def check_budget(n_rows: int, config) -> Budget:  # noqa: ANN001 - synth.config.Config
    """The budget of a DP training of `n_rows` rows with `config`; SynthError when it cannot buy one epoch
    (the statistics and one epoch's critic steps). Answers from the row count alone, without training."""
    privacy = Privacy.of(config.privacy)
    batch = dp_batch(n_rows, config.rows_per_step(n_rows), config.pac)
    if batch < config.pac:
        raise SynthError(f"differential privacy needs at least {config.pac} training rows (pac); the table has "
                         f"{n_rows}")
    epoch = max(n_rows // batch, 1) * config.discriminator_steps
    try:
        budget = Budget(privacy, n_rows, batch, pairs=config.pair_loss != "off")
    except ValueError:  # no noise makes the statistics cost so little at this delta
        raise SynthError(
            f"the privacy budget epsilon={privacy.epsilon:g} cannot buy one epoch of training on {n_rows} rows: "
            f"at delta={privacy.delta:g} it does not even cover the data statistics "
            f"({STATS_SHARE:g} of it). Raise epsilon") from None
    if budget.epsilon(epoch) > privacy.epsilon:
        raise SynthError(
            f"the privacy budget epsilon={privacy.epsilon:g} cannot buy one epoch of training on {n_rows} rows: "
            f"the data statistics{', the pair tables' if budget.pairs else ''} and one epoch ({epoch} critic steps "
            f"of {batch} rows, noise multiplier {privacy.noise_multiplier:g}) cost epsilon="
            f"{budget.epsilon(epoch):.3g} at delta={privacy.delta:g}. "
            "Raise epsilon or noise_multiplier, or lower batch_size")
    return budget


# ---- the data statistics -------------------------------------------------------------------------------
def _coarse_edges(spec) -> np.ndarray:  # noqa: ANN001
    if spec.kind == "datetime":
        return _YEAR_SECONDS
    return _COARSE_WHOLE if _integral(spec) else _COARSE


def _bounds(counts: np.ndarray, edges: np.ndarray, noise: float) -> tuple[float, float]:
    """The span (between edges; the two outer bins open) of the bulk of a noisy histogram and of any bin that
    noise alone passes with probability 1e-3 over all of them. The bulk is the run of bins whose sum stands
    furthest above its noise, over runs of 1 to 32 bins (a sum of w bins has sqrt(w) times one bin's noise and w
    times its rows: a column spread thinly over many bins shows in a long run, where its fullest single bin might
    be a far one that noise filled); it then grows bin by bin while the BOUNDS_WINDOW bins beyond it sum above
    GROW_NOISES times their noise."""
    best, first, last = -np.inf, 0, 0
    for w in (1, 2, 4, 8, 16, 32):
        if w > len(counts):
            break
        score = np.convolve(counts, np.ones(w), mode="valid") / math.sqrt(w)
        start = int(np.argmax(score))
        if score[start] > best:
            best, first, last = score[start], start, start + w - 1
    w = min(BOUNDS_WINDOW, len(counts))
    limit = GROW_NOISES * noise * math.sqrt(w)
    while first > 0 and counts[max(0, first - w):first].sum() > limit:
        first -= 1
    while last < len(counts) - 1 and counts[last + 1:last + 1 + w].sum() > limit:
        last += 1
    above = np.flatnonzero(counts > noise * norm.isf(1e-3 / len(counts)))
    if len(above):
        first, last = min(first, int(above[0])), max(last, int(above[-1]))
    low = edges[max(first - 1, 0)] if first > 0 else edges[0] - (edges[1] - edges[0])
    high = edges[min(last, len(edges) - 1)] if last < len(edges) else edges[-1] + (edges[-1] - edges[-2])
    return float(low), float(high)


def _narrow(low: float, high: float) -> bool:
    """Whether stage 1's bounds lie within a factor of ZOOM_FACTOR of each other, on one side of zero: a column that
    varies by a few percent around a large value (a price index near 93, a head count near 5,100) fills one or two
    of the coarse grid's bins, and the fine histogram between such bounds would put every row in one bin."""
    return low * high > 0 and max(abs(low), abs(high)) <= ZOOM_FACTOR * min(abs(low), abs(high))


def _zoomed(x: np.ndarray, low: float, high: float, noise: float, rng) -> tuple[float, float] | None:
    """Stage 1's second release, for a narrow column: ZOOM_BINS even bins between its bounds (a row beyond them is
    in none). The span from the first to the last bin that passes ZOOM_NOISES noise sds is where stage 2 puts its
    fine bins; None when no bin passes (a column spread evenly, each bin too thin) or every bin is in that span.
    A row is in at most one bin: the L2 sensitivity over the narrow columns is sqrt(2 * columns)."""
    edges = np.linspace(low, high, ZOOM_BINS + 1)
    inside = x[(x >= low) & (x <= high)]
    counts = np.bincount(np.searchsorted(edges[1:-1], inside, side="right"), minlength=ZOOM_BINS).astype(np.float64)
    passing = np.flatnonzero(counts + rng.normal(0, noise, ZOOM_BINS) > ZOOM_NOISES * noise)
    if not len(passing) or (passing[0] == 0 and passing[-1] == ZOOM_BINS - 1):
        return None
    return float(edges[passing[0]]), float(edges[passing[-1] + 1])


def fine_bins(n_rows: int, noise: float) -> int:
    """Bins of a numeric column's stage-2 histogram: as many as keep an even spread's count per bin at
    BIN_NOISES times the noise, within [MIN_BINS, FINE_BINS]. A bin that noise swamps is emptied (below), so
    fine bins on a small table or a tight budget would leave nothing; the row count and the noise are public."""
    return int(np.clip(n_rows / (BIN_NOISES * noise), MIN_BINS, FINE_BINS))


def _resolution(spec) -> int:  # noqa: ANN001
    """A date column's step, from its (public) format: days, minutes or seconds."""
    fmt = spec.datetime_format or ""
    if fmt and "%H" not in fmt:
        return 86_400
    if fmt and "%S" not in fmt:
        return 60
    return 1


def fit_private(schema: Schema, df: pd.DataFrame, config, budget: Budget, seed: int
                ) -> tuple[DataTransformer, list[IdSpec]]:  # noqa: ANN001
    """The transformer and ID shapes of a DP training, from noisy statistics alone (this module's doc)."""
    rng = np.random.default_rng([seed, 0xD1F])
    n = len(df)
    numeric = [s for s in schema.columns if s.numeric]
    discrete = [s for s in schema.columns if s.kind in ("categorical", "boolean", "constant")]
    check_public_domains({"categories": budget.privacy.categories, "bounds": budget.privacy.bounds},
                         {s.name: s.kind for s in schema.columns})
    found = [s for s in numeric if s.name not in budget.privacy.bounds]  # stage 1 finds these columns' bounds
    sens1, sens2 = math.sqrt(2 * max(1, len(numeric))), math.sqrt(2 * max(1, len(numeric) + len(discrete)))
    s1, s2 = BOUNDS_NOISE * budget.stats * sens1, budget.stats * sens2
    for spec in numeric:
        spec.discrete = False  # a column's count of distinct values is not released
        if spec.kind == "datetime":
            spec.extra["resolution"] = _resolution(spec)
    # Stage 1: where each column's rows lie, and the bounds of those without public ones.
    values = {s.name: numeric_values(df[s.name], s) for s in numeric}
    coarse = {}
    for spec in numeric:
        x, edges = values[spec.name], _coarse_edges(spec)
        x = x[~np.isnan(x)]
        public = budget.privacy.bounds.get(spec.name)
        if public is not None:  # the rows as stage 2 will see them: clipped into the public range
            x = np.clip(x, *public)
        counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1)
        coarse[spec.name] = (counts + rng.normal(0, s1, len(counts)), edges, s1)
        low, high = public if public is not None else _bounds(coarse[spec.name][0], edges, s1)
        spec.minimum, spec.maximum = float(low), float(high)
    # Stage 1's zoom, for the narrow columns.
    narrow = [s for s in found if s.kind != "datetime" and _narrow(s.minimum, s.maximum)]
    s1z = ZOOM_NOISE * budget.stats * math.sqrt(2 * max(1, len(narrow)))
    zooms = {}
    for spec in narrow:
        x = values[spec.name]
        zooms[spec.name] = _zoomed(x[~np.isnan(x)], spec.minimum, spec.maximum, s1z, rng)
    for spec in numeric:
        if _integral(spec):  # inward: the integers the range holds
            low, high = math.ceil(spec.minimum), max(math.ceil(spec.minimum), math.floor(spec.maximum))
            spec.minimum, spec.maximum = float(low), float(high)
    # Stage 2: the columns' distributions.
    transformer = DataTransformer(schema, config.max_modes, config.max_categories, seed=seed,
                                  min_rows=max(config.rare_threshold, 2), rare_mode=config.rare_categories)
    continuous, discretes = {}, {}
    bins = fine_bins(n, s2)
    for spec in numeric:
        if _integral(spec) and spec.maximum - spec.minimum < min(DISCRETE_MAX_VALUES, bins):
            spec.discrete = True  # few integers in the released range: one category each, as without DP
            discretes[spec.name] = _private_integers(spec, values[spec.name], s2, rng)
        else:
            continuous[spec.name] = _private_continuous(spec, values[spec.name], s2, config.max_modes, bins, rng,
                                                         zooms.get(spec.name), coarse[spec.name])
    threshold = 1 + s2 * norm.isf(budget.privacy.delta_select / max(1, len(discrete)))
    threshold = max(threshold, config.rare_threshold)
    for spec in discrete:
        enc = _private_discrete(spec, df[spec.name], s2, threshold, n, config, rng,
                                budget.privacy.categories.get(spec.name))
        if spec.kind == "constant":
            released = [c for c in enc.categories if c is not None]
            spec.extra["value"] = released[0] if released and released[0] != MARKER else (
                MARKER if spec.dtype in ("object", "str", "string") else None)
            spec.null_rate = float(enc.frequencies[-1]) if None in enc.categories else 0.0
        else:
            discretes[spec.name] = enc
    for spec in schema.columns:
        if spec.name in continuous:
            transformer.blocks.append(("continuous", len(transformer.continuous)))
            transformer.continuous.append(continuous[spec.name])
        elif spec.name in discretes:
            transformer.blocks.append(("discrete", len(transformer.discrete)))
            transformer.discrete.append(discretes[spec.name])
    ids = []
    for spec in schema.columns:
        if spec.kind == "id":
            integer = spec.minimum is not None
            ids.append(IdSpec(name=spec.name, integer=integer, low=1, high=max(n, 1)) if integer else
                       IdSpec(name=spec.name, integer=False, templates=["9" * max(6, len(str(n)))]))
            if integer:
                spec.minimum, spec.maximum = 1.0, float(max(n, 1))
            spec.null_rate = 0.0
    return transformer, ids


def _integral(spec) -> bool:  # noqa: ANN001
    return spec.kind == "integer" or spec.dtype.startswith(("int", "uint", "Int", "UInt"))


def _emptied(noisy: np.ndarray, noise: float) -> np.ndarray:
    """Noisy counts, those under EMPTY_NOISES noise sds set to 0: an empty bin stays empty."""
    return np.where(noisy > EMPTY_NOISES * noise, noisy, 0.0)


def _private_integers(spec, x: np.ndarray, noise: float, rng) -> DiscreteEncoder:  # noqa: ANN001
    """A numeric column of few integers between its released bounds, as categories: one noisy histogram, a bin per
    integer (the value clipped into the bounds) and one for nulls, emptied as _private_continuous's are."""
    low, high = int(spec.minimum), int(spec.maximum)
    null = np.isnan(x)
    inside = np.clip(np.rint(x[~null]), low, high).astype(np.int64) - low
    raw = np.concatenate([np.bincount(inside, minlength=high - low + 1), [null.sum()]]).astype(np.float64)
    released = raw + rng.normal(0, noise, len(raw))
    noisy = _emptied(released, noise)
    counts, nulls = noisy[:-1], noisy[-1]
    if counts.sum() <= 0:  # the fullest bin as released
        counts = (np.arange(len(counts)) == np.argmax(released[:-1])).astype(np.float64)
    kept = np.flatnonzero(counts > 0)
    categories, weights = [int(low + i) for i in kept], counts[kept].tolist()
    spec.null_rate = float(nulls / (nulls + counts.sum())) if nulls / (nulls + counts.sum()) > 1e-3 else 0.0
    if spec.null_rate:
        categories.append(None)
        weights.append(nulls)
    total = float(sum(weights))
    return DiscreteEncoder(name=spec.name, categories=categories, frequencies=[w / total for w in weights],
                           suppressed="nearest")


def _shares(coarse: tuple[np.ndarray, np.ndarray, float], low: float, high: float, bins: int) -> np.ndarray:
    """Stage 2's edges from stage 1's histogram (`coarse`: its noisy counts, its grid and its noise): the bins
    between low and high hold equal shares of the rows stage 1 saw in its bulk (`_bounds`), spread evenly inside
    each of its bins (counts below 0 taken as 0), with one wide bin on each side for the rows beyond the bulk. A
    column whose rows fill a sliver of its range (a bill from -5,000 to 960,000, half its rows under 22,000, or a
    payment whose public range reaches 900,000) then gets its fine bins where its rows are, where even bins
    would put the bulk in one (post-processing)."""
    counts, edges, noise = coarse
    if low <= 0 <= high:  # zeros are stage 2's atom: the bulk is that of the other rows
        counts = np.where(np.arange(len(counts)) == np.searchsorted(edges, 0.0, side="right"), 0.0, counts)
    first, last = _bounds(counts, edges, noise)
    first, last = max(first, low), min(last, high)
    if not first < last:
        first, last = low, high
    inner = bins - int(first > low) - int(last < high)
    grid = np.concatenate([[first], edges[(edges > first) & (edges < last)], [last]])
    mass = np.clip(counts[np.searchsorted(edges, (grid[:-1] + grid[1:]) / 2, side="right")], 0, None)
    if inner < 1 or mass.sum() <= 0:
        return np.linspace(low, high, bins + 1)
    mass = mass + 1e-9 * mass.sum()  # no flat stretch: the inverse below is then one-valued
    cumulative = np.concatenate([[0.0], np.cumsum(mass)])
    bulk = np.interp(np.linspace(0, cumulative[-1], inner + 1), cumulative, grid)
    return np.unique(np.concatenate([[low], bulk, [high]]))


def _private_continuous(spec, x: np.ndarray, noise: float, max_modes: int, bins: int,  # noqa: ANN001
                        rng, zoom: tuple[float, float] | None,
                        coarse: tuple[np.ndarray, np.ndarray, float]) -> ContinuousEncoder:
    """A numeric column's encoder from one noisy histogram: `bins` bins between the released bounds (one per
    integer when the range is narrower), an atom at 0 when 0 lies in the range (a value chosen without looking:
    zero-inflated columns, a capital gain, are common, and a bin would spread the spike over its width), and
    nulls. Each row is in exactly one of them. The bins hold equal shares of stage 1's histogram (`_shares`), or
    with a zoom lie where it found the rows."""
    low, high = spec.minimum, spec.maximum
    if _integral(spec) and high - low < bins:  # a bin per integer: every value is its own atom
        edges, atom = np.arange(low - 0.5, high + 1.0), False
    else:
        atom = low <= 0 <= high
        if zoom is not None and bins > 2:  # the fine bins where stage 1 found the rows, one on each side
            edges = np.unique(np.concatenate([[low], np.linspace(max(low, zoom[0]), min(high, zoom[1]), bins - 1),
                                              [high]]))
        else:
            edges = _shares(coarse, low, high, bins)
        if _integral(spec):  # inner edges between whole numbers: a value's rows stay in one bin
            edges = np.unique(np.concatenate([[low], np.floor(edges[1:-1]) + 0.5, [high]]))
        if atom:
            edges = np.union1d(edges, [0.0])
    bins = len(edges) - 1
    null = np.isnan(x)
    inside = np.clip(x[~null], low, high)
    at_zero = inside == 0 if atom else np.zeros(len(inside), dtype=bool)
    counts = np.histogram(inside[~at_zero], bins=edges)[0].astype(np.float64)
    raw = np.concatenate([counts, [float(at_zero.sum()), float(null.sum())]])
    noisy = raw + rng.normal(0, noise, len(raw))
    noisy = _emptied(noisy, noise)
    noisy_bins, noisy_zero, noisy_null = noisy[:bins], noisy[bins] if atom else 0.0, noisy[bins + 1]
    total = noisy_bins.sum() + noisy_zero
    if total <= 0:
        noisy_bins, noisy_zero, total = np.ones(bins), 0.0, float(bins)
    null_rate = noisy_null / (noisy_null + total)
    spec.null_rate = float(null_rate) if null_rate > 1e-3 else 0.0
    # The quantile function: linear inside each bin, a jump at the atom.
    mass, values = [0.0], [edges[0]]
    cumulative = 0.0
    for j in range(bins):
        if atom and edges[j] == 0 and noisy_zero > 0:
            cumulative += noisy_zero
            mass.append(cumulative)
            values.append(0.0)
        cumulative += noisy_bins[j]
        mass.append(cumulative)
        values.append(edges[j + 1])
    if atom and edges[-1] == 0 and noisy_zero > 0:
        mass.append(cumulative + noisy_zero)
        values.append(0.0)
    mass = np.asarray(mass) / total
    quantiles = np.clip(np.interp(np.linspace(0, 1, QUANTILES), mass, values), low, high)
    # Points drawn from the noisy histogram: its mean, spread and mixture.
    weights = np.concatenate([noisy_bins, [noisy_zero]]) / total
    picked = rng.choice(bins + 1, MIXTURE_POINTS, p=weights)
    width = np.diff(edges)
    points = np.where(picked == bins, 0.0,
                      edges[np.minimum(picked, bins - 1)] + rng.random(MIXTURE_POINTS) *
                      width[np.minimum(picked, bins - 1)])
    points = np.clip(points, low, high)
    mean, std = float(points.mean()), float(points.std()) or 1.0
    mix = fit_mixture((points - mean) / std, max_modes=max_modes)
    return ContinuousEncoder(name=spec.name, mean=mean, std=std, weights=mix.weights.tolist(),
                             means=mix.means.tolist(), stds=mix.stds.tolist(), nullable=spec.null_rate > 0,
                             quantiles=((quantiles - mean) / std).tolist())


def _private_discrete(spec, series: pd.Series, noise: float, threshold: float, n: int, config,  # noqa: ANN001
                      rng, domain: list | None = None) -> DiscreteEncoder:
    """A categorical column's encoder from its noisy counts: the values whose count passes `threshold`, or with a
    public `domain`, each listed value whose noisy count is not emptied (`_emptied`), and at least two of them."""
    counts = series.value_counts(dropna=True)
    outside = None
    if domain is not None:  # public values: each one's count is released, however small
        by_text = {str(v): c for v, c in counts.items()}
        listed = {str(v) for v in domain}
        outside = float(sum(c for v, c in by_text.items() if v not in listed))
        counts = pd.Series([by_text.get(str(v), 0) for v in domain], index=pd.Index(domain, dtype=object))
    noisy = counts.to_numpy(dtype=np.float64) + rng.normal(0, noise, len(counts))
    keep = noisy > (EMPTY_NOISES * noise if domain is not None else threshold)
    if domain is not None and len(domain) > 1 and keep.sum() < 2:
        # A column the code book says varies keeps its two fullest values, at one noise sd or more: a target
        # with an 11% class (236 rows under a noise of 82) must not become a constant when noise takes it down.
        top = np.argsort(-noisy, kind="stable")[:2]
        keep[top] = True
        noisy[top] = np.maximum(noisy[top], noise)
    released = pd.Series(noisy[keep], index=counts.index[keep]).sort_values(ascending=False)
    nulls = float(_emptied(np.array([series.isna().sum() + rng.normal(0, noise)]), noise)[0])
    text = marker_allowed("categorical", spec.dtype) or spec.kind == "constant"
    if outside is not None:  # the values off the list: one more bin of the same histogram, and the threshold
        outside += rng.normal(0, noise)
        marker = outside if outside > threshold else 0.0
    else:
        marker = n - released.sum() - nulls
    marker = max(0.0, marker) if text and config.rare_categories == "marker" else 0.0
    values = [json_value(v) for v in released.index]
    weights = released.to_numpy().tolist()
    if marker > 0 or not values:
        values.append(MARKER if text else None)
        weights.append(max(marker, 1.0))
    spec.null_rate = nulls / max(1.0, sum(weights) + nulls) if nulls / n > 1e-3 else 0.0
    if spec.null_rate and None not in values:
        values.append(None)
        weights.append(nulls)
    total = float(sum(weights))
    kept, rest = values[:config.max_categories], values[config.max_categories:]
    enc = DiscreteEncoder(name=spec.name, categories=kept, frequencies=[w / total for w in weights[:len(kept)]],
                          suppressed=config.rare_categories if text else "frequent")
    if rest:
        rest_weights = np.asarray(weights[len(kept):])
        enc.rare, enc.rare_frequencies = rest, (rest_weights / rest_weights.sum()).tolist()
        enc.frequencies.append(float(rest_weights.sum() / total))
    if None in enc.rare:  # the null category stays a category of its own, last
        raise SynthError(f"column {spec.name!r}: too many categories for max_categories under privacy")
    return enc


def target_frequencies(transformer: DataTransformer, widths: list[int]) -> list[np.ndarray]:
    """Each block's slot frequencies as released (calibration's targets under DP): a categorical block's
    frequencies; a continuous block's mixture weights, then its null rate."""
    out = []
    for b in range(len(widths)):
        kind, i = transformer.blocks[b]
        if kind == "discrete":
            out.append(np.asarray(transformer.discrete[i].frequencies, dtype=np.float64))
        else:
            enc = transformer.continuous[i]
            null = transformer.schema[enc.name].null_rate if enc.nullable else 0.0
            weights = np.asarray(enc.weights) * (1 - null)
            out.append(np.concatenate([weights, [null]]) if enc.nullable else weights)
    return out


# ---- the critic's per-group gradients -----------------------------------------------------------------
def _score(params: dict, x: torch.Tensor, one_hot: torch.Tensor | None, masks: tuple, disc: Discriminator
           ) -> torch.Tensor:
    """The critic's score of one pac group: `x` its rows' data (pac * data_dim), `one_hot` their conditional
    one-hots (pac * cond_dim), `masks` one dropout mask per dropout layer. The same function as
    Discriminator's, written plainly so that torch.func can take it per group."""
    z = x @ params["data_weight"] + params["bias"]
    if one_hot is not None:
        z = z + one_hot @ params["cond_weight"]
    m = 0
    for index, module in enumerate(disc.seq):
        if isinstance(module, nn.LeakyReLU):
            z = torch.nn.functional.leaky_relu(z, module.negative_slope)
        elif isinstance(module, Dropout):
            z = z * masks[m]
            m += 1
        else:
            z = z @ params[f"seq.{index}.weight"].t() + params[f"seq.{index}.bias"]
    return z[0]


def _group_loss(params, fake, real, one_hot, t, fake_masks, real_masks, penalty_masks, disc, weight):  # noqa: ANN001, ANN202
    """One group's share of the critic's loss: its generated rows' score less its real rows' score, plus its
    gradient penalty term (the gradient taken at a point between the two groups, one-hot columns included)."""
    mix = t * real + (1 - t) * fake
    if one_hot is None:
        grad_x = torch.func.grad(_score, argnums=1)(params, mix, None, penalty_masks, disc)
        squares = grad_x.square().sum()
    else:
        grad_x, grad_h = torch.func.grad(_score, argnums=(1, 2))(params, mix, one_hot, penalty_masks, disc)
        squares = grad_x.square().sum() + grad_h.square().sum()
    penalty = weight * (squares.sqrt() - 1).square()
    return _score(params, fake, one_hot, fake_masks, disc) - _score(params, real, one_hot, real_masks, disc) + penalty


def per_group_gradients(disc: Discriminator, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor | None,
                        gen: torch.Generator, weight: float = 10.0) -> tuple[dict, torch.Tensor]:
    """({parameter name: (groups, *shape) gradient of each group's loss}, (groups,) losses). The critic's
    loss (synthesizer._critic_update's) is the mean of the groups' losses, so the mean of these gradients is
    its gradient. The random draws are those of the ordinary path, in its order: the dropout masks of the
    scores (generated groups then real ones), the penalty's mix weights from `gen`, then the penalty's masks."""
    groups, pac = real.shape[0] // disc.pac, disc.pac
    drops = [m for m in disc.seq if isinstance(m, Dropout)]
    widths = [disc.bias.shape[0]] + [m.out_features for m in disc.seq if isinstance(m, nn.Linear)][:-1]

    def masks(rows: int) -> list[torch.Tensor]:
        out = []
        for drop, width in zip(drops, widths, strict=True):
            mask = drop.mask(torch.empty(rows, width, device=real.device))
            out.append(torch.ones(rows, width, device=real.device) if mask is None else mask)
        return out

    score_masks = masks(2 * groups)
    t = torch.rand(groups, 1, generator=gen, device=real.device)
    penalty_masks = masks(groups)
    one_hot = None
    if cond is not None and disc.cond_dim:
        index = cond.reshape(groups, pac) + disc._row_offsets
        one_hot = torch.zeros(groups, pac * disc.cond_dim, device=real.device).scatter_(1, index, 1.0)
    params = {name: p.detach() for name, p in disc.named_parameters()}
    loss = functools.partial(_group_loss, disc=disc, weight=weight)
    fn = torch.func.vmap(torch.func.grad_and_value(loss), in_dims=(None, 0, 0, 0 if one_hot is not None else None,
                                                                 0, 0, 0, 0))
    grads, losses = fn(params, fake.reshape(groups, -1), real.reshape(groups, -1), one_hot, t,
                       tuple(m[:groups] for m in score_masks), tuple(m[groups:] for m in score_masks),
                       tuple(penalty_masks))
    return grads, losses


def group_terms(disc: Discriminator, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor | None,
                gen: torch.Generator, weight: float = 10.0) -> dict[str, list]:
    """Each group's gradient of its own loss, by hand and unmaterialised: {parameter name: [(U, V), ...]} where
    group g's gradient is the sum over the list of the outer products U[g] x V[g] (V None: U[g] itself, a
    vector). Every weight's gradient is such a sum for one group: its input times its output's delta, once for
    the generated rows' score, once for the real rows' (minus), once for the penalty (the formulas of
    networks._Penalty, group by group). Same draws, in the same order, as per_group_gradients; a test
    compares the two."""
    groups, pac = real.shape[0] // disc.pac, disc.pac
    layers = list(disc.seq)
    drops = [m for m in layers if isinstance(m, Dropout)]
    slopes = [m.negative_slope for m in layers if isinstance(m, nn.LeakyReLU)]
    linears = [(i, m) for i, m in enumerate(layers) if isinstance(m, nn.Linear)]
    widths = [disc.bias.shape[0]] + [m.out_features for _, m in linears][:-1]
    device = real.device

    def masks(rows: int) -> list[torch.Tensor]:
        out = []
        for drop, width in zip(drops, widths, strict=True):
            mask = drop.mask(torch.empty(rows, width, device=device))
            out.append(torch.ones(rows, width, device=device) if mask is None else mask)
        return out

    score_masks = masks(2 * groups)
    t = torch.rand(groups, 1, generator=gen, device=device)
    penalty_masks = masks(groups)
    one_hot = None
    if cond is not None and disc.cond_dim:
        index = cond.reshape(groups, pac) + disc._row_offsets
        one_hot = torch.zeros(groups, pac * disc.cond_dim, device=device).scatter_(1, index, 1.0)
    with torch.no_grad():
        x_fake, x_real = fake.reshape(groups, -1), real.reshape(groups, -1)
        x_mix = t * x_real + (1 - t) * x_fake

        def forward(x: torch.Tensor, mask: list[torch.Tensor], hot: torch.Tensor | None) -> tuple[list, list]:
            """Each hidden layer's output a_l and gate (slope times mask), first layer first."""
            z = x @ disc.data_weight + disc.bias
            if hot is not None:
                z = z + hot @ disc.cond_weight
            acts, gates = [], []
            for layer, (slope, m) in enumerate(zip(slopes, mask, strict=True)):
                gate = torch.where(z > 0, 1.0, slope) * m
                acts.append(z * gate)
                gates.append(gate)
                if layer + 1 < len(slopes):
                    module = linears[layer][1]
                    z = acts[-1] @ module.weight.t() + module.bias
            return acts, gates

        def deltas(gates: list[torch.Tensor]) -> list[torch.Tensor]:
            """d score / d z_l for each hidden layer, first layer first."""
            out = [linears[-1][1].weight * gates[-1]]
            for (_, module), gate in zip(reversed(linears[:-1]), reversed(gates[:-1]), strict=True):
                out.append((out[-1] @ module.weight) * gate)
            return out[::-1]

        both_acts, both_gates = forward(torch.cat([x_fake, x_real]), score_masks,
                                        None if one_hot is None else one_hot.repeat(2, 1))
        acts_f, acts_r = [a[:groups] for a in both_acts], [a[groups:] for a in both_acts]
        both_deltas = deltas(both_gates)
        d_f, d_r = [d[:groups] for d in both_deltas], [d[groups:] for d in both_deltas]
        _, pen_gates = forward(x_mix, penalty_masks, one_hot)
        d_p = deltas(pen_gates)
        q = d_p[0] @ disc.data_weight.t()
        squares = q.square().sum(1)
        r = None
        if one_hot is not None:
            r = d_p[0] @ disc.cond_weight.t()
            squares = squares + r.square().sum(1)
        n = squares.sqrt()
        scale = (weight * 2 * (n - 1) / n)[:, None]
        q_t = q * scale
        terms: dict[str, list] = {
            "data_weight": [(x_fake, d_f[0]), (-x_real, d_r[0]), (q_t, d_p[0])],
            "bias": [(d_f[0] - d_r[0], None)],
        }
        grad_delta = q_t @ disc.data_weight
        if one_hot is not None:
            r_t = r * scale
            terms["cond_weight"] = [(one_hot, d_f[0] - d_r[0]), (r_t, d_p[0])]
            grad_delta = grad_delta + r_t @ disc.cond_weight
        else:
            terms["cond_weight"] = []
        for layer, (index, module) in enumerate(linears[:-1]):
            grad_u = grad_delta * pen_gates[layer]
            terms[f"seq.{index}.weight"] = [(d_f[layer + 1], acts_f[layer]), (-d_r[layer + 1], acts_r[layer]),
                                            (d_p[layer + 1], grad_u)]
            terms[f"seq.{index}.bias"] = [(d_f[layer + 1] - d_r[layer + 1], None)]
            grad_delta = grad_u @ module.weight.t()
        index, last = linears[-1]
        ones = torch.ones(groups, 1, device=device)
        terms[f"seq.{index}.weight"] = [(ones, acts_f[-1] - acts_r[-1] + grad_delta * pen_gates[-1])]
        terms[f"seq.{index}.bias"] = [(torch.zeros(groups, 1, device=device), None)]
    return terms


def materialise(terms: dict) -> dict[str, torch.Tensor]:
    """{name: (groups, *shape)}: each group's gradient, built from group_terms (for tests)."""
    out = {}
    for name, pairs in terms.items():
        parts = [u if v is None else torch.einsum("ga,gb->gab", u, v) for u, v in pairs]
        out[name] = sum(parts[1:], parts[0]) if parts else None
    return out


def group_norms(terms: dict) -> torch.Tensor:
    """Each group's gradient norm, without building the gradients: the squared norm of a sum of outer
    products u_k x v_k is the sum over pairs (k, k') of (u_k . u_k')(v_k . v_k')."""
    total = None
    for pairs in terms.values():
        for k, (u, v) in enumerate(pairs):
            for k2, (u2, v2) in enumerate(pairs[k:], start=k):
                part = (u * u2).sum(1) if v is None else (u * u2).sum(1) * (v * v2).sum(1)
                part = part if k2 == k else 2 * part
                total = part if total is None else total + part
    return total.clamp_min(0).sqrt()


def private_critic_update(disc: Discriminator, optimizer: torch.optim.Optimizer, real: torch.Tensor,
                          fake: torch.Tensor, cond: torch.Tensor | None, gen: torch.Generator,
                          privacy: Privacy) -> None:
    """One DP-SGD step of the critic: each group's gradient clipped to max_grad_norm, summed, Gaussian noise of
    standard deviation noise_multiplier * 2 * max_grad_norm added, divided by the number of groups. The
    clipped sum is a few products of the groups' factors scaled by their clipping (group_terms); the
    gradients of single groups are never built."""
    terms = group_terms(disc, real, fake, cond, gen)
    groups = real.shape[0] // disc.pac
    clip = (privacy.max_grad_norm / (group_norms(terms) + 1e-12)).clamp(max=1.0)[:, None]
    std = privacy.noise_multiplier * 2 * privacy.max_grad_norm
    for name, p in disc.named_parameters():
        g = torch.zeros_like(p)
        for u, v in terms[name]:
            g += (clip * u).sum(0) if v is None else ((clip * u).t() @ v).reshape(p.shape)
        g += torch.randn(g.shape, generator=gen, device=g.device) * std
        p.grad = g / groups
    optimizer.step()


def release_pairs(codes: np.ndarray, widths: list[int], budget: Budget, seed: int,  # noqa: ANN201
                  target: int | None = None):
    """Stage 3: the pair tables, shrunk (synth.pairs), from two Gaussian releases. A row is in one cell of each
    table, so changing it moves at most two counts by 1 in each: the L2 sensitivity of t tables is sqrt(2 t).
    The first release, at FIRST_SHARE of stage 3's cost, has every table; the tables that stand furthest above its
    noise (as many as there are blocks less one, as a tree joining them would have), and every table of the
    `target` block when the job names one, are released again, on their own and with the rest of the cost, so
    with less noise, and each of those is the two releases' average weighted by their precision. Choosing them
    reads only the first release and the job's settings: post-processing. The target's tables keep their shrinkage
    as their weight in the loss, but not in their shares: a model trained on the rows needs the target's links as
    sharp as they were released."""
    from synth.pairs import pair_counts, shrink, strongest

    counts = pair_counts(codes, widths)
    if not counts:
        return {}
    rng = np.random.default_rng([seed, 0xA12])
    first = budget.pair_noises[0] * math.sqrt(2 * len(counts))
    noisy = {pair: table + rng.normal(0, first, table.shape) for pair, table in counts.items()}
    chosen = strongest(noisy, len(codes), first, len({b for pair in counts for b in pair}) - 1)
    if target is not None:
        chosen = list(dict.fromkeys(chosen + [pair for pair in counts if target in pair]))
    second = budget.pair_noises[1] * math.sqrt(2 * len(chosen))
    noise = dict.fromkeys(counts, first)
    for pair in chosen:
        again = counts[pair] + rng.normal(0, second, counts[pair].shape)
        w1, w2 = first ** -2, second ** -2
        noisy[pair] = (w1 * noisy[pair] + w2 * again) / (w1 + w2)
        noise[pair] = (w1 + w2) ** -0.5
    out = shrink(noisy, len(codes), noise)
    if target is not None:  # the target's tables as released: shrunk, a 50% yes-rate would be taught as 34%
        sharp = shrink({pair: table for pair, table in noisy.items() if target in pair}, len(codes), 0.0)
        out = {pair: (sharp[pair][0], w) if pair in sharp else (shares, w) for pair, (shares, w) in out.items()}
    return out


# ---- a training step --------------------------------------------------------------------------------------
def training_sampler(transformer: DataTransformer, n_rows: int, device: torch.device):  # noqa: ANN201
    """The generator's training conditions, by log-frequency (CTGAN's training-by-sampling) of the released
    frequencies: no row is read."""
    from synth.sampler import ConditionalSampler

    widths = transformer.block_widths()
    cond_blocks = transformer.discrete_blocks()
    sampler = ConditionalSampler(np.zeros((1, len(widths)), dtype=np.int32), widths, cond_blocks, False, device)
    if cond_blocks:
        freqs = np.concatenate([transformer.discrete[transformer.blocks[b][1]].frequencies for b in cond_blocks])
        sampler.train_cdf = sampler._cdf(np.log1p(np.asarray(freqs) * n_rows))
        sampler.set_true_frequencies(freqs)
    return sampler


def private_step(model, data, critic: bool = True) -> torch.Tensor:  # noqa: ANN001 - a Synthesizer, _TrainingData
    """`discriminator_steps` DP-SGD critic steps (each accounted) and one generator step. The critic's real
    rows are a uniform sample without replacement; each row's condition is one of its own categories (a
    block drawn uniformly). The generator's step draws conditions from the released frequencies."""
    cfg, gen, device = model.config, model._gen, model.device
    D, G, budget = model._discriminator, model._generator, model._budget
    n = data.codes.shape[0]
    cond_blocks = data.cond_block
    for _ in range(cfg.discriminator_steps if critic else 0):
        rows = torch.randperm(n, generator=gen, device=device)[:budget.batch]
        real = data.layout.expand(data.scalars[rows], data.codes[rows])
        cond = None
        if len(cond_blocks):
            j = torch.randint(len(cond_blocks), (budget.batch,), generator=gen, device=device)
            c = data.codes[rows, cond_blocks[j]].long()
            cond = data.sampler.one_hot_index(j, c)
        with torch.no_grad():
            noise = torch.randn(budget.batch, cfg.embedding_dim, generator=gen, device=device)
            fake, _ = model.activate(data.layout, G.forward_one_hot(noise, cond), cond)
        private_critic_update(D, model._opt_d, real, fake, cond, gen, budget.privacy)
        budget.steps += 1

    D.requires_grad_(False)
    j, c = data.sampler.sample_condition(budget.batch, gen) or (None, None)
    cond = None if j is None else data.sampler.one_hot_index(j, c)
    noise = torch.randn(budget.batch, cfg.embedding_dim, generator=gen, device=device)
    fake, raw = model.activate(data.layout, G.forward_one_hot(noise, cond), cond)  # raw: logits, chain included
    if j is not None:
        cond_loss = torch.nn.functional.cross_entropy(data.layout.block_logits(raw, data.cond_block[j]), c)
    else:
        cond_loss = torch.zeros((), device=device)
    loss_g = -D(fake, D.one_hot_part(cond)).mean() + cond_loss
    zero = torch.zeros((), device=device)
    loss_p = zero
    if model._pair_loss is not None:  # the released pair tables: post-processing (synth.pairs)
        loss_p = model.pair_loss(data, fake, j, c)
        loss_g = loss_g + cfg.pair_weight * loss_p
    model._opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    model._opt_g.step()
    D.requires_grad_(True)
    return torch.stack([loss_g.detach(), zero, cond_loss.detach(), zero, loss_p.detach()])
