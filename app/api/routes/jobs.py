"""POST /v1/jobs, GET /v1/jobs[/{id}], GET /v1/jobs/{id}/history, POST /v1/jobs/{id}/cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import domain, queue
from app.api.deps import CurrentTenant, SessionDep, SettingsDep, find_owned
from app.api.errors import COMMON_RESPONSES, NOT_FOUND, TOO_LARGE, error_response
from app.api.schemas import EpochOut, JobCreate, JobOut
from app.models import ACTIVE_STATES, Dataset, Job, JobStatus, Model

JobId = Annotated[str, Path(description="A job id (from POST /v1/jobs or an upload with train=true).")]
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=COMMON_RESPONSES)


def job_out(job: Job, model_id: str | None) -> JobOut:
    return JobOut(
        id=job.id, dataset_id=job.dataset_id, status=job.status, epoch=job.epoch, epochs=job.epochs,
        progress=round(min(1.0, job.epoch / job.epochs), 4) if job.epochs else 0.0, losses=job.losses,
        epsilon_spent=job.epsilon_spent, eta_seconds=job.eta_seconds if job.status in ACTIVE_STATES else None,
        error=job.error,
        attempts=job.attempts, resumed_from_epoch=job.resumed_from_epoch,
        retry_at=job.retry_at if job.status == JobStatus.QUEUED else None, device=job.device, model_id=model_id,
        params=job.params, created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
        updated_at=job.updated_at,
    )


def _model_id(session: Session, job_id: str) -> str | None:
    return session.scalar(select(Model.id).where(Model.job_id == job_id))


@router.post("", status_code=202, response_model=JobOut, responses={**NOT_FOUND, **TOO_LARGE},
             summary="Queue training")
def create_job(body: JobCreate, tenant: CurrentTenant, session: SessionDep, settings: SettingsDep) -> JobOut:
    """Queue a training job on one of your datasets; a worker picks it up. Poll GET /v1/jobs/{id}."""
    domain.check_params(body.params, settings)
    dataset = find_owned(session, Dataset, tenant.id, body.dataset_id, "dataset")
    job = domain.new_job(dataset, body.params, settings)
    session.add(job)
    session.commit()
    return job_out(job, None)


@router.get("", response_model=list[JobOut], summary="List jobs")
def list_jobs(
    tenant: CurrentTenant, session: SessionDep,
    status: Annotated[JobStatus | None,
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


@router.get("/{job_id}/history", response_model=list[EpochOut], responses=NOT_FOUND, summary="Every epoch's losses")
def job_history(
    job_id: JobId, tenant: CurrentTenant, session: SessionDep,
    since: Annotated[int, Query(ge=0, le=2**31 - 1,
                                description="Only epochs after this one (poll with the last epoch seen).")] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000, description="Most epochs returned, in order.")] = 10_000,
) -> list[EpochOut]:
    """The losses of every completed epoch (generator, critic, conditional, and any other the engine reports),
    in epoch order: the loss curves. While a job runs, poll with `since` set to the last epoch you have."""
    job = find_owned(session, Job, tenant.id, job_id, "job")
    return [EpochOut(epoch=row.epoch, losses=row.losses, recorded_at=row.recorded_at)
            for row in queue.history(session, job.id, since, limit)]


@router.post("/{job_id}/cancel", response_model=JobOut,
             responses={**NOT_FOUND, 409: error_response("The job already finished (already_finished), or its "
                                                         "worker is writing to it right now (job_busy: retry after "
                                                         "Retry-After seconds)")}, summary="Cancel")
def cancel_job(job_id: JobId, tenant: CurrentTenant, session: SessionDep, settings: SettingsDep) -> JobOut:
    """Cancel a queued job, or stop a running one (its worker stops within an epoch and keeps no model)."""
    job = find_owned(session, Job, tenant.id, job_id, "job")
    domain.cancel_job(session, job, settings)
    return job_out(job, None)
