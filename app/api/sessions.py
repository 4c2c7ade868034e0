"""Dashboard sign-ins: an API key exchanged for a session cookie, and the CSRF token that goes with it.

The browser holds a random 256-bit token in the cookie `synthd_session` (HttpOnly, SameSite=Strict, Path=/, Secure
when the request came over HTTPS); the database keeps only its sha256 (`ui_sessions`), the API key it was opened
with, the tenant and a CSRF token. A session ends when it expires, when the user signs out, or when its API key
is revoked. Every /v1 route accepts the session in place of `Authorization: Bearer` (the dashboard's scripts call
the API itself), and any request that is not GET/HEAD/OPTIONS must then carry the session's CSRF token in the
`X-CSRF-Token` header (or, for the dashboard's own forms, the `csrf` form field). A cross-site page can neither
read the token nor make the browser send the cookie (SameSite=Strict)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import delete, select

from app.core.errors import APIError
from app.core.security import hash_key, matches
from app.models import ApiKey, Tenant, UISession, utcnow

COOKIE = "synthd_session"
LOGIN_COOKIE = "synthd_login_csrf"  # double-submit token of the sign-in form (there is no session yet)
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    tenant: Tenant
    csrf: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def secure_request(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (uvicorn's proxy_headers applies X-Forwarded-Proto)."""
    return request.url.scheme == "https" or bool(getattr(request.app.state.settings, "ui_secure_cookies", False))


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=secure_request(request))


def sign_in(request: Request, key: str) -> tuple[str, str] | None:
    """A new session for an API key: (cookie token, CSRF token), or None for an unknown or revoked key."""
    key = (key or "").strip()
    if not key or len(key) > 200:
        return None
    settings = request.app.state.settings
    with request.app.state.sessions() as session:
        row = session.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
                              ).scalar_one_or_none()
        if row is None or not matches(key, row.key_hash):
            return None
        now = utcnow()
        session.execute(delete(UISession).where(UISession.expires_at < now))  # tidy: expired sign-ins go
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        session.add(UISession(token_hash=_digest(token), api_key_id=row.id, tenant_id=row.tenant_id, csrf_token=csrf,
                              created_at=now, expires_at=now + timedelta(hours=settings.ui_session_hours)))
        session.commit()
    return token, csrf


def signed_in(request: Request) -> SignedIn | None:
    """The session the request's cookie names, if it is live (not expired, its key not revoked)."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 200:
        return None
    cached = request.scope.get("synthd.signed_in")
    if cached is not None:
        return cached or None
    with request.app.state.sessions() as session:
        row = session.execute(
            select(UISession, Tenant).join(Tenant, Tenant.id == UISession.tenant_id)
            .join(ApiKey, ApiKey.id == UISession.api_key_id)
            .where(UISession.token_hash == _digest(token), UISession.expires_at > utcnow(),
                   ApiKey.revoked_at.is_(None))
        ).first()
        if row is not None:
            session.expunge_all()
    found = SignedIn(row.UISession.id, row.Tenant, row.UISession.csrf_token) if row is not None else None
    request.scope["synthd.signed_in"] = found or False
    return found


def sign_out(request: Request) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        with request.app.state.sessions() as session:
            session.execute(delete(UISession).where(UISession.token_hash == _digest(token)))
            session.commit()


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def require_csrf(request: Request, who: SignedIn, form_value: str | None = None) -> None:
    """403 csrf_failed unless an unsafe request carries the session's CSRF token (header or form field)."""
    if request.method in SAFE_METHODS:
        return
    if not csrf_ok(who.csrf, request.headers.get(CSRF_HEADER) or form_value):
        raise APIError(403, "csrf_failed", "this request needs the dashboard's CSRF token (the X-CSRF-Token "
                       "header); reload the page and try again, or send an API key instead of the cookie")
