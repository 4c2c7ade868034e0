"""Quality, usefulness and privacy report for a synthetic table, written from the definitions in METRICS.md.

Fidelity
    column shapes: KS complement for numeric columns (continuous, integer, datetime as seconds; nulls
    dropped), TV complement for categorical ones (categorical, boolean, constant; a null is its own category).
    column pair trends: correlation similarity for numeric pairs (Pearson, rows with a null dropped),
    contingency similarity for every other pair (numeric side cut into 10 bins whose edges come from the real
    values, synthetic values clipped into the outer bins, a null its own category). Two conventions: the mean
    over all pairs, and the mean over the pairs whose real association is strong (|Pearson| > 0.5, Cramér's
    V > 0.3).
Usefulness
    detection: cross-validated ROC AUC of gradient-boosted trees telling holdout rows from synthetic rows.
    TSTR vs TRTR: gradient-boosted trees trained on synthetic rows and on real rows, both tested on the
    holdout.
Privacy
    DCR (distance to closest record), DCR share against an equally sized holdout, exact-copy rate; the
    membership and attribute inference attacks of synth/privacy.py.

ID columns (unique keys) are left out of every metric. Each table is sub-sampled (seeded) to `max_rows` rows
before the metrics, except the exact-copy check, which looks at every training row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth import coherence
from synth.errors import SynthError
from synth.schema import ColumnSpec, infer_schema, to_seconds

NUMERIC_KINDS = ("continuous", "integer", "datetime")
CATEGORICAL_KINDS = ("categorical", "boolean", "constant")
PAIR_BINS = 10
STRONG_PEARSON = 0.5
STRONG_CRAMERS_V = 0.3
DCR_MAX_SYNTHETIC_ROWS = 2_000
DETECTION_FOLDS = 3
REGRESSION_MIN_VALUES = 20  # a numeric target with more distinct values than this is a regression task
_HGB_MAX_CATEGORIES = 250  # above this, a categorical feature goes to the trees as an ordinal code
_DCR_CHUNK_CELLS = 2_000_000  # synthetic x reference cells per chunk of the nearest-record search
_BINCOUNT_MAX = 4_000_000  # joint tables larger than this are counted sparsely
# Threads (OpenMP and BLAS) for the gradient-boosted trees. One: their threads spin-wait, which stalls them on a
# machine busy with other work (training, tests).
MODEL_THREADS = 1

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}

# Independent random streams, so that one part's sampling never shifts another's.
_S_REAL, _S_SYNTH, _S_HOLDOUT, _S_DCR_SYNTH, _S_DCR_REF, _S_DETECT = range(6)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


# ---------------------------------------------------------------------------------------------------------
# Value encoding
# ---------------------------------------------------------------------------------------------------------


def _series(values, what: str = "values") -> pd.Series:
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise SynthError(f"{what}: expected one column, got {values.shape[1]}")
        return values.iloc[:, 0].reset_index(drop=True)
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.ndim != 1:
        raise SynthError(f"{what}: expected a one-dimensional sequence")
    return pd.Series(arr)


def _pair_frame(data, what: str) -> pd.DataFrame:
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(np.asarray(data, dtype=object))
    if frame.shape[1] != 2:
        raise SynthError(f"{what}: expected two columns, got {frame.shape[1]}")
    return frame.reset_index(drop=True)


def _key(value, kind: str):
    """A comparable key for one category value, so that 1 and 1.0, or True and 'true', match."""
    if kind == "boolean":
        if isinstance(value, bool | np.bool_):
            return "true" if value else "false"
        text = str(value).strip().lower()
        return "true" if text in _TRUE else "false" if text in _FALSE else text
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    return str(value)


def _category_codes(series_list: list[pd.Series], kind: str = "categorical") -> tuple[list[np.ndarray], int]:
    """Codes over the union of the values of every series: 0..k-1 for values, k for null."""
    codes, values = _category_values(series_list, kind)
    return codes, len(values)


def _category_values(series_list: list[pd.Series], kind: str = "categorical") -> tuple[list[np.ndarray], list]:
    """Codes over the union of the values of every series (0..k-1 for values, k for null), and the k values."""
    parts, keys = [], []
    for series in series_list:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        parts.append(codes)
        keys.append([_key(v, kind) for v in uniques])
    flat = pd.Series([k for ks in keys for k in ks], dtype=object)
    union_codes, union = pd.factorize(flat)
    card = len(union)
    out, offset = [], 0
    for codes, ks in zip(parts, keys, strict=True):
        lookup = np.append(union_codes[offset:offset + len(ks)], card).astype(np.int64)
        offset += len(ks)
        out.append(lookup[np.where(codes < 0, len(ks), codes)])
    return out, list(union)


def _numeric_values(series: pd.Series, spec: ColumnSpec | None = None, where: str = "") -> np.ndarray:
    """Float values with NaN for null (and for infinities); datetimes as seconds since the epoch."""
    series = series.reset_index(drop=True)
    is_dt = pd.api.types.is_datetime64_any_dtype(series)
    if (spec is not None and spec.kind == "datetime") or is_dt:
        fmt = None if is_dt or spec is None else spec.datetime_format
        try:
            out = to_seconds(series, fmt)
        except (ValueError, TypeError) as exc:
            name = spec.name if spec is not None else "values"
            raise SynthError(f"column {name!r}{where}: values are not dates ({exc})") from exc
    else:
        numbers = pd.to_numeric(series, errors="coerce")
        if pd.api.types.is_bool_dtype(numbers):
            numbers = numbers.astype("Float64")
        out = pd.array(numbers, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.asarray(out, dtype=np.float64).copy()
    out[~np.isfinite(out)] = np.nan
    return out


@dataclass
class _Encoded:
    """Several frames over the same columns: numeric columns as floats, categorical ones as shared codes."""

    num_cols: list[str]
    cat_cols: list[str]
    num: list[np.ndarray]  # per frame: rows x numeric columns, float64, NaN for null
    cat: list[np.ndarray]  # per frame: rows x categorical columns, int64, card[j] for null
    cards: np.ndarray  # non-null categories per categorical column
    values: list[list]  # per categorical column: the value of each code (comparable keys, see _key)


def _encode(frames: list[pd.DataFrame], specs: dict[str, ColumnSpec], labels: list[str]) -> _Encoded:
    num_cols = [n for n, s in specs.items() if s.kind in NUMERIC_KINDS]
    cat_cols = [n for n, s in specs.items() if s.kind in CATEGORICAL_KINDS]
    nums = [np.empty((len(f), len(num_cols))) for f in frames]
    cats = [np.empty((len(f), len(cat_cols)), dtype=np.int64) for f in frames]
    for j, name in enumerate(num_cols):
        for k, frame in enumerate(frames):
            nums[k][:, j] = _numeric_values(frame[name], specs[name], f" in the {labels[k]} table")
    cards = np.zeros(len(cat_cols), dtype=np.int64)
    values = []
    for j, name in enumerate(cat_cols):
        codes, column_values = _category_values([f[name] for f in frames], specs[name].kind)
        cards[j] = len(column_values)
        values.append(column_values)
        for k in range(len(frames)):
            cats[k][:, j] = codes[k]
    return _Encoded(num_cols, cat_cols, nums, cats, cards, values)


def _sample_rows(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    if k >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=k, replace=False))


# ---------------------------------------------------------------------------------------------------------
# Planning: which columns, which kinds
# ---------------------------------------------------------------------------------------------------------


def _check_table(df, label: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise SynthError(f"the {label} table must be a pandas DataFrame, got {type(df).__name__}")
    if df.shape[1] == 0:
        raise SynthError(f"the {label} table has no columns")
    if df.shape[0] == 0:
        raise SynthError(f"the {label} table has no rows")
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise SynthError(f"the {label} table has duplicate column names; give every column a distinct name")


@dataclass
class _Plan:
    specs: dict[str, ColumnSpec]  # included columns, in the real table's order
    excluded: dict[str, str]  # column -> why it is left out
    notes: list[str]


def _plan(real: pd.DataFrame, others: list[tuple[str, pd.DataFrame]], kinds: dict[str, str] | None) -> _Plan:
    """Infer kinds on the real table; keep the columns every table has, less IDs and all-null columns."""
    _check_table(real, "real")
    for label, frame in others:
        _check_table(frame, label)
    real = real.rename(columns=str)
    excluded: dict[str, str] = {}
    notes: list[str] = []
    common = list(real.columns)
    for label, frame in others:
        names = set(map(str, frame.columns))
        missing = [c for c in common if c not in names]
        for c in missing:
            excluded[c] = f"missing from the {label} table"
        common = [c for c in common if c in names]
        extra = sorted(names - set(real.columns))
        if extra:
            notes.append(f"columns only in the {label} table are ignored: {extra}")
    if not common:
        raise SynthError(
            f"the tables share no columns: the real table has {list(real.columns)}, "
            + ", ".join(f"the {label} table has {list(map(str, f.columns))}" for label, f in others)
        )
    kinds = {str(k): v for k, v in (kinds or {}).items()}
    unknown = sorted(set(kinds) - set(real.columns))
    if unknown:
        raise SynthError(f"kinds given for unknown column(s) {unknown}; columns are {list(real.columns)}")
    all_null = [c for c in common if real[c].isna().all()]
    for c in all_null:
        excluded[c] = "all null in the real table"
    usable = [c for c in common if c not in all_null]
    if not usable:
        raise SynthError("every shared column is all null in the real table: nothing to compare")
    schema = infer_schema(real[usable], overrides={c: k for c, k in kinds.items() if c in usable})
    specs = {}
    for spec in schema.columns:
        if spec.kind == "id":
            excluded[spec.name] = "id column (a unique key)"
        else:
            specs[spec.name] = spec
    if not specs:
        raise SynthError("every shared column is an id column: nothing to compare")
    return _Plan(specs, excluded, notes)


# ---------------------------------------------------------------------------------------------------------
# Fidelity metrics
# ---------------------------------------------------------------------------------------------------------


def _ks_statistic(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.sort(x), np.sort(y)
    grid = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, grid, side="right") / len(x)
    cdf_y = np.searchsorted(y, grid, side="right") / len(y)
    return float(np.max(np.abs(cdf_x - cdf_y)))


def ks_complement(real, synthetic) -> float:
    """1 - D, D the two-sample Kolmogorov-Smirnov statistic; nulls dropped, datetimes as seconds."""
    x = _numeric_values(_series(real, "real"))
    y = _numeric_values(_series(synthetic, "synthetic"))
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if len(x) == 0 or len(y) == 0:
        raise SynthError("KS complement needs at least one non-null value on each side")
    return 1.0 - _ks_statistic(x, y)


def _tv_codes(a: np.ndarray, b: np.ndarray, size: int) -> float:
    pa = _counts(a, size) / len(a)
    pb = _counts(b, size) / len(b)
    return 1.0 - 0.5 * float(np.abs(pa - pb).sum())


def _counts(codes: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(codes, minlength=size).astype(np.float64)


def tv_complement(real, synthetic) -> float:
    """1 - 0.5 * sum_c |p_real(c) - p_synth(c)| over the categories of either side; null is a category."""
    (a, b), card = _category_codes([_series(real, "real"), _series(synthetic, "synthetic")])
    return _tv_codes(a, b, card + 1)


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 2 or x.min() == x.max() or y.min() == y.max():
        return None  # no variance: Pearson is undefined
    x, y = x - x.mean(), y - y.mean()
    # elementwise sums rather than BLAS dot products: BLAS threads crawl on a busy machine
    sxx, syy, sxy = float(np.sum(x * x)), float(np.sum(y * y)), float(np.sum(x * y))
    if sxx <= 0 or syy <= 0:
        return None
    return float(np.clip(sxy / math.sqrt(sxx * syy), -1.0, 1.0))


def correlation_similarity(real, synthetic) -> float | None:
    """1 - |rho_real - rho_synth| / 2 for a numeric pair (two columns per side); None when a side has no
    variance (Pearson is undefined there)."""
    r, s = _pair_frame(real, "real"), _pair_frame(synthetic, "synthetic")
    rho_r = _pearson(_numeric_values(r.iloc[:, 0]), _numeric_values(r.iloc[:, 1]))
    rho_s = _pearson(_numeric_values(s.iloc[:, 0]), _numeric_values(s.iloc[:, 1]))
    if rho_r is None or rho_s is None:
        return None
    return 1.0 - abs(rho_r - rho_s) / 2.0


def _joint(a: np.ndarray, b: np.ndarray, size_b: int) -> np.ndarray:
    return a.astype(np.int64) * size_b + b


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values (sorted) and their counts; by sorting, which beats numpy.unique's hashing here."""
    ordered = np.sort(values)
    if len(ordered) == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def _joint_frequencies(jr: np.ndarray, js: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised frequencies of two code arrays over the same cells (dense when small, else sparse)."""
    if size <= _BINCOUNT_MAX:
        return _counts(jr, size) / len(jr), _counts(js, size) / len(js)
    cells = _runs(np.concatenate([jr, js]))[0]
    pr, ps = np.zeros(len(cells)), np.zeros(len(cells))
    for freq, codes in ((pr, jr), (ps, js)):
        values, counts = _runs(codes)
        freq[np.searchsorted(cells, values)] = counts / len(codes)
    return pr, ps


def _contingency_codes(ra, rb, sa, sb, size_a: int, size_b: int) -> float:
    pr, ps = _joint_frequencies(_joint(ra, rb, size_b), _joint(sa, sb, size_b), size_a * size_b)
    return 1.0 - 0.5 * float(np.abs(pr - ps).sum())


def contingency_similarity(real, synthetic) -> float:
    """1 - 0.5 * sum_(a,b) |P_real(a,b) - P_synth(a,b)| over the joint frequency tables of two categorical
    columns (two columns per side; bin numeric columns first with `bin_numeric`); null is a category."""
    r, s = _pair_frame(real, "real"), _pair_frame(synthetic, "synthetic")
    (ra, sa), ka = _category_codes([r.iloc[:, 0], s.iloc[:, 0]])
    (rb, sb), kb = _category_codes([r.iloc[:, 1], s.iloc[:, 1]])
    return _contingency_codes(ra, rb, sa, sb, ka + 1, kb + 1)


def _cramers_v_codes(a: np.ndarray, b: np.ndarray, size_a: int, size_b: int) -> float:
    n = len(a)
    if n == 0:
        return 0.0
    row_tot = _counts(a, size_a)
    col_tot = _counts(b, size_b)
    k = min(np.count_nonzero(row_tot), np.count_nonzero(col_tot)) - 1
    if k <= 0:
        return 0.0
    joint = _joint(a, b, size_b)
    if size_a * size_b <= _BINCOUNT_MAX:
        counts = _counts(joint, size_a * size_b)
        cells = np.flatnonzero(counts)
        counts = counts[cells]
    else:
        cells, counts = _runs(joint)
    # chi2 = sum (O - E)^2 / E with E = R C / n, which is n * (sum O^2 / (R C) - 1) over the non-empty cells
    expected = row_tot[cells // size_b] * col_tot[cells % size_b]
    chi2 = n * (float(np.sum(counts.astype(np.float64) ** 2 / expected)) - 1.0)
    return float(min(1.0, math.sqrt(max(chi2, 0.0) / (n * k))))


def cramers_v(data) -> float:
    """Cramér's V (no bias correction) of two categorical columns: sqrt(chi2 / (n * (min(r, c) - 1))), r and
    c the numbers of categories present; a null is a category. 0 when a column has a single category."""
    frame = _pair_frame(data, "data")
    (a,), ka = _category_codes([frame.iloc[:, 0]])
    (b,), kb = _category_codes([frame.iloc[:, 1]])
    return _cramers_v_codes(a, b, ka + 1, kb + 1)


def _bin_edges(real_values: np.ndarray, bins: int = PAIR_BINS) -> np.ndarray:
    values = real_values[~np.isnan(real_values)]
    if len(values) == 0:
        return np.array([0.0, 1.0])
    return np.histogram_bin_edges(values, bins=bins)


def _bin_codes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index 0..bins-1 (numpy.histogram's convention, values outside clipped into the outer bins);
    bins for null."""
    bins = len(edges) - 1
    codes = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    codes[np.isnan(values)] = bins
    return codes.astype(np.int64)


def bin_numeric(real, synthetic, bins: int = PAIR_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Bin codes of a numeric column on both sides, edges from the real non-null values
    (numpy.histogram_bin_edges); synthetic values outside go to the outer bins; null gets code `bins`."""
    x = _numeric_values(_series(real, "real"))
    y = _numeric_values(_series(synthetic, "synthetic"))
    edges = _bin_edges(x, bins)
    return _bin_codes(x, edges), _bin_codes(y, edges)


# ---------------------------------------------------------------------------------------------------------
# Privacy metrics
# ---------------------------------------------------------------------------------------------------------


def _scaled(num: np.ndarray, lo: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Numeric values divided by the real range, so that |x - y| on them is the column distance. A column
    with no real range becomes 0 where it equals the real value and 1 elsewhere."""
    out = np.empty(num.shape, dtype=np.float32)
    for j in range(num.shape[1]):
        if span[j] > 0:
            out[:, j] = (num[:, j] - lo[j]) / span[j]
        else:
            out[:, j] = np.where(np.isnan(num[:, j]), np.nan, (num[:, j] != lo[j]).astype(np.float64))
    return out


def _nearest_distance(s_num, s_cat, r_num, r_cat) -> np.ndarray:
    """Each synthetic row's minimum over the reference rows of the mean column distance. Numeric inputs
    are already scaled by the real range (float32, NaN for null); categorical ones are codes, null a code."""
    n_s, n_r = len(s_num), len(r_num)
    n_cols = s_num.shape[1] + s_cat.shape[1]
    out = np.empty(n_s, dtype=np.float64)
    if n_r == 0 or n_cols == 0:
        out[:] = np.nan
        return out
    s_nan, r_nan = np.isnan(s_num), np.isnan(r_num)
    both_nan = [j for j in range(s_num.shape[1]) if s_nan[:, j].any() and r_nan[:, j].any()]
    r_num_t = np.ascontiguousarray(r_num.T)
    r_cat_t = np.ascontiguousarray(r_cat.T)
    chunk = max(1, _DCR_CHUNK_CELLS // n_r)
    dist = np.empty((chunk, n_r), dtype=np.float32)
    tmp = np.empty((chunk, n_r), dtype=np.float32)
    for start in range(0, n_s, chunk):
        stop = min(n_s, start + chunk)
        d, t = dist[: stop - start], tmp[: stop - start]
        d.fill(0.0)
        for j in range(s_num.shape[1]):
            np.subtract(s_num[start:stop, j, None], r_num_t[j][None, :], out=t)
            np.abs(t, out=t)
            np.fmin(t, 1.0, out=t)  # capped at 1; NaN (a null on either side) becomes 1
            d += t
            if j in both_nan:  # null against null is 0
                d -= s_nan[start:stop, j, None] & r_nan[None, :, j]
        for j in range(s_cat.shape[1]):
            d += s_cat[start:stop, j, None] != r_cat_t[j][None, :]
        out[start:stop] = d.min(axis=1)
    return out / n_cols


def _ranges(num: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per numeric column: the real minimum and range (0, 0 for a column without values)."""
    if len(num) == 0:
        return np.zeros(num.shape[1]), np.zeros(num.shape[1])
    empty = np.isnan(num).all(axis=0)
    lo = np.where(empty, 0.0, np.min(np.where(np.isnan(num), np.inf, num), axis=0))
    hi = np.where(empty, 0.0, np.max(np.where(np.isnan(num), -np.inf, num), axis=0))
    return lo, hi - lo


def dcr(synthetic: pd.DataFrame, reference: pd.DataFrame, kinds: dict[str, str] | None = None,
        ranges: dict[str, float] | None = None) -> np.ndarray:
    """Distance to closest record of every synthetic row in `reference`: per column |x - y| / range (capped at
    1) for numeric columns, 0/1 for categorical ones, null against a value 1, null against null 0; a row
    distance is the mean over the columns; the DCR is the minimum over the reference rows. Kinds are inferred
    on `reference` (overridden by `kinds`); ranges come from `reference` unless given (column -> range)."""
    plan = _plan(reference, [("synthetic", synthetic)], kinds)
    enc = _encode([reference.rename(columns=str), synthetic.rename(columns=str)], plan.specs,
                  ["reference", "synthetic"])
    lo, span = _ranges(enc.num[0])
    for j, name in enumerate(enc.num_cols):
        if ranges and name in ranges:
            span[j] = float(ranges[name])
    return _nearest_distance(_scaled(enc.num[1], lo, span), enc.cat[1],
                             _scaled(enc.num[0], lo, span), enc.cat[0])


def _share_smaller(d_train: np.ndarray, d_holdout: np.ndarray) -> float:
    return float(np.mean((d_train < d_holdout) + 0.5 * (d_train == d_holdout)))


def _dcr_share_encoded(enc: _Encoded, train: int, synthetic: int, holdout: int, seed: int,
                       max_synthetic_rows: int) -> dict:
    t_rows, s_rows, h_rows = (np.arange(len(enc.num[k])) for k in (train, synthetic, holdout))
    size = min(len(t_rows), len(h_rows))  # equally sized references
    ref_rng = _rng(seed, _S_DCR_REF)
    t_rows = t_rows[_sample_rows(len(t_rows), size, ref_rng)]
    h_rows = h_rows[_sample_rows(len(h_rows), size, ref_rng)]
    s_rows = s_rows[_sample_rows(len(s_rows), max_synthetic_rows, _rng(seed, _S_DCR_SYNTH))]
    lo, span = _ranges(enc.num[train])  # range_real: the whole training table
    s_num = _scaled(enc.num[synthetic][s_rows], lo, span)
    s_cat = enc.cat[synthetic][s_rows]
    d_train = _nearest_distance(s_num, s_cat, _scaled(enc.num[train][t_rows], lo, span),
                                enc.cat[train][t_rows])
    d_hold = _nearest_distance(s_num, s_cat, _scaled(enc.num[holdout][h_rows], lo, span),
                               enc.cat[holdout][h_rows])
    return {
        "dcr_share": _share_smaller(d_train, d_hold),
        "median_dcr_train": float(np.median(d_train)),
        "median_dcr_holdout": float(np.median(d_hold)),
        "dcr_synthetic_rows": len(s_rows),
        "dcr_reference_rows": size,
    }


def dcr_share(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame,
              kinds: dict[str, str] | None = None, seed: int = 0,
              max_synthetic_rows: int = DCR_MAX_SYNTHETIC_ROWS) -> float:
    """Share of synthetic rows whose DCR to the training rows is smaller than to the holdout rows (ties count
    half). The larger of train and holdout is sub-sampled (seeded) to the size of the smaller one; at most
    `max_synthetic_rows` synthetic rows (seeded sample) are used. Ranges come from the whole training
    table."""
    plan = _plan(train, [("synthetic", synthetic), ("holdout", holdout)], kinds)
    enc = _encode([f.rename(columns=str) for f in (train, synthetic, holdout)], plan.specs,
                  ["training", "synthetic", "holdout"])
    return _dcr_share_encoded(enc, 0, 1, 2, seed, max_synthetic_rows)["dcr_share"]


def _mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a 64-bit mixing function (uint64 arithmetic wraps around)."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _row_hashes(num: np.ndarray, cat: np.ndarray) -> np.ndarray:
    """A 64-bit hash per row over every column (equal rows, equal hashes; nulls equal nulls)."""
    h = np.zeros(len(num), dtype=np.uint64)
    columns = [np.where(np.isnan(num[:, j]), np.nan, num[:, j] + 0.0).view(np.uint64)  # one NaN, no -0.0
               for j in range(num.shape[1])]
    columns += [cat[:, j].astype(np.uint64) for j in range(cat.shape[1])]
    for j, bits in enumerate(columns):
        h = _mix64(h ^ _mix64(bits + np.uint64(0x9E3779B97F4A7C15 * (j + 1) % 2**64)))
    return h


def _exact_copy_encoded(enc: _Encoded, train: int, synthetic: int) -> float:
    s_num, s_cat = enc.num[synthetic], enc.cat[synthetic]
    if len(s_num) == 0:
        return 0.0
    train_hashes = np.sort(_row_hashes(enc.num[train], enc.cat[train]))
    hashes = _row_hashes(s_num, s_cat)
    found = train_hashes[np.minimum(np.searchsorted(train_hashes, hashes), len(train_hashes) - 1)] == hashes
    return float(found.mean())


def exact_copy_rate(synthetic: pd.DataFrame, train: pd.DataFrame,
                    kinds: dict[str, str] | None = None) -> float:
    """Share of synthetic rows equal to some training row in every (non-id) column; nulls equal nulls."""
    plan = _plan(train, [("synthetic", synthetic)], kinds)
    enc = _encode([train.rename(columns=str), synthetic.rename(columns=str)], plan.specs,
                  ["training", "synthetic"])
    return _exact_copy_encoded(enc, 0, 1)


# ---------------------------------------------------------------------------------------------------------
# Usefulness: detection and TSTR
# ---------------------------------------------------------------------------------------------------------


def _features(num: np.ndarray, cat: np.ndarray, cards: np.ndarray, drop_cat: int | None = None,
              drop_num: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix for gradient-boosted trees: numerics as floats, categories as codes (NaN for null);
    returns the matrix and the mask of native categorical features."""
    keep_num = [j for j in range(num.shape[1]) if j != drop_num]
    keep_cat = [j for j in range(cat.shape[1]) if j != drop_cat]
    codes = cat[:, keep_cat].astype(np.float64)
    codes[cat[:, keep_cat] == cards[keep_cat]] = np.nan
    X = np.concatenate([num[:, keep_num], codes], axis=1)
    mask = np.array([False] * len(keep_num) + [bool(cards[j] <= _HGB_MAX_CATEGORIES) for j in keep_cat],
                    dtype=bool)
    return X, mask


def _detection_encoded(enc: _Encoded, real: int, synthetic: int, seed: int, folds: int = DETECTION_FOLDS) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    r_rows, s_rows = np.arange(len(enc.num[real])), np.arange(len(enc.num[synthetic]))
    n = min(len(r_rows), len(s_rows))
    if n < folds:
        raise SynthError(f"detection needs at least {folds} real and {folds} synthetic rows, got {n}")
    rng = _rng(seed, _S_DETECT)
    r_rows = r_rows[_sample_rows(len(r_rows), n, rng)]
    s_rows = s_rows[_sample_rows(len(s_rows), n, rng)]
    Xr, mask = _features(enc.num[real][r_rows], enc.cat[real][r_rows], enc.cards)
    Xs, _ = _features(enc.num[synthetic][s_rows], enc.cat[synthetic][s_rows], enc.cards)
    X = np.concatenate([Xr, Xs])
    y = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])
    from threadpoolctl import threadpool_limits

    model = HistGradientBoostingClassifier(categorical_features=mask if mask.any() else None,
                                           random_state=seed)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with threadpool_limits(limits=MODEL_THREADS):
        scores = cross_val_score(model, X, y, cv=cv, scoring="roc_auc")
    return {"auc": float(np.mean(scores)), "folds": folds, "rows_per_class": int(n),
            "fold_aucs": [float(s) for s in scores]}


def detection_auc(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str] | None = None,
                  seed: int = 0, folds: int = DETECTION_FOLDS) -> float:
    """Stratified, seeded k-fold ROC AUC of a HistGradientBoostingClassifier telling `real` rows (normally the
    holdout) from an equal number of synthetic rows. 0.5: indistinguishable; 1.0: always told apart."""
    plan = _plan(real, [("synthetic", synthetic)], kinds)
    enc = _encode([real.rename(columns=str), synthetic.rename(columns=str)], plan.specs,
                  ["real", "synthetic"])
    return _detection_encoded(enc, 0, 1, seed, folds)["auc"]


def _fit_and_score(train_data, X_test: np.ndarray, y_test: np.ndarray, cat_features, regression: bool,
                   seed: int) -> float | None:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import f1_score, r2_score

    (X, _), y, keep = train_data
    X, y = X[keep], y[keep]
    if len(y) == 0:
        return None
    if regression:
        model = HistGradientBoostingRegressor(categorical_features=cat_features, random_state=seed)
        return float(r2_score(y_test, model.fit(X, y).predict(X_test)))
    if len(np.unique(y)) == 1:
        pred = np.full(len(y_test), y[0])  # one class only: the trees cannot fit, predict it everywhere
    else:
        model = HistGradientBoostingClassifier(categorical_features=cat_features, random_state=seed)
        pred = model.fit(X, y).predict(X_test)
    return float(f1_score(y_test, pred, average="macro"))


def _tstr_encoded(enc: _Encoded, target: str, train: int, synthetic: int, holdout: int, seed: int,
                  train_rows: np.ndarray | None = None) -> dict:
    rows = {
        train: np.arange(len(enc.num[train])) if train_rows is None else train_rows,
        synthetic: np.arange(len(enc.num[synthetic])),
        holdout: np.arange(len(enc.num[holdout])),
    }
    if target in enc.num_cols:
        t = enc.num_cols.index(target)
        labels = {k: enc.num[k][rows[k], t] for k in rows}
        distinct = np.unique(labels[train][~np.isnan(labels[train])])
        regression = len(distinct) > REGRESSION_MIN_VALUES
        data = {k: (_features(enc.num[k][rows[k]], enc.cat[k][rows[k]], enc.cards, drop_num=t), labels[k],
                    ~np.isnan(labels[k])) for k in rows}
    else:
        t = enc.cat_cols.index(target)
        regression = False
        data = {}
        for k in rows:
            lab = enc.cat[k][rows[k], t]
            data[k] = (_features(enc.num[k][rows[k]], enc.cat[k][rows[k]], enc.cards, drop_cat=t), lab,
                       lab != enc.cards[t])
    (X_test, mask), y_test, keep_test = data[holdout]
    X_test, y_test = X_test[keep_test], y_test[keep_test]
    if len(y_test) == 0:
        raise SynthError(f"the holdout table has no non-null values of the target {target!r}")
    from threadpoolctl import threadpool_limits

    cat_features = mask if mask.any() else None
    scores = {}
    with threadpool_limits(limits=MODEL_THREADS):
        for name, k in (("synthetic", synthetic), ("real", train)):
            scores[name] = _fit_and_score(data[k], X_test, y_test, cat_features, regression, seed)
    return {
        "target": target,
        "task": "regression" if regression else "classification",
        "metric": "r2" if regression else "macro_f1",
        "synthetic": scores["synthetic"],
        "real": scores["real"],
        "test_rows": int(len(y_test)),
    }


def tstr(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame, target: str,
         kinds: dict[str, str] | None = None, seed: int = 0) -> dict:
    """Train on synthetic, test on real (TSTR) next to train on real, test on real (TRTR): gradient-boosted
    trees (a regressor when the target is numeric with more than 20 distinct values, else a classifier) fit on
    `synthetic` and on `train`, both scored on `holdout` by macro-F1 or R². Rows with a null target are left
    out. Returns {"target", "task", "metric", "synthetic", "real", "test_rows"}."""
    plan = _plan(train, [("synthetic", synthetic), ("holdout", holdout)], kinds)
    _check_target(target, plan)
    enc = _encode([f.rename(columns=str) for f in (train, synthetic, holdout)], plan.specs,
                  ["training", "synthetic", "holdout"])
    return _tstr_encoded(enc, target, 0, 1, 2, seed)


def _check_target(target: str, plan: _Plan) -> None:
    if target in plan.specs:
        return
    if target in plan.excluded:
        raise SynthError(f"target {target!r} cannot be used: {plan.excluded[target]}")
    raise SynthError(f"target {target!r} is not a column; columns are {list(plan.specs)}")


# ---------------------------------------------------------------------------------------------------------
# Coherence
# ---------------------------------------------------------------------------------------------------------


def _coherence_encoded(enc: _Encoded, train: int, synthetic: int, holdout: int | None) -> dict | None:
    """The impossible-combination rate of the synthetic rows, its holdout baseline and the worst column pairs;
    None when fewer than two columns qualify (categorical or boolean, at most coherence.MAX_VALUES values)."""
    columns = coherence.eligible(enc.cat[train], enc.cards)
    if len(columns) < 2:
        return None
    sizes = enc.cards[columns]
    seen = enc.cat[train][:, columns]
    synth_codes = enc.cat[synthetic][:, columns]
    ours = coherence.unseen_pairs(seen, synth_codes, sizes)
    base = None if holdout is None else coherence.unseen_pairs(seen, enc.cat[holdout][:, columns], sizes)
    names = [enc.cat_cols[j] for j in columns]
    worst = coherence.worst_pairs(ours, base, names, [enc.values[j] for j in columns], synth_codes)
    return {
        "impossible_rate": ours.rate,
        "holdout_rate": None if base is None else base.rate,
        "ratio": None if base is None or base.rate == 0 else ours.rate / base.rate,
        "columns": names,
        "pairs_checked": len(ours.per_pair),
        "rows_checked": {"synthetic": ours.rows, "holdout": None if base is None else base.rows},
        "worst_pairs": worst,
    }


def impossible_combinations(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame | None = None,
                            kinds: dict[str, str] | None = None) -> dict | None:
    """The share of `synthetic` rows holding a pair of category values never seen together in `train`, with the
    same share for `holdout` (real rows the model never saw) as its baseline, and the worst column pairs (METRICS.md,
    "Coherence"). None when the table has fewer than two categorical columns of at most 60 values."""
    others = [("synthetic", synthetic)] + ([("holdout", holdout)] if holdout is not None else [])
    plan = _plan(train, others, kinds)
    frames = [train.rename(columns=str)] + [f.rename(columns=str) for _, f in others]
    enc = _encode(frames, plan.specs, ["training"] + [label for label, _ in others])
    return _json_ready(_coherence_encoded(enc, 0, 1, 2 if holdout is not None else None))


# ---------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------


def _column_shapes(enc: _Encoded, r_rows: np.ndarray, notes: list[str]) -> dict:
    columns = {}
    for j, name in enumerate(enc.num_cols):
        x, y = enc.num[0][r_rows, j], enc.num[1][:, j]
        x, y = x[~np.isnan(x)], y[~np.isnan(y)]
        if len(y) == 0:
            notes.append(f"column {name!r} has no synthetic values: its KS complement is 0")
            score = 0.0
        elif len(x) == 0:
            notes.append(f"column {name!r} has no real values in the sample: its KS complement is left out")
            score = None
        else:
            score = 1.0 - _ks_statistic(x, y)
        columns[name] = {"metric": "ks_complement", "score": score}
    for j, name in enumerate(enc.cat_cols):
        score = _tv_codes(enc.cat[0][r_rows, j], enc.cat[1][:, j], int(enc.cards[j]) + 1)
        columns[name] = {"metric": "tv_complement", "score": score}
    return columns


def _pair_trends(enc: _Encoded, order: list[str], r_rows: np.ndarray, notes: list[str]) -> dict:
    # Every column as codes for contingency tables: categories as they are, numerics in 10 real-data bins.
    codes_r, codes_s, sizes, numeric = {}, {}, {}, {}
    for j, name in enumerate(enc.num_cols):
        x = enc.num[0][r_rows, j]
        edges = _bin_edges(x)
        codes_r[name], codes_s[name] = _bin_codes(x, edges), _bin_codes(enc.num[1][:, j], edges)
        sizes[name], numeric[name] = len(edges), True  # bins plus the null code
    for j, name in enumerate(enc.cat_cols):
        codes_r[name], codes_s[name] = enc.cat[0][r_rows, j], enc.cat[1][:, j]
        sizes[name], numeric[name] = int(enc.cards[j]) + 1, False
    num_index = {name: j for j, name in enumerate(enc.num_cols)}
    details, skipped = [], []
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            if numeric[a] and numeric[b]:
                ja, jb = num_index[a], num_index[b]
                rho_r = _pearson(enc.num[0][r_rows, ja], enc.num[0][r_rows, jb])
                rho_s = _pearson(enc.num[1][:, ja], enc.num[1][:, jb])
                if rho_r is None or rho_s is None:
                    side = "real" if rho_r is None else "synthetic"
                    skipped.append([a, b])
                    notes.append(f"pair ({a!r}, {b!r}) left out: no variance in the {side} data "
                                 "(its Pearson correlation is undefined)")
                    continue
                details.append({"columns": [a, b], "metric": "correlation_similarity",
                                "score": 1.0 - abs(rho_r - rho_s) / 2.0, "real_association": rho_r,
                                "association": "pearson", "strong": abs(rho_r) > STRONG_PEARSON})
            else:
                score = _contingency_codes(codes_r[a], codes_r[b], codes_s[a], codes_s[b], sizes[a], sizes[b])
                v = _cramers_v_codes(codes_r[a], codes_r[b], sizes[a], sizes[b])
                details.append({"columns": [a, b], "metric": "contingency_similarity", "score": score,
                                "real_association": v, "association": "cramers_v",
                                "strong": v > STRONG_CRAMERS_V})
    all_scores = [d["score"] for d in details]
    strong_scores = [d["score"] for d in details if d["strong"]]
    pairs_all = float(np.mean(all_scores)) if all_scores else None
    fallback = not strong_scores
    if fallback and all_scores:
        notes.append("no strongly associated pairs in the real data: "
                     "the strong-pairs score is the all-pairs one")
    return {
        "all": pairs_all,
        "strong": float(np.mean(strong_scores)) if strong_scores else pairs_all,
        "strong_pairs": len(strong_scores),
        "pairs": len(all_scores),
        "strong_fallback": fallback,
        "skipped_pairs": skipped,
        "details": details,
    }


# Verdict thresholds of the report's summary (METRICS.md, "The summary"): (good, fair) bounds per check.
SHAPES_BOUNDS = (0.95, 0.90)  # at least
PAIRS_BOUNDS = (0.93, 0.85)  # at least, over all pairs
DETECTION_BOUNDS = (0.70, 0.85)  # at most
TSTR_GAP_BOUNDS = {"macro_f1": (0.03, 0.10), "r2": (0.05, 0.15)}  # real minus synthetic, at most
COHERENCE_SLACK = ((2.0, 0.005), (4.0, 0.02))  # at most max(k * holdout rate, holdout rate + points)
VERDICTS = ("good", "fair", "poor")


def _grade(value: float, bounds: tuple[float, float], higher_is_better: bool) -> str:
    good, fair = bounds
    if higher_is_better:
        return "good" if value >= good else "fair" if value >= fair else "poor"
    return "good" if value <= good else "fair" if value <= fair else "poor"


def summarise(shapes: float | None, pairs: dict, coherent: dict | None, detection: dict | None,
              usefulness: dict | None) -> dict:
    """The report's headline: each dimension of quality with its figure, its baseline where it has one, and a
    verdict; the overall verdict is the worst of them, so a model that fails on pairs, coherence, detection or
    utility cannot look good on its column shapes."""
    checks = []
    if shapes is not None:
        checks.append({"name": "column_shapes", "value": shapes, "baseline": None,
                       "verdict": _grade(shapes, SHAPES_BOUNDS, True)})
    if pairs.get("all") is not None:
        checks.append({"name": "pair_trends", "value": pairs["all"], "baseline": None,
                       "verdict": _grade(pairs["all"], PAIRS_BOUNDS, True)})
    if coherent is not None:
        rate, base = coherent["impossible_rate"], coherent["holdout_rate"] or 0.0
        limits = [max(k * base, base + points) for k, points in COHERENCE_SLACK]
        verdict = "good" if rate <= limits[0] else "fair" if rate <= limits[1] else "poor"
        checks.append({"name": "impossible_combinations", "value": rate, "baseline": coherent["holdout_rate"],
                       "verdict": verdict})
    if detection is not None:
        checks.append({"name": "detection_auc", "value": detection["auc"], "baseline": 0.5,
                       "verdict": _grade(detection["auc"], DETECTION_BOUNDS, False)})
    if usefulness is not None and usefulness.get("synthetic") is not None and usefulness.get("real") is not None:
        gap = usefulness["real"] - usefulness["synthetic"]
        checks.append({"name": "ml_utility", "value": usefulness["synthetic"], "baseline": usefulness["real"],
                       "metric": usefulness["metric"],
                       "verdict": _grade(gap, TSTR_GAP_BOUNDS[usefulness["metric"]], False)})
    worst = max(checks, key=lambda c: VERDICTS.index(c["verdict"])) if checks else None
    return {"verdict": worst["verdict"] if worst else None, "weakest": worst["name"] if worst else None,
            "checks": checks}


def _mean(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def report(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None = None,
           target: str | None = None, kinds: dict[str, str] | None = None, seed: int = 0,
           max_rows: int = 20_000, sensitive: list[str] | None = None) -> dict:
    """The full quality report as a JSON-ready dict (plain floats, ints, strings, lists; None for undefined).

    `real` is the training table, `synthetic` the generated one, `holdout` real rows the model never saw
    (needed for privacy, detection and TSTR), `target` a column to predict for TSTR, `sensitive` the columns
    the attribute attack guesses (synth/privacy.py; by default the target, if any). `kinds` overrides the
    column kinds inferred on `real`. Every table is sub-sampled (seeded) to `max_rows` rows for the metrics;
    the exact-copy check compares the sampled synthetic rows with every training row.
    """
    if target is not None and holdout is None:
        raise SynthError("a target needs a holdout table: TSTR tests both models on held-out real rows")
    if not isinstance(max_rows, int | np.integer) or max_rows < 2:
        raise SynthError(f"max_rows must be an integer of at least 2, got {max_rows!r}")
    others = [("synthetic", synthetic)] + ([("holdout", holdout)] if holdout is not None else [])
    plan = _plan(real, others, kinds)
    if target is not None:
        _check_target(str(target), plan)
        target = str(target)
    from synth import privacy as attacks  # built on this module's encoding, so imported here, not at the top

    sensitive = attacks.check_sensitive([target] if sensitive is None and target is not None else sensitive,
                                        list(plan.specs), plan.excluded)
    notes = plan.notes
    specs = plan.specs

    synth_rows = _sample_rows(len(synthetic), max_rows, _rng(seed, _S_SYNTH))
    frames = [real.rename(columns=str), synthetic.rename(columns=str).iloc[synth_rows]]
    labels = ["real", "synthetic"]
    if holdout is not None:
        hold_rows = _sample_rows(len(holdout), max_rows, _rng(seed, _S_HOLDOUT))
        frames.append(holdout.rename(columns=str).iloc[hold_rows])
        labels.append("holdout")
    enc = _encode(frames, specs, labels)  # the whole real table (for exact copies), samples of the others
    real_rows = _sample_rows(len(real), max_rows, _rng(seed, _S_REAL))

    shape_cols = _column_shapes(enc, real_rows, notes)
    shape_scores = [shape_cols[c]["score"] for c in specs if shape_cols[c]["score"] is not None]
    shapes = float(np.mean(shape_scores)) if shape_scores else None
    pairs = _pair_trends(enc, list(specs), real_rows, notes)
    if pairs["all"] is None:
        notes.append("no column pairs to score: overall quality is the column shapes score")

    coherent = _coherence_encoded(enc, 0, 1, 2 if holdout is not None else None)
    if coherent is None:
        notes.append("no coherence check: fewer than two categorical columns of at most "
                     f"{coherence.MAX_VALUES} values")
    privacy = detection = usefulness = None
    if holdout is not None:
        privacy = _dcr_share_encoded(enc, 0, 1, 2, seed, DCR_MAX_SYNTHETIC_ROWS)
        privacy["exact_copy_rate"] = _exact_copy_encoded(enc, 0, 1)
        privacy["exact_copy_rows_checked"] = len(enc.num[1])
        privacy["exact_copy_training_rows"] = len(enc.num[0])
        found = attacks.attacks_encoded(enc, 0, 1, 2, sensitive, seed)  # membership and attribute inference
        notes.extend(found.pop("attack_notes"))
        privacy.update(found)
        try:
            detection = _detection_encoded(enc, 2, 1, seed)
        except SynthError as exc:
            notes.append(f"detection skipped: {exc}")
        if target is not None:
            usefulness = _tstr_encoded(enc, target, 0, 1, 2, seed, train_rows=real_rows)

    out = {
        "summary": summarise(shapes, pairs, coherent, detection, usefulness),
        "overall": _mean(shapes, pairs["strong"]),
        "overall_all_pairs": _mean(shapes, pairs["all"]),
        "column_shapes": {"score": shapes, "columns": {c: shape_cols[c] for c in specs}},
        "column_pair_trends": pairs,
        "coherence": coherent,
        "privacy": privacy,
        "detection": detection,
        "tstr": usefulness,
        "rows": {
            "real": len(real),
            "synthetic": len(synthetic),
            "holdout": None if holdout is None else len(holdout),
            "sampled": {"real": len(real_rows), "synthetic": len(enc.num[1]),
                        "holdout": None if holdout is None else len(enc.num[2])},
        },
        "kinds": {c: s.kind for c, s in specs.items()},
        "excluded_columns": list(plan.excluded),
        "excluded_reasons": dict(plan.excluded),
        "charts": __import__("synth.visuals").visuals.charts(enc, real_rows, specs),  # synth/visuals.py
        "notes": notes,
        "seed": seed,
        "max_rows": max_rows,
    }
    return _json_ready(out)
