"""Jinja2 environment of the dashboard and the report, and JSON safe to embed in a page."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from app.core.jsonsafe import json_safe

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"


def embed_json(value) -> Markup:  # noqa: ANN001
    """JSON for a <script type="application/json"> block: '<', '>' and '&' escaped so that no value can close
    the script element or open a comment, whatever text a column name or category holds."""
    text = json.dumps(json_safe(value), separators=(",", ":"), ensure_ascii=False, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                  .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _number(value, digits: int = 3) -> str:  # noqa: ANN001
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _percent(value, digits: int = 1) -> str:  # noqa: ANN001
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def _size(value: int | None) -> str:
    if value is None:
        return "n/a"
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return str(value)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(("html",)),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["json"] = embed_json
    env.filters["number"] = _number
    env.filters["percent"] = _percent
    env.filters["size"] = _size
    return env


@lru_cache(maxsize=16)
def static_text(relative: str) -> str:
    """A static file's text (the report inlines its scripts and styles)."""
    return (STATIC / relative).read_text(encoding="utf-8")


def inline_script(relative: str) -> Markup:
    """A static script's text, safe inside an inline <script> element."""
    return Markup(static_text(relative).replace("</script", "<\\/script"))
