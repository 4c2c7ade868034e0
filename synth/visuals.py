"""Chart data for the quality report: what the dashboard and the HTML report draw, as plain numbers.

Per column, the real (training) and synthetic distributions on shared buckets:

* numeric columns (continuous, integer, datetime): ``BINS`` equal bins whose edges come from the real values
  between their 0.5th and 99.5th percentiles (values beyond fall into the outer bins, so no single real row's
  extreme value is published), plus the null share of each side;
* categorical columns (categorical, boolean, constant): the ``TOP_CATEGORIES`` most frequent real categories,
  then "other" and null. A category that fewer than ``MIN_CATEGORY_ROWS`` real rows hold always goes into
  "other": the report is read by people who must not learn rare values (a privacy officer among them).

Per pair of the first ``MAX_PAIR_COLUMNS`` columns, the association on each side and their difference: Pearson
for two numeric columns, Cramér's V for every other pair (numeric side in the report's 10 real-data bins), as
synth.quality computes them for the pair-trend score (its helpers, not copies).

Shares and associations only: aggregates, never rows. The report calls `charts` on the tables it has already
encoded; `charts_for` does the same for two frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.quality import (
    _bin_codes,
    _bin_edges,
    _counts,
    _cramers_v_codes,
    _encode,
    _Encoded,
    _pearson,
    _plan,
    _rng,
    _sample_rows,
)
from synth.schema import ColumnSpec

BINS = 20
TOP_CATEGORIES = 20
MIN_CATEGORY_ROWS = 5
MAX_PAIR_COLUMNS = 30
EDGE_QUANTILES = (0.005, 0.995)


def _round(values, digits: int = 5) -> list:
    return [None if v is None or not np.isfinite(v) else round(float(v), digits) for v in values]


def _edges(real: np.ndarray) -> np.ndarray | None:
    values = real[~np.isnan(real)]
    if len(values) == 0:
        return None
    lo, hi = np.quantile(values, EDGE_QUANTILES)
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.array([lo - 0.5, lo + 0.5])
    return np.linspace(lo, hi, BINS + 1)


def _shares(values: np.ndarray, edges: np.ndarray) -> tuple[list, float]:
    """Shares of all rows per bin (values outside clipped into the outer bins) and the null share."""
    codes = _bin_codes(values, edges)  # `bins` for null
    counts = _counts(codes, len(edges))
    total = max(1, len(values))
    return _round(counts[:-1] / total), round(float(counts[-1] / total), 5)


def _label(value: float, kind: str) -> str | float:
    if kind == "datetime":
        return str(pd.Timestamp(value, unit="s").isoformat())
    return round(float(value), 6)


def _numeric_column(name: str, spec: ColumnSpec, real: np.ndarray, synthetic: np.ndarray) -> dict:
    edges = _edges(real)
    if edges is None:
        return {"name": name, "kind": spec.kind, "type": "numeric", "edges": [], "real": [], "synthetic": [],
                "null": {"real": 1.0, "synthetic": round(float(np.mean(np.isnan(synthetic))), 5)}}
    real_shares, real_null = _shares(real, edges)
    synth_shares, synth_null = _shares(synthetic, edges)
    return {"name": name, "kind": spec.kind, "type": "numeric",
            "edges": [_label(e, spec.kind) for e in edges], "real": real_shares, "synthetic": synth_shares,
            "null": {"real": real_null, "synthetic": synth_null}}


def _display(value) -> str:  # noqa: ANN001 - a category key of synth.quality._key: float, bool text or str
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _categorical_column(name: str, spec: ColumnSpec, values: list, whole: np.ndarray, real: np.ndarray,
                        synthetic: np.ndarray) -> dict:
    """`whole`: codes of every real row (to tell rare categories); `real`, `synthetic`: the rows compared."""
    card = len(values)
    whole_counts = _counts(whole, card + 1)[:card]
    real_counts = _counts(real, card + 1)
    synth_counts = _counts(synthetic, card + 1)
    eligible = np.flatnonzero(whole_counts >= MIN_CATEGORY_ROWS)
    top = eligible[np.argsort(-real_counts[eligible], kind="stable")][:TOP_CATEGORIES]
    rest = np.setdiff1d(np.arange(card), top)
    r_total, s_total = max(1, len(real)), max(1, len(synthetic))
    return {
        "name": name, "kind": spec.kind, "type": "categorical",
        "categories": [_display(values[c]) for c in top],
        "real": _round(real_counts[top] / r_total), "synthetic": _round(synth_counts[top] / s_total),
        "other": {"real": round(float(real_counts[rest].sum() / r_total), 5),
                  "synthetic": round(float(synth_counts[rest].sum() / s_total), 5),
                  "categories": int(len(rest))},
        "null": {"real": round(float(real_counts[card] / r_total), 5),
                 "synthetic": round(float(synth_counts[card] / s_total), 5)},
    }


def _association_codes(enc: _Encoded, frame: int, rows: np.ndarray | None, real_rows: np.ndarray) -> dict:
    """Every column as codes for Cramér's V: categories as they are, numerics in the report's real-data bins."""
    codes, sizes = {}, {}
    for j, name in enumerate(enc.num_cols):
        edges = _bin_edges(enc.num[0][real_rows, j])
        values = enc.num[frame][:, j] if rows is None else enc.num[frame][rows, j]
        codes[name], sizes[name] = _bin_codes(values, edges), len(edges)
    for j, name in enumerate(enc.cat_cols):
        codes[name] = enc.cat[frame][:, j] if rows is None else enc.cat[frame][rows, j]
        sizes[name] = int(enc.cards[j]) + 1
    return {"codes": codes, "sizes": sizes}


def _pairs(enc: _Encoded, order: list[str], real_rows: np.ndarray) -> dict:
    columns = order[:MAX_PAIR_COLUMNS]
    num_index = {name: j for j, name in enumerate(enc.num_cols)}
    sides = [(0, real_rows), (1, None)]
    coded = [_association_codes(enc, frame, rows, real_rows) for frame, rows in sides]
    k = len(columns)
    mats = [np.eye(k), np.eye(k)]
    metric = [["" for _ in columns] for _ in columns]
    for a in range(k):
        for b in range(a + 1, k):
            ca, cb = columns[a], columns[b]
            both_numeric = ca in num_index and cb in num_index
            metric[a][b] = metric[b][a] = "pearson" if both_numeric else "cramers_v"
            for side, ((frame, rows), codes) in enumerate(zip(sides, coded, strict=True)):
                if both_numeric:
                    num = enc.num[frame] if rows is None else enc.num[frame][rows]
                    value = _pearson(num[:, num_index[ca]], num[:, num_index[cb]])
                    value = np.nan if value is None else value
                else:
                    value = _cramers_v_codes(codes["codes"][ca], codes["codes"][cb], codes["sizes"][ca],
                                             codes["sizes"][cb])
                mats[side][a, b] = mats[side][b, a] = value
    difference = np.abs(mats[0] - mats[1])
    return {"columns": columns, "metric": metric, "real": [_round(r, 4) for r in mats[0]],
            "synthetic": [_round(r, 4) for r in mats[1]], "difference": [_round(r, 4) for r in difference],
            "left_out": order[MAX_PAIR_COLUMNS:]}


def charts(enc: _Encoded, real_rows: np.ndarray, specs: dict[str, ColumnSpec]) -> dict:
    """Chart data from the report's encoded tables: frame 0 the whole real table (rows `real_rows` compared),
    frame 1 the synthetic sample."""
    columns = []
    num_index = {name: j for j, name in enumerate(enc.num_cols)}
    cat_index = {name: j for j, name in enumerate(enc.cat_cols)}
    for name, spec in specs.items():
        if name in num_index:
            j = num_index[name]
            columns.append(_numeric_column(name, spec, enc.num[0][real_rows, j], enc.num[1][:, j]))
        elif name in cat_index:
            j = cat_index[name]
            columns.append(_categorical_column(name, spec, enc.values[j], enc.cat[0][:, j],
                                               enc.cat[0][real_rows, j], enc.cat[1][:, j]))
    return {
        "rows": {"real": int(len(real_rows)), "synthetic": int(len(enc.num[1]))},
        "bins": BINS, "top_categories": TOP_CATEGORIES, "min_category_rows": MIN_CATEGORY_ROWS,
        "edge_quantiles": list(EDGE_QUANTILES),
        "columns": columns,
        "pairs": _pairs(enc, [n for n in specs if n in num_index or n in cat_index], real_rows),
    }


def charts_for(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str] | None = None,
               max_rows: int = 20_000, seed: int = 0) -> dict:
    """`charts` for two frames (the report's own sub-sampling: at most `max_rows` rows a side, seeded)."""
    plan = _plan(real, [("synthetic", synthetic)], kinds)
    synth_rows = _sample_rows(len(synthetic), max_rows, _rng(seed, 1))
    enc = _encode([real.rename(columns=str), synthetic.rename(columns=str).iloc[synth_rows]], plan.specs,
                  ["real", "synthetic"])
    return charts(enc, _sample_rows(len(real), max_rows, _rng(seed, 0)), plan.specs)
