"""The FastAPI application: `create_app()` builds it (uvicorn: `app.main:create_app --factory`)."""

from __future__ import annotations

import os
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.api.routes import datasets, health, jobs, models, sample
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.errors import error_body, install_handlers
from app.metrics import Metrics
from app.model_cache import ModelCache
from app.queue import counts_by_status
from app.storage import BlobStore

MAX_JSON_BYTES = 1 << 20  # bodies other than uploads (job parameters) are small

DESCRIPTION = """Upload a CSV, train a conditional GAN on it, and sample synthetic rows with the same columns and
statistics. Every `/v1` route and `/sample` need `Authorization: Bearer <key>` (`synthd create-key --tenant NAME`);
every id is scoped to the key's tenant. Errors are `{"error": {"code", "message"}}`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        if settings.auto_migrate:
            from app.core.migrate import upgrade

            upgrade(settings)
        _set_torch_threads(settings.api_torch_threads or min(4, os.cpu_count() or 1))
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        app.state.blobs = BlobStore.from_settings(settings)
        app.state.models = ModelCache(app.state.blobs, settings.model_cache_size, device="cpu")

        def job_counts() -> dict[str, int]:
            with app.state.sessions() as session:
                return counts_by_status(session)

        app.state.metrics = Metrics(job_counts)
        yield
        engine.dispose()

    app = FastAPI(title="synthd", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    install_handlers(app)

    @app.middleware("http")
    async def _timing(request: Request, call_next):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        declared = request.headers.get("content-length", "")
        if request.url.path != "/v1/datasets" and declared.isdigit() and int(declared) > MAX_JSON_BYTES:
            return JSONResponse(error_body("too_large", f"request bodies are capped at {MAX_JSON_BYTES} bytes"),
                                status_code=413)
        response = await call_next(request)
        route = request.scope.get("route")
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.latency.labels(request.method, getattr(route, "path", "unmatched"),
                                   str(response.status_code)).observe(time.perf_counter() - start)
        return response

    for module in (datasets, jobs, models, sample, health):
        app.include_router(module.router)
    return app


def _set_torch_threads(count: int) -> None:
    import torch

    torch.set_num_threads(max(1, count))
