"""Privacy: every trained model carries the exact-copy rate and the DCR share, and a model that copies its
training rows is flagged, as is one that the membership or attribute attacks see through. The flagging is the
worker's own scoring function (worker.scoring.score_model, the one Trainer._report calls), fed synthetic tables
whose memorisation is known: copies, near-copies, fresh rows."""

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


def _privacy(synthetic: pd.DataFrame, split: dict, sensitive: list[str] | None = None) -> dict:
    report = score_model(synthetic, split["train"], split["holdout"], seed=0, quality_rows=5000, target="income",
                         sensitive=sensitive)
    return report["privacy"]


def _attack_reasons(privacy: dict) -> dict[str, list[str]]:
    return {kind: [r for r in privacy["reasons"] if r.startswith(f"{kind} attack")]
            for kind in ("membership", "attribute")}


def test_a_model_that_replays_its_training_rows_is_flagged(split):  # noqa: ANN001
    privacy = _privacy(split["train"].sample(n=500, random_state=1).reset_index(drop=True), split)
    assert privacy["flagged"] is True
    assert privacy["exact_copy_rate"] == 1.0
    assert privacy["dcr_share"] > privacy["thresholds"]["dcr_share"]
    assert any("exact copies" in reason for reason in privacy["reasons"])
    assert any("nearer to a training row" in reason for reason in privacy["reasons"])
    # half the training rows replayed: the attacks find that half of the members
    for attack in ("distance", "density"):
        figure = privacy["membership"][attack]
        assert figure["auc"] > figure["limit"] == privacy["thresholds"][f"membership_{attack}_auc"], figure
    income = privacy["attribute"]["columns"]["income"]  # the target: sensitive by default
    assert income["advantage"] > income["limit"] == privacy["thresholds"]["attribute_advantage"]["income"]
    reasons = _attack_reasons(privacy)
    assert len(reasons["membership"]) == 2 and "AUC" in reasons["membership"][0], privacy["reasons"]
    assert len(reasons["attribute"]) == 1 and "'income'" in reasons["attribute"][0], privacy["reasons"]


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
    privacy = _privacy(near, split, sensitive=["income", "age", "occupation"])
    assert privacy["exact_copy_rate"] < 0.05
    assert privacy["flagged"] is True
    assert [r for r in privacy["reasons"] if "nearer to a training row" in r]
    assert not [r for r in privacy["reasons"] if "exact copies" in r]
    reasons = _attack_reasons(privacy)
    assert len(reasons["membership"]) == 2, privacy["reasons"]
    # age was nudged, so guessed near but not exactly: R² catches it; income and occupation exactly
    assert {c for c in ("'income'", "'age'", "'occupation'") for r in reasons["attribute"] if c in r} == {
        "'income'", "'age'", "'occupation'"}, reasons["attribute"]
    assert privacy["attribute"]["columns"]["age"]["metric"] == "r2"


def test_rows_from_the_same_population_are_not_flagged(split):  # noqa: ANN001
    """An ideal generator draws new rows from the population: here, real rows that neither the training table
    nor the holdout holds. They must pass."""
    privacy = _privacy(split["fresh"], split, sensitive=["income", "age", "occupation"])
    assert privacy["flagged"] is False, privacy["reasons"]
    assert abs(privacy["dcr_share"] - 0.5) < 0.06
    assert privacy["exact_copy_rate"] <= privacy["thresholds"]["exact_copy_rate"]
    for attack in ("distance", "density"):
        figure = privacy["membership"][attack]
        assert figure["auc"] <= figure["limit"] and figure["candidates"] == {"members": 250, "non_members": 250}
    assert set(privacy["attribute"]["columns"]) == {"income", "age", "occupation"}
    for figure in privacy["attribute"]["columns"].values():
        assert figure["advantage"] <= figure["limit"]


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
    assert missing["flagged"] is False and missing["thresholds"] == {
        "exact_copy_rate": None, "dcr_share": None, "membership_distance_auc": None, "membership_density_auc": None,
        "attribute_advantage": {}}


