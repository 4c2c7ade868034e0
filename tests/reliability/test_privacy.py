"""Privacy: every trained model carries the exact-copy rate and the DCR share, and a model that copies its
training rows is flagged. The flagging is the worker's own scoring function (worker.scoring.score_model, the one
Trainer._report calls), fed synthetic tables whose memorisation is known: copies, near-copies, fresh rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import EXAMPLE, finished_job, small_csv
from worker.scoring import assess_privacy, score_model


@pytest.fixture(scope="module")
def split() -> dict[str, pd.DataFrame]:
    """Adult, 2,000 rows: 1,000 to train on, a 500-row holdout, and 500 fresh rows neither has seen."""
    frame = pd.read_csv(EXAMPLE, skipinitialspace=True)
    order = np.random.default_rng(0).permutation(len(frame))
    pick = lambda a, b: frame.iloc[order[a:b]].reset_index(drop=True)  # noqa: E731
    return {"train": pick(0, 1000), "holdout": pick(1000, 1500), "fresh": pick(1500, 2000)}


def _privacy(synthetic: pd.DataFrame, split: dict) -> dict:
    report = score_model(synthetic, split["train"], split["holdout"], seed=0, quality_rows=5000)
    return report["privacy"]


def test_a_model_that_replays_its_training_rows_is_flagged(split):  # noqa: ANN001
    privacy = _privacy(split["train"].sample(n=500, random_state=1).reset_index(drop=True), split)
    assert privacy["flagged"] is True
    assert privacy["exact_copy_rate"] == 1.0
    assert privacy["dcr_share"] > privacy["thresholds"]["dcr_share"]
    assert any("exact copies" in reason for reason in privacy["reasons"])
    assert any("nearer to a training row" in reason for reason in privacy["reasons"])


def test_a_model_that_copies_a_fifth_of_its_rows_is_flagged(split):  # noqa: ANN001
    copies = split["train"].sample(n=100, random_state=2)
    synthetic = pd.concat([copies, split["fresh"].iloc[:400]], ignore_index=True)
    privacy = _privacy(synthetic, split)
    assert privacy["exact_copy_rate"] == pytest.approx(0.2, abs=0.02)
    assert privacy["flagged"] is True and any("exact copies" in r for r in privacy["reasons"])


def test_a_model_that_memorises_with_a_little_noise_is_flagged_by_distance(split):  # noqa: ANN001
    """Near-copies (each numeric value nudged) dodge the exact-copy check; the DCR share catches them."""
    near = split["train"].sample(n=500, random_state=3).reset_index(drop=True)
    rng = np.random.default_rng(3)
    for column in ("age", "hours-per-week", "fnlwgt", "education-num"):
        near[column] = near[column] + rng.choice([-1, 1], size=len(near))
    privacy = _privacy(near, split)
    assert privacy["exact_copy_rate"] < 0.05
    assert privacy["flagged"] is True
    assert [r for r in privacy["reasons"] if "nearer to a training row" in r]
    assert not [r for r in privacy["reasons"] if "exact copies" in r]


def test_rows_from_the_same_population_are_not_flagged(split):  # noqa: ANN001
    """An ideal generator draws new rows from the population: here, real rows that neither the training table
    nor the holdout holds. They must pass."""
    privacy = _privacy(split["fresh"], split)
    assert privacy["flagged"] is False, privacy["reasons"]
    assert abs(privacy["dcr_share"] - 0.5) < 0.06
    assert privacy["exact_copy_rate"] <= privacy["thresholds"]["exact_copy_rate"]


def test_a_low_entropy_table_repeating_rows_by_nature_is_not_flagged():
    """Three yes/no columns: every row of any sample equals some training row. The copy baseline (how often
    fresh real rows equal a training row) keeps that from being called memorisation."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({c: rng.choice(["yes", "no"], size=1500) for c in ("a", "b", "c")})
    train, holdout, fresh = frame.iloc[:1000], frame.iloc[1000:1250], frame.iloc[1250:]
    privacy = score_model(fresh.reset_index(drop=True), train.reset_index(drop=True),
                          holdout.reset_index(drop=True), seed=0, quality_rows=5000)["privacy"]
    assert privacy["exact_copy_rate"] == 1.0 and privacy["copy_baseline"] == 1.0
    assert privacy["flagged"] is False, privacy["reasons"]


def test_the_thresholds_follow_the_sample_sizes():
    small = assess_privacy({"exact_copy_rate": 0.0, "exact_copy_rows_checked": 100, "dcr_share": 0.6,
                            "dcr_synthetic_rows": 100}, 0.0, 25)
    large = assess_privacy({"exact_copy_rate": 0.0, "exact_copy_rows_checked": 2000, "dcr_share": 0.6,
                            "dcr_synthetic_rows": 2000}, 0.0, 500)
    assert small["thresholds"]["dcr_share"] == pytest.approx(0.65) and not small["flagged"]  # 3 sigma of 100
    assert large["thresholds"]["dcr_share"] == pytest.approx(0.55) and large["flagged"]  # the 5-point floor
    missing = assess_privacy({"exact_copy_rate": None, "dcr_share": None}, None, None)
    assert missing["flagged"] is False and missing["thresholds"] == {"exact_copy_rate": None, "dcr_share": None}


def test_every_trained_model_carries_its_privacy_numbers(api, trained, client_for, workers):  # noqa: ANN001
    """End to end: the session's trained model (300 rows, so a 60-row holdout) and a model of a 30-row table
    (under 50 rows: no holdout, so no DCR share, but still its exact-copy rate and a verdict)."""
    import httpx

    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {trained['key']}"}, timeout=60) as owner:
        model = owner.get(f"/v1/models/{trained['model_id']}").json()
    privacy = model["report"]["privacy"]
    assert isinstance(privacy["exact_copy_rate"], float) and isinstance(privacy["dcr_share"], float)
    assert privacy["exact_copy_training_rows"] == 240 and privacy["dcr_reference_rows"] == 60
    assert isinstance(privacy["flagged"], bool) and model["privacy_flagged"] == privacy["flagged"]
    assert set(privacy["thresholds"]) == {"exact_copy_rate", "dcr_share"}

    client = client_for("tiny-table")
    resp = client.post("/v1/datasets", params={"train": "true", "epochs": 2, "batch_size": 10},
                       files={"file": ("tiny.csv", small_csv(30), "text/csv")})
    assert resp.status_code == 201, resp.text
    workers.start("privacy")
    job = finished_job(client, resp.json()["job_id"], 240, "the tiny table to train")
    assert job["status"] == "succeeded", job
    model = client.get(f"/v1/models/{job['model_id']}").json()
    privacy = model["report"]["privacy"]
    assert model["holdout_rows"] == 0
    assert isinstance(privacy["exact_copy_rate"], float) and privacy["exact_copy_training_rows"] == 30
    assert privacy["dcr_share"] is None and any("no holdout" in note for note in privacy["notes"])
    assert isinstance(privacy["flagged"], bool) and model["privacy_flagged"] == privacy["flagged"]
