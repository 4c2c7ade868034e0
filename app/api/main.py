"""The FastAPI application: `create_app()` builds it (uvicorn: `app.api.main:create_app --factory`)."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from app.api.errors import install_handlers
from app.api.metrics import Metrics
from app.api.model_cache import ModelCache
from app.api.routes import datasets, health, jobs, models, sample
from app.api.ui import docs as ui_docs
from app.api.ui import routes as ui_routes
from app.api.ui.render import STATIC
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.errors import error_body
from app.core.threads import torch_threads
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
        _configure_logging()
        _set_torch_threads(torch_threads("api", settings.api_torch_threads))
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        app.state.blobs = BlobStore.from_settings(settings)
        app.state.models = ModelCache(app.state.blobs, settings.model_cache_size, device="cpu")

        def job_counts() -> dict[str, int]:
            with app.state.sessions() as session:
                return counts_by_status(session)

        app.state.metrics = Metrics(job_counts)
        if settings.sweep_on_start:
            from app.sweep import sweep_in_background

            sweep_in_background(app.state.sessions, app.state.blobs, settings, on_done=app.state.metrics.record_sweep)
        yield
        engine.dispose()

    # /docs and /redoc are served from vendored files (app/api/ui/docs.py), never from a CDN
    app = FastAPI(title="synthd", version="0.1.0", description=DESCRIPTION, lifespan=lifespan, docs_url=None,
                  redoc_url=None)
    app.state.settings = settings
    install_handlers(app)

    @app.middleware("http")
    async def _timing(request: Request, call_next):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.latency.labels(request.method, getattr(route, "path", "unmatched"),
                                   str(response.status_code)).observe(time.perf_counter() - start)
        return response

    for module in (datasets, jobs, models, sample, health, ui_docs, ui_routes):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.add_middleware(BodyLimit, limit=MAX_JSON_BYTES, streamed_paths=("/v1/datasets",))
    _openapi_with_settings(app, settings)
    return app


class BodyLimit:
    """Caps request bodies (except uploads, which ingest streams to disk under their own cap) at `limit` bytes.

    A declared Content-Length over the cap is refused before anything is read; a chunked body is read up to the
    cap and refused as soon as it passes it, so no body of any size is held in memory whole."""

    def __init__(self, app, limit: int, streamed_paths: tuple[str, ...]) -> None:  # noqa: ANN001
        self.app, self.limit, self.streamed = app, limit, streamed_paths

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http" or (scope["method"] == "POST" and scope["path"] in self.streamed):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        if not declared and b"chunked" not in headers.get(b"transfer-encoding", b""):
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():  # noqa: ANN202
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send) -> None:  # noqa: ANN001
        response = JSONResponse(error_body("too_large", f"request bodies are capped at {self.limit} bytes "
                                           "(CSV uploads at SYNTHD_MAX_UPLOAD_BYTES)"), status_code=413,
                                headers={"Connection": "close"})
        await response(scope, receive, send)


def _openapi_with_settings(app: FastAPI, settings: Settings) -> None:
    """The schema states this deployment's caps (n, epochs), so that clients and fuzzers see the real bounds."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        max_epochs = min(100_000, settings.max_epochs)
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                for param in operation.get("parameters", []):
                    if param["name"] == "n" and path in ("/sample", "/v1/models/{model_id}/sample"):
                        param["schema"]["maximum"] = settings.max_sample_rows
                    if param["name"] == "epochs" and path == "/v1/datasets":
                        _set_maximum(param["schema"], max_epochs)
        params = schema.get("components", {}).get("schemas", {}).get("JobParams", {})
        if "epochs" in params.get("properties", {}):
            params["properties"]["epochs"]["maximum"] = max_epochs
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


def _set_maximum(schema: dict, maximum: int) -> None:
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "integer":
            option["maximum"] = maximum


def _configure_logging() -> None:
    """synthd's own log lines (sweep, database outages) on stderr at INFO, unless logging is set up already."""
    log = logging.getLogger("synthd")
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def _set_torch_threads(count: int) -> None:
    import torch

    torch.set_num_threads(max(1, count))
