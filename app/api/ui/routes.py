"""The dashboard's pages under /ui. Each page is rendered on the server from the same rows and the same `*_out`
bodies as the API; its scripts then call the API itself (/v1/...) with the session cookie and the CSRF token.

Every page needs a live session (else a redirect to /ui/login) and reads only the signed-in tenant's rows through
`find_owned`, as the API does: another tenant's id is the same 404 page as an id that does not exist."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from threading import Lock
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from app.api.deps import find_owned
from app.api.routes.datasets import dataset_out
from app.api.routes.jobs import job_out
from app.api.routes.models import model_out
from app.api.sessions import (
    COOKIE,
    LOGIN_COOKIE,
    SignedIn,
    csrf_ok,
    require_csrf,
    set_cookie,
    sign_in,
    sign_out,
    signed_in,
)
from app.api.ui.render import environment
from app.core.errors import APIError
from app.models import Dataset, Job, Model
from app.storage import BlobStore
from synth.schema import KINDS

router = APIRouter(prefix="/ui", include_in_schema=False)

# Scripts and styles come from this origin only; Vega runs with its expression interpreter (no eval).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
                "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def page(request: Request, template: str, status: int = 200, who: SignedIn | None = None, **context) -> HTMLResponse:
    html = environment().get_template(template).render(
        request=request, who=who, csrf=who.csrf if who else "", tenant=who.tenant.name if who else None,
        kinds=KINDS, **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target)}", status_code=303)


def not_found(request: Request, who: SignedIn, what: str) -> HTMLResponse:
    return page(request, "error.html", 404, who, title="Not found",
                message=f"There is no such {what} for your tenant.")


def _safe_next(target: str | None) -> str:
    """Only a path of this dashboard (no scheme, no host, no //): an open redirect otherwise."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/datasets"


# --- sign in and out ----------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return RedirectResponse("/ui/datasets" if signed_in(request) else "/ui/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the query's name
    if signed_in(request):
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, _safe_next(next))


def _login_page(request: Request, target: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", status, None, title="Sign in", login_csrf=token, next=target,
                    error=error)
    set_cookie(response, request, LOGIN_COOKIE, token, max_age=3600)
    return response


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, key: str = Form(""), csrf: str = Form(""), next: str = Form("/ui/datasets")) -> Response:  # noqa: A002
    target = _safe_next(next)
    if not csrf_ok(request.cookies.get(LOGIN_COOKIE, ""), csrf):
        return _login_page(request, target, "The sign-in form expired. Please try again.", 403)
    opened = sign_in(request, key)
    if opened is None:
        return _login_page(request, target, "Unknown or revoked API key.", 401)
    token, _ = opened
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, COOKIE, token, max_age=int(request.app.state.settings.ui_session_hours * 3600))
    response.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    who = signed_in(request)
    if who is not None:
        require_csrf(request, who, csrf)
        sign_out(request)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- datasets -----------------------------------------------------------------------------------------------


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request) -> Response:
    who = signed_in(request)
    if who is None:
        return to_login(request)
    with request.app.state.sessions() as session:
        rows = session.scalars(select(Dataset).where(Dataset.tenant_id == who.tenant.id)
                               .order_by(Dataset.created_at.desc()).limit(200)).all()
        datasets = [dataset_out(d).model_dump(mode="json") for d in rows]
    return page(request, "datasets.html", who=who, title="Datasets", datasets=datasets,
                max_upload=request.app.state.settings.max_upload_bytes)


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: str) -> Response:
    who = signed_in(request)
    if who is None:
        return to_login(request)
    with request.app.state.sessions() as session:
        try:
            dataset = find_owned(session, Dataset, who.tenant.id, dataset_id, "dataset")
        except APIError:
            return not_found(request, who, "dataset")
        out = dataset_out(dataset).model_dump(mode="json")
        jobs = session.execute(select(Job, Model.id).outerjoin(Model, Model.job_id == Job.id)
                               .where(Job.dataset_id == dataset.id).order_by(Job.created_at.desc())).all()
        jobs = [job_out(j, m).model_dump(mode="json") for j, m in jobs]
        blob_key = dataset.blob_key
    profile = profile_of(request.app.state.blobs, dataset_id, blob_key)
    return page(request, "dataset.html", who=who, title=out["name"], dataset=out, jobs=jobs, profile=profile,
                max_epochs=request.app.state.settings.max_epochs)


