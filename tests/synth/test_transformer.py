import numpy as np
import pandas as pd
import pytest

from synth.errors import SynthError
from synth.gmm import fit_mixture
from synth.schema import infer_schema
from synth.scores import normal_scores
from synth.transformer import ContinuousEncoder, DataTransformer, decode_continuous


def test_mixture_finds_two_separated_modes():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 0.5, 3000), rng.normal(4, 1.0, 1000)])
    mix = fit_mixture(x, max_modes=10)
    big = np.argsort(mix.weights)[::-1][:2]
    assert sorted(np.round(mix.means[big]).tolist()) == [-3.0, 4.0]
    assert abs(mix.weights[big].sum() - 1) < 0.05


def test_mixture_gives_a_spike_its_own_mode():
    x = np.concatenate([np.zeros(9000), np.random.default_rng(1).exponential(3, 1000) + 1])
    mix = fit_mixture((x - x.mean()) / x.std())
    spike = np.argmax(mix.weights)
    assert 0.85 < mix.weights[spike] < 0.95
    assert mix.stds[spike] < 0.05


def decoded(coded):
    return [coded.dictionary[k] for k in coded.codes]


def _round_trip(df):
    schema = infer_schema(df)
    t = DataTransformer(schema, seed=0).fit(df)
    scalars, codes = t.transform(df)
    return schema, t, scalars, codes, t.inverse(scalars, codes, np.random.default_rng(0))


@pytest.mark.parametrize("calibrated", [False, True])
def test_decoding_is_each_modes_affine_then_the_calibration_then_the_scale(calibrated):
    """decode_continuous looks the value up on one map of 4 mode + alpha; the same, step by step: mode m's
    mean plus 4 of its spreads times alpha, np.interp on the calibration grid, the column's scale. Modes of
    every kind: wide, narrow, a point (spread 0), past the grid's ends; the grid with a jump (a repeated
    point); nulls (the last mode)."""
    rng = np.random.default_rng(3)
    quantiles = np.sort(rng.normal(size=257))
    grid = np.sort(rng.normal(size=257) * 1.3 + 0.2)
    grid[100:103] = grid[100]  # an atom in the generator's marginal: a jump in the map
    enc = ContinuousEncoder(name="x", mean=50.0, std=12.0, weights=[0.3, 0.3, 0.2, 0.2],
                            means=[-1.0, 0.5, 0.9, 3.0], stds=[0.8, 0.05, 0.0, 0.4], nullable=True,
                            quantiles=quantiles.tolist(), calibration=grid.tolist() if calibrated else None)
    mode = rng.integers(0, 5, 40_000).astype(np.int32)  # 4: null
    alpha = np.clip(rng.normal(0, 0.5, 40_000), -1, 1).astype(np.float32)
    alpha[:8] = [-1, 1, -1, 1, -1, 1, 0, 0]
    mode[8:10] = 0  # either side of the jump
    alpha[8:10] = (np.array([grid[99] + grid[100], grid[102] + grid[103]]) / 2 - enc.means[0]) / (4 * enc.stds[0])
    m = np.minimum(mode, 3)
    z = alpha * (4 * np.asarray(enc.stds))[m] + np.asarray(enc.means)[m]
    if calibrated:
        z = np.interp(z, grid, quantiles)
    expected = np.where(mode == 4, np.nan, z * enc.std + enc.mean)
    got = decode_continuous(enc, alpha, mode)
    assert np.allclose(got, expected, rtol=0, atol=1e-9 * enc.std, equal_nan=True)


def test_round_trip_restores_numbers_categories_and_nulls():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "x": np.concatenate([rng.normal(0, 1, 500), rng.normal(10, 2, 500)]),
        "y": np.where(rng.random(1000) < 0.1, np.nan, rng.gamma(2, 3, 1000)),
        "c": rng.choice(["a", "b", None], 1000, p=[0.6, 0.3, 0.1]),
    })
    _, t, scalars, codes, out = _round_trip(df)
    assert np.allclose(out["x"], df["x"], atol=1e-4 * df["x"].abs().max())
    assert np.array_equal(np.isnan(out["y"]), df["y"].isna().to_numpy())
    valid = ~df["y"].isna().to_numpy()
    assert np.allclose(out["y"][valid], df["y"].to_numpy()[valid], rtol=1e-4, atol=1e-3)
    assert decoded(out["c"]) == [None if pd.isna(v) else v for v in df["c"]]
    assert scalars.dtype == np.float32 and codes.dtype == np.int32
    assert t.output_dim == t.n_scalars + sum(t.block_widths())


def test_high_cardinality_column_has_bounded_width():
    rng = np.random.default_rng(0)
    values = [f"v{i}" for i in rng.zipf(1.3, 5000) % 3000]
    df = pd.DataFrame({"c": values, "n": rng.normal(size=5000)})
    schema = infer_schema(df, overrides={"c": "categorical"})
    t = DataTransformer(schema, max_categories=50, seed=0).fit(df)
    assert t.block_widths()[0] == 51  # 50 categories and the "other" slot
    scalars, codes = t.transform(df)
    out = t.inverse(scalars, codes, np.random.default_rng(0))
    # Frequent categories come back exactly; rare ones are drawn from the rare pool.
    frequent = set(t.discrete[0].categories)
    same = [a == b for a, b in zip(decoded(out["c"]), df["c"], strict=True) if b in frequent]
    assert all(same)
    rare = {v for v in df["c"] if v not in frequent}
    assert {v for v in decoded(out["c"]) if v not in frequent} <= rare


