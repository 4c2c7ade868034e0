"""Uploads: stream the request body to disk under a size cap, detect encoding and delimiter, parse once.

The cap is enforced while the bytes arrive (a declared Content-Length over it is refused before reading,
and a body that grows past it is cut off at once), so a huge upload never reaches the disk whole.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from app.core.errors import APIError

MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file itself
DELIMITERS = ",;\t|"


@dataclass
class Upload:
    filename: str
    size: int


def _too_large(limit: int) -> APIError:
    return APIError(413, "too_large", f"the upload exceeds the limit of {limit} bytes (SYNTHD_MAX_UPLOAD_BYTES)")


class _FileSink:
    def __init__(self, path: Path, limit: int) -> None:
        self.handle = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.size, self.limit = 0, limit

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _too_large(self.limit)
        self.handle.write(data)

    def close(self) -> None:
        self.handle.close()


async def receive_upload(request: Request, dest: Path, limit: int) -> Upload:
    """Write the uploaded CSV (multipart field `file`, or a raw text/csv body) to `dest`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise _too_large(limit)
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    sink = _FileSink(dest, limit)
    try:
        if content_type == b"multipart/form-data":
            filename = await _receive_multipart(request, options.get(b"boundary"), sink)
        else:
            filename = "upload.csv"
            async for chunk in request.stream():
                sink.write(chunk)
    finally:
        sink.close()
    return Upload(filename=filename, size=sink.size)


async def _receive_multipart(request: Request, boundary: bytes | None, sink: _FileSink) -> str:
    if not boundary:
        raise APIError(400, "bad_multipart", "multipart body without a boundary")
    state = {"field": b"", "value": b"", "headers": {}, "in_file": False, "found": None, "done": False}

    def on_part_begin() -> None:
        state["headers"] = {}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, opts = parse_options_header(state["headers"].get(b"content-disposition", b""))
        is_file = opts.get(b"name") == b"file" and state["found"] is None
        state["in_file"] = is_file
        if is_file:
            state["found"] = (opts.get(b"filename") or b"upload.csv").decode("utf-8", "replace")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["in_file"]:
            sink.write(data[start:end])

    def on_part_end() -> None:
        state["in_file"] = False

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except APIError:
        raise
    except Exception as exc:  # python-multipart raises its own errors on broken bodies
        raise APIError(400, "bad_multipart", f"could not read the multipart body: {exc}") from exc
    if state["found"] is None:
        raise APIError(422, "missing_file", "send the CSV as the multipart field `file` (curl -F file=@data.csv)")
    return os.path.basename(state["found"]) or "upload.csv"


@dataclass
class Parsed:
    frame: pd.DataFrame
    encoding: str
    delimiter: str


def detect_encoding(path: Path) -> str:
    """utf-8 (with or without a BOM) when every byte decodes, else latin-1 (which reads any byte)."""
    with open(path, "rb") as fh:
        head = fh.read(3)
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "latin-1"
    return "utf-8-sig" if head == codecs.BOM_UTF8 else "utf-8"


def detect_delimiter(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, newline="") as fh:
        sample = fh.read(64 * 1024)
    if "\n" in sample.rstrip("\n"):
        sample = sample[: sample.rstrip("\n").rfind("\n")]  # whole lines only
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def parse_csv(path: Path) -> Parsed:
    """Parse the CSV once; leading spaces after delimiters and around header names are dropped."""
    if path.stat().st_size == 0 or not _has_content(path):
        raise APIError(422, "empty_file", "the uploaded file is empty")
    encoding = detect_encoding(path)
    delimiter = detect_delimiter(path, encoding)
    try:
        frame = pd.read_csv(path, sep=delimiter, encoding=encoding, skipinitialspace=True, engine="c")
    except pd.errors.EmptyDataError as exc:
        raise APIError(422, "empty_file", "the uploaded file has no CSV header or rows") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise APIError(422, "malformed_csv", f"could not parse the CSV: {str(exc).strip()}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    unnamed = [c for c in frame.columns if c.startswith("Unnamed: ")]
    if unnamed:
        raise APIError(422, "malformed_csv", f"the header has empty column names (at {unnamed}); name every column")
    if len(frame) == 0:
        raise APIError(422, "empty_file", "the CSV has a header but no rows")
    return Parsed(frame=frame, encoding=encoding, delimiter=delimiter)


def _has_content(path: Path) -> bool:
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 16):
            if chunk.strip():
                return True
    return False


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()
