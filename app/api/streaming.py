"""Sample requests: conditions from the query string, and the streamed encodings (CSV, JSON lines, Parquet).

Condition syntax (any query parameter that is not n, seed, format or model_id names a column):
  sex=Female          a categorical or boolean column takes exactly this value
  age=30..40          a numeric or datetime column inside [30, 40]; `age=30..` and `age=..40` are open ranges
  age=37              a numeric column equal to 37 (same as age=37..37)
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from app.api.csv_writer import frame_to_csv
from app.core.errors import APIError

RESERVED = ("n", "seed", "format", "model_id")
NUMERIC_KINDS = ("continuous", "integer")
CONDITIONABLE = ("categorical", "boolean", "continuous", "integer", "datetime")
FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/x-ndjson", "jsonl"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
}


def _bad(message: str, code: str = "invalid_condition") -> APIError:
    return APIError(422, code, message)


def parse_conditions(items: list[tuple[str, str]], schema: dict) -> dict:
    """Turn the non-reserved query parameters into the engine's conditions, checking them against the schema."""
    kinds = {c["name"]: c["kind"] for c in schema["columns"]}
    conditions: dict = {}
    reserved_seen: set[str] = set()
    for key, value in items:
        if key in RESERVED:
            if key in reserved_seen:
                raise _bad(f"{key!r} is given more than once; give it once", "invalid_request")
            reserved_seen.add(key)
            continue
        if key not in kinds:
            raise _bad(f"unknown query parameter {key!r}: it is neither one of {list(RESERVED)} nor a column of "
                       f"this model (columns: {list(kinds)})", "unknown_parameter")
        if key in conditions:
            raise _bad(f"column {key!r} is conditioned twice; give one value or one range")
        kind = kinds[key]
        if kind not in CONDITIONABLE:
            raise _bad(f"column {key!r} is a {kind} column and cannot be conditioned on")
        conditions[key] = _one_condition(key, value, kind)
    return conditions


def _one_condition(key: str, value: str, kind: str):  # noqa: ANN202
    if ".." in value:
        if kind not in (*NUMERIC_KINDS, "datetime"):
            raise _bad(f"column {key!r} is {kind}: a range like {value!r} needs a numeric or datetime column")
        low, high = (part.strip() for part in value.split("..", 1))
        if not low and not high:
            raise _bad(f"column {key!r}: the range {value!r} has neither a lower nor an upper bound")
        bounds = {}
        for name, text in (("min", low), ("max", high)):
            if text:
                bounds[name] = _number(key, text) if kind in NUMERIC_KINDS else text
        if kind in NUMERIC_KINDS and "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise _bad(f"column {key!r}: the range {value!r} is empty (lower bound above upper bound)")
        if kind == "integer" and "min" in bounds and "max" in bounds \
                and math.ceil(bounds["min"]) > math.floor(bounds["max"]):
            raise _bad(f"column {key!r} holds whole numbers, and the range {value!r} contains none")
        return bounds
    if kind in NUMERIC_KINDS:
        number = _number(key, value)
        if kind == "integer" and not number.is_integer():
            raise _bad(f"column {key!r} holds whole numbers: {value!r} is not one (for a range, write "
                       f"{key}=LOW..HIGH)")
        return {"min": number, "max": number}
    if value == "":
        raise _bad(f"column {key!r}: give a value, as in {key}=VALUE")
    return value


def _number(key: str, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise _bad(f"column {key!r} is numeric: {text!r} is not a number") from None
    if not math.isfinite(number):
        raise _bad(f"column {key!r}: {text!r} is not a finite number")
    return number


def encode(chunks: Iterator[pd.DataFrame], fmt: str, on_rows=None) -> Iterator[bytes]:  # noqa: ANN001
    """Encode DataFrame chunks one at a time; `on_rows(k)` is told how many rows each chunk carried."""
    if fmt == "parquet":
        yield from _parquet(chunks, on_rows)
        return
    first = True
    for frame in chunks:
        data = frame_to_csv(frame, header=first) if fmt == "csv" else _jsonl(frame)
        first = False
        if on_rows:
            on_rows(len(frame))
        yield data


def _jsonl(frame: pd.DataFrame) -> bytes:
    text = frame.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
    if text and not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8")


class _Buffer(io.RawIOBase):
    """A write-only sink that hands back what was written since the last drain."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # noqa: ANN001
        data = bytes(data)
        self.parts.append(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def drain(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def _parquet(chunks: Iterator[pd.DataFrame], on_rows) -> Iterator[bytes]:  # noqa: ANN001
    sink = _Buffer()
    writer = None
    schema = None
    for frame in chunks:
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        if writer is None:
            schema = table.schema.remove_metadata()
            table = table.cast(schema)
            writer = pq.ParquetWriter(sink, schema)
        writer.write_table(table)
        if on_rows:
            on_rows(len(frame))
        data = sink.drain()
        if data:
            yield data
    if writer is not None:
        writer.close()
    yield sink.drain()
