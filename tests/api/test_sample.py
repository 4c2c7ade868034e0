"""Sampling from a trained model over HTTP: formats, seeds, conditions, streaming, bounds, scoping, metrics."""

from __future__ import annotations

import io
import json

import httpx
import pandas as pd
import pytest

from tests.conftest import metric


@pytest.fixture
def client(api: str, trained: dict):  # noqa: ANN001, ANN201
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {trained['key']}"}, timeout=120) as c:
        yield c


def test_model_has_metadata_and_a_quality_report(client, trained):  # noqa: ANN001
    model = client.get(f"/v1/models/{trained['model_id']}").json()
    assert model["job_id"] == trained["job_id"] and model["dataset_id"] == trained["dataset_id"]
    assert model["train_rows"] == 240 and model["holdout_rows"] == 60 and model["epochs_trained"] == 2
    assert model["report"] and "error" not in model["report"]
    assert [m["id"] for m in client.get("/v1/models").json()] == [trained["model_id"]]


def test_short_form_returns_csv_rows_of_the_newest_model(client):  # noqa: ANN001
    resp = client.get("/sample", params={"n": 1000})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(resp.text))
    assert len(frame) == 1000
    assert list(frame.columns) == ["age", "workclass", "education", "sex", "race", "hours-per-week", "income"]


def test_formats_jsonl_and_parquet(client, trained):  # noqa: ANN001
    path = f"/v1/models/{trained['model_id']}/sample"
    lines = client.get(path, params={"n": 25, "format": "jsonl"})
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in lines.text.splitlines()]
    assert len(rows) == 25 and set(rows[0]) >= {"age", "sex"}
    parquet = client.get(path, params={"n": 25_000, "format": "parquet"})
    frame = pd.read_parquet(io.BytesIO(parquet.content))
    assert len(frame) == 25_000 and "income" in frame.columns


def test_same_seed_same_rows(client, trained):  # noqa: ANN001
    path = f"/v1/models/{trained['model_id']}/sample"
    first = client.get(path, params={"n": 200, "seed": 7}).text
    assert client.get(path, params={"n": 200, "seed": 7}).text == first
    assert client.get(path, params={"n": 200, "seed": 8}).text != first


def test_conditions_on_categories_and_ranges(client):  # noqa: ANN001
    resp = client.get("/sample", params={"n": 300, "sex": "Female", "age": "30..40", "seed": 3})
    assert resp.status_code == 200, resp.text
    frame = pd.read_csv(io.StringIO(resp.text))
    assert len(frame) == 300
    assert set(frame["sex"]) == {"Female"}
    assert frame["age"].between(30, 40).all()
    open_range = pd.read_csv(io.StringIO(client.get("/sample", params={"n": 100, "age": "..25"}).text))
    assert (open_range["age"] <= 25).all()


@pytest.mark.parametrize(("params", "code"), [
    ({"colour": "red"}, "unknown_parameter"),
    ({"age": "40..30"}, "invalid_condition"),
    ({"age": "old"}, "invalid_condition"),
    ({"sex": "1..2"}, "invalid_condition"),
    ({"age": ".."}, "invalid_condition"),
    ({"sex": "Martian"}, "invalid_data"),
])
def test_bad_conditions_are_422(client, params, code):  # noqa: ANN001
    resp = client.get("/sample", params={"n": 10, **params})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == code
    assert resp.json()["error"]["message"]


@pytest.mark.parametrize("n", ["0", "-1", "200001", "ten", "1.5"])
def test_bad_n_is_422(client, n):  # noqa: ANN001
    resp = client.get("/sample", params={"n": n})
    assert resp.status_code == 422
    assert set(resp.json()["error"]) >= {"code", "message"}


def test_bad_format_and_seed_are_422(client):  # noqa: ANN001
    assert client.get("/sample", params={"format": "xml"}).status_code == 422
    assert client.get("/sample", params={"seed": "-5"}).status_code == 422


def test_large_samples_are_streamed_in_chunks(client, trained):  # noqa: ANN001
    """The API's chunk is 10,000 rows: 120,000 rows arrive as a chunked stream, never one body."""
    pieces = 0
    size = 0
    with client.stream("GET", "/sample", params={"n": 120_000, "seed": 1}) as resp:
        assert resp.status_code == 200
        assert resp.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in resp.headers
        for piece in resp.iter_raw():
            pieces += 1
            size += len(piece)
    assert pieces >= 12
    assert size > 120_000 * 10


def test_unknown_and_foreign_models_are_404(client, client_for, trained):  # noqa: ANN001
    missing = client.get("/v1/models/00000000-0000-0000-0000-000000000000/sample")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get("/sample", params={"model_id": "nope"}).status_code == 404
    other = client_for("not-the-owner")
    for path in (f"/v1/models/{trained['model_id']}", f"/v1/models/{trained['model_id']}/sample",
                 f"/v1/jobs/{trained['job_id']}", f"/v1/datasets/{trained['dataset_id']}"):
        resp = other.get(path)
        assert resp.status_code == 404, path
        assert resp.json()["error"]["code"] == "not_found"
    resp = other.get("/sample", params={"model_id": trained["model_id"]})
    assert resp.status_code == 404
    assert other.get("/v1/models").json() == []
    assert other.get("/sample").status_code == 409  # the other tenant has no model of its own


def test_sample_before_training_ends_is_409(client_for):  # noqa: ANN001
    from tests.conftest import small_csv

    client = client_for("impatient")
    resp = client.post("/v1/datasets", params={"train": "true", "epochs": 5, "batch_size": 50},
                       files={"file": ("a.csv", small_csv(100), "text/csv")})
    assert resp.status_code == 201
    early = client.get("/sample", params={"n": 1000})
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "not_ready"
    assert resp.json()["job_id"] in early.json()["error"]["message"]


def test_health_readiness_metrics_and_docs_need_no_key(api, client):  # noqa: ANN001
    served = metric(api, 'synthd_rows_served_total{format="jsonl"}')
    assert len(client.get("/sample", params={"n": 7, "format": "jsonl"}).text.splitlines()) == 7
    assert httpx.get(f"{api}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{api}/readyz").json() == {"status": "ready"}
    metrics = httpx.get(f"{api}/metrics").text
    assert 'synthd_jobs{state="succeeded"}' in metrics
    assert metric(api, 'synthd_rows_served_total{format="jsonl"}') == served + 7
    assert "synthd_request_seconds_bucket" in metrics
    assert httpx.get(f"{api}/docs").status_code == 200
    spec = httpx.get(f"{api}/openapi.json").json()
    for path in ("/v1/datasets", "/v1/datasets/{dataset_id}", "/v1/jobs", "/v1/jobs/{job_id}",
                 "/v1/jobs/{job_id}/cancel", "/v1/models/{model_id}", "/v1/models/{model_id}/sample", "/sample"):
        assert path in spec["paths"], path
    params = {p["name"]: p for p in spec["paths"]["/sample"]["get"]["parameters"]}
    assert all(params[name].get("description") for name in ("n", "seed", "format", "model_id"))
    assert "age=30..40" in spec["paths"]["/sample"]["get"]["description"]
