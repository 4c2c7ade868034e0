"""GET /v1/models[/{id}], GET /v1/models/{id}/sample, /artifact (zip), /report.html, DELETE /v1/models/{id}."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from sqlalchemy import select
from starlette.background import BackgroundTask

from app.api.deps import BlobsDep, CacheDep, CurrentTenant, MetricsDep, SessionDep, SettingsDep, find_owned
from app.api.errors import COMMON_RESPONSES, NOT_FOUND, error_response
from app.api.sampler import SAMPLE_DESCRIPTION, SAMPLE_RESPONSES, SampleFormat, SampleRows, SampleSeed, stream_sample
from app.api.schemas import ModelOut
from app.core.errors import APIError
from app.core.jsonsafe import json_safe
from app.domain import delete_model
from app.models import Dataset, Job, Model
from app.storage import BlobStore

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


@router.delete("/{model_id}", status_code=204, response_class=Response, responses=NOT_FOUND, summary="Delete a model")
def remove_model(model_id: ModelId, tenant: CurrentTenant, session: SessionDep, blobs: BlobsDep,
                 cache: CacheDep) -> Response:
    """Delete the model's row and its stored artifact; its job stays (succeeded, without a model)."""
    model = find_owned(session, Model, tenant.id, model_id, "model")
    delete_model(session, blobs, model)
    cache.drop(model_id)
    return Response(status_code=204)


ARTIFACT_RESPONSES = {200: {"description": "A zip of model.safetensors and model.json",
                            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
                      **NOT_FOUND, 500: error_response("The stored artifact could not be read (model_unavailable)")}


@router.get("/{model_id}/artifact", response_class=FileResponse, responses=ARTIFACT_RESPONSES,
            summary="Download the model")
async def model_artifact(model_id: ModelId, tenant: CurrentTenant, session: SessionDep,
                         blobs: BlobsDep) -> FileResponse:
    """The trained model as a zip: `model.safetensors` (the generator's weights) and `model.json` (the data
    transformer, no pickle). Unzip it and open it offline with `synth.Synthesizer.load(folder)`."""
    model = find_owned(session, Model, tenant.id, model_id, "model")
    key = model.blob_key
    session.close()
    tmp = FilePath(tempfile.mkdtemp(prefix="synthd-artifact-"))
    try:
        path = await run_in_threadpool(_zip_artifact, blobs, key, tmp)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise APIError(500, "model_unavailable", f"model {model_id}'s artifact could not be read "
                       f"({type(exc).__name__}: {exc})") from exc
    return FileResponse(path, media_type="application/zip", filename=f"synthd-model-{model_id[:8]}.zip",
                        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True))


def _zip_artifact(blobs: BlobStore, key: str, tmp: FilePath) -> FilePath:
    folder = tmp / "model"
    blobs.get_dir(key, folder)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if not any(p.name.endswith(".safetensors") for p in files):
        raise FileNotFoundError(f"no weights under {key}")
    out = tmp / "model.zip"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.name)
    return out


@router.get("/{model_id}/report.html", responses={
    200: {"description": "One self-contained HTML file", "content": {"text/html": {"schema": {"type": "string"}}}},
    **NOT_FOUND}, summary="The report to forward")
def model_report_html(model_id: ModelId, tenant: CurrentTenant, session: SessionDep) -> HTMLResponse:
    """The model's quality and privacy report as one self-contained HTML file (charts and their scripts inline,
    no request to any network when opened): the dataset's shape, the job's settings, every chart of the
    dashboard's model page, and how each number is computed."""
    from app.api.ui.report import render_report

    model = find_owned(session, Model, tenant.id, model_id, "model")
    dataset = session.get(Dataset, model.dataset_id)
    job = session.get(Job, model.job_id)
    html = render_report(model_out(model).model_dump(mode="json"), dataset, job)
    return HTMLResponse(html, headers={
        "Content-Disposition": f'inline; filename="synthd-report-{model_id[:8]}.html"',
        "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                   "img-src data:; connect-src 'none'"})
