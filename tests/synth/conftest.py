import os
from pathlib import Path

import pandas as pd
import pytest

# The shared datasets sit beside the repository (../shared/datasets), in CI as here.
DATASETS = Path(os.environ.get("SYNTHD_DATASETS", Path(__file__).resolve().parents[3] / "shared" / "datasets"))


def read_dataset(name: str, rows: int | None = None, **kw) -> pd.DataFrame:
    df = pd.read_csv(DATASETS / f"{name}.csv", **kw)
    return df.sample(n=rows, random_state=0).reset_index(drop=True) if rows else df


@pytest.fixture(scope="session")
def adult_small() -> pd.DataFrame:
    return read_dataset("adult", 2000)


@pytest.fixture(scope="session")
def adult_model(adult_small):
    """One small trained model shared by the sampling tests (training is the slow part)."""
    from synth import Synthesizer

    return Synthesizer(epochs=3, batch_size=200, seed=0).fit(adult_small)
