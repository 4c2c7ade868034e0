"""The data lifecycle on the API: per-epoch history, DELETE of datasets (409 while a job runs on one) and models
with their blobs, the model as a zip that Synthesizer.load opens offline, and the self-contained report.html.
Each is another tenant's 404."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

from sqlalchemy import func, select

from tests.conftest import ROOT, TINY, clear_queue, small_csv


def _train(client, db, env, epochs: int = 3) -> dict:  # noqa: ANN001
    resp = client.post("/v1/datasets", files={"file": ("adult.csv", small_csv(), "text/csv")})
    assert resp.status_code == 201, resp.text
    dataset = resp.json()
    clear_queue(db)
    resp = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "params": {**TINY, "epochs": epochs}})
    assert resp.status_code == 202, resp.text
    job = resp.json()
    done = subprocess.run([sys.executable, "-m", "synthd", "worker", "--once"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    job = client.get(f"/v1/jobs/{job['id']}").json()
    assert job["status"] == "succeeded", job
    return {"dataset": dataset, "job": job, "model_id": job["model_id"]}


def _blobs(state_dir, prefix: str) -> list:  # noqa: ANN001
    return [p for p in (state_dir / "blobs").glob(prefix) if p.exists()]


def test_history_holds_every_epoch_in_order(client_for, db, service_env):  # noqa: ANN001
    client = client_for("history-tenant")
    done = _train(client, db, service_env, epochs=3)
    job_id = done["job"]["id"]
    history = client.get(f"/v1/jobs/{job_id}/history").json()
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for row in history:
        assert {"generator", "discriminator", "conditional"} <= set(row["losses"])
        assert all(isinstance(v, float) for v in row["losses"].values())
    assert history[-1]["losses"] == done["job"]["losses"]  # the job's last losses are the last epoch's
    assert [r["epoch"] for r in client.get(f"/v1/jobs/{job_id}/history?since=2").json()] == [3]
    assert client.get(f"/v1/jobs/{job_id}/history?since=3").json() == []
    assert client.get(f"/v1/jobs/{job_id}/history?limit=2").json() == history[:2]
    other = client_for("history-other")
    assert other.get(f"/v1/jobs/{job_id}/history").status_code == 404


def test_renewal_records_epochs_and_a_resumed_job_replaces_them(db):  # noqa: ANN001
    """queue.renew writes the epochs it is given with its progress (several, when earlier writes did not reach
    the database); a job resumed from an earlier checkpoint writes those epochs again, and the ones it replaces go
    (the curve shows the run that made the model). queue.finish sets the model's last epoch and records the
    epochs no renewal got to write."""
    from app import queue
    from app.models import Dataset, Job, JobEpoch, Model, Tenant, new_id

    with db() as s:
        tenant = Tenant(name=f"renew-{new_id()[:8]}")
        s.add(tenant)
        s.flush()
        dataset = Dataset(tenant_id=tenant.id, name="d", blob_key="datasets/x.parquet", rows=1, n_columns=1,
                          size_bytes=1, encoding="utf-8", delimiter=",", column_kinds={}, schema={"columns": []})
        s.add(dataset)
        s.flush()
        job = Job(tenant_id=tenant.id, dataset_id=dataset.id, params={}, epochs=5, status="running", epoch=0,
                  attempts=1, worker_id="w")
        s.add(job)
        s.commit()
        job_id = job.id
    with db() as s:
        assert queue.renew(s, job_id, "w", 60, epoch=1, losses={"generator": 1.0}, completed=[(1, {"generator": 1.0})])
        # epoch 2's write did not reach the database; epoch 3's carries both
        assert queue.renew(s, job_id, "w", 60, epoch=3, losses={"generator": 3.0},
                           completed=[(2, {"generator": 2.0}), (3, {"generator": 3.0})])
        assert queue.renew(s, job_id, "w", 60)  # a heartbeat without progress records nothing
        assert [(r.epoch, r.losses["generator"]) for r in queue.history(s, job_id)] == [(1, 1.0), (2, 2.0), (3, 3.0)]
        assert queue.renew(s, job_id, "w", 60, epoch=2, losses={"generator": 20.0},  # resumed at epoch 1
                           completed=[(2, {"generator": 20.0})])
        assert not queue.renew(s, job_id, "other-worker", 60, epoch=4, losses={"generator": 4.0},
                               completed=[(4, {"generator": 4.0})])
        rows = [(r.epoch, r.losses["generator"]) for r in queue.history(s, job_id)]
        assert rows == [(1, 1.0), (2, 20.0)]
        # the last epochs ran while the database was away: finishing records them and the model's last epoch
        model = Model(tenant_id=tenant.id, job_id=job_id, dataset_id=dataset.id, blob_key="models/x", schema={},
                      params={}, train_rows=1, holdout_rows=0, epochs_trained=5, train_seconds=1.0, report={})
        assert queue.finish(s, job_id, "w", model, completed=[(e, {"generator": float(e)}) for e in (3, 4, 5)])
        s.expire_all()
        assert s.get(Job, job_id).epoch == 5 and s.get(Job, job_id).status == "succeeded"
        assert [(r.epoch, r.losses["generator"]) for r in queue.history(s, job_id)] == [
            (1, 1.0), (2, 20.0), (3, 3.0), (4, 4.0), (5, 5.0)]
        s.delete(s.get(Dataset, dataset.id))  # the epochs go with their job (ON DELETE CASCADE)
        s.commit()
        assert s.scalar(select(func.count()).select_from(JobEpoch).where(JobEpoch.job_id == job_id)) == 0


def test_delete_a_dataset_is_refused_while_a_job_runs_on_it(client_for, db, state_dir):  # noqa: ANN001
    client = client_for("delete-busy")
    resp = client.post("/v1/datasets", files={"file": ("adult.csv", small_csv(), "text/csv")})
    dataset = resp.json()
    clear_queue(db)
    job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "params": TINY}).json()
    assert _blobs(state_dir, f"datasets/{dataset['id']}.parquet")

    resp = client.delete(f"/v1/datasets/{dataset['id']}")
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"]["code"] == "dataset_busy" and job["id"] in resp.json()["error"]["message"]
    assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 200  # nothing changed
    assert _blobs(state_dir, f"datasets/{dataset['id']}.parquet")

    assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    other = client_for("delete-busy-other")
    assert other.delete(f"/v1/datasets/{dataset['id']}").status_code == 404  # another tenant's: not found
    resp = client.delete(f"/v1/datasets/{dataset['id']}")
    assert resp.status_code == 204 and resp.content == b""
    assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 404  # its jobs went with it
    assert not _blobs(state_dir, f"datasets/{dataset['id']}.parquet")
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 404


def test_model_zip_opens_offline_then_delete_removes_everything(client_for, db, service_env, state_dir,
                                                                 tmp_path):  # noqa: ANN001
    from synth import Synthesizer

    client = client_for("artifact-tenant")
    done = _train(client, db, service_env)
    model_id, dataset_id = done["model_id"], done["dataset"]["id"]
    other = client_for("artifact-other")
    for path in (f"/v1/models/{model_id}/artifact", f"/v1/models/{model_id}/report.html"):
        assert other.get(path).status_code == 404
    assert other.delete(f"/v1/models/{model_id}").status_code == 404

    resp = client.get(f"/v1/models/{model_id}/artifact")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    assert f"synthd-model-{model_id[:8]}.zip" in resp.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
        assert sorted(archive.namelist()) == ["model.json", "model.safetensors"]
        archive.extractall(tmp_path / "model")
    model = Synthesizer.load(str(tmp_path / "model"), device="cpu")
    rows = model.sample(50, seed=1, conditions={"sex": "Female"})
    assert len(rows) == 50 and set(rows["sex"]) == {"Female"}
    assert list(rows.columns) == [c["name"] for c in done["dataset"]["columns"]]

    # A model goes alone; its job stays, without a model.
    assert _blobs(state_dir, f"models/{model_id}")
    assert client.delete(f"/v1/models/{model_id}").status_code == 204
    assert client.get(f"/v1/models/{model_id}").status_code == 404
    assert client.get(f"/v1/models/{model_id}/artifact").status_code == 404
    assert client.get(f"/sample?model_id={model_id}&n=5").status_code == 404
    assert not _blobs(state_dir, f"models/{model_id}")
    job = client.get(f"/v1/jobs/{done['job']['id']}").json()
    assert job["status"] == "succeeded" and job["model_id"] is None

    # A dataset takes its models with it.
    again = client.post("/v1/jobs", json={"dataset_id": dataset_id, "params": TINY}).json()
    subprocess.run([sys.executable, "-m", "synthd", "worker", "--once"], cwd=ROOT, env=service_env,
                   capture_output=True, timeout=300, check=True)
    second = client.get(f"/v1/jobs/{again['id']}").json()["model_id"]
    assert second and _blobs(state_dir, f"models/{second}")
    assert client.delete(f"/v1/datasets/{dataset_id}").status_code == 204
    assert client.get(f"/v1/models/{second}").status_code == 404
    assert not _blobs(state_dir, f"models/{second}") and not _blobs(state_dir, f"datasets/{dataset_id}.parquet")


def test_report_html_is_one_self_contained_file(client_for, trained):  # noqa: ANN001
    import httpx

    client = client_for("report-reader")
    assert client.get(f"/v1/models/{trained['model_id']}/report.html").status_code == 404  # not this tenant's
    owner = httpx.Client(base_url=str(client.base_url), headers={"Authorization": f"Bearer {trained['key']}"},
                         timeout=60)
    resp = owner.get(f"/v1/models/{trained['model_id']}/report.html")
    owner.close()
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert "connect-src 'none'" in resp.headers["content-security-policy"]
    assert "connect-src 'none'" in html  # the file itself forbids requests, wherever it is opened
    for outside in ("src=\"http", "href=\"http", "<link", "src=\"/", "@import"):
        assert outside not in html, outside
    for piece in ("The data and the training job", "How each number is computed", "Privacy", "Pair trends",
                  '"charts":', "vegaEmbed"):
        assert piece in html, piece
