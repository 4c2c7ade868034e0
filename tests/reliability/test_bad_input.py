"""Bad input, case by case: every refusal has the right status, a message a user can act on, and leaves nothing
stored or changed (rows, blobs, temp files); every odd-but-valid file parses to what it says.

Cases already covered elsewhere and not repeated here: a multipart body without `file`, kind overrides naming
unknown columns (tests/api/test_datasets.py); conditions on unknown columns, unseen categories and reversed
ranges, a job queued but not trained yet (tests/api/test_sample.py)."""

from __future__ import annotations

import io
import random
import select
import socket
import time
import urllib.parse
import zipfile
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.conftest import TINY, finished_job, job_row, small_csv, stored


def _table(rows: int = 30) -> str:
    return "name,score,city\n" + "".join(f"n{i % 7},{i * 1.5},c{i % 3}\n" for i in range(rows))


def _wide(columns: int, rows: int = 12) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    body = "".join(",".join(str((r + i) % 5) for i in range(columns)) + "\n" for r in range(rows))
    return (header + "\n" + body).encode()


def _xlsx_like() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>" * 50)
    return buf.getvalue()


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\0" * 64

# (case, body bytes, status, error code, words the message must hold)
REFUSED_FILES = [
    ("empty file", b"", 422, "empty_file", ["empty"]),
    ("only blank lines", b"\n \n\t\n", 422, "empty_file", ["empty"]),
    ("header with no rows", b"a,b,c\n", 422, "empty_file", ["header but no rows"]),
    ("one row", b"a,b\n1,x\n", 422, "too_few_rows", ["1 row", "at least 10"]),
    ("nine rows", ("a,b\n" + "1,x\n" * 9).encode(), 422, "too_few_rows", ["9 rows"]),
    ("binary junk", random.Random(4).randbytes(4096), 422, "not_csv", ["not CSV text", "export it as CSV"]),
    ("a PNG image", PNG, 422, "not_csv", ["binary"]),
    ("a zip archive (xlsx)", _xlsx_like(), 422, "not_csv", ["spreadsheet"]),
    ("UTF-16 without a byte-order mark", _table().encode("utf-16-le"), 422, "not_csv", ["UTF-16 with a byte-order"]),
    ("ragged rows: a row with extra fields", b"a,b,c\n1,2,3\n4,5,6,7,8\n" + b"9,10,11\n" * 10, 422, "malformed_csv",
     ["line 3", "Expected 3 fields"]),
    ("a quote that never closes", b'a,b\n1,"open\n' + b"2,y\n" * 12, 422, "malformed_csv", ["could not parse"]),
    ("duplicate column names", b"a,b,a\n" + b"1,2,3\n" * 12, 422, "malformed_csv", ["more than once", "'a'"]),
    ("duplicate names once spaces are stripped", b"a, a ,b\n" + b"1,2,3\n" * 12, 422, "malformed_csv",
     ["more than once"]),
    ("an empty column name", b"a,,b\n" + b"1,2,3\n" * 12, 422, "malformed_csv", ["empty column names", "[2]"]),
    ("a trailing delimiter in the header", b"a,b,\n" + b"1,2,\n" * 12, 422, "malformed_csv", ["empty column names"]),
    ("10,000 columns", _wide(10_000), 422, "too_many_columns", ["10000 columns", "at most 1000"]),
    ("a column that is all null", b"a,b\n" + b"1,\n" * 12, 422, "invalid_data", ["'b' is all null", "drop it"]),
]


@pytest.fixture
def client(client_for):  # noqa: ANN001, ANN201
    return client_for("bad-input")


@pytest.mark.parametrize(("case", "body", "status", "code", "words"), REFUSED_FILES, ids=[c[0] for c in REFUSED_FILES])
def test_refused_upload_says_why_and_stores_nothing(client, db, state_dir, case, body, status, code, words):  # noqa: ANN001
    before = stored(db, state_dir)
    started = time.monotonic()
    resp = client.post("/v1/datasets", params={"train": "true", "epochs": 1},
                       files={"file": ("data.csv", body, "text/csv")})
    assert resp.status_code == status, (case, resp.text)
    error = resp.json()["error"]
    assert error["code"] == code, (case, error)
    for word in words:
        assert word in error["message"], (case, word, error["message"])
    assert time.monotonic() - started < 20, f"{case}: refusing took {time.monotonic() - started:.1f}s"
    assert stored(db, state_dir) == before, case


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", b'{"a": 1, "b": 2}'),
    ("application/x-www-form-urlencoded", b"a=1&b=2"),
    ("image/png", PNG),
    (None, _table().encode()),
], ids=["json", "form", "png", "no content type"])
def test_wrong_content_type_is_415_and_stores_nothing(client, db, state_dir, content_type, body):  # noqa: ANN001
    before = stored(db, state_dir)
    headers = {"Content-Type": content_type} if content_type else {}
    request = client.build_request("POST", "/v1/datasets", content=body, headers=headers)
    if content_type is None:
        request.headers.pop("Content-Type", None)
    resp = client.send(request)
    assert resp.status_code == 415, resp.text
    error = resp.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "multipart/form-data" in error["message"] and "text/csv" in error["message"]
    assert stored(db, state_dir) == before


