"""JSON that Postgres and every client can read: NaN and infinities (which JSON cannot carry) become null."""

from __future__ import annotations

import math


def json_safe(obj):  # noqa: ANN001, ANN201
    """Replace NaN/inf (which JSON cannot carry) with None, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj

