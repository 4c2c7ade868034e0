"""synth.quality: every metric against numbers worked out by hand on tiny tables, then the report on Adult."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats.contingency import association

from synth.errors import SynthError
from synth.quality import (
    bin_numeric,
    contingency_similarity,
    correlation_similarity,
    cramers_v,
    dcr,
    dcr_share,
    detection_auc,
    exact_copy_rate,
    ks_complement,
    report,
    tstr,
    tv_complement,
)

from .conftest import read_dataset


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    # the 6,000-row slice, shuffled, without the few duplicated rows (they would tie in DCR / copy checks)
    df = read_dataset("adult").drop_duplicates()
    return df.sample(frac=1.0, random_state=0).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------
# Column shapes
# ---------------------------------------------------------------------------------------------------------


def test_ks_complement_by_hand():
    # real CDF on 1,2,3,4: 1/3, 2/3, 1, 1; synthetic CDF: 0, 1/3, 2/3, 1 -> D = 1/3, complement 2/3
    assert ks_complement([1, 2, 3], [2, 3, 4]) == pytest.approx(2 / 3)
    # nulls are dropped, not counted: the same numbers as above
    assert ks_complement([1.0, np.nan, 2.0, 3.0], [2.0, 3.0, 4.0, None]) == pytest.approx(2 / 3)
    # disjoint supports: D = 1
    assert ks_complement([1, 2], [3, 4]) == pytest.approx(0.0)
    # same values in another order: D = 0
    assert ks_complement([5, 1, 3], [3, 5, 1]) == pytest.approx(1.0)
    # unequal sizes: real CDF at 1: 1/2, synthetic 1/4 -> D = 1/4 (at 2: 1 vs 1/2 -> D = 1/2); D = 1/2
    assert ks_complement([1, 2], [1, 2, 3, 4]) == pytest.approx(0.5)


def test_ks_complement_on_datetimes():
    real = pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"]))
    synth = pd.Series(pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-04"]))
    # as seconds this is [1, 2, 3] vs [2, 3, 4] days: complement 2/3
    assert ks_complement(real, synth) == pytest.approx(2 / 3)


def test_ks_complement_needs_values():
    with pytest.raises(SynthError):
        ks_complement([np.nan], [1.0])


def test_tv_complement_by_hand():
    # p_real = (a 2/3, b 1/3), p_synth = (a 1/3, b 2/3): sum |diff| = 2/3, complement 1 - 1/3 = 2/3
    assert tv_complement(["a", "a", "b"], ["a", "b", "b"]) == pytest.approx(2 / 3)
    # categories on one side only count: real (a 1/2, b 1/2), synthetic (c 1): sum = 2, complement 0
    assert tv_complement(["a", "b"], ["c", "c"]) == pytest.approx(0.0)
    # null is its own category: real (a 1/2, null 1/2), synthetic (a 1): sum = 1, complement 1/2
    assert tv_complement(["a", None], ["a", "a"]) == pytest.approx(0.5)
    # frequencies are normalised per side: 2 rows against 4 rows of the same mix
    assert tv_complement(["x", "y"], ["y", "x", "x", "y"]) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------------
# Column pairs
# ---------------------------------------------------------------------------------------------------------


def test_correlation_similarity_by_hand():
    real = pd.DataFrame({"x": [1, 2, 3], "y": [1, 2, 3]})  # rho = 1
    anti = pd.DataFrame({"x": [1, 2, 3], "y": [3, 2, 1]})  # rho = -1
    # 1 - |1 - (-1)| / 2 = 0
    assert correlation_similarity(real, anti) == pytest.approx(0.0)
    assert correlation_similarity(real, real) == pytest.approx(1.0)
    # x centred (-1.5, -.5, .5, 1.5), y centred (1, -1, -1, 1): sum of products 0 -> rho 0;
    # 1 - |1 - 0| / 2 = 1/2
    real4 = pd.DataFrame({"x": [1, 2, 3, 4], "y": [1, 2, 3, 4]})
    zero = pd.DataFrame({"x": [1, 2, 3, 4], "y": [1, -1, -1, 1]})
    assert correlation_similarity(real4, zero) == pytest.approx(0.5)
    # a row with a null in either column is dropped: the extra rows would otherwise change rho_synth
    zero_nulls = pd.DataFrame({"x": [1, 2, 3, 4, np.nan, 100], "y": [1, -1, -1, 1, 50, np.nan]})
    assert correlation_similarity(real4, zero_nulls) == pytest.approx(0.5)


def test_correlation_similarity_undefined_without_variance():
    real = pd.DataFrame({"x": [1, 2, 3], "y": [1, 2, 3]})
    flat = pd.DataFrame({"x": [1, 2, 3], "y": [5, 5, 5]})
    assert correlation_similarity(real, flat) is None


def test_contingency_similarity_with_null_as_category():
    real = pd.DataFrame({"a": ["a", "a", "b", "b"], "b": ["x", None, "x", "x"]})
    synth = pd.DataFrame({"a": ["a", "a", "b", "b"], "b": ["x", "x", None, "x"]})
    # real: (a,x) 1/4, (a,null) 1/4, (b,x) 2/4; synthetic: (a,x) 2/4, (b,null) 1/4, (b,x) 1/4
    # |diff|: (a,x) 1/4 + (a,null) 1/4 + (b,x) 1/4 + (b,null) 1/4 = 1 -> 1 - 1/2 = 1/2
    # (with nulls dropped it would be 1 - 0.5 * (1/3 + 1/3) = 2/3)
    assert contingency_similarity(real, synth) == pytest.approx(0.5)
    assert contingency_similarity(real, real) == pytest.approx(1.0)
    # same marginals, opposite association: (a,x) 1/2, (b,y) 1/2 against (a,y) 1/2, (b,x) 1/2 -> 0
    assert contingency_similarity(pd.DataFrame({"a": ["a", "b"], "b": ["x", "y"]}),
                                  pd.DataFrame({"a": ["a", "b"], "b": ["y", "x"]})) == pytest.approx(0.0)


def test_cramers_v_by_hand():
    # perfect association on a 2x2 table: chi2 = n, V = 1
    assert cramers_v(pd.DataFrame({"a": list("aabb"), "b": list("xxyy")})) == pytest.approx(1.0)
    # independence: every cell 1, E = 1, chi2 = 0
    assert cramers_v(pd.DataFrame({"a": list("aabb"), "b": list("xyxy")})) == pytest.approx(0.0)
    # table [[2, 1], [0, 1]], n = 4: E = [[1.5, 1.5], [.5, .5]],
    # chi2 = .25/1.5 + .25/1.5 + .25/.5 + .25/.5 = 4/3; V = sqrt((4/3) / (4 * 1)) = sqrt(1/3)
    data = pd.DataFrame({"a": ["a", "a", "a", "b"], "b": ["x", "x", "y", "y"]})
    assert cramers_v(data) == pytest.approx(math.sqrt(1 / 3))
    # null is a category: with nulls dropped column b would have one value and V would be 0
    assert cramers_v(pd.DataFrame({"a": list("aabb"), "b": [None, None, "x", "x"]})) == pytest.approx(1.0)
    # a single category: no association
    assert cramers_v(pd.DataFrame({"a": list("aaaa"), "b": list("xyxy")})) == 0.0


def test_cramers_v_matches_scipy_on_a_random_table():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, 500)
    b = (a + rng.integers(0, 3, 500)) % 5
    table = pd.crosstab(a, b).to_numpy()
    expected = association(table, method="cramer", correction=False)
    assert cramers_v(pd.DataFrame({"a": a, "b": b})) == pytest.approx(expected, rel=1e-9)


def test_bin_numeric_uses_real_edges_and_clips_synthetic():
    real = np.arange(11, dtype=float)  # edges 0, 1, ..., 10 (10 bins); 10 falls in the last bin
    synth = [-5.0, 2.5, 10.0, 99.0, np.nan]
    r, s = bin_numeric(real, synth)
    assert r.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9]
    assert s.tolist() == [0, 2, 9, 9, 10]  # below: first bin; above: last bin; null: its own code 10


# ---------------------------------------------------------------------------------------------------------
# Privacy
# ---------------------------------------------------------------------------------------------------------

KINDS_XC = {"x": "continuous", "c": "categorical"}


def test_dcr_on_a_two_row_reference_by_hand():
    reference = pd.DataFrame({"x": [0.0, 10.0], "c": ["a", None]})  # range of x: 10
    synthetic = pd.DataFrame({
        "x": [2.0, 30.0, np.nan, 9.0, 10.0],
        "c": ["a", None, "a", "b", None],
    })
    got = dcr(synthetic, reference, kinds=KINDS_XC)
    expected = [
        0.1,  # (2, a):   row 1: (0.2 + 0) / 2 = 0.1;   row 2: (0.8 + 1) / 2 = 0.9
        0.5,  # (30, -):  row 1: (1 + 1) / 2 = 1;       row 2: (min(2, 1) + 0 null=null) / 2 = 0.5
        0.5,  # (-, a):   row 1: (1 null/value + 0) / 2 = 0.5; row 2: (1 + 1) / 2 = 1
        0.55,  # (9, b):  row 1: (0.9 + 1) / 2 = 0.95;  row 2: (0.1 + 1) / 2 = 0.55
        0.0,  # (10, -):  row 2 exactly
    ]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # ranges can be given: with range 20, (2, a) is (2/20 + 0) / 2 = 0.05 from row 1
    assert dcr(synthetic.iloc[:1], reference, kinds=KINDS_XC, ranges={"x": 20.0})[0] == pytest.approx(0.05)


def test_dcr_numeric_null_against_null_is_zero():
    reference = pd.DataFrame({"x": [0.0, 10.0, np.nan], "c": ["a", "b", "c"]})
    synthetic = pd.DataFrame({"x": [np.nan], "c": ["c"]})
    assert dcr(synthetic, reference, kinds=KINDS_XC)[0] == pytest.approx(0.0)
    # against the value rows: (1 + 1) / 2; against the null row with another category: (0 + 1) / 2
    synthetic = pd.DataFrame({"x": [np.nan], "c": ["z"]})
    assert dcr(synthetic, reference, kinds=KINDS_XC)[0] == pytest.approx(0.5)


def test_dcr_share_by_hand_with_a_tie():
    train = pd.DataFrame({"x": [0.0, 10.0]})  # range 10
    holdout = pd.DataFrame({"x": [0.0, 4.0]})
    synthetic = pd.DataFrame({"x": [0.0, 9.0, 3.0]})
    # 0: train 0, holdout 0 -> tie, counts 1/2; 9: train 0.1 < holdout 0.5 -> 1;
    # 3: train 0.3 > holdout 0.1 -> 0. Share = (1/2 + 1 + 0) / 3 = 1/2
    assert dcr_share(synthetic, train, holdout, kinds={"x": "continuous"}) == pytest.approx(0.5)


def test_dcr_share_and_copies_for_a_copying_generator(adult):
    train, holdout = adult.iloc[:1000], adult.iloc[1000:2000]
    assert dcr_share(train.copy(), train, holdout) == 1.0  # every synthetic row is a training row
    assert exact_copy_rate(train.copy(), train) == 1.0
    assert dcr_share(holdout.copy(), train, holdout) == 0.0  # copies of the holdout are closer to it
    assert exact_copy_rate(holdout.copy(), train) == 0.0
    # a generator that never saw either: about half
    other = adult.iloc[2000:3000]
    assert 0.35 < dcr_share(other, train, holdout) < 0.65


def test_exact_copy_rate_by_hand():
    train = pd.DataFrame({"row_id": [1, 2, 3], "x": [1, 2, np.nan], "c": ["a", "b", None]})
    synthetic = pd.DataFrame({
        "row_id": [70, 80, 90, 99],  # ids are keys: left out of the comparison
        "x": [1.0, np.nan, 2.0, 2.0],  # 1.0 equals 1
        "c": ["a", None, "b", "c"],
    })
    kinds = {"row_id": "id", "x": "continuous", "c": "categorical"}
    # (1, a) copy; (null, null) copy of row 3; (2, b) copy; (2, c) not -> 3/4
    assert exact_copy_rate(synthetic, train, kinds=kinds) == pytest.approx(0.75)
    # a value off by a little is not a copy
    synthetic.loc[0, "x"] = 1.000001
    assert exact_copy_rate(synthetic, train, kinds=kinds) == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------------------
# Usefulness
# ---------------------------------------------------------------------------------------------------------


def test_detection_auc_is_about_half_for_the_same_distribution(adult):
    half = 2000
    auc = detection_auc(adult.iloc[:half], adult.iloc[half:2 * half], seed=0)
    assert 0.42 < auc < 0.58


def test_detection_auc_is_near_one_for_a_different_table(adult):
    real, other = adult.iloc[:2000], adult.iloc[2000:4000].copy()
    other["age"] = other["age"] + 40
    other["hours-per-week"] = other["hours-per-week"] * 3
    assert detection_auc(real, other, seed=0) > 0.98


def test_tstr_with_real_as_synthetic_gives_the_same_numbers(adult):
    train, holdout = adult.iloc[:3000], adult.iloc[3000:]
    out = tstr(train.copy(), train, holdout, target="income")
    assert out["task"] == "classification" and out["metric"] == "macro_f1"
    assert out["synthetic"] == pytest.approx(out["real"], abs=1e-12)
    assert 0.7 < out["real"] < 0.9
    assert out["test_rows"] == len(holdout)
    # another real sample of the same size: close to the real figure
    other = tstr(adult.iloc[:1500], adult.iloc[1500:3000], holdout, target="income")
    assert abs(other["synthetic"] - other["real"]) < 0.05


def test_tstr_with_a_useless_synthetic_table_scores_low(adult):
    train, holdout = adult.iloc[:3000], adult.iloc[3000:]
    noise = train.copy()
    noise["income"] = np.random.default_rng(0).permutation(noise["income"].to_numpy())
    out = tstr(noise, train, holdout, target="income")
    assert out["synthetic"] < out["real"] - 0.15


def test_tstr_picks_regression_for_a_many_valued_numeric_target(adult):
    train, holdout = adult.iloc[:3000], adult.iloc[3000:]
    out = tstr(train.copy(), train, holdout, target="age")
    assert (out["task"], out["metric"]) == ("regression", "r2")
    assert out["synthetic"] == pytest.approx(out["real"], abs=1e-12)
    # education-num has 16 values: a classification task
    assert tstr(train.copy(), train, holdout, target="education-num")["task"] == "classification"


# ---------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------


def _assert_plain_json(value):
    if isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str
            _assert_plain_json(v)
    elif isinstance(value, list):
        for v in value:
            _assert_plain_json(v)
    else:
        assert value is None or type(value) in (str, int, float, bool), (value, type(value))
        if type(value) is float:
            assert math.isfinite(value)


def test_report_on_identical_frames_is_perfect(adult):
    df = adult.iloc[:1000]
    out = report(df, df.copy())
    assert out["column_shapes"]["score"] == pytest.approx(1.0)
    assert out["column_pair_trends"]["all"] == pytest.approx(1.0)
    assert out["column_pair_trends"]["strong"] == pytest.approx(1.0)
    assert out["overall"] == pytest.approx(1.0) and out["overall_all_pairs"] == pytest.approx(1.0)
    assert all(c["score"] == pytest.approx(1.0) for c in out["column_shapes"]["columns"].values())
    assert out["column_pair_trends"]["pairs"] == 15 * 14 // 2
    assert out["privacy"] is None and out["detection"] is None and out["tstr"] is None
    _assert_plain_json(out)


def test_report_pair_conventions_by_hand():
    kinds = {"x": "continuous", "y": "continuous", "z": "continuous"}
    real = pd.DataFrame({"x": [1, 2, 3, 4], "y": [1, 2, 3, 4], "z": [1, -1, -1, 1]})
    synth = pd.DataFrame({"x": [1, 2, 3, 4], "y": [4, 3, 2, 1], "z": [1, -1, -1, 1]})
    out = report(real, synth, kinds=kinds)
    # shapes: every column has the same values on both sides -> 1
    # (x, y): rho_real 1, rho_synth -1 -> 0, strong; (x, z): 0 vs 0 -> 1; (y, z): 0 vs 0 -> 1 (not strong)
    pairs = out["column_pair_trends"]
    scores = {tuple(d["columns"]): (d["score"], d["strong"], d["metric"]) for d in pairs["details"]}
    assert scores[("x", "y")] == (pytest.approx(0.0), True, "correlation_similarity")
    assert scores[("x", "z")] == (pytest.approx(1.0), False, "correlation_similarity")
    assert scores[("y", "z")] == (pytest.approx(1.0), False, "correlation_similarity")
    assert pairs["all"] == pytest.approx(2 / 3) and pairs["strong"] == pytest.approx(0.0)
    assert (pairs["pairs"], pairs["strong_pairs"], pairs["strong_fallback"]) == (3, 1, False)
    assert out["column_shapes"]["score"] == pytest.approx(1.0)
    assert out["overall"] == pytest.approx(0.5)  # mean(1, 0)
    assert out["overall_all_pairs"] == pytest.approx(5 / 6)  # mean(1, 2/3)


def test_report_mixed_pair_bins_on_real_edges_and_clips():
    kinds = {"n": "continuous", "c": "categorical"}
    real = pd.DataFrame({"n": [0.0, 10.0], "c": ["a", "b"]})
    synth = pd.DataFrame({"n": [-5.0, 5.0], "c": ["a", "b"]})
    out = report(real, synth, kinds=kinds)
    (detail,) = out["column_pair_trends"]["details"]
    # edges 0, 1, ..., 10: real (bin 0, a) 1/2, (bin 9, b) 1/2; synthetic -5 clipped to bin 0: (0, a) 1/2,
    # (bin 5, b) 1/2 -> |diff| 1/2 + 1/2 -> 1 - 1/2 = 1/2. Real Cramér's V = 1 (perfect 2x2): strong.
    assert detail["metric"] == "contingency_similarity"
    assert detail["score"] == pytest.approx(0.5)
    assert detail["real_association"] == pytest.approx(1.0) and detail["strong"] is True
    # shapes: KS of [0, 10] vs [-5, 5]: CDFs at -5: 0 vs 1/2, 0: 1/2 vs 1/2, 5: 1/2 vs 1 -> D 1/2; c: TV 1
    assert out["column_shapes"]["columns"]["n"] == {"metric": "ks_complement", "score": pytest.approx(0.5)}
    assert out["column_shapes"]["columns"]["c"] == {"metric": "tv_complement", "score": pytest.approx(1.0)}


def test_report_without_strong_pairs_falls_back_to_all_pairs():
    kinds = {"x": "continuous", "z": "continuous"}
    real = pd.DataFrame({"x": [1, 2, 3, 4], "z": [1, -1, -1, 1]})  # rho 0
    synth = pd.DataFrame({"x": [1, 2, 3, 4], "z": [-1, -1, 1, 1]})
    out = report(real, synth, kinds=kinds)
    # synthetic rho: (-1.5, -.5, .5, 1.5) . (-1, -1, 1, 1) = 4, norms sqrt(5) and 2; the real rho is 0 (weak)
    rho_s = 4 / (math.sqrt(5) * 2)
    pairs = out["column_pair_trends"]
    assert pairs["all"] == pytest.approx(1 - rho_s / 2)
    assert pairs["strong"] == pairs["all"] and pairs["strong_fallback"] is True and pairs["strong_pairs"] == 0
    assert any("strong" in n for n in out["notes"])


def test_report_skips_a_pair_without_variance_and_says_so():
    kinds = {"x": "continuous", "y": "continuous"}
    real = pd.DataFrame({"x": [1, 2, 3], "y": [1, 2, 3]})
    synth = pd.DataFrame({"x": [1, 2, 3], "y": [2, 2, 2]})
    out = report(real, synth, kinds=kinds)
    assert out["column_pair_trends"]["pairs"] == 0
    assert out["column_pair_trends"]["skipped_pairs"] == [["x", "y"]]
    assert out["column_pair_trends"]["all"] is None
    assert any("no variance in the synthetic data" in n for n in out["notes"])
    # no pair left: overall is the shapes score. x: 1; y: [1,2,3] vs [2,2,2]: CDFs at 1: 1/3 vs 0, at 2: 2/3
    # vs 1, at 3: 1 vs 1 -> D = 1/3, complement 2/3; shapes = (1 + 2/3) / 2 = 5/6
    assert out["column_shapes"]["score"] == pytest.approx(5 / 6)
    assert out["overall"] == pytest.approx(5 / 6) and out["overall_all_pairs"] == pytest.approx(5 / 6)


def test_report_reads_text_datetimes_with_their_format():
    real = pd.DataFrame({"d": ["01/02/2020", "01/03/2020", "01/04/2020"]})
    synth = pd.DataFrame({"d": ["01/03/2020", "01/04/2020", "01/05/2020"]})
    # month/day: days 2, 3, 4 vs 3, 4, 5 -> KS complement 2/3 (read as day/month it would be months apart)
    for kinds in (None, {"d": "datetime"}):
        out = report(real, synth, kinds=kinds)
        assert out["kinds"] == {"d": "datetime"}
        assert out["column_shapes"]["columns"]["d"]["score"] == pytest.approx(2 / 3)
    assert out["overall"] == pytest.approx(2 / 3)  # no pairs: overall = shapes


def test_report_matches_booleans_across_representations():
    real = pd.DataFrame({"b": [True, False, True, False]})
    synth = pd.DataFrame({"b": ["true", "false", "True", "FALSE"]})
    out = report(real, synth)
    assert out["kinds"] == {"b": "boolean"}
    assert out["column_shapes"]["columns"]["b"]["score"] == pytest.approx(1.0)


def test_report_excludes_id_columns(adult):
    df = adult.iloc[:500].copy()
    df.insert(0, "customer_id", np.arange(len(df)))
    synth = df.copy()
    synth["customer_id"] = np.arange(len(df)) + 10_000
    out = report(df.iloc[:250], synth.iloc[:250], holdout=df.iloc[250:])
    assert out["excluded_columns"] == ["customer_id"]
    assert "customer_id" not in out["column_shapes"]["columns"]
    assert all("customer_id" not in d["columns"] for d in out["column_pair_trends"]["details"])
    assert out["privacy"]["exact_copy_rate"] == 1.0  # new ids do not hide copied rows


def test_report_on_an_adult_slice_with_holdout_and_target(adult):
    train, holdout = adult.iloc[:3000], adult.iloc[3000:4500]
    synthetic = adult.iloc[4500:]  # real rows the report never saw: a perfect, non-copying generator
    out = report(train, synthetic, holdout=holdout, target="income", seed=0)
    json.dumps(out, allow_nan=False)
    _assert_plain_json(out)
    assert set(out) >= {"overall", "overall_all_pairs", "column_shapes", "column_pair_trends", "privacy",
                        "detection", "tstr", "rows", "excluded_columns"}
    n_syn = len(synthetic)
    assert out["rows"] == {"real": 3000, "synthetic": n_syn, "holdout": 1500,
                           "sampled": {"real": 3000, "synthetic": n_syn, "holdout": 1500}}
    assert out["column_shapes"]["score"] > 0.95 and out["overall"] > 0.9
    assert out["column_pair_trends"]["pairs"] == 105
    assert out["column_pair_trends"]["strong_pairs"] > 0
    privacy = out["privacy"]
    assert 0.35 < privacy["dcr_share"] < 0.65
    assert privacy["exact_copy_rate"] == 0.0 and privacy["dcr_synthetic_rows"] == n_syn
    assert privacy["dcr_reference_rows"] == 1500
    assert 0.4 < out["detection"]["auc"] < 0.6
    assert out["tstr"]["metric"] == "macro_f1" and abs(out["tstr"]["synthetic"] - out["tstr"]["real"]) < 0.06
    # seeded: the same call gives the same report
    assert report(train, synthetic, holdout=holdout, target="income", seed=0) == out


def test_report_subsamples_to_max_rows(adult):
    out = report(adult.iloc[:3000], adult.iloc[3000:], holdout=adult.iloc[:100], max_rows=500)
    assert out["rows"]["sampled"] == {"real": 500, "synthetic": 500, "holdout": 100}
    assert out["privacy"]["exact_copy_training_rows"] == 3000  # copies are checked against every train row
    assert out["privacy"]["exact_copy_rate"] == 0.0


def test_report_bad_input():
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"]})
    with pytest.raises(SynthError, match="share no columns"):
        report(df, pd.DataFrame({"c": [1, 2]}))
    with pytest.raises(SynthError, match="synthetic table has no rows"):
        report(df, df.iloc[:0])
    with pytest.raises(SynthError, match="real table has no rows"):
        report(df.iloc[:0], df)
    with pytest.raises(SynthError, match="not a column"):
        report(df, df, holdout=df, target="nope")
    with pytest.raises(SynthError, match="needs a holdout"):
        report(df, df, target="a")
    with pytest.raises(SynthError, match="id column"):
        report(df, df, holdout=df, target="a", kinds={"a": "id"})
    with pytest.raises(SynthError):
        report(df, df, kinds={"a": "wobbly"})
    with pytest.raises(SynthError):
        report("not a frame", df)


def test_sparse_counting_gives_the_same_numbers(monkeypatch):
    # high-cardinality pairs are counted sparsely; force that path on the hand-worked tables above
    import synth.quality as quality

    monkeypatch.setattr(quality, "_BINCOUNT_MAX", 0)
    real = pd.DataFrame({"a": ["a", "a", "b", "b"], "b": ["x", None, "x", "x"]})
    synth = pd.DataFrame({"a": ["a", "a", "b", "b"], "b": ["x", "x", None, "x"]})
    assert contingency_similarity(real, synth) == pytest.approx(0.5)
    data = pd.DataFrame({"a": ["a", "a", "a", "b"], "b": ["x", "x", "y", "y"]})
    assert cramers_v(data) == pytest.approx(math.sqrt(1 / 3))
    assert cramers_v(pd.DataFrame({"a": list("aabb"), "b": [None, None, "x", "x"]})) == pytest.approx(1.0)
