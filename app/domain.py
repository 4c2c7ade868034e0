"""The service's writes that more than one door makes: a training job queued (from an upload or on its own), a job
cancelled. Routes call these; they raise the service's APIError with the answer the user gets."""

from __future__ import annotations

import math

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import queue
from app.core.config import Settings
from app.core.db import LOCK_TIMEOUT, timed_out
from app.core.errors import APIError
from app.models import Dataset, Job, JobStatus
from app.params import JobParams


def check_params(params: JobParams, settings: Settings) -> None:
    """The deployment's own bounds on top of the engine's."""
    if params.epochs > settings.max_epochs:
        raise APIError(422, "invalid_request", f"epochs: at most {settings.max_epochs} (SYNTHD_MAX_EPOCHS)")


def new_job(dataset: Dataset, params: JobParams) -> Job:
    """A queued job on `dataset` (not yet added to a session): the upload's column kinds merged under the job's."""
    kinds = {**(dataset.column_kinds or {}), **(params.column_kinds or {})}
    columns = {c["name"] for c in dataset.schema["columns"]}
    unknown = sorted(set(kinds) - columns)
    if unknown:
        raise APIError(422, "invalid_request", f"column_kinds names unknown column(s) {unknown}; "
                       f"the dataset's columns are {sorted(columns)}")
    usable = {c["name"] for c in dataset.schema["columns"] if kinds.get(c["name"], c["kind"]) not in ("id", "constant")}
    if params.target is not None and params.target not in usable:
        raise APIError(422, "invalid_request", f"target {params.target!r} is not a column this dataset can "
                       f"predict; its columns are {sorted(columns)} (ID and constant columns cannot be targets)")
    wrong = [name for name in params.sensitive or [] if name not in usable]
    if wrong:
        raise APIError(422, "invalid_request", f"sensitive names {wrong}, not column(s) of this dataset an attacker "
                       f"could learn; its columns are {sorted(columns)} (ID columns are replaced by new keys and "
                       "constant columns say nothing about anyone, so neither can be sensitive)")
    stored = params.model_dump()
    stored["column_kinds"] = kinds or None
    return Job(tenant_id=dataset.tenant_id, dataset_id=dataset.id, params=stored, epochs=params.epochs,
               status=JobStatus.QUEUED, epoch=0, attempts=0)


def cancel_job(session: Session, job: Job, settings: Settings) -> None:
    """Cancel a queued or running job. A job already finished is 409 already_finished; a job whose worker holds
    its row in an unfinished write (a frozen worker: RELIABILITY.md, "Database sessions") is 409 job_busy once
    the lock limit runs out, with Retry-After: when Postgres will have ended that write."""
    try:
        cancelled = queue.cancel(session, job.id)
    except OperationalError as exc:
        if not timed_out(exc, LOCK_TIMEOUT):
            raise
        session.rollback()
        wait = max(1, math.ceil(settings.db_idle_in_transaction_seconds))
        raise APIError(409, "job_busy", f"job {job.id}'s worker holds it in an unfinished write; nothing was "
                       f"changed. Postgres ends such a write within {wait}s: retry then",
                       headers={"Retry-After": str(wait)}) from None
    session.refresh(job)
    if not cancelled:
        raise APIError(409, "already_finished", f"job {job.id} already {job.status}; nothing to cancel")
