"""POST /v1/datasets (upload, optionally train at once), GET /v1/datasets[/{id}], DELETE /v1/datasets/{id}."""

from __future__ import annotations

import shutil
import tempfile
import unicodedata
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy import select

from app.api.deps import BlobsDep, CacheDep, CurrentTenant, SessionDep, find_owned
from app.api.errors import COMMON_RESPONSES, NOT_FOUND, error_response
from app.api.ingest import parse_csv, receive_upload
from app.api.schemas import DatasetOut
from app.core.errors import APIError
from app.domain import check_params, delete_dataset, new_job
from app.models import Dataset, Job, new_id
from app.params import JobParams
from app.storage import BlobStore

DatasetId = Annotated[str, PathParam(description="A dataset id (from POST /v1/datasets).")]
router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=COMMON_RESPONSES)

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary",
                                            "description": "The CSV (any delimiter of , ; tab |; UTF-8 or Latin-1)."}},
                }
            },
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def dataset_out(dataset: Dataset, job_id: str | None = None) -> DatasetOut:
    columns = dataset.schema["columns"]
    return DatasetOut(
        id=dataset.id, name=dataset.name, rows=dataset.rows, n_columns=dataset.n_columns,
        size_bytes=dataset.size_bytes, encoding=dataset.encoding, delimiter=dataset.delimiter,
        column_kinds={c["name"]: c["kind"] for c in columns}, columns=columns, created_at=dataset.created_at,
        job_id=job_id,
    )


def clean_name(text: str | None) -> str:
    """A display name: control characters (NUL included, which Postgres cannot store) dropped, at most 300."""
    if not text:
        return ""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cc").strip()[:300]


