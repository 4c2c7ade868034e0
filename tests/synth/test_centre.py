"""Numbers that a category nearly determines: found, centred on the category's mean, and decoded back."""

import numpy as np
import pandas as pd
import pytest

from synth import Synthesizer
from synth.centre import MIN_EXPLAINED, find_centre
from synth.quality import detection_auc


def test_the_category_that_explains_the_column_is_found_and_scores_go_back_to_the_values():
    # x runs over [9, 11] in group 0 and [19, 21] in group 1; group 2 holds 3 rows, too few for its own quantiles.
    codes = np.array([0] * 40 + [1] * 40 + [2] * 3)
    x = np.concatenate([np.linspace(9, 11, 40), np.linspace(19, 21, 40), [15.0, 15.0, 15.0]])
    other = np.arange(len(x)) % 2  # explains nothing
    centre = find_centre(x, {"noise": (other, 2), "group": (codes, 3)}, min_rows=1)
    assert centre.on == ["group"]
    assert [q[0] for q in centre.quantiles] == pytest.approx([9, 19, 9])  # group 2: the whole column's
    assert [q[-1] for q in centre.quantiles] == pytest.approx([11, 21, 21])
    r = centre.apply(x, codes, np.random.default_rng(0))
    assert r[:40] == pytest.approx(r[40:80])  # the same rank in each group: the same score
    assert np.all(np.diff(r[:40]) > 0) and abs(r[:40].mean()) < 0.05
    assert centre.undo(r, codes) == pytest.approx(x, abs=0.005)  # the ends: scores stop at 0.1% and 99.9%


def test_a_categorys_quantiles_hold_no_single_rows_extreme():
    """With k = 10 (synth.protect) each stored point is a mean of 10 order statistics: a group's one-off
    largest value is never stored, so never decoded."""
    rng = np.random.default_rng(1)
    codes = np.repeat([0, 1], 200)
    x = np.concatenate([rng.normal(10, 0.5, 200), rng.normal(30, 0.5, 200)])
    x[0], x[200] = 14.0, 36.0  # each group's outlier
    centre = find_centre(x, {"g": (codes, 2)}, min_rows=10)
    stored = np.concatenate(centre.quantiles)
    assert 14.0 not in stored and 36.0 not in stored
    assert max(centre.quantiles[0]) < 14.0 and max(centre.quantiles[1]) < 36.0
    decoded = centre.undo(rng.normal(0, 3, 5000), np.repeat([0, 1], 2500))
    assert decoded[:2500].max() < 14.0 and decoded[2500:].max() < 36.0


def test_a_category_that_explains_less_leaves_the_column_alone():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, 2000)
    # the groups' means spread as much as the noise within them: half the variance explained
    x = codes * 1.0 + rng.normal(0, np.std(np.arange(4)), 2000)
    assert find_centre(x, {"g": (codes, 4)}, min_rows=10) is None
    x = codes * 10.0 + rng.normal(0, 1, 2000)  # 99% explained
    assert find_centre(x, {"g": (codes, 4)}, min_rows=10).on == ["g"]
    assert MIN_EXPLAINED > 0.5


def test_a_second_category_that_splits_the_first_further_is_kept_with_a_fallback_for_thin_pairs():
    """A rate set by its period, then shifted by the day within it (bank_marketing's Euribor rate): the period
    explains nearly all of it and the day most of the rest, so both are kept. A period-day pair with too few rows
    uses its period's quantile function; a column that splits nothing further is not added."""
    rng = np.random.default_rng(0)
    n = 6000
    period, day, noise = rng.integers(0, 12, n), rng.integers(0, 5, n), rng.integers(0, 3, n)
    day[(period == 3) & (day == 4)] = 0
    day[np.flatnonzero(period == 3)[:5]] = 4  # period 3, day 4: five rows
    x = np.linspace(0.6, 5.0, 12)[period] + np.array([-0.06, -0.03, 0, 0.03, 0.06])[day] + rng.normal(0, 0.005, n)
    groups = {"period": (period, 12), "day": (day, 5), "noise": (noise, 3)}
    centre = find_centre(x, groups, min_rows=10)
    assert centre.on == ["period", "day"] and centre.widths == [12, 5]
    assert len(centre.quantiles) == 60
    thin, own = 3 * 5 + 4, 3 * 5 + 0
    assert centre.quantiles[thin] == find_centre(x, {"period": (period, 12)}, min_rows=10).quantiles[3]
    assert centre.quantiles[thin] != centre.quantiles[own]
    code = centre.code([period, day])
    assert code[0] == period[0] * 5 + day[0]
    assert centre.undo(centre.apply(x, code, rng), code) == pytest.approx(x, abs=0.02)
    assert find_centre(x, {"period": (period, 12), "noise": (noise, 3)}, min_rows=10).on == ["period"]


def _rates(n=6000, seed=0):
    """A rate nearly fixed by the period (as bank_marketing's Euribor by its price index), beside other columns."""
    rng = np.random.default_rng(seed)
    periods = [f"p{i}" for i in range(12)]
    level = dict(zip(periods, np.linspace(0.6, 5.0, 12), strict=True))
    period = rng.choice(periods, n)
    return pd.DataFrame({
        "period": period,
        "rate": np.round([level[p] + rng.normal(0, 0.02) for p in period], 3),
        "calls": rng.poisson(3, n) * 17 + rng.integers(0, 17, n),
        "outcome": rng.choice(["yes", "no"], n, p=[0.2, 0.8]),
    })


def test_a_rate_fixed_by_its_period_keeps_to_it_in_sampled_rows(tmp_path):
    """The rate is modelled as its distance from its period's mean: sampled rows keep each period's rate, a
    detector reading the pair cannot tell them from real ones, and the model round-trips."""
    df = _rates()
    train, holdout = df.iloc[:4000], df.iloc[4000:]
    model = Synthesizer(epochs=10, batch_size=500, seed=0).fit(train)
    enc = next(e for e in model.transformer.continuous if e.name == "rate")
    assert enc.centre is not None and enc.centre.on == ["period"]
    assert next(e for e in model.transformer.continuous if e.name == "calls").centre is None
    rows = model.sample(2000, seed=1)
    real_means = train.groupby("period")["rate"].mean()
    sampled_means = rows.groupby("period")["rate"].mean()
    assert (sampled_means - real_means).abs().max() < 0.02
    assert rows.groupby("period")["rate"].std().max() < 0.1  # each period's own narrow band
    assert detection_auc(holdout[["period", "rate"]], rows[["period", "rate"]], seed=0) < 0.6

    model.save(tmp_path / "m")
    again = Synthesizer.load(tmp_path / "m").sample(2000, seed=1)
    pd.testing.assert_frame_equal(again, rows)