def _upload(client: httpx.Client, body: bytes, **params) -> dict:  # noqa: ANN003
    resp = client.post("/v1/datasets", params=params, files={"file": ("data.csv", body, "text/csv")})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _stored_frame(state_dir: Path, dataset: dict) -> pd.DataFrame:
    return pd.read_parquet(state_dir / "blobs" / "datasets" / f"{dataset['id']}.parquet")


def test_latin1_and_windows_1252_files_parse_with_their_characters(client, state_dir):  # noqa: ANN001
    rows = [("Zürich", "neu"), ("Köln", "alt"), ("Málaga", "neu")] * 5
    latin1 = _upload(client, ("city;kind\n" + "".join(f"{c};{k}\n" for c, k in rows)).encode("latin-1"))
    assert latin1["encoding"] == "latin-1" and latin1["delimiter"] == ";"
    assert set(_stored_frame(state_dir, latin1)["city"]) == {"Zürich", "Köln", "Málaga"}
    cp1252 = _upload(client, ("item,price\n" + "".join(f"“Café” – {i % 3},{i} €\n" for i in range(15)))
                     .encode("cp1252"))
    assert cp1252["encoding"] == "cp1252"
    assert "“Café” – 0" in set(_stored_frame(state_dir, cp1252)["item"])
    assert _stored_frame(state_dir, cp1252)["price"].iloc[3] == "3 €"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_unicode_files_with_a_byte_order_mark_parse(client, state_dir, encoding):  # noqa: ANN001
    text = "name,score,city\n" + "".join(f"Ünïcødé {i % 4},{i},東京\n" for i in range(12))
    dataset = _upload(client, text.encode(encoding))
    assert dataset["encoding"] == encoding and dataset["rows"] == 12
    assert list(dataset["column_kinds"]) == ["name", "score", "city"]
    assert set(_stored_frame(state_dir, dataset)["city"]) == {"東京"}


def test_quoted_fields_with_embedded_newlines_and_delimiters_stay_whole(client, state_dir):  # noqa: ANN001
    text = "id_no,note,score\n" + "".join(f'{i},"line one, {i}\nline ""two""",{i % 5}\n' for i in range(12))
    dataset = _upload(client, text.encode())
    assert dataset["rows"] == 12 and dataset["n_columns"] == 3
    frame = _stored_frame(state_dir, dataset)
    assert frame["note"].iloc[4] == 'line one, 4\nline "two"'


def test_short_rows_become_nulls(client, state_dir):  # noqa: ANN001
    """A row with fewer fields than the header (spreadsheets drop trailing empty cells) is read with nulls;
    only rows with more fields than the header are refused (ragged rows above)."""
    text = "a,b,c\n" + "1,2,3\n" * 10 + "4,5\n" * 2
    dataset = _upload(client, text.encode())
    columns = {c["name"]: c for c in dataset["columns"]}
    assert dataset["rows"] == 12 and columns["c"]["null_rate"] == pytest.approx(2 / 12)
    assert _stored_frame(state_dir, dataset)["c"].isna().sum() == 2


def test_constant_id_and_partly_null_columns_are_kept_and_trained(client, workers, state_dir):  # noqa: ANN001
    """A constant column, a unique text column (an ID) and a column with nulls: inferred as such, trained on,
    and sampled back (constant stays constant, IDs are new and unique, nulls come back)."""
    frame = pd.read_csv(io.BytesIO(small_csv(200)))
    frame["country"] = "Atlantis"
    frame["customer_ref"] = [f"C-{i:05d}-{(i * 7919) % 1000:03d}" for i in range(len(frame))]
    frame.loc[frame.index % 4 == 0, "hours-per-week"] = None
    dataset = _upload(client, frame.to_csv(index=False).encode(), train="true", epochs=2, batch_size=50)
    kinds = dataset["column_kinds"]
    assert kinds["country"] == "constant" and kinds["customer_ref"] == "id"
    assert {c["name"]: c["null_rate"] for c in dataset["columns"]}["hours-per-week"] == pytest.approx(0.25)
    workers.start("odd-columns")
    job = finished_job(client, dataset["job_id"], 240, "training on odd columns")
    assert job["status"] == "succeeded", job
    sample = pd.read_csv(io.StringIO(client.get("/sample", params={"n": 500, "seed": 2}).text))
    assert set(sample["country"]) == {"Atlantis"}
    assert sample["customer_ref"].is_unique
    # Keys take the real keys' shape, not their content: a real key comes back only by chance (the engine draws
    # random digits in the same template; about 0.2 in 500 here), never as a replay of the training keys.
    assert len(set(sample["customer_ref"]) & set(frame["customer_ref"])) <= 5
    assert sample["hours-per-week"].isna().any()