def parse_kinds(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    kinds = {}
    for item in text.split(","):
        name, sep, kind = item.rpartition(":")
        if not sep or not name.strip() or not kind.strip():
            raise APIError(422, "invalid_request", f"kinds: {item!r} is not COLUMN:KIND (e.g. kinds=zip:categorical)")
        kinds[name.strip()] = kind.strip()
    return kinds


@router.post(
    "", status_code=201, response_model=DatasetOut, openapi_extra=UPLOAD_BODY,
    responses={400: error_response("A broken multipart body (bad_multipart)"),
               413: error_response("The upload is over SYNTHD_MAX_UPLOAD_BYTES"),
               415: error_response("The body is neither multipart/form-data nor a raw CSV (text/csv)")},
    summary="Upload a CSV",
)
async def upload_dataset(
    request: Request,
    tenant: CurrentTenant,
    train: Annotated[bool, Query(description="Queue a training job at once (its id is in `job_id`).")] = False,
    name: Annotated[str | None, Query(max_length=300, description="A name; default: the file's name.")] = None,
    kinds: Annotated[str | None, Query(
        max_length=10_000, description="Override inferred column kinds: `col:kind,col:kind`, kinds being "
        "continuous, integer, categorical, boolean, datetime, constant or id.")] = None,
    epochs: Annotated[int | None, Query(ge=1, le=100_000, description="With train=true: epochs.")] = None,
    batch_size: Annotated[int | None, Query(ge=10, le=100_000,
                                            description="With train=true: rows per step.")] = None,
    max_seconds: Annotated[float | None, Query(gt=0, le=7 * 86400,
                                               description="With train=true: training time budget.")] = None,
    seed: Annotated[int | None, Query(ge=0, le=2**32 - 1, description="With train=true: seed.")] = None,
    target: Annotated[str | None, Query(min_length=1, max_length=300, description="With train=true: a column to "
                                        "predict, for the report's ML utility (TSTR).")] = None,
) -> DatasetOut:
    """Stream a CSV to the server, parse it once (delimiter and encoding detected), infer each column's kind and
    store it as Parquet. Send it as the multipart field `file` (`curl -F file=@data.csv`) or as a raw
    `text/csv` body. Nothing is stored when the upload is refused."""
    settings = request.app.state.settings
    overrides = parse_kinds(kinds)
    job_params = None
    if train:
        given = {"epochs": epochs, "batch_size": batch_size, "max_seconds": max_seconds, "seed": seed,
                 "target": target}
        try:
            job_params = JobParams(**{k: v for k, v in given.items() if v is not None})
        except ValidationError as exc:
            raise APIError(422, "invalid_request", "; ".join(e["msg"] for e in exc.errors())) from None
        check_params(job_params, settings)
    tmp_root = Path(settings.data_dir) / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="upload-", dir=tmp_root))
    try:
        upload = await receive_upload(request, tmp / "upload.csv", settings.max_upload_bytes)
        return await run_in_threadpool(
            _store, request.app.state, tenant.id, tmp, clean_name(name) or clean_name(upload.filename) or "upload.csv",
            upload.size, overrides, job_params,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _store(state, tenant_id: str, tmp: Path, name: str, size: int, overrides: dict,  # noqa: ANN001
           job_params: JobParams | None) -> DatasetOut:
    from synth import infer_schema

    settings = state.settings
    parsed = parse_csv(tmp / "upload.csv", max_columns=settings.max_columns, min_rows=settings.min_rows)
    schema = infer_schema(parsed.frame, overrides=overrides)
    parquet = tmp / "data.parquet"
    parsed.frame.to_parquet(parquet, index=False)
    blobs: BlobStore = state.blobs
    dataset_id = new_id()
    key = f"datasets/{dataset_id}.parquet"
    blobs.put_file(parquet, key)
    try:
        with state.sessions() as session:
            dataset = Dataset(
                id=dataset_id, tenant_id=tenant_id, name=name[:300], blob_key=key, rows=len(parsed.frame),
                n_columns=parsed.frame.shape[1], size_bytes=size, encoding=parsed.encoding,
                delimiter=parsed.delimiter, column_kinds=overrides, schema=schema.to_dict(),
            )
            session.add(dataset)
            job = new_job(dataset, job_params, settings) if job_params is not None else None
            if job is not None:
                session.add(job)
            session.commit()
            return dataset_out(dataset, job.id if job else None)
    except BaseException:
        blobs.delete(key)
        raise


@router.get("", response_model=list[DatasetOut], summary="List datasets")
def list_datasets(
    tenant: CurrentTenant, session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most datasets returned, newest first.")] = 100,
) -> list[DatasetOut]:
    rows = session.scalars(
        select(Dataset).where(Dataset.tenant_id == tenant.id).order_by(Dataset.created_at.desc()).limit(limit)
    )
    return [dataset_out(d) for d in rows]


@router.get("/{dataset_id}", response_model=DatasetOut, responses=NOT_FOUND, summary="A dataset")
def get_dataset(dataset_id: DatasetId, tenant: CurrentTenant, session: SessionDep) -> DatasetOut:
    """Metadata and the inferred schema of one dataset."""
    dataset = find_owned(session, Dataset, tenant.id, dataset_id, "dataset")
    latest = session.scalar(
        select(Job.id).where(Job.dataset_id == dataset.id).order_by(Job.created_at.desc()).limit(1)
    )
    return dataset_out(dataset, latest)


@router.delete("/{dataset_id}", status_code=204, response_class=Response, summary="Delete a dataset",
               responses={**NOT_FOUND, 409: error_response("A job on this dataset is queued or running "
                                                          "(dataset_busy): cancel it first")})
def remove_dataset(dataset_id: DatasetId, tenant: CurrentTenant, session: SessionDep, blobs: BlobsDep,
                   cache: CacheDep) -> Response:
    """Delete the dataset's row and its stored table, with its finished jobs and their models (rows and
    artifacts). A dataset with a queued or running job is refused with 409: cancel the job first."""
    dataset = find_owned(session, Dataset, tenant.id, dataset_id, "dataset")
    for model_id in delete_dataset(session, blobs, dataset):
        cache.drop(model_id)
    return Response(status_code=204)