def _attacked(auc: float, n: int, advantage: float, noise_se: float) -> dict:
    figure = {"auc": auc, "candidates": {"members": n, "non_members": n}}
    return {"exact_copy_rate": None, "dcr_share": None,
            "membership": {"distance": dict(figure), "density": dict(figure)},
            "attribute": {"columns": {"income": {"metric": "accuracy", "members": 0.8 + advantage,
                                                 "non_members": 0.8, "advantage": advantage,
                                                 "noise_se": noise_se}}}}


def test_the_attack_thresholds_follow_the_candidates_and_the_noise():
    """0.5 + max(0.05, 3 standard errors of a blind attacker's AUC): 0.55 for 1,000 candidates a side (3 SE is
    0.039), 0.5 + 3 sqrt(61 / 10800) = 0.725 for the 30 a side of a 300-row table. The attribute advantage's
    limit is max(0.05, 3 noise_se)."""
    large = assess_privacy(_attacked(0.56, 1000, 0.04, 0.01), None, None)
    assert large["thresholds"]["membership_distance_auc"] == pytest.approx(0.55)
    assert large["thresholds"]["attribute_advantage"] == {"income": pytest.approx(0.05)}
    assert large["flagged"] and len(large["reasons"]) == 2  # both membership attacks; the advantage is noise
    small = assess_privacy(_attacked(0.7, 30, 0.2, 0.1), None, None)
    assert small["thresholds"]["membership_density_auc"] == pytest.approx(0.725, abs=1e-3)
    assert small["attribute"]["columns"]["income"]["limit"] == pytest.approx(0.3)
    assert not small["flagged"], small["reasons"]


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
    assert set(privacy["thresholds"]) == {"exact_copy_rate", "dcr_share", "membership_distance_auc",
                                          "membership_density_auc", "attribute_advantage"}
    for attack in ("distance", "density"):  # 60 holdout rows: 30 non-members, 30 reference rows, 30 members
        figure = privacy["membership"][attack]
        assert 0 <= figure["auc"] <= 1 and figure["candidates"] == {"members": 30, "non_members": 30}
        assert figure["limit"] == pytest.approx(0.725, abs=1e-3) and figure["explain"]
    assert privacy["attribute"]["columns"] == {} and "no sensitive columns" in privacy["attribute"]["note"]

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
    assert privacy["membership"] is None and privacy["attribute"] is None
    assert any("no membership or attribute attack" in note for note in privacy["notes"])


def test_a_job_naming_sensitive_columns_gets_them_attacked_and_judged(client_for, workers):  # noqa: ANN001
    """Through the API and a real worker: the job's sensitive columns are attacked, each figure carries its
    limit, and the model is flagged exactly when a figure is above its limit."""
    client = client_for("sensitive-tenant")
    resp = client.post("/v1/datasets", files={"file": ("adult.csv", small_csv(400), "text/csv")})
    assert resp.status_code == 201, resp.text
    params = {"epochs": 3, "batch_size": 50, "target": "income", "sensitive": ["age", "race"]}
    resp = client.post("/v1/jobs", json={"dataset_id": resp.json()["id"], "params": params})
    assert resp.status_code == 202, resp.text
    workers.start("sensitive")
    job = finished_job(client, resp.json()["id"], 240, "the job to finish")
    assert job["status"] == "succeeded" and job["params"]["sensitive"] == ["age", "race"], job
    model = client.get(f"/v1/models/{job['model_id']}").json()
    privacy = model["report"]["privacy"]
    columns = privacy["attribute"]["columns"]
    assert set(columns) == {"age", "race"}  # named: the target is not added
    assert columns["age"]["metric"] == "r2" and columns["race"]["metric"] == "accuracy"
    figures = [privacy["membership"]["distance"], privacy["membership"]["density"]]
    above = [f["auc"] > f["limit"] for f in figures] + [c["advantage"] > c["limit"] for c in columns.values()]
    assert model["privacy_flagged"] == privacy["flagged"] == (any(above) or privacy["dcr_share"] >
                                                              privacy["thresholds"]["dcr_share"]
                                                              or privacy["exact_copy_rate"] >
                                                              privacy["thresholds"]["exact_copy_rate"])
    assert len([r for r in privacy["reasons"] if " attack " in r]) == sum(above)
    assert isinstance(privacy["flagged"], bool) and model["privacy_flagged"] == privacy["flagged"]
