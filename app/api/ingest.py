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
# Content types accepted for a raw (non-multipart) CSV body.
RAW_CSV_TYPES = (b"text/csv", b"application/csv", b"text/plain", b"text/tab-separated-values")
SNIFF_BYTES = 64 * 1024
# Bytes that never appear in a text CSV: C0 controls other than tab, newline, vertical tab, form feed, return.
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13)) + b"\x7f"
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


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
    if content_type != b"multipart/form-data" and content_type not in RAW_CSV_TYPES:
        got = content_type.decode("latin-1") or "none"
        raise APIError(415, "unsupported_media_type", f"Content-Type {got!r} is not a CSV upload: send the file as "
                       "multipart/form-data (curl -F file=@data.csv) or as a raw body with Content-Type: text/csv")
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
    """utf-16/utf-32 when the file starts with their byte-order mark; utf-8 (with or without a BOM) when every
    byte decodes; else Windows-1252 or latin-1 (which reads any byte)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
        for bom, encoding in _BOMS:
            if head.startswith(bom):
                return encoding
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return _single_byte(path)
    return "utf-8-sig" if head[:3] == codecs.BOM_UTF8 else "utf-8"


def _single_byte(path: Path) -> str:
    """Windows-1252 when the file uses its printable characters in 0x80-0x9F (the euro sign, curly quotes,
    dashes) and no byte Windows-1252 leaves undefined; latin-1 otherwise (the two agree on every other byte).
    Read in chunks: an upload may be large, and a single-byte decoding can be judged byte by byte."""
    c1 = bytes(range(0x80, 0xA0))
    undefined = bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D])  # no character in Windows-1252
    uses_c1 = False
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            if len(chunk.translate(None, undefined)) < len(chunk):
                return "latin-1"
            uses_c1 = uses_c1 or len(chunk.translate(None, c1)) < len(chunk)
    return "cp1252" if uses_c1 else "latin-1"


def check_text(path: Path, encoding: str) -> None:
    """Refuse a file that is not text: NUL bytes or other control characters (an image, a spreadsheet, a zip)."""
    with open(path, "rb") as fh:
        raw = fh.read(SNIFF_BYTES)
    if encoding in ("utf-16", "utf-32"):
        text = raw.decode(encoding, errors="replace")
        controls = sum(text.count(chr(b)) for b in _CONTROL)
        size = len(text)
    else:
        controls = len(raw) - len(raw.translate(None, _CONTROL))
        size = len(raw)
    if b"\0" in raw and encoding not in ("utf-16", "utf-32") or controls > max(1, size // 100):
        raise APIError(422, "not_csv", "the file is not CSV text: it holds binary data (NUL or other control "
                       "bytes), like a spreadsheet, an image or an archive; export it as CSV (UTF-8, UTF-16 with "
                       "a byte-order mark, Windows-1252 or Latin-1) and upload that")


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


def read_header(path: Path, encoding: str, delimiter: str) -> list[str]:
    """The header's column names as the CSV reader sees them (quotes honoured, spaces stripped)."""
    csv.field_size_limit(1 << 24)
    with open(path, encoding=encoding, newline="") as fh:
        for row in csv.reader(fh, delimiter=delimiter, skipinitialspace=True):
            if any(cell.strip() for cell in row):
                return [cell.strip() for cell in row]
    return []


def check_header(names: list[str], max_columns: int) -> None:
    if len(names) > max_columns:
        raise APIError(422, "too_many_columns", f"the table has {len(names)} columns; synthd trains on at most "
                       f"{max_columns} (SYNTHD_MAX_COLUMNS): drop the columns you do not need, or split the table")
    empty = [i + 1 for i, name in enumerate(names) if not name]
    if empty:
        raise APIError(422, "malformed_csv", f"the header has empty column names (column number {empty}); "
                       "name every column")
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    dupes = sorted(name for name, count in seen.items() if count > 1)
    if dupes:
        raise APIError(422, "malformed_csv", f"the header names these columns more than once: {dupes[:20]}; give "
                       "every column a distinct name")


def parse_csv(path: Path, max_columns: int = 1000, min_rows: int = 1) -> Parsed:
    """Parse the CSV once; leading spaces after delimiters and around header names are dropped."""
    if path.stat().st_size == 0 or not _has_content(path):
        raise APIError(422, "empty_file", "the uploaded file is empty")
    encoding = detect_encoding(path)
    check_text(path, encoding)
    delimiter = detect_delimiter(path, encoding)
    try:
        check_header(read_header(path, encoding, delimiter), max_columns)
    except csv.Error as exc:
        raise APIError(422, "malformed_csv", f"could not read the CSV header: {exc}") from exc
    try:
        frame = pd.read_csv(path, sep=delimiter, encoding=encoding, skipinitialspace=True, engine="c")
    except pd.errors.EmptyDataError as exc:
        raise APIError(422, "empty_file", "the uploaded file has no CSV header or rows") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise APIError(422, "malformed_csv", f"could not parse the CSV: {str(exc).strip()}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise APIError(422, "empty_file", "the CSV has a header but no rows")
    if len(frame) < min_rows:
        raise APIError(422, "too_few_rows", f"the table has {len(frame)} row{'s' if len(frame) != 1 else ''}; "
                       f"synthd needs at least {min_rows} (SYNTHD_MIN_ROWS) to learn from, and a model of fewer "
                       "rows would only copy them")
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