def test_a_column_determined_by_another_is_derived_not_modelled():
    rng = np.random.default_rng(0)
    level = rng.choice(["low", "mid", "high"], 600)
    df = pd.DataFrame({"level": level, "rank": pd.Series(level).map({"low": 1, "mid": 2, "high": 3}),
                       "noise": rng.choice(["a", "b"], 600)})
    schema = infer_schema(df)
    t = DataTransformer(schema, seed=0).fit(df)
    assert [(d.name, d.source) for d in t.derived] == [("rank", "level")]
    assert [t._encoder(b).name for b in range(len(t.blocks))] == ["level", "noise"]
    scalars, codes = t.transform(df)
    out = t.inverse(scalars, codes, np.random.default_rng(0))
    assert decoded(out["rank"]) == list(df["rank"])
    # Chance dependencies on too few rows per value are not taken: here every value is unique.
    small = pd.DataFrame({"a": [f"x{i}" for i in range(40)], "b": ["p", "q"] * 20})
    assert DataTransformer(infer_schema(small, overrides={"a": "categorical"}), seed=0).fit(small).derived == []


def test_normal_scores_by_hand():
    # Five quantile points at probabilities 0, 0.25, 0.5, 0.75, 1; the value 0 is held by the first three.
    quantiles = np.array([0.0, 0.0, 0.0, 1.0, 2.0])
    rng = np.random.default_rng(0)
    scores = normal_scores(np.array([1.5, 2.0, 0.5]), quantiles, rng)
    # 1.5: probability 0.875; 2.0: 1, kept at 99.9%; 0.5: 0.625. The standard normal's quantiles of them.
    assert scores == pytest.approx([1.150349, 3.090232, 0.318639], abs=1e-6)
    spike = normal_scores(np.zeros(20_000), quantiles, rng)
    # The spike spreads over probabilities 0 to 0.5 (the lowest kept at 0.1%): scores below 0, all of that half.
    assert spike.max() <= 0 and spike.min() == pytest.approx(-3.090232, abs=1e-6)
    assert np.mean(spike < -0.6745) == pytest.approx(0.5, abs=0.02)  # half of them below the 25% point


def test_round_trip_through_normal_scores_restores_the_values():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"spiky": np.where(rng.random(2000) < 0.6, 0.0, rng.exponential(1000, 2000)),
                       "skewed": rng.lognormal(0, 1, 2000), "c": rng.choice(["a", "b"], 2000)})
    t = DataTransformer(infer_schema(df), seed=0, numeric_encoding="normal").fit(df)
    assert all(enc.normal for enc in t.continuous)
    scalars, codes = t.transform(df)
    # What the networks see: a value's normal score, near a standard normal however skewed the column.
    for i, enc in enumerate(t.continuous):
        mode = codes[:, t.blocks.index(("continuous", i))]
        z = scalars[:, i] * 4 * np.asarray(enc.stds)[mode] + np.asarray(enc.means)[mode]
        assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
    out = t.inverse(scalars, codes, np.random.default_rng(1))
    # Decoding maps scores back through the quantile function: values between the same quantile points.
    for name in ("spiky", "skewed"):
        real, back = df[name].to_numpy(), np.asarray(out[name])
        assert np.corrcoef(real, back)[0, 1] > 0.999
        assert np.mean(np.abs(back - real) <= 0.02 * (real.max() - real.min())) > 0.99
    assert (np.asarray(out["spiky"])[df["spiky"].to_numpy() == 0] == 0).mean() > 0.99
    again = DataTransformer.from_dict(t.to_dict(), t.schema)
    assert again.numeric_encoding == "normal" and all(enc.normal for enc in again.continuous)


def test_auto_encoding_keeps_modes_for_a_spike_and_scores_the_rest():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"spiky": np.where(rng.random(2000) < 0.3, 0.0, rng.exponential(1000, 2000)),
                       "skewed": rng.lognormal(0, 1, 2000)})
    t = DataTransformer(infer_schema(df), seed=0, numeric_encoding="auto").fit(df)
    normal = {enc.name: enc.normal for enc in t.continuous}
    assert normal == {"spiky": False, "skewed": True}  # 30% of the rows at 0: at least SPIKE_SHARE
    assert len(next(e for e in t.continuous if e.name == "skewed").weights) == 1  # scores are one Gaussian


def test_values_the_fitted_rows_never_held_are_refused_not_spilled():
    """A null needs the column's null mode, and a new category an "other" slot, which a column fitted without them
    lacks (protection off): the code would fall past the block, into the next block's one-hot, so transforming such
    rows is an error that names the column."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=200), "c": ["a", "b"] * 100, "y": rng.normal(size=200)})
    t = DataTransformer(infer_schema(df), max_modes=3).fit(df)
    t.transform(df)
    holed = df.copy()
    holed.loc[5, "x"] = np.nan
    with pytest.raises(SynthError, match="'x' holds nulls"):
        t.transform(holed)
    for new in ("z", None):
        changed = df.copy()
        changed.loc[5, "c"] = new
        with pytest.raises(SynthError, match="'c' holds a value"):
            t.transform(changed)
