import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from synth.output import category_column, numeric_column, numeric_grid
from synth.schema import DATETIME_FORMATS, ColumnSpec
from synth.transformer import Coded


def _date_spec(fmt: str, dtype: str = "str") -> ColumnSpec:
    return ColumnSpec(name="when", kind="datetime", dtype=dtype, datetime_format=fmt, extra={"resolution": 1})


# Beyond the detected formats: one that names a field twice, and one that is not fixed-width (strftime).
@pytest.mark.parametrize("fmt", [*DATETIME_FORMATS, "%Y%m%d (%Y)", "%d %B %Y, %I %p"])
def test_dates_come_back_as_strftime_writes_them_in_the_inputs_text_dtype(fmt):
    rng = np.random.default_rng(0)
    seconds = rng.integers(-2_000_000_000, 4_000_000_000, 5_000).astype(np.float64)  # 1906 to 2096
    seconds[::7] = np.nan
    out = numeric_column(_date_spec(fmt), seconds)
    expected = pd.Series(pd.to_datetime(np.nan_to_num(seconds).astype(np.int64), unit="s")).dt.strftime(fmt)
    assert str(out.dtype) == "str"
    assert out.isna().tolist() == np.isnan(seconds).tolist()
    assert out[~out.isna()].tolist() == expected[~np.isnan(seconds)].tolist()


# Years 1000 to 9999, far more days than values (each value's calendar computed); a year and a quarter,
# fewer days than values (the calendar of each day looked up).
@pytest.mark.parametrize("low, high", [(-30_610_224_000, 253_402_300_799), (1_400_000_000, 1_440_000_000)])
def test_dates_across_the_calendar_come_back_as_strftime_writes_them(low, high):
    rng = np.random.default_rng(1)
    leap_days = [951_782_400, 951_868_799, -2_203_891_200, 4_107_542_400]  # 2000-02-29, 1900-03-01, 2100-03-01
    seconds = np.concatenate([[low, high], leap_days, rng.integers(low, high, 20_000)]).astype(np.float64)
    fmt = "%Y-%m-%dT%H:%M:%S"
    out = numeric_column(_date_spec(fmt), seconds)
    epoch = datetime.datetime(1970, 1, 1)
    expected = [(epoch + datetime.timedelta(seconds=int(s))).strftime(fmt) for s in seconds]
    assert out.tolist() == expected


def test_dates_in_an_object_column_stay_objects_with_none_for_null():
    out = numeric_column(_date_spec("%Y-%m-%d", dtype="object"), np.array([0.0, np.nan, 86_400.0]))
    assert out.dtype == object and out.tolist() == ["1970-01-01", None, "1970-01-02"]


@pytest.mark.parametrize(
    ("kind", "dtype", "values", "expected", "out_dtype"),
    [
        ("integer", "int64", [1.4, 2.6, -3.0, 12.0], [1, 3, 0, 10], "int64"),  # rounded, inside the real range
        ("continuous", "int32", [1.4, 2.6], [1, 3], "int32"),  # an integer column modelled as continuous
        ("continuous", "float32", [1.25, 9.5], [1.25, 9.5], "float32"),
        ("integer", "int64", [1.4, np.nan], [1, None], "Int64"),  # a null: pandas' nullable integers
        ("continuous", "float64", [0.5, np.nan], [0.5, None], "float64"),
    ],
)
def test_numbers_come_back_in_the_inputs_dtype(kind, dtype, values, expected, out_dtype):
    spec = ColumnSpec(name="n", kind=kind, dtype=dtype, minimum=0, maximum=10)
    out = numeric_column(spec, np.array(values))
    assert str(out.dtype) == out_dtype
    assert [None if pd.isna(v) else v for v in out.tolist()] == expected


@pytest.mark.parametrize("dtype", ["str", "string"])
def test_text_categories_come_back_in_the_inputs_dtype_outside_arrows_default_pool(dtype):
    """Text columns are allocated by malloc, which keeps freed memory for the next batch, not by Arrow's
    default pool, which hands it back to the kernel."""
    pool = pa.default_memory_pool()
    before = pool.bytes_allocated()
    out = category_column(ColumnSpec(name="c", kind="categorical", dtype=dtype),
                          Coded(np.array([1, 0, 2, 1] * 5_000), ["a", "bb", None]))
    assert str(out.dtype) == dtype
    assert out.iloc[:4].isna().tolist() == [False, False, True, False]
    assert out.iloc[:4].fillna("-").tolist() == ["bb", "a", "-", "bb"]
    assert pool.bytes_allocated() == before


@pytest.mark.parametrize(
    ("values", "grid"),
    [
        ([37.88, 37.85, -122.23, 1.0], (0.01, 2)),  # coordinates to two decimals
        ([0.25, 0.5, 1.75, 3.0], (0.25, 2)),  # bathrooms in quarters
        ([1000.0, 25_000.0, 300_000.0], (1000.0, 0)),  # salaries in thousands
        ([3.0, 7.0, 12.0], (1.0, 0)),
        (np.float32([0.1, 0.7, 2.3]).astype(np.float64), (0.1, 1)),  # a float32 column's float error is no digit
        ([0.1234567, 0.5], None),  # seven decimals: a measurement, not a grid
        ([0.0, 0.0, np.nan], None),  # only zeros: no step to tell
        ([np.nan], None),
    ],
)
def test_numeric_grid_is_the_coarsest_step_every_value_sits_on(values, grid):
    found = numeric_grid(np.array(values, dtype=np.float64))
    assert found == (None if grid is None else (pytest.approx(grid[0]), grid[1]))


def test_a_grid_that_fewer_than_k_rows_break_is_kept_under_protection():
    limits = np.array([10_000.0] * 20 + [50_000.0] * 30 + [16_000.0] * 2)  # credit_default's limits: two of 16,000
    assert numeric_grid(limits) == (2000.0, 0)
    assert numeric_grid(limits, min_rows=10) == (10_000.0, 0)  # the two rows' grid is not kept
    assert numeric_grid(limits, min_rows=2) == (2000.0, 0)  # two rows are k rows
    # Prices in cents, most held by one row, some round: every row is on the cent, and many are off the round grid.
    prices = np.concatenate([np.full(30, 100.0), np.round(np.random.default_rng(0).uniform(1, 99, 50), 2)])
    assert numeric_grid(prices, min_rows=10) == (pytest.approx(0.01), 2)


def test_numbers_on_a_grid_come_back_on_it_without_float_error():
    spec = ColumnSpec(name="n", kind="continuous", dtype="float64", minimum=0.25, maximum=10.0,
                      extra={"step": 0.25, "decimals": 2})
    out = numeric_column(spec, np.array([0.1, 1.13, 1.124, 3.3, 99.0, np.nan]))
    assert [None if pd.isna(v) else v for v in out.tolist()] == [0.25, 1.25, 1.0, 3.25, 10.0, None]
    cents = ColumnSpec(name="c", kind="continuous", dtype="float64", minimum=0.0, maximum=100.0,
                       extra={"step": 0.01, "decimals": 2})
    out = numeric_column(cents, np.array([33.859999999, 0.1 + 0.2, 12.3456]))
    assert out.tolist() == [33.86, 0.3, 12.35] and [repr(v) for v in out] == ["33.86", "0.3", "12.35"]
