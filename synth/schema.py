"""Column kinds: inferred from a DataFrame, overridable, serialisable to JSON.

A kind says how a column is modelled and how it is given back:
continuous (float), integer (rounded, inside the real range), categorical (one-hot), boolean,
datetime (modelled as seconds, returned in the input's format), constant (not modelled) and
id (near-unique text or integer keys: new unique values of the same shape, never one-hot).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from synth.errors import SynthError

KINDS = ("continuous", "integer", "categorical", "boolean", "datetime", "constant", "id")

# Formats tried, in order, on text columns that look like dates; the first that parses every value wins.
DATETIME_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y%m%dT%H%M%S",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y%m%d",
)
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]?\d{1,2}[-/.]?\d{1,4}([ T]\d{1,2}(:?\d{2}){0,2}Z?)?$")
_ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|key)$", re.IGNORECASE)
_TRUE = {"true", "t", "yes", "y"}
_FALSE = {"false", "f", "no", "n"}

ID_UNIQUE_RATIO = 0.9  # text columns at least this unique are keys, not categories
ID_MIN_ROWS = 20  # below this many values uniqueness says nothing
DISCRETE_MAX_VALUES = 32  # numeric columns with at most this many values are modelled as categories
# An integer column named as a code (zip code, postcode, a "..._code") is a label, not a quantity: with at most
# this many values it is modelled as categories too, so that a sampled zip code is a real one.
CODE_MAX_VALUES = 100
_CODE_NAME = re.compile(r"(^|[_\s-])(zip|zip_?code|post_?code|postal_?code|code)$", re.IGNORECASE)


@dataclass
class ColumnSpec:
    name: str
    kind: str
    dtype: str  # the input dtype, restored on output
    null_rate: float = 0.0
    datetime_format: str | None = None  # None: the input was a datetime dtype, not text
    discrete: bool = False  # numeric column modelled by its few distinct values
    minimum: float | None = None
    maximum: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def numeric(self) -> bool:
        return self.kind in ("continuous", "integer", "datetime")


@dataclass
class Schema:
    columns: list[ColumnSpec]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise SynthError(f"unknown column {name!r}; columns are {self.names}")

    def kinds(self) -> dict[str, str]:
        return {c.name: c.kind for c in self.columns}

    def to_dict(self) -> dict:
        return {"columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict) -> Schema:
        return cls([ColumnSpec(**c) for c in data["columns"]])


def infer_schema(df: pd.DataFrame, overrides: dict[str, str] | None = None) -> Schema:
    """Infer every column's kind; `overrides` maps column names to kinds and wins over inference."""
    check_frame(df)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(map(str, df.columns)))
    if unknown:
        raise SynthError(f"kind override for unknown column(s) {unknown}; columns are {list(df.columns)}")
    columns = []
    for name in df.columns:
        kind = overrides.get(name)
        if kind is not None and kind not in KINDS:
            raise SynthError(f"column {name!r}: kind {kind!r} is not one of {list(KINDS)}")
        columns.append(_infer_column(str(name), df[name], kind))
    return Schema(columns)


def check_frame(df: pd.DataFrame) -> None:
    if not isinstance(df, pd.DataFrame):
        raise SynthError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if df.shape[1] == 0:
        raise SynthError("the table has no columns")
    if df.shape[0] == 0:
        raise SynthError("the table has no rows")
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise SynthError(f"duplicate column names {dupes}; give every column a distinct name")
    if any(not n.strip() for n in names):
        raise SynthError("a column has an empty name; give every column a name")


def _infer_column(name: str, series: pd.Series, kind: str | None) -> ColumnSpec:
    values = series.dropna()
    if len(values) == 0:
        raise SynthError(f"column {name!r} is all null: drop it or fill it before training")
    spec = ColumnSpec(name=name, kind="categorical", dtype=str(series.dtype),
                      null_rate=float(series.isna().mean()))
    inferred_kind, fmt = _guess_kind(name, series, values)
    spec.kind = kind or inferred_kind
    if spec.kind == "datetime":
        if fmt is None and not pd.api.types.is_datetime64_any_dtype(series):
            fmt = _datetime_format(values)
            if fmt is None:
                raise SynthError(f"column {name!r} is not a datetime: its values match no known date format")
        spec.datetime_format = fmt
        stamps = to_seconds(values, fmt)
        spec.minimum, spec.maximum = float(stamps.min()), float(stamps.max())
    elif spec.kind in ("continuous", "integer"):
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise SynthError(f"column {name!r} holds text, so it cannot be {spec.kind}")
        spec.minimum, spec.maximum = float(values.min()), float(values.max())
        spec.discrete = values.nunique() <= DISCRETE_MAX_VALUES or (
            spec.kind == "integer" and bool(_CODE_NAME.search(name)) and values.nunique() <= CODE_MAX_VALUES)
    elif spec.kind == "boolean" and not _is_boolean(values):
        raise SynthError(f"column {name!r} has values other than true/false, so it cannot be boolean")
    elif spec.kind == "id" and pd.api.types.is_numeric_dtype(values):
        spec.minimum, spec.maximum = float(values.min()), float(values.max())
    return spec


def _guess_kind(name: str, series: pd.Series, values: pd.Series) -> tuple[str, str | None]:
    nunique = values.nunique()
    if nunique == 1:
        return "constant", None
    if pd.api.types.is_bool_dtype(values) or _is_boolean(values):
        return "boolean", None
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime", None
    if pd.api.types.is_numeric_dtype(values):
        integral = pd.api.types.is_integer_dtype(values) or bool(np.all(np.mod(values.to_numpy(float), 1) == 0))
        if integral and _ID_NAME.search(name) and nunique >= ID_UNIQUE_RATIO * len(values):
            return "id", None
        return ("integer" if integral else "continuous"), None
    fmt = _datetime_format(values)
    if fmt is not None:
        return "datetime", fmt
    if len(values) >= ID_MIN_ROWS and nunique >= ID_UNIQUE_RATIO * len(values):
        return "id", None
    return "categorical", None


def _is_boolean(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return True
    if pd.api.types.is_numeric_dtype(values):
        return False
    lowered = {str(v).strip().lower() for v in values.unique()[:3]}
    return len(lowered) == 2 and lowered <= (_TRUE | _FALSE) and bool(lowered & _TRUE) and bool(lowered & _FALSE)


def _datetime_format(values: pd.Series) -> str | None:
    if pd.api.types.is_numeric_dtype(values):
        return None
    sample = pd.Series(values.astype(str).unique()[:500])
    if not sample.map(lambda v: bool(_DATE_LIKE.match(v.strip()))).all():
        return None
    for fmt in DATETIME_FORMATS:
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        if parsed.notna().all():
            everything = pd.to_datetime(values.astype(str), format=fmt, errors="coerce")
            if everything.notna().all():
                return fmt
    return None


def to_seconds(values: pd.Series, fmt: str | None) -> np.ndarray:
    """Datetimes (or date strings in `fmt`) as float seconds since the epoch; NaN where null."""
    stamps = pd.to_datetime(values, format=fmt, errors="coerce") if fmt else pd.to_datetime(values)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    out = stamps.astype("datetime64[ns]").to_numpy().astype("int64").astype(np.float64) / 1e9
    out[stamps.isna().to_numpy()] = np.nan
    return out


def numeric_values(series: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """A numeric or datetime column as float64 with NaN for nulls."""
    if spec.kind == "datetime":
        return to_seconds(series, spec.datetime_format)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
