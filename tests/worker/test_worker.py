"""Real worker processes on the Postgres queue: the whole path, two workers, a killed worker, cancellation."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from app.models import Model
from tests.conftest import ROOT, TINY, finished_job, free_port, job_of, job_row, small_csv, wait_for

FAST = {"SYNTHD_LEASE_SECONDS": "2", "SYNTHD_CHECKPOINT_EVERY": "1"}


@pytest.fixture
def client(client_for):  # noqa: ANN001, ANN201
    return client_for("worker-tests")


@pytest.fixture
def dataset_id(client) -> str:  # noqa: ANN001
    resp = client.post("/v1/datasets", files={"file": ("adult.csv", small_csv(), "text/csv")})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def _models_of(db, job_id: str) -> int:  # noqa: ANN001
    with db() as session:
        return session.scalar(select(func.count()).select_from(Model).where(Model.job_id == job_id))


def _log(proc) -> str:  # noqa: ANN001
    return Path(proc.log_path).read_text()


def test_upload_train_sample_through_http_with_a_worker(client, workers):  # noqa: ANN001
    worker = workers.start("e2e")
    # Enough epochs (about a second on 2 cores) that a poll every 0.1 s sees the job between them.
    epochs = 40
    resp = client.post("/v1/datasets", params={"train": "true", "epochs": epochs, "batch_size": 50, "seed": 1},
                       files={"file": ("adult.csv", small_csv(), "text/csv")})
    assert resp.status_code == 201, resp.text
    job_id = resp.json()["job_id"]
    seen = []

    def finished() -> dict | None:
        job = job_of(client, job_id)
        seen.append((job["status"], job["epoch"]))
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    job = wait_for(finished, 240, "the job to finish", interval=0.1)
    assert job["status"] == "succeeded", (job, _log(worker))
    assert job["epoch"] == job["epochs"] == epochs and job["progress"] == 1.0
    assert set(job["losses"]) >= {"generator", "discriminator"}
    assert job["attempts"] == 1 and job["device"] == "cpu" and job["model_id"]
    assert any(status == "running" and 0 < epoch < epochs for status, epoch in seen)  # progress while it trained
    frame = pd.read_csv(io.StringIO(client.get("/sample", params={"n": 1000}).text))
    assert len(frame) == 1000 and "income" in frame.columns
    model = client.get(f"/v1/models/{job['model_id']}").json()
    assert model["report"] and model["holdout_rows"] == 60


def test_a_job_naming_a_target_gets_its_ml_utility_and_coherence_in_the_report(client, workers):  # noqa: ANN001
    worker = workers.start("target")
    resp = client.post("/v1/datasets", params={"train": "true", "epochs": 4, "batch_size": 50, "target": "income"},
                       files={"file": ("adult.csv", small_csv(), "text/csv")})
    assert resp.status_code == 201, resp.text
    job = finished_job(client, resp.json()["job_id"], 240, "the job to finish")
    assert job["status"] == "succeeded" and job["params"]["target"] == "income", (job, _log(worker))
    assert "target" not in job["losses"]  # a categorical target trains no target model by default (target_loss)
    report = client.get(f"/v1/models/{job['model_id']}").json()["report"]
    tstr = report["tstr"]
    assert tstr["target"] == "income" and tstr["task"] == "classification" and tstr["metric"] == "macro_f1"
    assert 0 <= tstr["synthetic"] <= 1 and 0 <= tstr["real"] <= 1 and tstr["test_rows"] == 60
    coherence = report["coherence"]
    assert 0 <= coherence["impossible_rate"] <= 1 and coherence["holdout_rate"] is not None
    assert {"workclass", "education", "sex", "race", "income"} <= set(coherence["columns"])
    checks = {c["name"]: c for c in report["summary"]["checks"]}
    assert set(checks) == {"column_shapes", "pair_trends", "impossible_combinations", "detection_auc", "ml_utility"}
    assert checks["ml_utility"]["value"] == tstr["synthetic"] and checks["ml_utility"]["baseline"] == tstr["real"]
    assert report["summary"]["verdict"] in ("good", "fair", "poor")
    worst = max(checks.values(), key=lambda c: ("good", "fair", "poor").index(c["verdict"]))
    assert report["summary"]["verdict"] == worst["verdict"]


def test_a_job_naming_a_numeric_target_trains_the_engine_on_it(client, dataset_id, workers):  # noqa: ANN001
    worker = workers.start("numeric-target")
    resp = client.post("/v1/jobs", json={"dataset_id": dataset_id, "params": {**TINY, "target": "age"}})
    assert resp.status_code == 202, resp.text
    job = finished_job(client, resp.json()["id"], 240, "the job to finish")
    assert job["status"] == "succeeded", (job, _log(worker))
    assert job["losses"]["target"] > 0  # the target's model taught the generator (synth.auxiliary)
    tstr = client.get(f"/v1/models/{job['model_id']}").json()["report"]["tstr"]
    assert tstr["target"] == "age" and tstr["task"] == "regression" and tstr["metric"] == "r2"


def test_a_differentially_private_job_shows_epsilon_spent_and_its_model_the_final_budget(client, dataset_id,  # noqa: ANN001
                                                                                      workers, db):
    worker = workers.start("dp")
    privacy = {"epsilon": 8.0, "delta": 1e-5, "noise_multiplier": 1.0}
    resp = client.post("/v1/jobs", json={"dataset_id": dataset_id, "params": {**TINY, "epochs": 40,
                                                                             "privacy": privacy}})
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    seen = []

    def finished() -> dict | None:
        job = job_of(client, job_id)
        seen.append(job["epsilon_spent"])
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    job = wait_for(finished, 300, "the private job to finish", interval=0.2)
    assert job["status"] == "succeeded", (job, _log(worker))
    assert job["epoch"] == 40  # the critic's steps are spread over every epoch: the budget is spent by the last
    assert 0 < job["epsilon_spent"] <= 8.0
    assert "discriminator" not in job["losses"] and 0 <= job["losses"]["pairs"] <= 1
    spent = [e for e in seen if e is not None]
    assert spent == sorted(spent)  # written epoch by epoch
    model = client.get(f"/v1/models/{job['model_id']}").json()
    final = model["differential_privacy"]
    assert final["epsilon"] == pytest.approx(job["epsilon_spent"], abs=1e-5) and final["delta"] == 1e-5
    assert final["target_epsilon"] == 8.0 and final["critic_steps"] > 0
    assert model["report"]["differential_privacy"] == final
    rows = pd.read_csv(io.StringIO(client.get(f"/v1/models/{job['model_id']}/sample", params={"n": 200}).text))
    assert len(rows) == 200


def test_two_workers_train_each_job_exactly_once(client, dataset_id, workers, db):  # noqa: ANN001
    pool = [workers.start("w1"), workers.start("w2")]
    wait_for(lambda: all("waiting for jobs" in _log(p) for p in pool), 60, "both workers to start")
    job_ids = [client.post("/v1/jobs", json={"dataset_id": dataset_id, "params": {**TINY, "seed": i}}).json()["id"]
               for i in range(4)]

    def all_done() -> bool:
        return all(job_of(client, j)["status"] in ("succeeded", "failed") for j in job_ids)

    wait_for(all_done, 300, "four jobs to finish", interval=0.5)
    logs = "".join(_log(p) for p in pool)
    owners = set()
    for job_id in job_ids:
        job = job_of(client, job_id)
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 1
        assert _models_of(db, job_id) == 1
        assert logs.count(f"claimed job {job_id}") == 1
        owners.add(job_row(db, job_id).worker_id)
    assert owners == {"w1", "w2"}


def test_killed_worker_job_resumes_from_checkpoint_on_another(client, dataset_id, workers, db):  # noqa: ANN001
    params = {**TINY, "epochs": 60}
    job_id = client.post("/v1/jobs", json={"dataset_id": dataset_id, "params": params}).json()["id"]
    first = workers.start("doomed", **FAST)
    wait_for(lambda: (job_row(db, job_id).checkpoint_epoch or 0) >= 2, 180, "a checkpoint", interval=0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = job_row(db, job_id)
    assert killed_at.status == "running" and killed_at.worker_id == "doomed"
    assert killed_at.epoch < 60

    second = workers.start("rescuer", **FAST)
    job = finished_job(client, job_id, 240, "the job to be finished by the second worker")
    assert job["status"] == "succeeded", (job, _log(second))
    assert job["attempts"] == 2
    assert job["resumed_from_epoch"] is not None and job["resumed_from_epoch"] >= 2
    assert job_row(db, job_id).worker_id == "rescuer"
    assert "resuming from the checkpoint" in _log(second)
    assert _models_of(db, job_id) == 1
    model = client.get(f"/v1/models/{job['model_id']}").json()
    assert model["epochs_trained"] == 60


def test_job_that_keeps_killing_workers_fails_after_max_attempts(client, dataset_id, workers, db):  # noqa: ANN001
    env = {**FAST, "SYNTHD_MAX_ATTEMPTS": "2"}
    job_id = client.post("/v1/jobs", json={"dataset_id": dataset_id,
                                           "params": {**TINY, "epochs": 500}}).json()["id"]
    for attempt, name in ((1, "victim-1"), (2, "victim-2")):
        proc = workers.start(name, **env)
        wait_for(lambda a=attempt: (r := job_row(db, job_id)).attempts == a and r.epoch >= 1, 180,
                 f"attempt {attempt} to train", interval=0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    workers.start("survivor", **env)
    job = wait_for(lambda: (j := job_of(client, job_id))["status"] != "running" and j, 60, "the job to fail")
    assert job["status"] == "failed"
    assert "gave up after 2 attempts" in job["error"]
    assert _models_of(db, job_id) == 0


def test_cancel_a_running_job_stops_its_worker(client, dataset_id, workers, db, state_dir):  # noqa: ANN001
    worker = workers.start("canceller", SYNTHD_CHECKPOINT_EVERY="1")
    job_id = client.post("/v1/jobs", json={"dataset_id": dataset_id,
                                           "params": {**TINY, "epochs": 500}}).json()["id"]
    wait_for(lambda: job_of(client, job_id)["epoch"] >= 2, 180, "training to start", interval=0.1)
    resp = client.post(f"/v1/jobs/{job_id}/cancel")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    wait_for(lambda: f"job {job_id} cancelled" in _log(worker), 30, "the worker to stop the job")
    stopped_at = job_row(db, job_id).epoch
    time.sleep(1)
    job = job_of(client, job_id)
    assert job["status"] == "cancelled" and job["model_id"] is None and job["epoch"] == stopped_at
    assert stopped_at < 500
    assert _models_of(db, job_id) == 0
    assert not (state_dir / "blobs" / "checkpoints" / job_id).exists()
    # the worker goes on with the queue
    next_id = client.post("/v1/jobs", json={"dataset_id": dataset_id, "params": TINY}).json()["id"]
    wait_for(lambda: job_of(client, next_id)["status"] == "succeeded", 180, "the next job")


def test_cancelled_queued_job_is_never_claimed(client, dataset_id, workers):  # noqa: ANN001
    job_id = client.post("/v1/jobs", json={"dataset_id": dataset_id, "params": TINY}).json()["id"]
    assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    proc = workers.start("idle", "--once")
    assert proc.wait(timeout=60) == 0
    job = job_of(client, job_id)
    assert job["status"] == "cancelled" and job["attempts"] == 0 and job["model_id"] is None


def test_sqlite_mode_started_the_way_readme_says(tmp_path, service_env):  # noqa: ANN001
    """`make run` is `synthd demo` on the defaults: no DATABASE_URL, so an embedded SQLite file."""
    env = {k: v for k, v in service_env.items() if k not in ("DATABASE_URL", "SYNTHD_BLOB_URL")}
    env["SYNTHD_DATA_DIR"] = str(tmp_path / "state")
    script = Path(sys.executable).parent / "synthd"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "synthd"]
    done = subprocess.run([*command, "demo", "--exit", "--epochs", "1", "--port", str(free_port())], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "job succeeded: epoch 1/1" in done.stdout
    assert "five synthetic rows" in done.stdout and "curl" in done.stdout
    assert (tmp_path / "state" / "synthd.db").exists()
    assert any((tmp_path / "state" / "blobs" / "models").iterdir())


def test_sigterm_hands_the_job_back_with_a_checkpoint(client, dataset_id, workers, db):  # noqa: ANN001
    job_id = client.post("/v1/jobs", json={"dataset_id": dataset_id,
                                           "params": {**TINY, "epochs": 30}}).json()["id"]
    leaving = workers.start("leaving")
    wait_for(lambda: job_row(db, job_id).epoch >= 2, 180, "training to start", interval=0.1)
    leaving.send_signal(signal.SIGTERM)
    assert leaving.wait(timeout=60) == 0
    row = job_row(db, job_id)
    assert row.status == "queued" and row.attempts == 0 and row.checkpoint_key and row.worker_id is None
    workers.start("arriving")
    job = finished_job(client, job_id, 180, "the job to finish")
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1 and job["resumed_from_epoch"] == row.checkpoint_epoch


def test_log_lines_of_errors_without_a_message_name_their_type():
    from worker.training import first_line

    assert first_line(ValueError("no route to host\ndetails")) == "no route to host"
    assert first_line(TimeoutError()) == "TimeoutError" and first_line(OSError("\n")) == "OSError"
