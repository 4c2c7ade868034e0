"""The Python client and the CLI against a real running service (the API in uvicorn, a real worker): upload,
train with a progress bar, sample DataFrames and files with conditions, reports, listings, cancel, errors."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from synthd_client import Client, SynthdError

from tests.conftest import EXAMPLE, ROOT, SMALL_COLUMNS, TINY, clear_queue

FRAME = pd.read_csv(EXAMPLE, skipinitialspace=True, nrows=300)[SMALL_COLUMNS]


def test_train_with_a_progress_bar_then_sample(api, make_key, workers, capsys):  # noqa: ANN001
    client = Client(api, make_key("client-trainer"))
    workers.start("client")
    job = client.train(FRAME, wait=True, progress=True, **{**TINY, "epochs": 4}, seed=3)
    err = capsys.readouterr().err
    assert job["status"] == "succeeded" and job["model_id"]
    assert "4/4" in err and "G=" in err and "D=" in err and "cond=" in err, err[-2000:]
    assert [row["epoch"] for row in client.history(job)] == [1, 2, 3, 4]

    rows = client.sample(200, model=job, seed=5, conditions={"sex": "Female", "age": (30, 40)})
    assert isinstance(rows, pd.DataFrame) and len(rows) == 200
    assert list(rows.columns) == SMALL_COLUMNS
    assert set(rows["sex"]) == {"Female"} and rows["age"].between(30, 40).all()
    assert rows.equals(client.sample(200, model=job["model_id"], seed=5,
                                     conditions={"sex": "Female", "age": {"min": 30, "max": 40}}))
    newest = client.sample(10, seed=1)  # no model named: the tenant's newest
    assert len(newest) == 10
    assert client.models()[0]["id"] == job["model_id"]
    assert any(j["id"] == job["id"] for j in client.jobs(status="succeeded"))


def test_errors_carry_code_and_message(api, make_key, trained):  # noqa: ANN001
    with pytest.raises(SynthdError) as info:
        Client(api, "sk_wrong").models()
    assert info.value.status == 401 and info.value.code == "unauthorized"
    client = Client(api, trained["key"])
    with pytest.raises(SynthdError) as info:
        client.model("00000000-0000-0000-0000-000000000000")
    assert info.value.status == 404 and info.value.code == "not_found" and info.value.message
    with pytest.raises(SynthdError) as info:
        client.sample(5, model=trained["model_id"], conditions={"sex": "Martian"})
    assert info.value.status == 422 and info.value.code == "invalid_data"
    with pytest.raises(SynthdError) as info:
        client.cancel(trained["job_id"])
    assert info.value.status == 409 and info.value.code == "already_finished"
    with pytest.raises(SynthdError) as info:
        Client("http://127.0.0.1:9", "sk_x").models()
    assert info.value.code == "unreachable"


def test_upload_report_cancel_and_delete(api, make_key, db, tmp_path, trained):  # noqa: ANN001
    client = Client(api, make_key("client-owner"))
    path = tmp_path / "people.csv"
    FRAME.to_csv(path, index=False)
    dataset = client.upload(path, kinds={"age": "continuous"})
    assert dataset["rows"] == 300 and dataset["column_kinds"]["age"] == "continuous"
    clear_queue(db)
    job = client.train(dataset, wait=False, epochs=2)
    assert job["status"] == "queued"
    with pytest.raises(SynthdError) as info:
        client.delete_dataset(dataset)
    assert info.value.code == "dataset_busy"
    assert client.cancel(job)["status"] == "cancelled"
    client.delete_dataset(dataset)
    assert client.datasets() == []

    owner = Client(api, trained["key"])
    html = owner.report(trained["model_id"], tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text() == html and "Synthetic data report" in html
    zipped = owner.artifact(trained["model_id"], tmp_path / "model.zip")
    assert zipped.stat().st_size > 1000


def test_the_client_needs_neither_torch_nor_synthd():
    """client/ is its own package: no import of torch or of this repository's packages, and its dependencies
    are httpx, pandas, pyarrow and tqdm."""
    package = ROOT / "client" / "synthd_client"
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                assert name.split(".")[0] not in {"torch", "synth", "app", "worker", "synthd"}, (path, name)
    done = subprocess.run([sys.executable, "-c", "import sys, synthd_client; "
                           "assert 'torch' not in sys.modules and 'synth' not in sys.modules"],
                          capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, done.stderr
    import tomllib

    deps = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(d.split(">")[0].split("=")[0] for d in deps) == ["httpx", "pandas", "pyarrow", "tqdm"]


def _cli(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "synthd", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_cli_train_sample_list_report(api, make_key, workers, tmp_path):  # noqa: ANN001
    key = make_key("cli-user")
    csv = tmp_path / "adult.csv"
    FRAME.to_csv(csv, index=False)
    workers.start("cli")
    env = {"SYNTHD_URL": api, "SYNTHD_KEY": key}
    done = _cli("train", str(csv), "--epochs", "3", "--batch-size", "50", "--param", "embedding_dim=16",
                "--param", "generator_dim=[32,32]", "--param", "discriminator_dim=[32,32]", "--wait", env=env)
    assert "3/3" in done.stderr  # the progress bar
    model_id = done.stdout.strip().splitlines()[-1].split()[-1]
    assert done.stdout.startswith("dataset ") and len(model_id) == 36

    out = tmp_path / "rows.parquet"
    _cli("sample", model_id, "-n", "500", "-o", str(out), "--seed", "4", "--where", "sex=Female",
         "--where", "age=30..40", "--url", api, "--key", key)
    rows = pd.read_parquet(out)
    assert len(rows) == 500 and set(rows["sex"]) == {"Female"} and rows["age"].between(30, 40).all()
    out_csv = tmp_path / "rows.csv"
    _cli("sample", "-n", "100", "-o", str(out_csv), "--seed", "4", env=env)  # the newest model, as CSV
    assert len(pd.read_csv(out_csv)) == 100
    stdout = _cli("sample", model_id, "-n", "7", env=env).stdout
    assert stdout.splitlines()[0] == ",".join(SMALL_COLUMNS) and len(stdout.splitlines()) == 8
    big = _cli("sample", model_id, "-n", "100000", "-o", str(tmp_path / "big.jsonl"), env=env)
    assert "sampling 100,000 rows" in big.stderr  # a progress bar for large n
    assert len((tmp_path / "big.jsonl").read_text().splitlines()) == 100_000

    jobs = _cli("jobs", env=env).stdout
    assert jobs.splitlines()[0].split()[:3] == ["JOB", "STATUS", "EPOCH"] and "succeeded" in jobs and "3/3" in jobs
    assert model_id in _cli("models", env=env).stdout
    report = tmp_path / "r.html"
    _cli("report", model_id, "-o", str(report), env=env)
    assert "Synthetic data report" in report.read_text()

    bad = _cli("sample", "00000000-0000-0000-0000-000000000000", "-n", "5", env=env, check=False)
    assert bad.returncode == 1 and "not_found" in bad.stderr and "Traceback" not in bad.stderr
    unknown = _cli("sample", model_id, "-n", "5", "-o", str(tmp_path / "x.xlsx"), env=env, check=False)
    assert unknown.returncode == 1 and "name it .csv, .parquet or .jsonl" in unknown.stderr
    assert not Path(tmp_path / "x.xlsx").exists()
