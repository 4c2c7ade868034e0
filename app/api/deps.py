"""What routes get injected: settings, a database session, the blob store, the model cache, the tenant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.metrics import Metrics
from app.api.model_cache import ModelCache
from app.api.sessions import require_csrf, signed_in
from app.core.config import Settings
from app.core.errors import APIError, not_found
from app.core.security import hash_key, matches
from app.models import ApiKey, Tenant, is_id
from app.storage import BlobStore

_bearer = HTTPBearer(auto_error=False, description="An API key from `synthd create-key --tenant NAME`.")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    session = request.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


def get_blobs(request: Request) -> BlobStore:
    return request.app.state.blobs


def get_cache(request: Request) -> ModelCache:
    return request.app.state.models


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]
CacheDep = Annotated[ModelCache, Depends(get_cache)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def _unauthorized(message: str) -> APIError:
    return APIError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def current_tenant(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Tenant:
    if credentials is None:
        who = signed_in(request)  # the dashboard: a session cookie, and its CSRF token on any write
        if who is not None:
            require_csrf(request, who)
            return who.tenant
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _unauthorized("send an API key as `Authorization: Bearer <key>`")
    key = credentials.credentials.strip()
    digest = hash_key(key)
    with request.app.state.sessions() as session:
        row = session.execute(
            select(ApiKey, Tenant).join(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
        ).first()
    if row is None or not matches(key, row.ApiKey.key_hash):
        raise _unauthorized("unknown or revoked API key")
    return row.Tenant


CurrentTenant = Annotated[Tenant, Depends(current_tenant)]


def find_owned(session: Session, table, tenant_id: str, ident: str, kind: str):  # noqa: ANN001, ANN201
    """The tenant's row of `table` with id `ident`, or a 404 that reads the same whether the id is malformed,
    missing or another tenant's (a malformed id never reaches the database)."""
    row = session.scalar(select(table).where(table.id == ident, table.tenant_id == tenant_id)) if is_id(ident) else None
    if row is None:
        raise not_found(kind, ident)
    return row
