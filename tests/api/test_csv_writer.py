"""The streamed CSV encoder writes exactly what `DataFrame.to_csv(index=False)` writes, on its fast path and off it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.api.csv_writer import _fast_body, frame_to_csv
from app.api.streaming import encode

N = 1500


def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    floats = rng.normal(size=N) * 10.0 ** rng.integers(-12, 24, size=N)
    floats[::7] = np.nan
    floats[1:6] = [np.inf, -np.inf, -0.0, 3.0, 1e16]
    texts = np.array(["a", "béé", "", "x y", " lead", "trail ", "tab\tx", "ü'q", "ħ😀"], dtype=object)
    return pd.DataFrame({
        "int": rng.integers(-10**12, 10**12, N),
        "uint": rng.integers(0, 2**63, N, dtype=np.uint64),
        "float": floats,
        "float32": floats.astype(np.float32),
        "whole": np.round(rng.gamma(2.0, size=N) * 1000),
        "bool": rng.random(N) < 0.5,
        "str": pd.Series(rng.choice(texts, N), dtype="str"),
        "str_nulls": pd.Series(np.where(rng.random(N) < 0.3, None, rng.choice(texts, N)), dtype="str"),
        "string": pd.Series(np.where(rng.random(N) < 0.3, None, rng.choice(texts, N)), dtype="string"),
        "python_string": pd.Series(np.where(rng.random(N) < 0.3, None, rng.choice(texts, N)),
                                   dtype=pd.StringDtype("python")),
        "object": pd.Series(rng.choice(np.array(["p", None, np.nan, "q"], dtype=object), N), dtype=object),
        "Int64": pd.array(np.where(rng.random(N) < 0.2, None, rng.integers(-50, 100, N)), dtype="Int64"),
        "boolean": pd.array(np.where(rng.random(N) < 0.2, None, rng.random(N) < 0.5), dtype="boolean"),
    })


def _same(frame: pd.DataFrame) -> None:
    for header in (True, False):
        assert frame_to_csv(frame, header=header) == frame.to_csv(index=False, header=header).encode("utf-8")


def test_fast_path_matches_pandas_byte_for_byte():
    frame = _frame()
    assert _fast_body(frame) is not None
    _same(frame)
    _same(frame.iloc[100:900])  # a slice: arrays with offsets
    _same(frame.rename(columns={"int": "a,b", "float": 'say "x"'}))  # the header still quotes as pandas does


@pytest.mark.parametrize("value", ["a,b", 'say "hi"', "line\nbreak", "carriage\rreturn"])
@pytest.mark.parametrize("column", ["str", "object", "string"])
def test_fields_that_need_quotes_go_to_pandas(column, value):  # noqa: ANN001
    frame = _frame()
    frame.loc[7, column] = value
    assert _fast_body(frame) is None
    _same(frame)


@pytest.mark.parametrize("extra", [
    pd.Series(pd.date_range("2020-01-01", periods=N, freq="h")),
    pd.Series(pd.Categorical(["x", "y", "z"] * (N // 3))),
    pd.Series([1, "a", 2.5] * (N // 3), dtype=object),
    pd.Series(pd.array([0.5, None, 2.0] * (N // 3), dtype="Float64")),
])
def test_other_dtypes_go_to_pandas(extra):  # noqa: ANN001
    frame = _frame().assign(extra=extra)
    assert _fast_body(frame) is None
    _same(frame)


def test_one_column_and_no_rows_go_to_pandas():
    one = pd.DataFrame({"s": pd.Series(["", "a", None] * 10, dtype="str")})
    assert _fast_body(one) is None
    _same(one)
    _same(_frame().iloc[:0])


def test_streamed_chunks_join_into_one_csv():
    frame = _frame(1)
    chunks = [frame.iloc[i:i + 400].reset_index(drop=True) for i in range(0, N, 400)]
    assert b"".join(encode(iter(chunks), "csv")) == frame.to_csv(index=False).encode("utf-8")
