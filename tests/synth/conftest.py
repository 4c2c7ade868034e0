from pathlib import Path

import pandas as pd
import pytest

# Seeded slices of public tables, kept in the repository so that a clone runs the tests alone
# (tests/data/README.md says where each comes from and how it was cut).
DATA = Path(__file__).resolve().parents[1] / "data"


def read_dataset(name: str, rows: int | None = None, **kw) -> pd.DataFrame:
    """The first `rows` rows of the slice `name` (all of it by default). Each slice is a seeded random sample,
    so its first rows are a random sample too."""
    df = pd.read_csv(DATA / f"{name}.csv", nrows=rows, **kw)
    if rows is not None and len(df) < rows:
        raise ValueError(f"tests/data/{name}.csv holds {len(df)} rows, fewer than the {rows} asked for")
    return df


@pytest.fixture(scope="session")
def adult_small() -> pd.DataFrame:
    return read_dataset("adult", 2000)


@pytest.fixture(scope="session")
def adult_model(adult_small):
    """One small trained model shared by the sampling tests (training is the slow part)."""
    from synth import Synthesizer

    return Synthesizer(epochs=3, batch_size=200, seed=0).fit(adult_small)
