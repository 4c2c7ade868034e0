"""The benchmark tables, their read options and targets, and the seeded splits both sides share.

Imported by both interpreters (ours under .venv, the peer under .venv-bench): standard library, numpy and
pandas only, and nothing from synth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Dataset:
    name: str
    file: str
    target: str
    read_kw: dict = field(default_factory=dict)


DATASETS = {
    d.name: d
    for d in (
        Dataset("adult", "adult.csv", "income"),
        Dataset("credit_default", "credit_default.csv", "Y"),
        Dataset("king_county", "king_county.csv", "price"),
        Dataset("bank_marketing", "bank_marketing.csv", "y", {"sep": ";"}),
        Dataset("california_housing", "california_housing.csv", "median_house_value"),
        Dataset("titanic", "titanic.csv", "Survived"),
        Dataset("insurance", "insurance.csv", "charges"),
        Dataset("covertype_50k", "covertype_50k.csv", "Cover_Type"),
    )
}
ALIASES = {"california": "california_housing", "bank": "bank_marketing", "credit": "credit_default"}

TRAIN_FRACTION = 0.7


def data_dir() -> Path:
    """The folder named by SYNTHD_DATASETS, which holds the benchmark tables (adult.csv, ...). The repository
    carries only the small slices the tests read (tests/data), so a benchmark needs this set."""
    env = os.environ.get("SYNTHD_DATASETS")
    if not env:
        raise SystemExit("set SYNTHD_DATASETS to the folder holding the benchmark tables (adult.csv, "
                         "credit_default.csv, ...: bench/README.md lists them and where they come from)")
    path = Path(env)
    if not path.is_dir():
        raise SystemExit(f"SYNTHD_DATASETS={env} is not a folder")
    return path


def resolve(name: str) -> Dataset:
    name = ALIASES.get(name, name)
    if name not in DATASETS:
        raise SystemExit(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[name]


def load(name: str, max_rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The whole table as read by pandas; `max_rows` keeps a seeded random subset (for smoke runs)."""
    ds = resolve(name)
    df = pd.read_csv(data_dir() / ds.file, **ds.read_kw)
    if max_rows and len(df) > max_rows:
        df = df.sample(n=max_rows, random_state=seed).sort_index()
    return df.reset_index(drop=True)


def split(df: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """70% train, 30% holdout, by a seeded permutation: identical in both interpreters."""
    perm = np.random.RandomState(seed).permutation(len(df))
    n_train = int(round(TRAIN_FRACTION * len(df)))
    train = df.iloc[np.sort(perm[:n_train])].reset_index(drop=True)
    holdout = df.iloc[np.sort(perm[n_train:])].reset_index(drop=True)
    return train, holdout


def resample(df: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` rows drawn with replacement, seeded (the 1M-row memory benchmark)."""
    idx = np.random.RandomState(seed).randint(0, len(df), size=rows)
    return df.iloc[idx].reset_index(drop=True)


def numeric_columns(df: pd.DataFrame) -> list[str]:
    api = pd.api.types
    return [c for c in df.columns if api.is_numeric_dtype(df[c]) and not api.is_bool_dtype(df[c])]


def non_numeric_columns(df: pd.DataFrame) -> list[str]:
    num = set(numeric_columns(df))
    return [c for c in df.columns if c not in num]
