"""The service's writes that more than one door makes: a training job queued (from an upload or on its own), a job
cancelled, a dataset or a model deleted. Routes call these; they raise the service's APIError with the answer the
user gets."""

from __future__ import annotations

import logging
import math

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import queue
from app.core.config import Settings
from app.core.db import LOCK_TIMEOUT, timed_out
from app.core.errors import APIError
from app.models import ACTIVE_STATES, Dataset, Job, JobStatus, Model
from app.params import JobParams, engine_settings, holdout_rows
from app.storage import BlobStore
from synth.config import Config, check_public_domains
from synth.errors import SynthError

log = logging.getLogger("synthd.api")


def check_params(params: JobParams, settings: Settings) -> None:
    """The deployment's own bounds on top of the engine's."""
    if params.epochs > settings.max_epochs:
        raise APIError(422, "invalid_request", f"epochs: at most {settings.max_epochs} (SYNTHD_MAX_EPOCHS)")


def new_job(dataset: Dataset, params: JobParams, settings: Settings | None = None) -> Job:
    """A queued job on `dataset` (not yet added to a session): the upload's column kinds merged under the job's.
    With params.privacy, a budget that cannot buy one epoch on the rows the worker will train on is a 422."""
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
    if params.privacy is not None:
        try:
            check_public_domains(params.privacy.model_dump(), {c["name"]: kinds.get(c["name"], c["kind"])
                                                               for c in dataset.schema["columns"]})
        except SynthError as exc:
            raise APIError(422, "invalid_request", str(exc)) from None
    stored = params.model_dump()
    stored["column_kinds"] = kinds or None
    if params.privacy is not None:
        fraction = settings.holdout_fraction if settings is not None else 0.0
        rows = dataset.rows - holdout_rows(dataset.rows, fraction)
        from synth.dp import check_budget  # torch and the accountant: only for a private job

        try:
            check_budget(rows, Config(**engine_settings(stored)))
        except SynthError as exc:
            raise APIError(422, "privacy_budget_too_small", str(exc)) from None
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


def _drop_blobs(blobs: BlobStore, keys: list[str]) -> None:
    """Delete blobs after their rows are gone; one that fails is left to the sweep (a blob without a row)."""
    for key in keys:
        try:
            blobs.delete(key)
        except Exception as exc:  # the row is gone: the sweep removes what is left
            log.warning("could not delete blob %s (%s: %s); `synthd sweep` will", key, type(exc).__name__, exc)


def delete_dataset(session: Session, blobs: BlobStore, dataset: Dataset) -> list[str]:
    """Delete a dataset, its finished jobs and their models (rows, then blobs). A dataset with a queued or running
    job is 409 dataset_busy: cancel the job first. Returns the deleted models' ids.

    The dataset's row is locked first, so a job queued on it at the same moment either commits before (and is
    seen here: 409) or waits on the lock and then finds no dataset."""
    locked = session.execute(select(Dataset.id).where(Dataset.id == dataset.id).with_for_update()).first()
    if locked is None:
        session.rollback()
        return []
    active = session.scalar(select(Job.id).where(Job.dataset_id == dataset.id, Job.status.in_(ACTIVE_STATES))
                            .limit(1))
    if active is not None:
        session.rollback()
        raise APIError(409, "dataset_busy", f"dataset {dataset.id} has a job in progress ({active}); cancel it "
                       f"with POST /v1/jobs/{active}/cancel, then delete the dataset")
    models = session.execute(select(Model.id, Model.blob_key).where(Model.dataset_id == dataset.id)).all()
    jobs = session.scalars(select(Job.id).where(Job.dataset_id == dataset.id)).all()
    keys = [dataset.blob_key] + [m.blob_key for m in models] + [f"checkpoints/{job}" for job in jobs]
    session.delete(dataset)  # jobs, their epochs and models go with it (ON DELETE CASCADE)
    session.commit()
    _drop_blobs(blobs, keys)
    return [m.id for m in models]


def delete_model(session: Session, blobs: BlobStore, model: Model) -> None:
    """Delete a model's row, then its artifact. Its job stays, succeeded, without a model."""
    key = model.blob_key
    session.delete(model)
    session.commit()
    _drop_blobs(blobs, [key])
