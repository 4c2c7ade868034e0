"""GET /v1/models[/{id}], GET /v1/models/{id}/sample."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from app.api.deps import CacheDep, CurrentTenant, MetricsDep, SessionDep, SettingsDep, find_owned
from app.api.errors import COMMON_RESPONSES, NOT_FOUND
from app.api.sampler import SAMPLE_DESCRIPTION, SAMPLE_RESPONSES, SampleFormat, SampleRows, SampleSeed, stream_sample
from app.api.schemas import ModelOut
from app.core.jsonsafe import json_safe
from app.models import Model

ModelId = Annotated[str, Path(description="A model id (a succeeded job's model_id).")]
router = APIRouter(prefix="/v1/models", tags=["models"], responses=COMMON_RESPONSES)


def model_out(model: Model) -> ModelOut:
    columns = model.schema["columns"]
    return ModelOut(
        id=model.id, job_id=model.job_id, dataset_id=model.dataset_id, columns=columns,
        column_kinds={c["name"]: c["kind"] for c in columns}, params=model.params, train_rows=model.train_rows,
        holdout_rows=model.holdout_rows, epochs_trained=model.epochs_trained, train_seconds=model.train_seconds,
        report=json_safe(model.report), privacy_flagged=_flagged(model.report), created_at=model.created_at,
        differential_privacy=json_safe((model.report or {}).get("differential_privacy")),
    )


def _flagged(report: dict | None) -> bool | None:
    privacy = (report or {}).get("privacy")
    return privacy.get("flagged") if isinstance(privacy, dict) else None


@router.get("", response_model=list[ModelOut], summary="List models")
def list_models(
    tenant: CurrentTenant, session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most models returned, newest first.")] = 100,
) -> list[ModelOut]:
    rows = session.scalars(
        select(Model).where(Model.tenant_id == tenant.id).order_by(Model.created_at.desc()).limit(limit)
    )
    return [model_out(m) for m in rows]


@router.get("/{model_id}", response_model=ModelOut, responses=NOT_FOUND, summary="A model and its report")
def get_model(model_id: ModelId, tenant: CurrentTenant, session: SessionDep) -> ModelOut:
    """Model metadata, the schema it was trained on, and its quality and privacy report on the holdout."""
    return model_out(find_owned(session, Model, tenant.id, model_id, "model"))


@router.get("/{model_id}/sample", response_class=StreamingResponse, responses=SAMPLE_RESPONSES,
            summary="Synthetic rows from a model", description=SAMPLE_DESCRIPTION)
def sample_model(
    model_id: ModelId,
    request: Request,
    tenant: CurrentTenant,
    session: SessionDep,
    settings: SettingsDep,
    cache: CacheDep,
    metrics: MetricsDep,
    n: SampleRows = 1000,
    seed: SampleSeed = None,
    fmt: SampleFormat = "csv",
) -> StreamingResponse:
    model = find_owned(session, Model, tenant.id, model_id, "model")
    session.close()
    return stream_sample(request, model, n, seed, fmt, settings, cache, metrics)
