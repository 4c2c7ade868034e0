"""POST /v1/jobs, GET /v1/jobs[/{id}], POST /v1/jobs/{id}/cancel."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import queue
from app.api.deps import CurrentTenant, SessionDep, SettingsDep, find_owned
from app.core.db import LOCK_TIMEOUT, timed_out
from app.core.errors import COMMON_RESPONSES, NOT_FOUND, TOO_LARGE, APIError, error_response
from app.models import Dataset, Job, Model
from app.schemas import JobCreate, JobOut, JobParams

JobId = Annotated[str, Path(description="A job id (from POST /v1/jobs or an upload with train=true).")]
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=COMMON_RESPONSES)


def new_job(dataset: Dataset, params: JobParams) -> Job:
    kinds = {**(dataset.column_kinds or {}), **(params.column_kinds or {})}
    columns = {c["name"] for c in dataset.schema["columns"]}
    unknown = sorted(set(kinds) - columns)
    if unknown:
        raise APIError(422, "invalid_request", f"column_kinds names unknown column(s) {unknown}; "
                       f"the dataset's columns are {sorted(columns)}")
    stored = params.model_dump()
    stored["column_kinds"] = kinds or None
    return Job(tenant_id=dataset.tenant_id, dataset_id=dataset.id, params=stored, epochs=params.epochs,
               status="queued", epoch=0, attempts=0)


def job_out(job: Job, model_id: str | None) -> JobOut:
    return JobOut(
        id=job.id, dataset_id=job.dataset_id, status=job.status, epoch=job.epoch, epochs=job.epochs,
        progress=round(min(1.0, job.epoch / job.epochs), 4) if job.epochs else 0.0, losses=job.losses,
        eta_seconds=job.eta_seconds if job.status in ("queued", "running") else None, error=job.error,
        attempts=job.attempts, resumed_from_epoch=job.resumed_from_epoch,
        retry_at=job.retry_at if job.status == "queued" else None, device=job.device, model_id=model_id,
        params=job.params, created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
        updated_at=job.updated_at,
    )


def _model_id(session: Session, job_id: str) -> str | None:
    return session.scalar(select(Model.id).where(Model.job_id == job_id))


def check_params(params: JobParams, settings) -> None:  # noqa: ANN001
    if params.epochs > settings.max_epochs:
        raise APIError(422, "invalid_request", f"epochs: at most {settings.max_epochs} (SYNTHD_MAX_EPOCHS)")


@router.post("", status_code=202, response_model=JobOut, responses={**NOT_FOUND, **TOO_LARGE},
             summary="Queue training")
def create_job(body: JobCreate, tenant: CurrentTenant, session: SessionDep, settings: SettingsDep) -> JobOut:
    """Queue a training job on one of your datasets; a worker picks it up. Poll GET /v1/jobs/{id}."""
    check_params(body.params, settings)
    dataset = find_owned(session, Dataset, tenant.id, body.dataset_id, "dataset")
    job = new_job(dataset, body.params)
    session.add(job)
    session.commit()
    return job_out(job, None)


@router.get("", response_model=list[JobOut], summary="List jobs")
def list_jobs(
    tenant: CurrentTenant, session: SessionDep,
    status: Annotated[Literal["queued", "running", "succeeded", "failed", "cancelled"] | None,
                      Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most jobs returned, newest first.")] = 100,
) -> list[JobOut]:
    stmt = select(Job, Model.id).outerjoin(Model, Model.job_id == Job.id).where(Job.tenant_id == tenant.id)
    if status:
        stmt = stmt.where(Job.status == status)
    rows = session.execute(stmt.order_by(Job.created_at.desc()).limit(limit)).all()
    return [job_out(job, model_id) for job, model_id in rows]


@router.get("/{job_id}", response_model=JobOut, responses=NOT_FOUND, summary="A job's progress")
def get_job(job_id: JobId, tenant: CurrentTenant, session: SessionDep) -> JobOut:
    """Status, epoch of epochs, the last epoch's losses, an ETA, the error if it failed, the model once done."""
    job = find_owned(session, Job, tenant.id, job_id, "job")
    return job_out(job, _model_id(session, job.id))


@router.post("/{job_id}/cancel", response_model=JobOut,
             responses={**NOT_FOUND, 409: error_response("The job already finished (already_finished), or its "
                                                         "worker is writing to it right now (job_busy: retry after "
                                                         "Retry-After seconds)")}, summary="Cancel")
def cancel_job(job_id: JobId, tenant: CurrentTenant, session: SessionDep, settings: SettingsDep) -> JobOut:
    """Cancel a queued job, or stop a running one (its worker stops within an epoch and keeps no model)."""
    job = find_owned(session, Job, tenant.id, job_id, "job")
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
    if not cancelled:
        session.refresh(job)
        raise APIError(409, "already_finished", f"job {job.id} already {job.status}; nothing to cancel")
    session.refresh(job)
    return job_out(job, None)
