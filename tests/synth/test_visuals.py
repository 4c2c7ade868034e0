"""Chart data (synth/visuals.py): shared buckets on both sides, rare categories kept out, the pair matrices the
report's pair trends compute, and the report carrying them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth import visuals
from synth.quality import report


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(50, 10, n)
    city = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]).astype(object)
    return pd.DataFrame({"x": x, "y": 2 * x + rng.normal(0, 1, n), "city": city,
                         "flag": rng.choice(["yes", "no"], n)})


def test_rare_categories_go_to_other_and_shares_add_up():
    real = _frame()
    real.loc[:3, "city"] = "hamlet"  # 4 rows: rare
    real.loc[4:8, "city"] = "village"  # 5 rows: shown
    real.loc[9:11, "city"] = None
    synthetic = _frame(seed=1)
    synthetic.loc[:50, "city"] = "hamlet"  # the synthetic side does not make a rare category visible
    charts = visuals.charts_for(real, synthetic)
    city = next(c for c in charts["columns"] if c["name"] == "city")
    assert city["type"] == "categorical"
    assert "hamlet" not in city["categories"] and "village" in city["categories"]
    assert city["other"]["real"] == pytest.approx(4 / 400) and city["other"]["synthetic"] == pytest.approx(51 / 400)
    assert city["null"]["real"] == pytest.approx(3 / 400)
    for side in ("real", "synthetic"):
        assert sum(city[side]) + city["other"][side] + city["null"][side] == pytest.approx(1, abs=1e-4)
    assert city["categories"][0] == "north"  # most frequent real category first


def test_top_categories_are_capped():
    n = 2000
    real = pd.DataFrame({"code": [f"c{i % 40}" for i in range(n)], "v": np.arange(n, dtype=float)})
    charts = visuals.charts_for(real, real.copy())
    code = next(c for c in charts["columns"] if c["name"] == "code")
    assert len(code["categories"]) == visuals.TOP_CATEGORIES
    assert code["other"]["categories"] == 20 and code["other"]["real"] == pytest.approx(0.5)


def test_numeric_bins_are_shared_and_hide_the_extremes():
    real = _frame()
    real.loc[0, "x"] = 1e6  # one real row's extreme value must not become an edge
    real.loc[1:4, "x"] = np.nan
    synthetic = _frame(seed=2)
    synthetic["x"] += 20  # shifted: its histogram differs from the real one
    charts = visuals.charts_for(real, synthetic)
    x = next(c for c in charts["columns"] if c["name"] == "x")
    assert x["type"] == "numeric" and len(x["edges"]) == visuals.BINS + 1
    assert max(x["edges"]) < 1e5
    assert x["null"] == {"real": pytest.approx(4 / 400), "synthetic": 0.0}
    assert sum(x["real"]) + x["null"]["real"] == pytest.approx(1, abs=1e-4)
    assert sum(x["synthetic"]) == pytest.approx(1, abs=1e-4)
    assert x["synthetic"][-1] > x["real"][-1] + 0.1  # the shifted values pile into the top bin


def test_pair_matrices_match_the_reports_pair_trends():
    real = _frame(600)
    synthetic = _frame(600, seed=3)
    synthetic["y"] = np.random.default_rng(9).permutation(synthetic["y"].to_numpy())  # breaks the x-y trend
    out = report(real.iloc[:400], synthetic, holdout=real.iloc[400:])
    pairs = out["charts"]["pairs"]
    cols = pairs["columns"]
    assert cols == ["x", "y", "city", "flag"]
    i, j = cols.index("x"), cols.index("y")
    assert pairs["metric"][i][j] == "pearson" and pairs["metric"][i][cols.index("city")] == "cramers_v"
    assert pairs["real"][i][j] > 0.95 and abs(pairs["synthetic"][i][j]) < 0.2
    assert pairs["difference"][i][j] == pytest.approx(abs(pairs["real"][i][j] - pairs["synthetic"][i][j]),
                                                      abs=1e-3)
    for detail in out["column_pair_trends"]["details"]:
        a, b = (cols.index(c) for c in detail["columns"])
        assert pairs["real"][a][b] == pytest.approx(detail["real_association"], abs=1e-4)
        assert pairs["real"][b][a] == pairs["real"][a][b]
    assert all(pairs[side][k][k] == 1.0 for side in ("real", "synthetic") for k in range(len(cols)))


def test_pairs_are_limited_to_the_first_columns():
    rng = np.random.default_rng(0)
    wide = pd.DataFrame({f"c{i}": rng.normal(size=100) for i in range(visuals.MAX_PAIR_COLUMNS + 5)})
    charts = visuals.charts_for(wide, wide.copy())
    assert len(charts["pairs"]["columns"]) == visuals.MAX_PAIR_COLUMNS
    top = visuals.MAX_PAIR_COLUMNS
    assert charts["pairs"]["left_out"] == [f"c{i}" for i in range(top, top + 5)]
    assert len(charts["columns"]) == visuals.MAX_PAIR_COLUMNS + 5  # every column keeps its histogram


def test_datetime_edges_are_dates():
    dates = pd.date_range("2020-01-01", periods=200, freq="D").strftime("%Y-%m-%d")
    real = pd.DataFrame({"day": dates, "n": np.arange(200)})
    charts = visuals.charts_for(real, real.copy())
    day = next(c for c in charts["columns"] if c["name"] == "day")
    assert day["kind"] == "datetime" and day["edges"][0].startswith("2020-01")
