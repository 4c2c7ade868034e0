"""GET /healthz, /readyz, /metrics: no key needed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.core.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", responses={503: {"description": "The database is unreachable"}})
def readyz(request: Request) -> JSONResponse:
    """The database answers a query."""
    try:
        ping(request.app.state.engine)
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "error": {"code": "database_unreachable",
                                                                 "message": str(exc).splitlines()[0]}},
                            status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Jobs by state, rows served, request latency."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
