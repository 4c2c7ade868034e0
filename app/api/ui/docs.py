"""/docs (Swagger UI) and /redoc from the vendored scripts under /ui/static/vendor: no CDN, so both render on a
machine without internet (FastAPI's own pages load them from jsDelivr)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
VENDOR = "/ui/static/vendor"
FAVICON = "/ui/static/favicon.svg"
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; worker-src 'self' blob:; "
            "frame-ancestors 'none'")


@router.get("/docs", response_class=HTMLResponse)
def swagger(request: Request) -> HTMLResponse:
    response = get_swagger_ui_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} - API docs",
                                   swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url=FAVICON,
                                   swagger_ui_parameters={"validatorUrl": None})
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    response = get_redoc_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} - API reference",
                              redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js", redoc_favicon_url=FAVICON,
                              with_google_fonts=False)
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response