_PROFILES: OrderedDict[str, dict] = OrderedDict()
_PROFILES_LOCK = Lock()
PROFILE_ROWS = 20_000


def profile_of(blobs: BlobStore, dataset_id: str, blob_key: str) -> dict:
    """Each column's small histogram (synth.visuals on up to 20,000 rows), kept for the 32 datasets last seen."""
    with _PROFILES_LOCK:
        if dataset_id in _PROFILES:
            _PROFILES.move_to_end(dataset_id)
            return _PROFILES[dataset_id]
    import pandas as pd

    from synth.visuals import charts_for

    try:
        with blobs.open(blob_key) as handle:
            frame = pd.read_parquet(handle)
        if len(frame) > PROFILE_ROWS:
            frame = frame.sample(n=PROFILE_ROWS, random_state=0)
        charts = charts_for(frame, frame.head(2), max_rows=PROFILE_ROWS)
        profile = {c["name"]: c for c in charts["columns"]}
    except Exception as exc:  # a profile is a nicety: the page shows the schema without it
        profile = {"_error": f"{type(exc).__name__}: {exc}"}
    with _PROFILES_LOCK:
        _PROFILES[dataset_id] = profile
        while len(_PROFILES) > 32:
            _PROFILES.popitem(last=False)
    return profile


# --- jobs ---------------------------------------------------------------------------------------------------


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request) -> Response:
    who = signed_in(request)
    if who is None:
        return to_login(request)
    with request.app.state.sessions() as session:
        rows = session.execute(select(Job, Model.id, Dataset.name).outerjoin(Model, Model.job_id == Job.id)
                               .join(Dataset, Dataset.id == Job.dataset_id).where(Job.tenant_id == who.tenant.id)
                               .order_by(Job.created_at.desc()).limit(200)).all()
        jobs = [{**job_out(j, m).model_dump(mode="json"), "dataset_name": name} for j, m, name in rows]
    return page(request, "jobs.html", who=who, title="Jobs", jobs=jobs)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str) -> Response:
    who = signed_in(request)
    if who is None:
        return to_login(request)
    with request.app.state.sessions() as session:
        try:
            job = find_owned(session, Job, who.tenant.id, job_id, "job")
        except APIError:
            return not_found(request, who, "job")
        model_id = session.scalar(select(Model.id).where(Model.job_id == job.id))
        out = job_out(job, model_id).model_dump(mode="json")
        dataset = session.get(Dataset, job.dataset_id)
    return page(request, "job.html", who=who, title=f"Job {job_id[:8]}", job=out,
                dataset={"id": dataset.id, "name": dataset.name})


# --- models -------------------------------------------------------------------------------------------------


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request) -> Response:
    who = signed_in(request)
    if who is None:
        return to_login(request)
    with request.app.state.sessions() as session:
        rows = session.execute(select(Model, Dataset.name).join(Dataset, Dataset.id == Model.dataset_id)
                               .where(Model.tenant_id == who.tenant.id).order_by(Model.created_at.desc())
                               .limit(200)).all()
        models = []
        for model, name in rows:
            summary = ((model.report or {}).get("summary") or {})
            privacy = ((model.report or {}).get("privacy") or {})
            models.append({"id": model.id, "dataset_name": name, "dataset_id": model.dataset_id,
                           "created_at": model.created_at.isoformat(), "epochs": model.epochs_trained,
                           "train_rows": model.train_rows, "verdict": summary.get("verdict"),
                           "overall": (model.report or {}).get("overall"), "flagged": privacy.get("flagged")})
    return page(request, "models.html", who=who, title="Models", models=models)


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model_page(request: Request, model_id: str) -> Response:
    who = signed_in(request)
    if who is None:
        return to_login(request)
    with request.app.state.sessions() as session:
        try:
            model = find_owned(session, Model, who.tenant.id, model_id, "model")
        except APIError:
            return not_found(request, who, "model")
        out = model_out(model).model_dump(mode="json")
        dataset = session.get(Dataset, model.dataset_id)
        dataset = {"id": dataset.id, "name": dataset.name, "rows": dataset.rows, "n_columns": dataset.n_columns}
    from app.api.ui.report import explanations, privacy_view

    return page(request, "model.html", who=who, title=f"Model {model_id[:8]}", model=out, dataset=dataset,
                privacy=privacy_view((out.get("report") or {}).get("privacy")), how=explanations(),
                max_rows=request.app.state.settings.max_sample_rows)
