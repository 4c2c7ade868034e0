"""The shared body of the two sample routes: check n and the conditions, load the model, stream the rows."""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from app.api.errors import error_response
from app.api.metrics import Metrics
from app.api.model_cache import ModelCache
from app.api.streaming import FORMATS, encode, parse_conditions
from app.core.config import Settings
from app.core.errors import APIError
from app.models import Model

# The query parameters both sample routes take, declared once.
SampleRows = Annotated[int, Query(ge=1, description="Rows to generate (at most SYNTHD_MAX_SAMPLE_ROWS).")]
SampleSeed = Annotated[int | None, Query(ge=0, le=2**32 - 1, description="Same seed, same rows.")]
SampleFormat = Annotated[Literal["csv", "jsonl", "parquet"],
                         Query(alias="format", description="csv, jsonl or parquet.")]

SAMPLE_DESCRIPTION = """Generate `n` synthetic rows, streamed in chunks (CSV with a header, JSON lines, or Parquet).

**Conditions**: every other query parameter names a column and fixes it in every row:

* `sex=Female`: a categorical or boolean column takes exactly this value;
* `age=30..40`: a numeric (or datetime) column lies in [30, 40]; `age=30..` and `age=..40` are open ranges;
* `age=37`: a numeric column equals 37.

Several conditions combine (`sex=Female&age=30..40`). A parameter that is neither `n`, `seed`, `format`,
`model_id` nor a column is a 422 `unknown_parameter`; a value the column never takes is a 422 `invalid_data`.
"""

SAMPLE_RESPONSES = {
    200: {"description": "Synthetic rows", "content": {
        "text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}},
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}}},
    404: error_response("No such model for this tenant"),
    409: error_response("No trained model yet (training has not finished)"),
    422: error_response("Bad n, seed, format or condition"),
    500: error_response("The model's stored artifact could not be loaded (model_unavailable)"),
}


def stream_sample(request: Request, model: Model, n: int, seed: int | None, fmt: str, settings: Settings,
                  cache: ModelCache, metrics: Metrics) -> StreamingResponse:
    if n > settings.max_sample_rows:
        raise APIError(422, "invalid_request", f"n: at most {settings.max_sample_rows} rows per request "
                       "(SYNTHD_MAX_SAMPLE_ROWS); ask several times with different seeds for more")
    conditions = parse_conditions(list(request.query_params.multi_items()), model.schema)
    try:
        synthesizer = cache.get(model.id, model.blob_key)
    except Exception as exc:  # a missing blob or an artifact this engine version cannot read
        raise APIError(500, "model_unavailable", f"model {model.id} could not be loaded "
                       f"({type(exc).__name__}: {exc}); retrain it with POST /v1/jobs") from exc
    chunks = synthesizer.sample_batches(n, chunk_rows=settings.sample_chunk_rows, seed=seed,
                                        conditions=conditions or None)
    first = next(chunks)  # engine errors (a value the column never takes) surface here, before any byte is sent
    media_type, ext = FORMATS[fmt]
    counter = metrics.rows_served.labels(format=fmt)
    body = encode(itertools.chain([first], chunks), fmt, on_rows=counter.inc)
    return StreamingResponse(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="synthetic-{model.id[:8]}.{ext}"',
        "X-Synthd-Model-Id": model.id,
    })
