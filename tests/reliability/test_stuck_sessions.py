"""A worker frozen inside a transaction, made deterministic: SYNTHD_FAULT_FREEZE_AT=checkpoint_write stops the worker
(SIGSTOP) right after the UPDATE that records its checkpoint and before its COMMIT, so its session sits `idle in
transaction` holding the job's row lock, as a paused VM, a swap storm or a half-open connection can leave it. Postgres
ends that session after SYNTHD_DB_IDLE_IN_TRANSACTION_SECONDS; until then the API's writes to the row wait at most
SYNTHD_DB_LOCK_TIMEOUT_SECONDS. Also: every role's sessions carry the limits and keepalives RELIABILITY.md names."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.core.config import Settings
from app.models import Job, Model
from tests.conftest import TINY, finished_job, job_row, small_csv, wait_for

LEASE = 2.0
DEFAULTS = Settings()  # the limits under test are the shipped defaults


def _stopped(pid: int) -> bool:
    """Whether the process is stopped (SIGSTOP): state T in /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "T"


def _session_state(service, worker: str) -> str | None:  # noqa: ANN001
    with service.engine.connect() as conn:
        return conn.execute(text("SELECT state FROM pg_stat_activity WHERE application_name = :name "
                                 "AND state LIKE 'idle in transaction%'"),
                            {"name": f"synthd-worker:{worker}"}).scalar()


def _frozen_in_a_checkpoint(own_service, name: str, rescuer: bool = False):  # noqa: ANN001, ANN202
    """A service, a running 40-epoch job, and its worker frozen inside the transaction that records its third
    checkpoint (epoch 3: checkpoints are written every epoch here), the second being the last one kept. With
    `rescuer`, a second worker already polling the queue by then (its start-up is no part of the bound under
    test), and the moment from which the bound runs: the later of the freeze and the rescuer's first poll."""
    service = own_service(name, SYNTHD_LEASE_SECONDS=str(LEASE), SYNTHD_CHECKPOINT_EVERY="1")
    service.start_api()
    client = service.client("stuck")
    data = client.post("/v1/datasets", files={"file": ("a.csv", small_csv(300), "text/csv")}).json()
    job = client.post("/v1/jobs", json={"dataset_id": data["id"], "params": {**TINY, "epochs": 40}}).json()
    sleeper = service.workers.start("sleeper", SYNTHD_FAULT_FREEZE_AT="checkpoint_write:3")
    polling_at = 0.0
    if rescuer:
        wait_for(lambda: job_row(service.db, job["id"]).worker_id == "sleeper", 120, "the sleeper to claim the job",
                 interval=0.02)
        second = service.workers.start("rescuer")
        wait_for(lambda: "waiting for jobs" in Path(second.log_path).read_text(), 120, "the rescuer to poll")
        polling_at = time.monotonic()
    wait_for(lambda: _stopped(sleeper.pid), 120, "the worker to freeze inside its checkpoint's transaction",
             interval=0.02)
    frozen_at = max(time.monotonic(), polling_at)
    assert _session_state(service, "sleeper") == "idle in transaction"
    return service, client, job, sleeper, frozen_at


def test_a_job_whose_worker_froze_inside_a_transaction_is_resumed_within_lease_plus_the_idle_limit(own_service):  # noqa: ANN001
    service, client, job, sleeper, frozen_at = _frozen_in_a_checkpoint(own_service, "stuck_takeover", rescuer=True)
    rescuer = service.workers.procs[-1]
    try:
        wait_for(lambda: job_row(service.db, job["id"]).worker_id == "rescuer", 60, "the rescuer to claim the job",
                 interval=0.05)
        waited = time.monotonic() - frozen_at
        # Postgres ends the frozen session (freeing the row) after the idle limit; the lease lapsed before that;
        # the rescuer looks every 0.2 s (SYNTHD_POLL_SECONDS in the tests' environment).
        bound = max(LEASE, DEFAULTS.db_idle_in_transaction_seconds) + 3
        assert waited <= bound, f"the job waited {waited:.1f}s for another worker (bound {bound:.0f}s)"
        assert _session_state(service, "sleeper") is None
        done = finished_job(client, job["id"], 180, "the rescuer to finish the job")
    finally:
        sleeper.send_signal(signal.SIGCONT)
    assert done["status"] == "succeeded" and done["attempts"] == 2 and done["resumed_from_epoch"] == 2, done
    log = Path(sleeper.log_path)
    wait_for(lambda: "lost its lease" in log.read_text(), 60, "the woken worker to learn it lost the job")
    with service.db() as session:
        assert session.scalar(select(func.count()).select_from(Model).where(Model.job_id == job["id"])) == 1
        assert session.scalar(select(func.count()).select_from(Job).where(Job.status == "running")) == 0
    assert len(list((service.state / "blobs" / "models").iterdir())) == 1
    assert rescuer.poll() is None and sleeper.poll() is None  # both workers live on
    client.close()


def test_cancel_answers_within_the_lock_limit_while_a_frozen_worker_holds_the_job(own_service):  # noqa: ANN001
    service, client, job, sleeper, _ = _frozen_in_a_checkpoint(own_service, "stuck_cancel")
    try:
        started = time.monotonic()
        resp = client.post(f"/v1/jobs/{job['id']}/cancel")
        took = time.monotonic() - started
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"]["code"] == "job_busy"
        assert int(resp.headers["Retry-After"]) >= DEFAULTS.db_idle_in_transaction_seconds
        assert took < DEFAULTS.db_lock_timeout_seconds + 3, f"cancel took {took:.1f}s"
        assert job_row(service.db, job["id"]).status == "running"  # refused: nothing changed
        # Once Postgres has ended the frozen session, the same request goes through.
        wait_for(lambda: client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200,
                 DEFAULTS.db_idle_in_transaction_seconds + 10, "cancel to go through")
    finally:
        sleeper.send_signal(signal.SIGCONT)
    assert job_row(service.db, job["id"]).status == "cancelled"
    log = Path(sleeper.log_path)
    wait_for(lambda: f"job {job['id']} cancelled" in log.read_text(), 60, "the woken worker to stop")
    with service.db() as session:
        assert session.scalar(select(func.count()).select_from(Model)) == 0
    checkpoints = service.state / "blobs" / "checkpoints"
    wait_for(lambda: not checkpoints.exists() or not any(checkpoints.rglob("*.json")), 30, "checkpoints dropped")
    client.close()


@pytest.mark.parametrize("role, expected", [
    ("api", {"lock_timeout": "3s", "statement_timeout": "30s", "idle_in_transaction_session_timeout": "0"}),
    ("worker", {"lock_timeout": "5s", "statement_timeout": "30s", "idle_in_transaction_session_timeout": "10s"}),
    ("admin", {"lock_timeout": "0", "statement_timeout": "0", "idle_in_transaction_session_timeout": "0"}),
])
def test_every_role_s_sessions_carry_their_limits_and_keepalives(database_url, role, expected):  # noqa: ANN001
    from app.core.db import make_engine

    engine = make_engine(Settings(database_url=database_url), role, "probe")
    try:
        with engine.connect() as conn:
            shown = {name: conn.execute(text(f"SHOW {name}")).scalar()
                     for name in (*expected, "tcp_keepalives_idle", "tcp_keepalives_interval",
                                  "tcp_keepalives_count", "tcp_user_timeout", "application_name")}
    finally:
        engine.dispose()
    assert shown == {**expected, "tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
                     "tcp_keepalives_count": "3", "tcp_user_timeout": "25000",  # milliseconds
                     "application_name": f"synthd-{role}:probe"}
