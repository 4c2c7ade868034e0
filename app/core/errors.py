"""The service's one error type: a status, a stable code and a message a user can act on. The HTTP handlers
that turn it (and every other failure) into {"error": {code, message}} live with the API (app/api/errors.py)."""

from __future__ import annotations


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def not_found(kind: str, ident: str) -> APIError:
    shown = ident if len(ident) <= 80 else ident[:80] + "..."
    return APIError(404, "not_found", f"no {kind} with id {shown!r}")


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}
