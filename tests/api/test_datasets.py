"""Uploads: parsing, schema, caps, refusals that store nothing, auth and tenant scoping."""

from __future__ import annotations

import httpx

from tests.conftest import small_csv, stored


def test_upload_returns_rows_and_inferred_kinds(client_for):  # noqa: ANN001
    client = client_for("uploader")
    resp = client.post("/v1/datasets", files={"file": ("adult.csv", small_csv(), "text/csv")})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["rows"] == 300 and body["n_columns"] == 7
    assert body["column_kinds"]["sex"] == "categorical"
    assert body["column_kinds"]["age"] == "integer"
    assert body["job_id"] is None
    again = client.get(f"/v1/datasets/{body['id']}")
    assert again.status_code == 200 and again.json()["column_kinds"] == body["column_kinds"]
    assert body["id"] in [d["id"] for d in client.get("/v1/datasets").json()]


def test_upload_with_train_queues_a_job(client_for):  # noqa: ANN001
    client = client_for("uploader")
    resp = client.post("/v1/datasets", params={"train": "true", "epochs": 3, "batch_size": 50, "seed": 4},
                       files={"file": ("adult.csv", small_csv(), "text/csv")})
    assert resp.status_code == 201, resp.text
    job = client.get(f"/v1/jobs/{resp.json()['job_id']}").json()
    assert job["status"] == "queued" and job["epochs"] == 3 and job["params"]["seed"] == 4


def test_latin1_semicolon_file_parses(client_for):  # noqa: ANN001
    client = client_for("uploader")
    text = "city;price;kind\n" + "".join(f"{c};{i * 1.5};{k}\n" for i, (c, k) in
                                         enumerate([("Zürich", "neu"), ("Köln", "alt"), ("Málaga", "neu")] * 20))
    resp = client.post("/v1/datasets", files={"file": ("prices.csv", text.encode("latin-1"), "text/csv")})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["encoding"] == "latin-1" and body["delimiter"] == ";"
    assert body["column_kinds"] == {"city": "categorical", "price": "continuous", "kind": "categorical"}


def test_raw_csv_body_is_accepted(client_for):  # noqa: ANN001
    client = client_for("uploader")
    resp = client.post("/v1/datasets", content=small_csv(100), headers={"Content-Type": "text/csv"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["rows"] == 100


def test_kind_overrides_apply_and_unknown_columns_are_refused(client_for):  # noqa: ANN001
    client = client_for("uploader")
    resp = client.post("/v1/datasets", params={"kinds": "age:continuous"},
                       files={"file": ("a.csv", small_csv(), "text/csv")})
    assert resp.status_code == 201 and resp.json()["column_kinds"]["age"] == "continuous"
    for kinds in ("nope:categorical", "age:weird", "age"):
        resp = client.post("/v1/datasets", params={"kinds": kinds}, files={"file": ("a.csv", small_csv(), "text/csv")})
        assert resp.status_code == 422, (kinds, resp.text)
        assert set(resp.json()["error"]) >= {"code", "message"}


def test_empty_file_is_refused_and_nothing_is_stored(client_for, db, state_dir):  # noqa: ANN001
    client = client_for("uploader")
    before = stored(db, state_dir)
    for content in (b"", b"\n\n  \n", b"a,b,c\n"):
        resp = client.post("/v1/datasets", files={"file": ("e.csv", content, "text/csv")})
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "empty_file"
    assert stored(db, state_dir) == before


def test_malformed_csv_is_refused_and_nothing_is_stored(client_for, db, state_dir):  # noqa: ANN001
    client = client_for("uploader")
    before = stored(db, state_dir)
    bad = b"a,b,c\n1,2,3\n4,5,6,7,8\n9,10,11\n"
    resp = client.post("/v1/datasets", files={"file": ("bad.csv", bad, "text/csv")})
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "malformed_csv"
    assert "line 3" in resp.json()["error"]["message"]
    resp = client.post("/v1/datasets", files={"other": ("x.csv", small_csv(), "text/csv")})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "missing_file"
    assert stored(db, state_dir) == before


def test_upload_over_the_cap_is_refused_and_nothing_is_stored(client_for, db, state_dir):  # noqa: ANN001
    """The session's API caps uploads at 1 MB (refusal while a chunked body streams in: tests/reliability)."""
    client = client_for("uploader")
    before = stored(db, state_dir)
    big = small_csv(300) * 100  # about 1.5 MB
    resp = client.post("/v1/datasets", files={"file": ("big.csv", big, "text/csv")})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"
    assert stored(db, state_dir) == before


def test_missing_or_wrong_key_is_401(api):  # noqa: ANN001
    for headers in ({}, {"Authorization": "Bearer sk_nope"}, {"Authorization": "Basic abc"}):
        for path in ("/v1/datasets", "/sample", "/v1/jobs/x", "/v1/models/x"):
            resp = httpx.get(api + path, headers=headers)
            assert resp.status_code == 401, (path, headers)
            assert resp.json()["error"]["code"] == "unauthorized"


def test_another_tenants_dataset_is_a_404_like_a_missing_one(client_for):  # noqa: ANN001
    alice, bob = client_for("alice"), client_for("bob")
    dataset = alice.post("/v1/datasets", files={"file": ("a.csv", small_csv(60), "text/csv")}).json()
    theirs = bob.get(f"/v1/datasets/{dataset['id']}")
    missing = bob.get("/v1/datasets/00000000-0000-0000-0000-000000000000")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert dataset["id"] not in [d["id"] for d in bob.get("/v1/datasets").json()]
    resp = bob.post("/v1/jobs", json={"dataset_id": dataset["id"]})
    assert resp.status_code == 404


def test_a_method_a_path_does_not_take_is_405_with_every_method_it_does(client_for):  # noqa: ANN001
    resp = client_for("uploader").put("/v1/datasets")
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"
    assert set(resp.headers["Allow"].split(", ")) == {"GET", "POST"}
    resp = client_for("uploader").delete("/v1/models/00000000-0000-0000-0000-000000000000/sample")
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET"
