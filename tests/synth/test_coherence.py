"""The impossible-combination rate (METRICS.md, "Coherence") against hand-worked values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth.coherence import MAX_VALUES
from synth.quality import impossible_combinations

TRAIN = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["p", "p", "q", "q"], "c": ["u", "v", "u", "v"]})


def test_rows_with_a_pair_never_seen_in_training_are_counted_once():
    # seen (a, b): (x, p), (y, q); (a, c): all four; (b, c): all four.
    synthetic = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["p", "q", "q", "p"], "c": ["u", "u", "v", "v"]})
    holdout = pd.DataFrame({"a": ["x", "y"], "b": ["p", "p"], "c": ["v", "v"]})
    got = impossible_combinations(synthetic, TRAIN, holdout)
    assert got["impossible_rate"] == pytest.approx(0.5)  # rows 2 (x, q) and 4 (y, p)
    assert got["holdout_rate"] == pytest.approx(0.5)  # row 2 (y, p)
    assert got["ratio"] == pytest.approx(1.0)
    assert got["pairs_checked"] == 3 and got["columns"] == ["a", "b", "c"]
    (worst,) = got["worst_pairs"]  # (a, c) and (b, c) are never broken: only pairs with unseen rows are listed
    assert worst["columns"] == ["a", "b"] and worst["rate"] == pytest.approx(0.5)
    assert worst["holdout_rate"] == pytest.approx(0.5)
    assert worst["example"] in (["x", "q"], ["y", "p"]) and worst["example_rate"] == pytest.approx(0.25)


def test_a_row_breaking_two_pairs_counts_once_and_the_worst_pair_comes_first():
    train = pd.DataFrame({"a": ["x", "y"] * 3, "b": ["p", "q"] * 3, "c": ["u", "v"] * 3})
    # seen: (x, p), (y, q); (x, u), (y, v); (p, u), (q, v). Row 1 (x, q, u) breaks (a, b) and (b, c), row 2
    # (x, q, v) breaks (a, b) and (a, c): two rows of four, whatever the number of pairs each breaks.
    synthetic = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["q", "q", "q", "q"], "c": ["u", "v", "v", "v"]})
    got = impossible_combinations(synthetic, train)
    assert got["impossible_rate"] == pytest.approx(0.5)
    assert got["holdout_rate"] is None and got["ratio"] is None
    assert [w["columns"] for w in got["worst_pairs"]][0] == ["a", "b"]
    rates = {tuple(w["columns"]): w["rate"] for w in got["worst_pairs"]}
    assert rates == {("a", "b"): pytest.approx(0.5), ("a", "c"): pytest.approx(0.25),
                     ("b", "c"): pytest.approx(0.25)}


def test_null_is_a_value_of_its_own():
    train = pd.DataFrame({"a": ["x", None, "y"], "b": ["p", "q", None]})
    synthetic = pd.DataFrame({"a": [None, None, "y", "x"], "b": ["q", "p", None, None]})
    got = impossible_combinations(synthetic, train)
    # (None, q) and (y, None) were seen; (None, p) and (x, None) were not
    assert got["impossible_rate"] == pytest.approx(0.5)
    assert {tuple(w["example"]) for w in got["worst_pairs"]} <= {(None, "p"), ("x", None)}


def test_booleans_count_and_wide_or_numeric_columns_do_not():
    rng = np.random.default_rng(0)
    n = 400
    train = pd.DataFrame({"flag": rng.random(n) < 0.5, "wide": rng.integers(0, MAX_VALUES + 5, n).astype(str),
                          "num": rng.normal(size=n), "kind": np.where(rng.random(n) < 0.5, "a", "b")})
    train.loc[train["flag"], "kind"] = "a"  # flag=True only with kind=a
    synthetic = train.copy()
    synthetic.loc[:9, ["flag", "kind"]] = [True, "b"]
    got = impossible_combinations(synthetic, train, kinds={"wide": "categorical"})
    assert got["columns"] == ["flag", "kind"]
    assert got["impossible_rate"] == pytest.approx(10 / n)


def test_fewer_than_two_qualifying_columns_gives_none():
    train = pd.DataFrame({"a": ["x", "y"] * 10, "n": np.arange(20.0)})
    assert impossible_combinations(train, train) is None


def _ruled_table(rows: int, seed: int) -> pd.DataFrame:
    """`b` is "none" exactly when `a` is "no": a hard rule, not a tendency. Two more columns carry some structure
    of their own. `a` is a function of `b`, so the transformer derives it from `b` rather than modelling it: the
    rule holds by construction, end to end. A rule that no derivation captures is tests/synth/test_rules.py's."""
    rng = np.random.default_rng(seed)
    a = np.where(rng.random(rows) < 0.4, "no", "yes")
    b = np.where(a == "no", "none", rng.choice(["basic", "plus", "max"], rows, p=[0.5, 0.3, 0.2]))
    size = np.where(b == "max", rng.normal(60, 8, rows), rng.normal(30, 10, rows)).round(1)
    region = rng.choice(["north", "south", "east", "west"], rows)
    return pd.DataFrame({"a": a, "b": b, "size": size, "region": region})


def test_a_hard_rule_is_learned_to_the_holdout_s_coherence():
    from synth import Synthesizer

    train, holdout = _ruled_table(1600, 0), _ruled_table(400, 1)
    model = Synthesizer(seed=0, min_steps=1000).fit(train)  # 125 epochs of 8 updates of 200 rows
    synthetic = model.sample(4000, seed=1)
    got = impossible_combinations(synthetic, train, holdout)
    base = got["holdout_rate"]
    broken = ((synthetic["a"] == "no") != (synthetic["b"] == "none")).mean()
    assert got["impossible_rate"] <= max(2 * base, base + 0.005), (got, broken)
    assert broken <= 0.005, broken
