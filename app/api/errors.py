"""The handlers that turn every failure into {"error": {code, message}}, and the error answers routes document."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from app.api.schemas import ErrorOut
from app.core.db import timed_out
from app.core.errors import APIError, error_body
from app.storage import BlobStoreError
from synth.errors import SynthError

log = logging.getLogger("synthd.api")


def error_response(description: str) -> dict:
    """A documented error answer for a route's `responses`."""
    return {"description": description, "model": ErrorOut}


# Every failure a keyed route can answer, documented with its body so that clients (and schemathesis) can
# check them. Routes add their own 404/409/413/415 on top.
COMMON_RESPONSES = {
    401: error_response("Missing or unknown API key"),
    422: error_response("Invalid parameters or data"),
    500: error_response("An unexpected server error (the body says which; nothing half-written is kept)"),
    503: error_response("The database or the blob store is unreachable for now; retry after Retry-After seconds"),
}
NOT_FOUND = {404: error_response("No such resource for this tenant (another tenant's id looks the same)")}
TOO_LARGE = {413: error_response("The request body is over its cap")}


def _describe(errors: list[dict]) -> str:
    parts = []
    for err in errors:
        if err.get("type") == "json_invalid":
            parts.append(f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'decode error')})")
            continue
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg')}")
    return "; ".join(parts)


def _allowed_methods(request: Request) -> list[str]:
    """The methods of every route whose path matches: the API's from the OpenAPI paths (included routers do
    not list their routes in app.routes), the docs' from app.routes."""
    table = getattr(request.app.state, "allow_table", None)
    if table is None:
        table = [(compile_path(path)[0], {method.upper() for method in operations})
                 for path, operations in request.app.openapi().get("paths", {}).items()]
        table += [(compile_path(route.path)[0], set(route.methods)) for route in request.app.routes
                  if isinstance(getattr(route, "path", None), str) and getattr(route, "methods", None)]
        request.app.state.allow_table = table
    methods: set[str] = set()
    for regex, allowed in table:
        if regex.match(request.url.path):
            methods |= allowed
    return sorted(methods)


def _database_down(exc: DBAPIError) -> bool:
    return isinstance(exc, OperationalError | InterfaceError) or bool(getattr(exc, "connection_invalidated", False))


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(SynthError)
    async def _synth_error(_: Request, exc: SynthError) -> JSONResponse:
        return JSONResponse(error_body("invalid_data", str(exc)), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
        return JSONResponse(error_body("invalid_request", _describe(errors), details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 413: "too_large"}.get(
            exc.status_code, "http_error")
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a body that is not UTF-8: the same 422 as any other body that is not JSON
            return JSONResponse(error_body("invalid_request", "the body is not valid JSON (send UTF-8 JSON with "
                                           "Content-Type: application/json)"), status_code=422)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method the path takes, not only those of the first route matched
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if timed_out(exc):
            log.warning("%s %s: database statement stopped by its time limit: %s", request.method, request.url.path,
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return JSONResponse(error_body("database_busy", "the database did not finish in time (a row is locked "
                                           "or a statement ran long); nothing was changed; retry in a few seconds"),
                                status_code=503, headers={"Retry-After": "5"})
        if isinstance(exc, PoolTimeout) or _database_down(exc):
            log.warning("%s %s: database unavailable: %s", request.method, request.url.path,
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return JSONResponse(error_body("database_unavailable", "the database is unreachable for now; retry "
                                           "in a few seconds"), status_code=503, headers={"Retry-After": "5"})
        log.error("%s %s: database error", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body("internal_error", "the database refused the request; nothing was changed"),
                            status_code=500)

    @app.exception_handler(BlobStoreError)
    async def _storage(request: Request, exc: BlobStoreError) -> JSONResponse:
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(error_body("storage_unavailable", "the blob store refused a write; nothing was stored. "
                                       "Retry later, and tell the operator if it persists"),
                            status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body("internal_error", f"unexpected server error ({type(exc).__name__}); "
                                       "nothing half-written was kept"), status_code=500)
