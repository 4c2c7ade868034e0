"""Request and response bodies (pydantic), documented for OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ColumnKind = Literal["continuous", "integer", "categorical", "boolean", "datetime", "constant", "id"]


class JobParams(BaseModel):
    """Training knobs; every one has a default and bounds. Types are strict: `"5"` or `true` is no epoch count."""

    model_config = ConfigDict(extra="forbid", strict=True)

    epochs: int = Field(300, ge=1, le=100_000, description="Passes over the training rows.")
    batch_size: int = Field(500, ge=10, le=100_000, description="Rows per step; a multiple of `pac`.")
    max_seconds: float | None = Field(None, gt=0, le=7 * 86400,
                                      description="Training time budget; training stops (and the model is "
                                      "kept) when it runs out. None: no budget.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed for the holdout split and training.")
    column_kinds: dict[str, ColumnKind] | None = Field(
        None, description="Override inferred column kinds, e.g. {\"zip\": \"categorical\"}; merged over the "
        "overrides given at upload.")
    embedding_dim: int = Field(128, ge=8, le=1024, description="Size of the generator's noise input.")
    generator_dim: list[int] = Field([256, 256], min_length=1, max_length=6,
                                     description="Widths of the generator's residual layers.")
    discriminator_dim: list[int] = Field([256, 256], min_length=1, max_length=6,
                                         description="Widths of the discriminator's layers.")
    generator_lr: float = Field(2e-4, gt=0, le=0.1, description="Adam learning rate of the generator.")
    discriminator_lr: float = Field(2e-4, gt=0, le=0.1, description="Adam learning rate of the discriminator.")
    generator_decay: float = Field(1e-6, ge=0, le=0.1, description="Weight decay of the generator.")
    discriminator_decay: float = Field(1e-6, ge=0, le=0.1, description="Weight decay of the discriminator.")
    discriminator_steps: int = Field(1, ge=1, le=10, description="Discriminator updates per generator update.")
    pac: int = Field(10, ge=1, le=64, description="Rows the discriminator judges together (PacGAN).")

    @model_validator(mode="after")
    def _check(self) -> JobParams:
        if self.batch_size % self.pac:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of pac ({self.pac})")
        for name in ("generator_dim", "discriminator_dim"):
            if any(not 8 <= width <= 4096 for width in getattr(self, name)):
                raise ValueError(f"{name}: every width must be between 8 and 4096")
        return self


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
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    epoch: int = Field(description="Epochs completed.")
    epochs: int = Field(description="Epochs asked for.")
    progress: float = Field(description="epoch / epochs, 0 to 1.")
    losses: dict | None = Field(None, description="The losses of the last completed epoch.")
    eta_seconds: float | None = Field(None, description="Estimated seconds until training ends.")
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
    privacy_flagged: bool | None = Field(
        None, description="True when the model copies its training rows (report.privacy.reasons says how).")
    created_at: datetime


class ErrorBody(BaseModel):
    code: str = Field(description="A stable, machine-readable reason, e.g. not_found, invalid_request.")
    message: str = Field(description="What went wrong and what to do about it.")
    details: list[dict] | None = Field(None, description="Per-field validation errors, for invalid_request.")


class ErrorOut(BaseModel):
    error: ErrorBody
