"""The queue's guarantees, checked statement by statement on Postgres (no training involved)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select, update

from app import queue
from app.models import Job, Model, utcnow
from tests.conftest import TINY, clear_queue, small_csv


def _queued_job(client_for) -> str:  # noqa: ANN001
    client = client_for("queue-tests")
    dataset = client.post("/v1/datasets", files={"file": ("a.csv", small_csv(60), "text/csv")}).json()
    return client.post("/v1/jobs", json={"dataset_id": dataset["id"], "params": TINY}).json()["id"]


def _model_for(db, job_id: str) -> Model:  # noqa: ANN001
    with db() as session:
        job = session.get(Job, job_id)
    return Model(tenant_id=job.tenant_id, job_id=job.id, dataset_id=job.dataset_id, blob_key="models/x",
                 schema={"columns": []}, params={}, train_rows=1, holdout_rows=0, epochs_trained=1,
                 train_seconds=1.0)


def test_a_lapsed_lease_moves_the_job_and_only_the_holder_can_finish(client_for, db):  # noqa: ANN001
    clear_queue(db)
    job_id = _queued_job(client_for)
    with db() as s:
        assert queue.claim(s, "w1", 60, 3).job_id == job_id
    with db() as s:
        assert queue.claim(s, "w2", 60, 3) is None  # leased: nobody else gets it
        s.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    with db() as s:
        claim = queue.claim(s, "w2", 60, 3)
        assert claim.job_id == job_id and claim.attempt == 2
    with db() as s:
        assert not queue.renew(s, job_id, "w1", 60, epoch=1)  # w1 learns it lost the job
        assert not queue.finish(s, job_id, "w1", _model_for(db, job_id))
    with db() as s:
        assert queue.finish(s, job_id, "w2", _model_for(db, job_id))
    with db() as s:
        assert not queue.finish(s, job_id, "w2", _model_for(db, job_id))  # already succeeded
        assert s.scalar(select(func.count()).select_from(Model).where(Model.job_id == job_id)) == 1
        assert s.get(Job, job_id).status == "succeeded"


def test_concurrent_claims_hand_each_job_to_one_worker(client_for, db):  # noqa: ANN001
    clear_queue(db)
    job_ids = {_queued_job(client_for) for _ in range(6)}
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            with db() as s:
                claim = queue.claim(s, name, 60, 3)
            if claim is None:
                return
            with lock:
                claimed.append((name, claim.job_id))

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(j for _, j in claimed) == sorted(job_ids)  # every job once, none twice
    clear_queue(db)


def test_the_unique_job_id_stops_a_second_model_even_past_the_lease_check(client_for, db):  # noqa: ANN001
    clear_queue(db)
    job_id = _queued_job(client_for)
    with db() as s:
        queue.claim(s, "w1", 60, 3)
    with db() as s:
        s.add(_model_for(db, job_id))
        s.commit()
    with db() as s:
        assert not queue.finish(s, job_id, "w1", _model_for(db, job_id))
        assert s.get(Job, job_id).status == "running"  # the failed finish rolled back whole
