"""Decoded arrays back to columns of the input's dtype and format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from synth.schema import ColumnSpec
from synth.transformer import Coded

_DAY, _MINUTE = 86_400, 60


def numeric_column(spec: ColumnSpec, x: np.ndarray) -> pd.Series:
    """Continuous, integer and datetime values (floats; datetimes as seconds) to the input's dtype."""
    if spec.minimum is not None:
        x = np.clip(x, spec.minimum, spec.maximum)
    if spec.kind == "datetime":
        return _datetime(spec, x)
    if spec.kind == "integer":
        x = np.round(x)
    return _as_dtype(x, spec.dtype)


def _datetime(spec: ColumnSpec, seconds: np.ndarray) -> pd.Series:
    step = spec.extra.get("resolution", 1)
    null = np.isnan(seconds)
    whole = np.round(np.where(null, 0, seconds) / step) * step
    stamps = pd.Series(pd.to_datetime(whole.astype(np.int64), unit="s"))
    stamps[null] = pd.NaT
    if spec.datetime_format:
        return stamps.dt.strftime(spec.datetime_format).astype(object).where(~null, None)
    return stamps.astype(spec.dtype) if spec.dtype.startswith("datetime64") else stamps


def datetime_resolution(seconds: np.ndarray) -> int:
    """The coarsest of day, minute, second that every real value sits on."""
    s = seconds[~np.isnan(seconds)]
    if np.all(np.mod(s, _DAY) == 0):
        return _DAY
    if np.all(np.mod(s, _MINUTE) == 0):
        return _MINUTE
    return 1


def category_column(spec: ColumnSpec, coded: Coded) -> pd.Series:
    dictionary = coded.dictionary
    if spec.dtype in ("str", "string"):
        # Arrow's take builds the string column in C: ten times faster than from Python objects.
        texts = pa.array([None if v is None else str(v) for v in dictionary], type=pa.large_string())
        dtype = pd.StringDtype("pyarrow", na_value=np.nan if spec.dtype == "str" else pd.NA)
        return texts.take(pa.array(coded.codes)).to_pandas(types_mapper={pa.large_string(): dtype}.get)
    if spec.dtype in ("int64", "int32", "float64", "float32", "bool") and not _any_null(coded):
        values = np.asarray([0 if v is None else v for v in dictionary], dtype=spec.dtype)  # 0: never taken
        return pd.Series(values[coded.codes])
    table = np.empty(len(dictionary), dtype=object)
    table[:] = dictionary
    return _as_dtype(table[coded.codes], spec.dtype)


def _any_null(coded: Coded) -> bool:
    """Whether a code points at a null (a derived column's dictionary ends in one it rarely uses)."""
    nulls = [i for i, v in enumerate(coded.dictionary) if v is None]
    return bool(nulls) and bool(np.isin(coded.codes, nulls).any())


def _as_dtype(values: np.ndarray, dtype: str) -> pd.Series:
    try:
        if dtype.startswith(("int", "uint")) and pd.isna(values).any():
            return pd.Series(values, dtype="Int64")
        if dtype == "bool" and pd.isna(values).any():
            return pd.Series(values, dtype="boolean")
        return pd.Series(values, dtype=dtype)
    except (TypeError, ValueError):
        return pd.Series(values, dtype=object)
