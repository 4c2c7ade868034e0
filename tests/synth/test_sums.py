"""Totals of two columns: found on the real rows, kept in every sampled row, protected at their extremes."""

import numpy as np
import pandas as pd
import pytest

from synth import Synthesizer
from synth.schema import infer_schema
from synth.sums import MIN_ROWS_BOTH_PARTS, NumericSum, add_parts, find_sums, total_grid
from tests.synth.conftest import read_dataset


def _parts(n=400, seed=0):
    rng = np.random.default_rng(seed)
    above = rng.integers(500, 4000, n)
    basement = np.where(rng.random(n) < 0.6, 0, rng.integers(100, 2000, n))
    return pd.DataFrame({"above": above, "basement": basement, "living": above + basement,
                         "lot": rng.integers(1000, 20000, n)})


def _sums(df, modelled=frozenset()):
    return find_sums(df, infer_schema(df).columns, modelled)


def test_a_total_of_two_columns_is_found_and_nothing_else():
    df = _parts()
    assert _sums(df) == [NumericSum(name="living", parts=["above", "basement"])]
    assert _sums(df, {"living"}) == []  # a target is modelled, never derived

    off_by_one = df.copy()
    off_by_one.loc[123, "living"] += 1  # one row in 400 breaks it: no rule
    assert _sums(off_by_one) == []


def test_nulls_count_only_where_a_part_is_null():
    df = _parts().astype({"basement": "float64", "living": "float64"})
    df.loc[:9, "basement"] = np.nan
    df.loc[:9, "living"] = np.nan
    assert _sums(df) == [NumericSum(name="living", parts=["above", "basement"])]
    df.loc[10, "living"] = np.nan  # null where both parts hold a value
    assert _sums(df) == []


def test_mostly_zero_columns_do_not_make_a_sum_by_chance():
    """Columns that are zero on most rows add up on every row where at most one of them holds something; a rule
    needs enough rows where both parts hold a value."""
    rng = np.random.default_rng(0)
    n, both = 400, MIN_ROWS_BOTH_PARTS - 1
    a, b = np.zeros(n), np.zeros(n)
    a[:100] = rng.uniform(1, 50, 100)  # rows 0-99: a holds a value
    b[:both] = rng.uniform(1, 50, both)  # rows 0-18: b too
    b[100:160] = rng.uniform(1, 50, 60)  # rows 100-159: b alone

    def table():
        return pd.DataFrame({"a": a, "b": b, "c": a + b, "d": rng.normal(size=n)})

    assert _sums(table()) == []
    b[both] = 2.5  # one more row with both
    assert _sums(table()) == [NumericSum(name="c", parts=["a", "b"])]


def test_a_sum_outside_the_totals_bounds_moves_to_the_nearest_bound_and_keeps_adding_up():
    a = np.array([100.0, 900.0, 950.0, 10.0])
    b = np.array([50.0, 400.0, 90.0, 5.0])
    # a in [10, 1000], b in [0, 300], the total in [30, 1200]
    a2, b2, total = add_parts(a, b, (10, 1000), (0, 300), (30, 1200))
    assert total.tolist() == [150, 1200, 1040, 30]
    # row 1: 900 + 400 > 1200: b takes 1200 - 900 = 300, inside its bounds; row 3: 10 + 5 < 30: b takes 20
    assert b2.tolist() == [50, 300, 90, 20] and a2.tolist() == [100, 900, 950, 10]
    a = np.array([1000.0])
    b = np.array([250.0])
    a2, b2, total = add_parts(a, b, (10, 1000), (0, 300), (30, 1100))
    # 1000 + 250 > 1100; b would be 100, inside; then b at 100 and a unchanged
    assert (a2 + b2 == total).all() and total.tolist() == [1100] and b2.tolist() == [100]
    a = np.array([20.0])
    b = np.array([10.0])
    a2, b2, total = add_parts(a, b, (10, 1000), (0, 5), (40, 1100))
    # 30 < 40: b would be 20, above its top 5, so b is 5 and a takes 35
    assert total.tolist() == [40] and b2.tolist() == [5] and a2.tolist() == [35]


def test_the_totals_grid_is_the_parts_common_one():
    assert total_grid((0.25, 2), (1.0, 0)) == (0.25, 2)
    assert total_grid((10.0, 0), (15.0, 0)) == (5.0, 0)
    assert total_grid((0.1, 1), (0.01, 2)) == (0.01, 2)
    assert total_grid((1.0, 0), None) is None


def test_every_sampled_house_adds_up_and_its_extremes_stay_protected(tmp_path):
    """king_county's living area is its area above ground plus its basement on every real row. Sampled rows keep
    it exactly, the total never reaches the largest real area (synth.protect), and both hold after saving and
    loading and under a condition on the total."""
    kc = read_dataset("king_county", 800)
    model = Synthesizer(epochs=3, batch_size=200, seed=0).fit(kc)
    assert [(t.name, t.parts) for t in model.transformer.sums] == [("sqft_living", ["sqft_above", "sqft_basement"])]
    rows = model.sample(5000, seed=1)
    assert (rows["sqft_living"] == rows["sqft_above"] + rows["sqft_basement"]).all()
    assert rows["sqft_living"].dtype == kc["sqft_living"].dtype
    assert rows["sqft_living"].max() < kc["sqft_living"].max()
    assert rows["sqft_living"].min() > kc["sqft_living"].min()
    assert (rows["sqft_basement"] == 0).mean() == pytest.approx((kc["sqft_basement"] == 0).mean(), abs=0.15)

    model.save(tmp_path / "m")
    loaded = Synthesizer.load(tmp_path / "m")
    big = loaded.sample(300, seed=2, conditions={"sqft_living": {"min": 3000}})
    assert len(big) == 300 and (big["sqft_living"] >= 3000).all()
    assert (big["sqft_living"] == big["sqft_above"] + big["sqft_basement"]).all()


def test_a_target_that_is_a_total_is_modelled():
    kc = read_dataset("king_county", 800)
    model = Synthesizer(epochs=1, batch_size=200, seed=0, target="sqft_living").fit(kc)
    assert model.transformer.sums == []
