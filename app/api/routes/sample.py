"""GET /sample: the short form, defaulting to the tenant's newest model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from app.api.deps import CacheDep, CurrentTenant, MetricsDep, SessionDep, SettingsDep, find_owned
from app.api.errors import COMMON_RESPONSES
from app.api.sampler import SAMPLE_DESCRIPTION, SAMPLE_RESPONSES, SampleFormat, SampleRows, SampleSeed, stream_sample
from app.core.errors import APIError
from app.models import ACTIVE_STATES, Job, Model

router = APIRouter(tags=["sample"], responses=COMMON_RESPONSES)


@router.get("/sample", response_class=StreamingResponse, responses=SAMPLE_RESPONSES,
            summary="Synthetic rows from your newest model", description=SAMPLE_DESCRIPTION)
def sample(
    request: Request,
    tenant: CurrentTenant,
    session: SessionDep,
    settings: SettingsDep,
    cache: CacheDep,
    metrics: MetricsDep,
    n: SampleRows = 1000,
    seed: SampleSeed = None,
    fmt: SampleFormat = "csv",
    model_id: Annotated[str | None, Query(description="Which model; default: your newest.")] = None,
) -> StreamingResponse:
    if model_id:
        model = find_owned(session, Model, tenant.id, model_id, "model")
    else:
        model = session.scalar(
            select(Model).where(Model.tenant_id == tenant.id).order_by(Model.created_at.desc()).limit(1)
        )
        if model is None:
            raise _not_ready(session, tenant.id)
    session.close()
    return stream_sample(request, model, n, seed, fmt, settings, cache, metrics)


def _not_ready(session, tenant_id: str) -> APIError:  # noqa: ANN001
    job = session.scalar(
        select(Job).where(Job.tenant_id == tenant_id, Job.status.in_(ACTIVE_STATES))
        .order_by(Job.created_at.desc()).limit(1)
    )
    if job is not None:
        return APIError(409, "not_ready", f"no trained model yet: job {job.id} is {job.status} "
                        f"(epoch {job.epoch}/{job.epochs}); sample once it has succeeded")
    return APIError(409, "no_model", "no trained model yet: upload a dataset with POST /v1/datasets?train=true")
