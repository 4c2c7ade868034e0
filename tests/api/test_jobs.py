"""Job parameters (types and bounds), job lookup, cancellation of a queued job."""

from __future__ import annotations

import pytest

from tests.conftest import small_csv


@pytest.fixture
def dataset(client_for):  # noqa: ANN001, ANN201
    client = client_for("jobs-tenant")
    resp = client.post("/v1/datasets", files={"file": ("a.csv", small_csv(100), "text/csv")})
    assert resp.status_code == 201
    return client, resp.json()


@pytest.mark.parametrize("params", [
    {"epochs": -1}, {"epochs": "many"}, {"epochs": 10**9}, {"batch_size": 5},
    {"batch_size": 105, "pac": 10}, {"min_steps": -1}, {"target": "nope"},
    {"seed": -3}, {"max_seconds": 0}, {"generator_lr": 2}, {"pac": 0},
    {"generator_dim": []}, {"generator_dim": [0]}, {"column_kinds": {"age": "weird"}},
    {"column_kinds": {"nope": "categorical"}}, {"unknown_knob": 1},
    {"privacy": {"epsilon": 0, "delta": 1e-6}}, {"privacy": {"epsilon": 1, "delta": 1}},
    {"privacy": {"epsilon": 1}}, {"privacy": {"epsilon": "1", "delta": 1e-6}}, {"privacy": {"epsilon": -1, "delta": 0}},
    {"privacy": {"epsilon": 1, "delta": 1e-6, "sigma": 3}}, {"privacy": [1, 1e-6]}, {"rare_threshold": 0},
    {"rare_categories": "drop"},
    {"privacy": {"epsilon": 1, "delta": 1e-6, "categories": {"nope": ["a"]}}},
    {"privacy": {"epsilon": 1, "delta": 1e-6, "categories": {"sex": "Male"}}},
    {"privacy": {"epsilon": 1, "delta": 1e-6, "categories": {"sex": [["Male"]]}}},
    {"privacy": {"epsilon": 1, "delta": 1e-6, "bounds": {"sex": [0, 1]}}},
    {"privacy": {"epsilon": 1, "delta": 1e-6, "bounds": {"age": [90, 17]}}},
    {"privacy": {"epsilon": 1, "delta": 1e-6, "bounds": {"age": [17]}}},
])
def test_bad_params_are_422_with_a_clear_error(dataset, params):  # noqa: ANN001
    client, data = dataset
    resp = client.post("/v1/jobs", json={"dataset_id": data["id"], "params": params})
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_request" and error["message"]


def test_upload_with_bad_training_params_is_422(dataset):  # noqa: ANN001
    client, _ = dataset
    for params in ({"train": "true", "epochs": "x"}, {"train": "true", "epochs": "0"},
                   {"train": "true", "batch_size": 9},
                   {"train": "maybe"}):
        resp = client.post("/v1/datasets", params=params, files={"file": ("a.csv", small_csv(20), "text/csv")})
        assert resp.status_code == 422, (params, resp.text)


def test_a_privacy_budget_that_cannot_buy_one_epoch_is_422_and_nothing_is_stored(dataset):  # noqa: ANN001
    client, data = dataset
    before = client.get("/v1/jobs").json()
    resp = client.post("/v1/jobs", json={"dataset_id": data["id"],
                                         "params": {"batch_size": 50, "privacy": {"epsilon": 0.01, "delta": 1e-6}}})
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "privacy_budget_too_small"
    assert "cannot buy one epoch of training on 80 rows" in error["message"]
    assert client.get("/v1/jobs").json() == before
    ok = client.post("/v1/jobs", json={"dataset_id": data["id"], "params": {
        "batch_size": 50, "privacy": {"epsilon": 20.0, "delta": 1e-5}}})
    assert ok.status_code == 202, ok.text
    job = ok.json()
    assert job["params"]["privacy"] == {"epsilon": 20.0, "delta": 1e-5, "noise_multiplier": 3.0, "max_grad_norm": 1.0,
                                        "categories": {}, "bounds": {}}
    public = {"epsilon": 20.0, "delta": 1e-5, "categories": {"sex": ["Female", "Male"]}, "bounds": {"age": [17, 90]}}
    declared = client.post("/v1/jobs", json={"dataset_id": data["id"], "params": {"batch_size": 50, "privacy": public}})
    assert declared.status_code == 202, declared.text
    assert declared.json()["params"]["privacy"]["categories"] == {"sex": ["Female", "Male"]}
    assert declared.json()["params"]["privacy"]["bounds"] == {"age": [17, 90]}
    client.post(f"/v1/jobs/{declared.json()['id']}/cancel")
    assert job["params"]["rare_threshold"] == 10 and job["params"]["rare_categories"] == "marker"
    assert job["epsilon_spent"] is None
    client.post(f"/v1/jobs/{job['id']}/cancel")


def test_job_is_queued_with_defaults_and_can_be_read(dataset):  # noqa: ANN001
    client, data = dataset
    resp = client.post("/v1/jobs", json={"dataset_id": data["id"]})
    assert resp.status_code == 202, resp.text
    job = resp.json()
    # epochs 0: the default, which the table's size decides once a worker starts (300, or min_steps updates)
    assert job["status"] == "queued" and job["epochs"] == 0 and job["params"]["batch_size"] == 0
    assert job["params"]["epochs"] == 0 and job["params"]["min_steps"] == 3000 and job["params"]["pac"] == 1
    again = client.get(f"/v1/jobs/{job['id']}").json()
    assert again["id"] == job["id"] and again["model_id"] is None
    assert job["id"] in [j["id"] for j in client.get("/v1/jobs", params={"status": "queued"}).json()]


def test_cancel_a_queued_job(dataset):  # noqa: ANN001
    client, data = dataset
    job = client.post("/v1/jobs", json={"dataset_id": data["id"], "params": {"epochs": 5}}).json()
    resp = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"
    again = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_finished"


def test_unknown_job_and_dataset_are_404(dataset):  # noqa: ANN001
    client, _ = dataset
    assert client.get("/v1/jobs/does-not-exist").status_code == 404
    assert client.post("/v1/jobs/does-not-exist/cancel").status_code == 404
    resp = client.post("/v1/jobs", json={"dataset_id": "does-not-exist"})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


def test_another_tenants_job_is_invisible(dataset, client_for):  # noqa: ANN001
    client, data = dataset
    job = client.post("/v1/jobs", json={"dataset_id": data["id"]}).json()
    other = client_for("someone-else")
    for resp in (other.get(f"/v1/jobs/{job['id']}"), other.post(f"/v1/jobs/{job['id']}/cancel")):
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "queued"
    assert job["id"] not in [j["id"] for j in other.get("/v1/jobs").json()]
