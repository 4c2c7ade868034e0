"""CSV bytes of a DataFrame, exactly as `frame.to_csv(index=False)` writes them, without pandas' row loop.

pandas hands every row to Python's csv writer; that row loop was most of the API's cost per streamed row.
Here each column is formatted the way pandas formats it (integers in decimal, floats as numpy's `astype(str)`,
booleans as True/False, missing values as empty fields), and Arrow joins the columns and rows in C++.
Anything that this does not reproduce byte for byte (a field that would need quotes, datetimes, categoricals,
mixed objects, a single column) goes to `to_csv` itself, so the output never depends on which path ran.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_TEXT = pa.large_string()
_COMMA, _EMPTY, _EOL = (pa.scalar(s, _TEXT) for s in (",", "", os.linesep))  # to_csv ends lines with os.linesep
_TRUE, _FALSE = pa.scalar("True", _TEXT), pa.scalar("False", _TEXT)
_NEEDS_QUOTES = (b",", b'"', b"\r", b"\n")  # what Python's csv writer (QUOTE_MINIMAL) quotes a field for
_MASKED_INTS = (pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype,
                pd.UInt8Dtype, pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype)


def frame_to_csv(frame: pd.DataFrame, header: bool = True) -> bytes:
    """`frame.to_csv(index=False, header=header).encode("utf-8")`, the same bytes."""
    body = _fast_body(frame)
    if body is None:
        return frame.to_csv(index=False, header=header).encode("utf-8")
    head = frame.iloc[:0].to_csv(index=False).encode("utf-8") if header else b""
    return head + body


def _fast_body(frame: pd.DataFrame) -> bytes | None:
    # One column: the csv writer quotes an empty field there ('""'), which the join below would not.
    if frame.shape[1] < 2 or len(frame) == 0 or not frame.columns.is_unique:
        return None
    columns = []
    for _, series in frame.items():
        text = _column(series)
        if text is None:
            return None
        columns.append(text)
    rows = pc.binary_join_element_wise(*columns, _COMMA)
    lines = pc.binary_join_element_wise(rows, _EMPTY, _EOL)  # each row followed by the line end
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    _, offsets, data = lines.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int64)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return data.slice(start, end - start).to_pybytes()


def _column(series: pd.Series) -> pa.Array | pa.ChunkedArray | None:
    """The column's fields as text, formatted as to_csv formats them; None where this cannot be sure."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        values = series.to_numpy()
        if dtype.kind in "iu":
            return pc.cast(pa.array(values), _TEXT)
        if dtype.kind == "f":  # pandas: values.astype(str), NaN as the empty na_rep
            missing = np.isnan(values)
            # float64's repr is numpy's str (the shortest round trip, same switch to exponents), and faster
            text = list(map(float.__repr__, values.tolist())) if dtype == np.float64 else values.astype(str)
            return pc.fill_null(pa.array(text, type=_TEXT, mask=missing if missing.any() else None), _EMPTY)
        if dtype.kind == "b":
            return pa.array(np.where(values, "True", "False"), type=_TEXT)
        if dtype.kind == "O":
            try:
                array = pa.array(values, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                return None
            return _strings(array) if pa.types.is_string(array.type) or pa.types.is_large_string(array.type) \
                else None
        return None
    if isinstance(dtype, pd.StringDtype):
        return _strings(pa.array(series, from_pandas=True))
    if isinstance(dtype, _MASKED_INTS):
        return pc.fill_null(pc.cast(pa.array(series, from_pandas=True), _TEXT), _EMPTY)
    if isinstance(dtype, pd.BooleanDtype):
        return pc.fill_null(pc.if_else(pa.array(series, from_pandas=True), _TRUE, _FALSE), _EMPTY)
    return None  # datetimes, categoricals, floats with a mask, ...: to_csv knows their formats


def _strings(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    array = array.cast(_TEXT)
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    for chunk in chunks:
        data = chunk.buffers()[2]
        if data is not None:
            raw = data.to_pybytes()  # the values back to back (a slice's neighbours too: a false alarm is safe)
            if any(mark in raw for mark in _NEEDS_QUOTES):
                return None
    return pc.fill_null(array, _EMPTY)
