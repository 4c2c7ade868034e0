"""The service's one error type and the handlers that turn every failure into {"error": {code, message}}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from synth.errors import SynthError


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def not_found(kind: str, ident: str) -> APIError:
    return APIError(404, "not_found", f"no {kind} with id {ident!r}")


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


ERROR_RESPONSES = {
    401: {"description": "Missing or unknown API key: `{\"error\": {\"code\", \"message\"}}`"},
    404: {"description": "No such resource for this tenant (another tenant's id looks the same)"},
    422: {"description": "Invalid parameters or data: `{\"error\": {\"code\", \"message\"}}`"},
}


def _describe(errors: list[dict]) -> str:
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg')}")
    return "; ".join(parts)


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
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