# --- the size cap, enforced while streaming ---------------------------------------------------------------------


def _raw_request(api: str, key: str, headers: list[str]) -> socket.socket:
    host, port = api.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = ["POST /v1/datasets HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {key}",
            "Content-Type: text/csv", *headers, "", ""]
    sock.sendall("\r\n".join(head).encode())
    return sock


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    sock.settimeout(30)
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_upload_over_the_cap_is_refused_while_streaming(api, make_key, db, state_dir):  # noqa: ANN001
    """The session API's cap is 1 MB. A chunked body with no length is answered 413 once it passes the cap,
    while the client is still sending; a declared length over the cap is answered before any body byte."""
    key = make_key("bad-input")
    before = stored(db, state_dir)
    sock = _raw_request(api, key, ["Transfer-Encoding: chunked"])
    chunk = b"x,y\n" * 16_384  # 64 KiB
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent, answered = 0, False
    try:
        while sent < 50 * 1024 * 1024:  # a client that would send 50 MB if let
            if select.select([sock], [], [], 0)[0]:
                answered = True
                break
            sock.sendall(frame)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        answered = True
    assert answered, "the server read a 50 MB upload without refusing it"
    response = _read_response(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"too_large"' in response and b"SYNTHD_MAX_UPLOAD_BYTES" in response
    assert sent < 20 * 1024 * 1024, f"the client got to send {sent} bytes before the refusal"

    sock = _raw_request(api, key, [f"Content-Length: {50 * 1024 * 1024}"])
    response = _read_response(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 413") and b'"too_large"' in response
    assert stored(db, state_dir) == before


# --- job parameters ----------------------------------------------------------------------------------------------

BAD_JOB_BODIES = [
    ("epochs a float", {"params": {"epochs": 1.5}}, "params.epochs"),
    ("epochs a whole float", {"params": {"epochs": 5.0}}, "params.epochs"),
    ("epochs a boolean", {"params": {"epochs": True}}, "params.epochs"),
    ("epochs a numeric string", {"params": {"epochs": "5"}}, "params.epochs"),
    ("epochs null", {"params": {"epochs": None}}, "params.epochs"),
    ("epochs above SYNTHD_MAX_EPOCHS", {"params": {"epochs": 20_000}}, "SYNTHD_MAX_EPOCHS"),
    ("epochs far above any bound", {"params": {"epochs": 10**20}}, "params.epochs"),
    ("batch size not a multiple of pac", {"params": {"batch_size": 55, "pac": 10}}, "multiple of pac"),
    ("seed above 2**32-1", {"params": {"seed": 2**32}}, "params.seed"),
    ("max_seconds negative", {"params": {"max_seconds": -1}}, "params.max_seconds"),
    ("max_seconds a string", {"params": {"max_seconds": "soon"}}, "params.max_seconds"),
    ("too many generator layers", {"params": {"generator_dim": [16] * 7}}, "params.generator_dim"),
    ("a layer too wide", {"params": {"discriminator_dim": [5000]}}, "discriminator_dim"),
    ("a learning rate of 0", {"params": {"generator_lr": 0}}, "params.generator_lr"),
    ("discriminator_steps 0", {"params": {"discriminator_steps": 0}}, "params.discriminator_steps"),
    ("params a list", {"params": [1, 2]}, "params"),
    ("params a string", {"params": "fast"}, "params"),
    ("dataset_id a number", {"dataset_id": 7}, "dataset_id"),
    ("dataset_id missing", {"dataset_id": None}, "dataset_id"),
    ("an unknown top-level field", {"priority": "high"}, "priority"),
    ("a target that is not a column", {"params": {"target": "salary"}}, "target 'salary'"),
    ("an empty target", {"params": {"target": ""}}, "params.target"),
    ("a sensitive column that is not a column", {"params": {"sensitive": ["age", "salary"]}}, "['salary']"),
    ("sensitive a string", {"params": {"sensitive": "age"}}, "params.sensitive"),
    ("an empty sensitive name", {"params": {"sensitive": [""]}}, "params.sensitive"),
    ("an ID column as sensitive", {"params": {"sensitive": ["age"], "column_kinds": {"age": "id"}}}, "['age']"),
    ("a sensitive column named twice", {"params": {"sensitive": ["age", "age"]}}, "more than once"),
    ("too many sensitive columns", {"params": {"sensitive": [f"c{i}" for i in range(21)]}}, "params.sensitive"),
]


@pytest.fixture
def dataset_id(client) -> str:  # noqa: ANN001
    return _upload(client, small_csv(60))["id"]


@pytest.mark.parametrize(("case", "body", "where"), BAD_JOB_BODIES, ids=[c[0] for c in BAD_JOB_BODIES])
def test_bad_job_parameters_are_422_and_queue_nothing(client, db, state_dir, dataset_id, case, body, where):  # noqa: ANN001
    payload = {"dataset_id": dataset_id, **body}
    if payload["dataset_id"] is None:
        del payload["dataset_id"]
    before = stored(db, state_dir)
    resp = client.post("/v1/jobs", json=payload)
    assert resp.status_code == 422, (case, resp.text)
    error = resp.json()["error"]
    assert error["code"] == "invalid_request" and where in error["message"], (case, error)
    assert stored(db, state_dir) == before


@pytest.mark.parametrize(("case", "body", "content_type"), [
    ("not JSON", b"epochs=5", "application/json"),
    ("truncated JSON", b'{"dataset_id": "', "application/json"),
    ("a JSON array", b"[]", "application/json"),
    ("JSON null", b"null", "application/json"),
    ("no body", b"", "application/json"),
])
def test_malformed_job_bodies_are_422(client, db, state_dir, case, body, content_type):  # noqa: ANN001
    before = stored(db, state_dir)
    resp = client.post("/v1/jobs", content=body, headers={"Content-Type": content_type})
    assert resp.status_code == 422, (case, resp.text)
    assert resp.json()["error"]["code"] == "invalid_request" and resp.json()["error"]["message"]
    if case != "no body" and case != "a JSON array" and case != "JSON null":
        assert "not valid JSON" in resp.json()["error"]["message"], resp.text
    assert stored(db, state_dir) == before


@pytest.mark.parametrize("params", [
    {"train": "true", "epochs": "0"}, {"train": "true", "epochs": "1.5"}, {"train": "true", "epochs": "20000"},
    {"train": "true", "seed": "-1"}, {"train": "true", "max_seconds": "0"}, {"train": "true", "batch_size": "9"},
    {"train": "perhaps"}, {"kinds": "age:categorical,,"}, {"name": "x" * 301},
    {"train": "true", "target": "salary"},
], ids=lambda p: "&".join(f"{k}={v[:12]}" for k, v in p.items()))
def test_bad_upload_parameters_are_422_and_store_nothing(client, db, state_dir, params):  # noqa: ANN001
    before = stored(db, state_dir)
    resp = client.post("/v1/datasets", params=params, files={"file": ("a.csv", small_csv(30), "text/csv")})
    assert resp.status_code == 422, (params, resp.text)
    assert resp.json()["error"]["code"] == "invalid_request"
    assert stored(db, state_dir) == before


# --- sample sizes and conditions ---------------------------------------------------------------------------------


@pytest.fixture
def owner(api, trained):  # noqa: ANN001, ANN201
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {trained['key']}"}, timeout=120) as c:
        yield c


def _sample_paths(trained: dict) -> list[str]:
    return ["/sample", f"/v1/models/{trained['model_id']}/sample"]


@pytest.mark.parametrize("n", ["0", "-1", "1.5", "ten", "", "1e3", "200001", str(10**30), "0x10"])
def test_bad_n_is_422_on_both_sample_routes(owner, trained, n):  # noqa: ANN001
    for path in _sample_paths(trained):
        resp = owner.get(path, params={"n": n})
        assert resp.status_code == 422, (path, n, resp.text)
        error = resp.json()["error"]
        assert error["code"] == "invalid_request" and "n" in error["message"], error


@pytest.mark.parametrize(("params", "code", "words"), [
    ({"age": "500..600"}, "invalid_data", ["impossible", "[19, 70]"]),  # protected bounds, not the real 17, 88
    ({"age": "..-5"}, "invalid_data", ["impossible"]),
    ({"age": "37.5"}, "invalid_condition", ["whole numbers", "37.5"]),
    ({"age": "30.2..30.8"}, "invalid_condition", ["contains none"]),
    ({"age": "30..40..50"}, "invalid_condition", ["not a number"]),
    ({"age": "1e400"}, "invalid_condition", ["finite"]),
    ({"sex": "\x00"}, "invalid_data", ["has no value"]),
    ({"sex": "F" * 5000}, "invalid_data", ["has no value"]),
    ({"sex": ""}, "invalid_condition", ["give a value"]),
    ({"no such column": "1"}, "unknown_parameter", ["columns:"]),
    ({"n": ["5", "6"]}, "invalid_request", ["more than once"]),
    ({"format": ["csv", "jsonl"]}, "invalid_request", ["more than once"]),
    ({"seed": "-1"}, "invalid_request", ["seed"]),
    ({"format": "xlsx"}, "invalid_request", ["format"]),
], ids=lambda v: str(v)[:40] if isinstance(v, dict) else None)
def test_bad_conditions_are_422_quickly(owner, trained, params, code, words):  # noqa: ANN001
    for path in _sample_paths(trained):
        started = time.monotonic()
        resp = owner.get(path, params={"n": 10, **params})
        assert resp.status_code == 422, (path, params, resp.text)
        error = resp.json()["error"]
        assert error["code"] == code, (params, error)
        for word in words:
            assert word in error["message"], (params, word, error["message"])
        assert time.monotonic() - started < 5, f"{params}: {time.monotonic() - started:.1f}s to refuse"


# --- ids ---------------------------------------------------------------------------------------------------------

BAD_IDS = ["00000000-0000-0000-0000-000000000000", "nope", "\x00", "'; DROP TABLE jobs; --", "x" * 5000, "☃",
           "../../etc/passwd", "%2e%2e", "1 OR 1=1"]


@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda b: repr(b)[:20])
def test_unknown_or_malformed_ids_are_404_on_every_route(owner, trained, bad):  # noqa: ANN001
    quoted = urllib.parse.quote(bad, safe="")  # percent-encoded, NUL and / included
    calls = [
        ("GET", f"/v1/datasets/{quoted}", {}, None),
        ("GET", f"/v1/jobs/{quoted}", {}, None),
        ("POST", f"/v1/jobs/{quoted}/cancel", {}, None),
        ("GET", f"/v1/models/{quoted}", {}, None),
        ("GET", f"/v1/models/{quoted}/sample", {"n": 5}, None),
        ("GET", "/sample", {"model_id": bad, "n": 5}, None),
        ("POST", "/v1/jobs", {}, {"dataset_id": bad, "params": TINY}),
    ]
    for method, path, params, body in calls:
        resp = owner.request(method, path, params=params, json=body)
        assert resp.status_code == 404, (method, path, resp.status_code, resp.text[:300])
        assert resp.json()["error"]["code"] == "not_found", (method, path, resp.text[:300])


# --- cancelling what is finished --------------------------------------------------------------------------------


def test_cancelling_a_finished_job_is_409_and_changes_nothing(owner, trained, db):  # noqa: ANN001
    before = job_row(db, trained["job_id"])
    for _ in range(2):
        resp = owner.post(f"/v1/jobs/{trained['job_id']}/cancel")
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"]["code"] == "already_finished"
        assert "succeeded" in resp.json()["error"]["message"]
    after = job_row(db, trained["job_id"])
    assert (after.status, after.finished_at, after.updated_at) == (before.status, before.finished_at,
                                                                   before.updated_at)
    assert owner.get(f"/v1/models/{trained['model_id']}").status_code == 200  # the model is untouched


def test_cancelling_a_failed_job_and_cancelling_twice_are_409(client, db, dataset_id):  # noqa: ANN001
    job = client.post("/v1/jobs", json={"dataset_id": dataset_id, "params": TINY}).json()
    first = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    second = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert second.status_code == 409 and "cancelled" in second.json()["error"]["message"]

    failed = client.post("/v1/jobs", json={"dataset_id": dataset_id, "params": TINY}).json()
    from sqlalchemy import update

    from app.models import Job

    with db() as session:  # a job a worker gave up on
        session.execute(update(Job).where(Job.id == failed["id"]).values(status="failed", error="boom"))
        session.commit()
    resp = client.post(f"/v1/jobs/{failed['id']}/cancel")
    assert resp.status_code == 409 and "failed" in resp.json()["error"]["message"]
    assert resp.json()["error"]["code"] == "already_finished"
    assert client.get(f"/v1/jobs/{failed['id']}").json()["error"] == "boom"
