"""Decoded arrays back to columns of the input's dtype and format."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.arrays import ArrowStringArray

from synth.schema import ColumnSpec
from synth.transformer import Coded

_DAY, _MINUTE = 86_400, 60
MOST_DECIMALS = 6  # a continuous column needing more is a measurement, not values on a grid
# pandas' Arrow-backed text dtypes: "str" (NaN for null; read_csv's default) and "string" (pd.NA)
_TEXT_DTYPES = {"str": pd.StringDtype("pyarrow", na_value=np.nan), "string": pd.StringDtype("pyarrow", na_value=pd.NA)}
# Text columns are allocated by malloc, which keeps freed memory for the next batch (synth.memory). Arrow's
# default pool (mimalloc) hands it back to the kernel, and the next batch faulted it in again, zeroed: on
# Adult, 380-480 page faults per 100,000 rows sampled, against 80-240 this way.
_MEMORY_POOL = pa.system_memory_pool()
_NUMPY_INTEGERS = ("int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8")
_NUMPY_NUMBERS = _NUMPY_INTEGERS + ("float64", "float32")


def numeric_column(spec: ColumnSpec, x: np.ndarray, on_grid: bool = False) -> pd.Series:
    """Continuous, integer and datetime values (floats; datetimes as seconds) to the input's dtype; `on_grid`:
    the values already went through `numeric_on_grid` (and may have been moved since, as a sum's parts are)."""
    if not on_grid:
        x = numeric_on_grid(spec, x)
    if spec.kind == "datetime":
        return _datetime(spec, x)
    return _as_dtype(x, spec.dtype)


def numeric_on_grid(spec: ColumnSpec, x: np.ndarray) -> np.ndarray:
    """Numeric values inside the column's bounds and on the grid its real values sit on (floats; a datetime's
    seconds are only clipped: `_datetime` rounds them to the resolution)."""
    if spec.minimum is not None:
        x = np.clip(x, spec.minimum, spec.maximum)
    if spec.kind == "datetime":
        return x
    if "step" in spec.extra:  # the grid its real values sit on: 0.01 for cents, 0.25, 1000...
        step, decimals = spec.extra["step"], spec.extra["decimals"]
        x = np.round(np.round(x / step) * step, decimals)  # the second round drops float error (33.86, not 33.859999)
    elif spec.kind == "integer" or spec.dtype in _NUMPY_INTEGERS:  # an integer column modelled as continuous too
        x = np.round(x)
    return x


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
_DIGIT_PAIRS_16 = np.array([[48 + i // 10, 48 + i % 10] for i in range(100)], dtype=np.uint8).view(np.uint16)[:, 0]


def _fixed_width_texts(seconds: np.ndarray, null: np.ndarray, fmt: str) -> pa.Array | None:
    """Datetimes (whole seconds since 1970) as text in `fmt`, built in numpy: strftime takes about a
    microsecond a value, numpy's calendar conversions (datetime64 to months or years) some 27 ns each.
    Every format schema inference detects is fixed-width (%Y %m %d %H %M %S and literal characters);
    None for any other format, or a year outside 1000-9999."""
    tokens = re.findall(r"%(.)|([^%]+)", fmt)
    if any(field and field not in _FIELD_WIDTHS for field, _ in tokens):
        return None
    day, in_day = np.divmod(seconds, _DAY)
    low, span = (int(day.min()), int(day.max() - day.min()) + 1) if len(day) else (0, 0)
    if span <= len(day):  # the calendar of each day in the range, looked up: real dates span few days
        year, month, mday = (np.take(field, day - low) for field in _civil(np.arange(low, low + span)))
    else:
        year, month, mday = _civil(day)
    if np.any((year < 1000) | (year > 9999)):
        return None
    fields = {"Y": year, "m": month, "d": mday}
    if {"H", "M", "S"} & {field for field, _ in tokens}:
        hour, rest = np.divmod(in_day, 3600)
        fields.update(H=hour, M=rest // 60, S=rest % 60)
    width = sum(_FIELD_WIDTHS[field] if field else len(literal.encode()) for field, literal in tokens)
    chars = np.empty((len(seconds), width), dtype=np.uint8)
    at = 0
    for field, literal in tokens:
        if literal:
            text = np.frombuffer(literal.encode(), dtype=np.uint8)
            chars[:, at:at + len(text)] = text
            at += len(text)
        elif field == "Y":
            century, rest = np.divmod(year, 100)
            _write_pair(chars, at, century)
            _write_pair(chars, at + 2, rest)
            at += 4
        else:
            _write_pair(chars, at, fields[field])
            at += 2
    offsets = np.arange(0, (len(seconds) + 1) * width, width, dtype=np.int64)
    valid = None if not null.any() else pa.array(~null).buffers()[1]
    return pa.LargeStringArray.from_buffers(len(seconds), pa.py_buffer(offsets), pa.py_buffer(chars), valid,
                                            int(null.sum()))


def _write_pair(chars: np.ndarray, at: int, values: np.ndarray) -> None:
    """Write `values` (0 to 99) as two digits into columns `at` and `at` + 1 of `chars`. The pair is looked
    up as one 16-bit word rather than as byte pairs, then copied a byte column at a time rather than both at
    once: each the faster way (DESIGN.md, "Measurements behind the code")."""
    pair = np.take(_DIGIT_PAIRS_16, values).view(np.uint8).reshape(-1, 2)
    chars[:, at] = pair[:, 0]
    chars[:, at + 1] = pair[:, 1]


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of month of each day since 1970-01-01 in the proleptic Gregorian calendar
    (strftime's), in integer arithmetic: H. Hinnant's civil_from_days, eras of 400 years from 0000-03-01."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097  # day of the era, 0 to 146096
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365  # year of the era, 0 to 399
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)  # day of the year from March 1st, 0 to 365
    mp = (5 * doy + 2) // 153  # month from March, 0 to 11
    mday = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, mday


def numeric_grid(x: np.ndarray, most_decimals: int = MOST_DECIMALS, min_rows: int = 1) -> tuple[float, int] | None:
    """(step, decimals): the grid that every real value of a continuous or integer column sits on. The fewest
    decimals that hold them all, then the largest multiple of that unit that divides every value: 0.01 for prices
    in cents, 0.25 for a count of bathrooms, 1000 for salaries in thousands. None when more than `most_decimals`
    decimals would be needed (a measurement, not a grid), or every value is zero.

    With `min_rows` k above 1 (synth.protect), the grid of the values that k rows hold is taken instead where it is
    coarser and fewer than k rows lie off it: credit_default's credit limits are whole tens of thousands but on two
    rows (16,000), which would otherwise put every sampled limit on a grid of 2,000."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    grid = _finest_grid(x, most_decimals)
    if grid is None or min_rows <= 1:
        return grid
    values, counts = np.unique(x, return_counts=True)
    coarse = _finest_grid(values[counts >= min_rows], most_decimals)
    if coarse is None or coarse[0] <= grid[0]:
        return grid
    steps = x / coarse[0]
    off = np.abs(steps - np.round(steps)) > 1e-6 * np.maximum(1.0, np.abs(steps))
    return coarse if np.count_nonzero(off) < min_rows else grid


def _finest_grid(x: np.ndarray, most_decimals: int) -> tuple[float, int] | None:
    """numeric_grid over every value of `x` (finite)."""
    if not len(x):
        return None
    for decimals in range(most_decimals + 1):
        units = x * 10.0 ** decimals
        if np.abs(units).max() >= 2**52:  # beyond exact integers in a float: no grid to find
            return None
        whole = np.round(units)
        if np.all(np.abs(units - whole) <= 1e-6 * np.maximum(1.0, np.abs(units))):
            divisor = int(np.gcd.reduce(np.abs(whole).astype(np.int64)))
            return (divisor / 10.0 ** decimals, decimals) if divisor else None
    return None


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
    if spec.dtype in _TEXT_DTYPES:
        # Arrow's take builds the string column in C, not from Python objects.
        texts = pa.array([None if v is None else str(v) for v in dictionary], type=pa.large_string())
        return _texts(pc.take(texts, pa.array(coded.codes), memory_pool=_MEMORY_POOL), spec.dtype)
    if spec.dtype in ("int64", "int32", "float64", "float32", "bool") and not _any_null(coded):
        values = np.asarray([0 if v is None else v for v in dictionary], dtype=spec.dtype)  # 0: never taken
        return pd.Series(values[coded.codes])
    table = np.empty(len(dictionary), dtype=object)
    table[:] = dictionary
    return _as_dtype(table[coded.codes], spec.dtype)


def _texts(texts: pa.Array, dtype: str) -> pd.Series:
    """An Arrow string array as a column of the input's text dtype ("str", "string" or object)."""
    if dtype in _TEXT_DTYPES:  # wrapped as it is: to_pandas would copy it
        return pd.Series(ArrowStringArray(texts, dtype=_TEXT_DTYPES[dtype]), copy=False)
    return pd.Series(texts.to_numpy(zero_copy_only=False), dtype=object)  # None for null, as read


def _any_null(coded: Coded) -> bool:
    """Whether a code points at a null (a derived column's dictionary ends in one it rarely uses)."""
    nulls = [i for i, v in enumerate(coded.dictionary) if v is None]
    return bool(nulls) and bool(np.isin(coded.codes, nulls).any())


def _as_dtype(values: np.ndarray, dtype: str) -> pd.Series:
    """`values` as a Series of `dtype` (pandas' nullable kinds for an integer or boolean column with nulls);
    floats meant for an integer dtype come rounded."""
    if values.dtype.kind == "f" and dtype in _NUMPY_NUMBERS and not np.isnan(values).any():
        # numpy's cast: pandas checks a cast of floats to integers value by value.
        return pd.Series(values.astype(dtype, copy=False), copy=False)
    try:
        if dtype.startswith(("int", "uint")) and pd.isna(values).any():
            return pd.Series(values, dtype="Int64")
        if dtype == "bool" and pd.isna(values).any():
            return pd.Series(values, dtype="boolean")
        return pd.Series(values, dtype=dtype)
    except (TypeError, ValueError):
        return pd.Series(values, dtype=object)
