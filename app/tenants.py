"""Tenants and their API keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.security import generate_key, hash_key
from app.models import ApiKey, Tenant


def create_key(session: Session, tenant_name: str) -> str:
    """A new API key for `tenant_name` (created if new). Only its hash is stored: print the key now."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == tenant_name))
    if tenant is None:
        tenant = Tenant(name=tenant_name)
        session.add(tenant)
        session.flush()
    key = generate_key()
    session.add(ApiKey(tenant_id=tenant.id, key_hash=hash_key(key), prefix=key[:10]))
    session.commit()
    return key
