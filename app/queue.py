"""The job queue: every statement that claims, renews, finishes or fails a job lives here.

A job is `queued` until a worker claims it. Claiming sets `running`, a `worker_id` and a lease
(`lease_expires_at`), and counts an attempt. The worker renews the lease while it trains; every write it
makes is conditional on still holding the lease (same worker_id, status running), so a worker that lost its
job (lease lapsed and another worker took it, or the job was cancelled) learns so at its next write and stops.
A running job whose lease has lapsed is claimable again and resumes from its checkpoint; once it has used
`max_attempts` claims it fails instead. On Postgres the candidate row is locked with FOR UPDATE SKIP LOCKED;
on SQLite (one writer at a time) the claim is a conditional UPDATE guarded by the attempt count that was read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import ACTIVE_STATES, Job, JobEpoch, JobStatus, Model, utcnow


@dataclass
class Claim:
    job_id: str
    attempt: int


def _expired(now):  # noqa: ANN001, ANN202
    return and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now)


def _claimable(now):  # noqa: ANN001, ANN202
    """Queued (and not waiting out a retry delay), or running on a lease that lapsed."""
    ready = and_(Job.status == JobStatus.QUEUED, or_(Job.retry_at.is_(None), Job.retry_at <= now))
    return or_(ready, _expired(now))


def claim(session: Session, worker_id: str, lease_seconds: float, max_attempts: int) -> Claim | None:
    """Claim the oldest queued job, or a running one whose lease lapsed. Commits; None when there is none."""
    for _ in range(20):
        now = utcnow()
        stmt = (
            select(Job.id, Job.status, Job.attempts)
            .where(_claimable(now))
            .order_by(Job.created_at)
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        row = session.execute(stmt).first()
        if row is None:
            session.commit()
            return None
        if row.status == JobStatus.RUNNING and row.attempts >= max_attempts:
            session.execute(
                update(Job)
                .where(Job.id == row.id, Job.attempts == row.attempts, _expired(now))
                .values(status=JobStatus.FAILED, finished_at=now, updated_at=now, lease_expires_at=None,
                        error=f"gave up after {row.attempts} attempts: each time the worker training it "
                        "stopped renewing its lease (it died, was killed or ran out of memory)"
                        + _last_error_suffix(session, row.id))
            )
            session.commit()
            continue
        result = session.execute(
            update(Job)
            .where(Job.id == row.id, Job.attempts == row.attempts, _claimable(now))
            .values(status=JobStatus.RUNNING, worker_id=worker_id, attempts=Job.attempts + 1, retry_at=None,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    started_at=func.coalesce(Job.started_at, now), updated_at=now)
        )
        session.commit()
        if result.rowcount == 1:
            return Claim(job_id=row.id, attempt=row.attempts + 1)
    return None


def _last_error_suffix(session: Session, job_id: str) -> str:
    error = session.execute(select(Job.error).where(Job.id == job_id)).scalar()
    return f"; last error: {error}" if error else ""


def _held(job_id: str, worker_id: str):  # noqa: ANN202
    return and_(Job.id == job_id, Job.worker_id == worker_id, Job.status == JobStatus.RUNNING)


def renew(session: Session, job_id: str, worker_id: str, lease_seconds: float,
          completed: Sequence[tuple[int, dict]] = (), **progress) -> bool:
    """Extend the lease (and write progress: epoch, losses, eta_seconds...). False: the job is no longer ours.

    `completed`: epochs and their losses, recorded in job_epochs in the same transaction: usually the
    one the progress names, more when earlier writes did not reach the database. A job resumed from a checkpoint
    replaces the epochs it trains again."""
    now = utcnow()
    result = session.execute(
        update(Job).where(_held(job_id, worker_id))
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now, **progress)
    )
    if result.rowcount == 1:
        _record_epochs(session, job_id, completed, now)
    session.commit()
    return result.rowcount == 1


def _record_epochs(session: Session, job_id: str, completed: Sequence[tuple[int, dict]], now: datetime) -> None:
    if not completed:
        return
    first = min(int(epoch) for epoch, _ in completed)
    session.execute(delete(JobEpoch).where(JobEpoch.job_id == job_id, JobEpoch.epoch >= first))
    session.execute(insert(JobEpoch), [{"job_id": job_id, "epoch": int(epoch), "losses": losses,
                                        "recorded_at": now} for epoch, losses in completed])


def history(session: Session, job_id: str, since: int = 0, limit: int = 10_000) -> list[JobEpoch]:
    """A job's recorded epochs after epoch `since`, in order, at most `limit`."""
    return list(session.scalars(
        select(JobEpoch).where(JobEpoch.job_id == job_id, JobEpoch.epoch > since)
        .order_by(JobEpoch.epoch).limit(limit)
    ))


