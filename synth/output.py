"""Decoded arrays back to columns of the input's dtype and format."""

from __future__ import annotations

import re

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
    whole = (np.round(np.where(null, 0, seconds) / step) * step).astype(np.int64)
    texts = _fixed_width_texts(whole, null, spec.datetime_format) if spec.datetime_format else None
    if texts is not None:
        return _texts(texts, spec.dtype)
    stamps = pd.Series(pd.to_datetime(whole, unit="s")).where(~null)
    if spec.datetime_format:
        return _texts(pa.array(stamps.dt.strftime(spec.datetime_format), type=pa.large_string()), spec.dtype)
    return stamps.astype(spec.dtype) if spec.dtype.startswith("datetime64") else stamps


_FIELD_WIDTHS = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}


def _fixed_width_texts(seconds: np.ndarray, null: np.ndarray, fmt: str) -> pa.Array | None:
    """Datetimes (whole seconds since 1970) as text in `fmt`, built digit by digit in numpy: strftime
    takes about a microsecond a value. Every format schema inference detects is fixed-width (%Y %m %d
    %H %M %S and literal characters); None for any other format, or a year outside 1000-9999."""
    tokens = re.findall(r"%(.)|([^%]+)", fmt)
    if any(field and field not in _FIELD_WIDTHS for field, _ in tokens):
        return None
    t = seconds.astype("datetime64[s]")
    day, month, year = (t.astype(f"datetime64[{unit}]") for unit in ("D", "M", "Y"))
    fields = {"Y": year.astype(np.int64) + 1970, "m": month.astype(np.int64) % 12 + 1,
              "d": (day - month.astype("datetime64[D]")).astype(np.int64) + 1}
    in_day = (t - day.astype("datetime64[s]")).astype(np.int64)
    fields.update(H=in_day // 3600, M=in_day // 60 % 60, S=in_day % 60)
    if np.any((fields["Y"] < 1000) | (fields["Y"] > 9999)):
        return None
    width = sum(_FIELD_WIDTHS[field] if field else len(literal.encode()) for field, literal in tokens)
    chars = np.empty((len(seconds), width), dtype=np.uint8)
    at = 0
    for field, literal in tokens:
        if literal:
            text = np.frombuffer(literal.encode(), dtype=np.uint8)
            chars[:, at:at + len(text)] = text
            at += len(text)
            continue
        value = fields[field]
        for k in range(_FIELD_WIDTHS[field] - 1, -1, -1):
            chars[:, at + k] = 48 + value % 10  # 48: "0"
            value = value // 10
        at += _FIELD_WIDTHS[field]
    offsets = np.arange(0, (len(seconds) + 1) * width, width, dtype=np.int64)
    valid = None if not null.any() else pa.array(~null).buffers()[1]
    return pa.LargeStringArray.from_buffers(len(seconds), pa.py_buffer(offsets), pa.py_buffer(chars), valid,
                                            int(null.sum()))


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
        return _texts(texts.take(pa.array(coded.codes)), spec.dtype)
    if spec.dtype in ("int64", "int32", "float64", "float32", "bool") and not _any_null(coded):
        values = np.asarray([0 if v is None else v for v in dictionary], dtype=spec.dtype)  # 0: never taken
        return pd.Series(values[coded.codes])
    table = np.empty(len(dictionary), dtype=object)
    table[:] = dictionary
    return _as_dtype(table[coded.codes], spec.dtype)


def _texts(texts: pa.Array, dtype: str) -> pd.Series:
    """An Arrow string array as a column of the input's text dtype ("str", "string" or object)."""
    if dtype in ("str", "string"):
        pandas_dtype = pd.StringDtype("pyarrow", na_value=np.nan if dtype == "str" else pd.NA)
        return texts.to_pandas(types_mapper={pa.large_string(): pandas_dtype}.get)
    return pd.Series(texts.to_numpy(zero_copy_only=False), dtype=object)  # None for null, as read


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
