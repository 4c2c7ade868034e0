"""Request and response bodies (pydantic), documented for OpenAPI."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.models import JobStatus
from app.params import JobParams


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    dataset_id: str = Field(description="The dataset to train on (from POST /v1/datasets).")
    params: JobParams = Field(default_factory=JobParams)


class Column(BaseModel):
    name: str
    kind: str
    dtype: str
    null_rate: float


class DatasetOut(BaseModel):
    id: str
    name: str
    rows: int
    n_columns: int
    size_bytes: int
    encoding: str
    delimiter: str
    column_kinds: dict[str, str] = Field(description="Each column's kind (inferred, or as overridden).")
    columns: list[Column]
    created_at: datetime
    job_id: str | None = Field(None, description="The training job queued with the upload (train=true).")


class JobOut(BaseModel):
    id: str
    dataset_id: str
    status: JobStatus
    epoch: int = Field(description="Epochs completed.")
    epochs: int = Field(description="Epochs the training runs: as asked, or, for the default (0), what the "
                        "table's size decides once a worker starts (0 until then).")
    progress: float = Field(description="epoch / epochs, 0 to 1.")
    losses: dict | None = Field(None, description="The losses of the last completed epoch.")
    eta_seconds: float | None = Field(None, description="Estimated seconds until training ends.")
    epsilon_spent: float | None = Field(
        None, description="With params.privacy: the epsilon that training has spent so far (it stops before "
        "passing params.privacy.epsilon); null without differential privacy.")
    error: str | None = None
    attempts: int = Field(description="Times a worker claimed the job (more than 1 after a worker died).")
    resumed_from_epoch: int | None = Field(None, description="The checkpoint epoch the last attempt resumed from.")
    retry_at: datetime | None = Field(None, description="Queued again after an error: not claimed before this.")
    device: str | None = Field(None, description="Where the last attempt trained (cpu, cuda).")
    model_id: str | None = Field(None, description="The trained model, once the job succeeded.")
    params: dict
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime


class EpochOut(BaseModel):
    epoch: int = Field(description="The epoch (1-based).")
    losses: dict = Field(description="Its losses: generator, discriminator (the critic), conditional, ...")
    recorded_at: datetime = Field(description="When the worker reported it.")


class ModelOut(BaseModel):
    id: str
    job_id: str
    dataset_id: str
    columns: list[Column]
    column_kinds: dict[str, str]
    params: dict
    train_rows: int
    holdout_rows: int
    epochs_trained: int
    train_seconds: float
    report: dict | None = Field(None, description="The engine's quality and privacy report on the holdout.")
    differential_privacy: dict | None = Field(
        None, description="With params.privacy: the (epsilon, delta) the model was trained under, spent in full "
        "(epsilon, delta, target_epsilon, critic_steps, noise_multiplier, max_grad_norm, accountant); null "
        "without.")
    privacy_flagged: bool | None = Field(
        None, description="True when the model copies its training rows (report.privacy.reasons says how).")
    created_at: datetime


class ErrorBody(BaseModel):
    code: str = Field(description="A stable, machine-readable reason, e.g. not_found, invalid_request.")
    message: str = Field(description="What went wrong and what to do about it.")
    details: list[dict] | None = Field(None, description="Per-field validation errors, for invalid_request.")


class ErrorOut(BaseModel):
    error: ErrorBody