def finish(session: Session, job_id: str, worker_id: str, model: Model,
           completed: Sequence[tuple[int, dict]] = ()) -> bool:
    """Mark the job succeeded at its model's last epoch and record the model, atomically, only while still holding
    the lease. `completed`: epochs that no progress write has recorded yet (the database was away).

    The unique constraint on models.job_id keeps it to one model per job even if two workers race.
    """
    now = utcnow()
    try:
        result = session.execute(
            update(Job).where(_held(job_id, worker_id))
            .values(status=JobStatus.SUCCEEDED, finished_at=now, updated_at=now, lease_expires_at=None,
                    eta_seconds=0.0, error=None, epoch=model.epochs_trained)
        )
        if result.rowcount != 1:
            session.rollback()
            return False
        _record_epochs(session, job_id, completed, now)
        session.add(model)
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False


def fail(session: Session, job_id: str, worker_id: str, error: str, *, retry: bool, max_attempts: int,
         backoff_seconds: float = 0.0) -> str | None:
    """Record an error. With `retry` and attempts left, the job goes back to the queue (keeping its
    checkpoint) and waits backoff_seconds * 2**(attempts - 1) (at most 10 minutes) before it can be claimed
    again, so that a passing fault (a store or network blip) does not use every attempt in a moment; otherwise
    it fails. Returns the new status, or None if the job was no longer ours."""
    now = utcnow()
    job = session.execute(select(Job.attempts).where(_held(job_id, worker_id))).first()
    if job is None:
        session.rollback()
        return None
    status = JobStatus.QUEUED if retry and job.attempts < max_attempts else JobStatus.FAILED
    values = {"status": status, "error": error[:4000], "updated_at": now, "lease_expires_at": None}
    if status == JobStatus.FAILED:
        values["finished_at"] = now
    else:
        values["worker_id"] = None
        delay = min(600.0, backoff_seconds * 2 ** max(0, job.attempts - 1))
        values["retry_at"] = now + timedelta(seconds=delay) if delay > 0 else None
    result = session.execute(update(Job).where(_held(job_id, worker_id)).values(**values))
    session.commit()
    return status if result.rowcount == 1 else None


def cancel(session: Session, job_id: str) -> bool:
    """Cancel a queued or running job at once; its worker notices at its next lease renewal and stops."""
    now = utcnow()
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.status.in_(ACTIVE_STATES))
        .values(status=JobStatus.CANCELLED, finished_at=now, updated_at=now, lease_expires_at=None, eta_seconds=None)
    )
    session.commit()
    return result.rowcount == 1


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {status: count for status, count in rows}


def release(session: Session, job_id: str, worker_id: str) -> bool:
    """Give a running job back to the queue (a worker shutting down); the attempt does not count."""
    now = utcnow()
    result = session.execute(
        update(Job).where(_held(job_id, worker_id))
        .values(status=JobStatus.QUEUED, worker_id=None, lease_expires_at=None, updated_at=now, eta_seconds=None,
                attempts=Job.attempts - 1)
    )
    session.commit()
    return result.rowcount == 1
