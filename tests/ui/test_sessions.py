"""The dashboard's security, over real HTTP: the session cookie's flags, CSRF on every write made with the cookie,
one tenant never seeing another's pages, sign-out and revoked keys ending sessions, no open redirect, and
/docs and /redoc served from this host only."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import small_csv


def _login_form(http: httpx.Client, next_path: str = "/ui/datasets") -> str:
    page = http.get(f"/ui/login?next={next_path}")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def sign_in(api: str, key: str, **headers: str) -> httpx.Client:
    http = httpx.Client(base_url=api, timeout=60, headers=headers)
    token = _login_form(http)
    resp = http.post("/ui/login", data={"key": key, "csrf": token, "next": "/ui/datasets"})
    assert resp.status_code == 303 and resp.headers["location"] == "/ui/datasets", resp.text
    return http


def page_csrf(http: httpx.Client) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', http.get("/ui/datasets").text).group(1)


def test_cookie_flags_over_http_and_https(api, make_key):  # noqa: ANN001
    key = make_key("cookie-flags")
    http = httpx.Client(base_url=api, timeout=60)
    token = _login_form(http)
    resp = http.post("/ui/login", data={"key": key, "csrf": token})
    cookie = next(v for k, v in resp.headers.multi_items() if k == "set-cookie" and v.startswith("synthd_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags and "secure" not in flags
    # Behind a TLS proxy (uvicorn trusts X-Forwarded-Proto from 127.0.0.1): Secure.
    https = httpx.Client(base_url=api, timeout=60, headers={"X-Forwarded-Proto": "https"})
    form = https.get("/ui/login")
    login_cookie = next(v for k, v in form.headers.multi_items() if k == "set-cookie"
                        and v.startswith("synthd_login_csrf="))
    assert "secure" in {part.strip().lower() for part in login_cookie.split(";")[1:]}
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    # httpx keeps Secure cookies for https URLs only: send the login cookie by hand, as the browser would
    resp = httpx.post(f"{api}/ui/login", data={"key": key, "csrf": token},
                      headers={"X-Forwarded-Proto": "https", "Cookie": login_cookie.split(";")[0]})
    cookie = next(v for k, v in resp.headers.multi_items() if k == "set-cookie" and v.startswith("synthd_session="))
    assert "secure" in {part.strip().lower() for part in cookie.split(";")[1:]}
    page = http.get("/ui/datasets")
    assert page.status_code == 200 and "cookie-flags" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "unsafe-eval" not in page.headers["content-security-policy"]


def test_sign_in_refuses_bad_keys_forged_forms_and_open_redirects(api, make_key):  # noqa: ANN001
    http = httpx.Client(base_url=api, timeout=60)
    token = _login_form(http)
    resp = http.post("/ui/login", data={"key": "sk_not-a-key", "csrf": token})
    assert resp.status_code == 401 and "Unknown or revoked API key" in resp.text
    assert "synthd_session" not in http.cookies
    # A sign-in form posted from elsewhere carries no token matching the browser's login cookie.
    forged = httpx.Client(base_url=api, timeout=60)
    resp = forged.post("/ui/login", data={"key": make_key("forged"), "csrf": "guess"})
    assert resp.status_code == 403 and "synthd_session" not in forged.cookies
    key = make_key("redirects")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "/v1/models"):
        client = httpx.Client(base_url=api, timeout=60)
        token = _login_form(client)
        resp = client.post("/ui/login", data={"key": key, "csrf": token, "next": target})
        assert resp.status_code == 303 and resp.headers["location"] == "/ui/datasets", target
    # Pages without a session go to the sign-in form, keeping where they were going.
    resp = httpx.get(f"{api}/ui/models", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/ui/login?next=/ui/models"


def test_every_write_with_the_cookie_needs_the_csrf_token(api, make_key):  # noqa: ANN001
    http = sign_in(api, make_key("csrf-tenant"))
    assert http.get("/v1/datasets").status_code == 200  # reads need no token (SameSite=Strict keeps them home)
    refused = [
        http.post("/v1/datasets", files={"file": ("a.csv", small_csv(), "text/csv")}),
        http.post("/v1/jobs", json={"dataset_id": "x", "params": {}}),
        http.delete("/v1/datasets/00000000-0000-0000-0000-000000000000"),
        http.post("/v1/jobs/00000000-0000-0000-0000-000000000000/cancel"),
        http.post("/v1/jobs/00000000-0000-0000-0000-000000000000/cancel", headers={"X-CSRF-Token": "wrong"}),
    ]
    for resp in refused:
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "csrf_failed", resp.text
    assert http.get("/v1/datasets").json() == []  # nothing was stored
    token = page_csrf(http)
    resp = http.post("/v1/datasets", files={"file": ("a.csv", small_csv(), "text/csv")},
                     headers={"X-CSRF-Token": token})
    assert resp.status_code == 201, resp.text
    # Sign-out is a form post with the token too; without it the session stays.
    assert http.post("/ui/logout", data={"csrf": "wrong"}).status_code == 403
    assert http.get("/v1/datasets").status_code == 200
    resp = http.post("/ui/logout", data={"csrf": token})
    assert resp.status_code == 303
    assert http.get("/v1/datasets").status_code == 401
    assert http.get("/ui/datasets").status_code == 303


def test_one_tenant_never_sees_another_tenants_pages(api, make_key, trained):  # noqa: ANN001
    owner = sign_in(api, trained["key"])
    stranger = sign_in(api, make_key("ui-stranger"))
    pages = [f"/ui/datasets/{trained['dataset_id']}", f"/ui/jobs/{trained['job_id']}",
             f"/ui/models/{trained['model_id']}"]
    for path in pages:
        assert owner.get(path).status_code == 200, path
        resp = stranger.get(path)
        assert resp.status_code == 404 and trained["dataset_id"] not in resp.text, path
    for path in (f"/v1/models/{trained['model_id']}", f"/v1/models/{trained['model_id']}/report.html",
                 f"/v1/jobs/{trained['job_id']}/history", f"/v1/models/{trained['model_id']}/sample?n=3"):
        assert stranger.get(path).status_code == 404, path
    for path in ("/ui/datasets", "/ui/jobs", "/ui/models"):
        text = stranger.get(path).text
        for ident in (trained["dataset_id"], trained["job_id"], trained["model_id"]):
            assert ident not in text and ident[:8] not in text, (path, ident)
    # A malformed id is the same 404 page.
    assert stranger.get("/ui/models/not-an-id").status_code == 404


def test_revoking_the_key_ends_its_sessions(api, make_key, db):  # noqa: ANN001
    from sqlalchemy import update

    from app.core.security import hash_key
    from app.models import ApiKey, utcnow

    key = make_key("revoked-tenant")
    http = sign_in(api, key)
    assert http.get("/ui/datasets").status_code == 200
    with db() as session:
        session.execute(update(ApiKey).where(ApiKey.key_hash == hash_key(key)).values(revoked_at=utcnow()))
        session.commit()
    assert http.get("/ui/datasets").status_code == 303
    assert http.get("/v1/datasets").status_code == 401


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_are_served_from_this_host(api, path):  # noqa: ANN001
    resp = httpx.get(f"{api}{path}")
    assert resp.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', resp.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "cdn" not in resp.text.lower() and "googleapis" not in resp.text
    for url in urls:
        if url.startswith("/ui/static/"):
            assert httpx.get(f"{api}{url}").status_code == 200, url


def test_a_failed_job_shows_its_error_in_words(api, make_key, browser, db):  # noqa: ANN001
    """The job page of a failed job says why, in the page itself and once its script has run; Cancel is gone."""
    from sqlalchemy import update

    from app.models import Job

    key = make_key("failed-job")
    http = sign_in(api, key)
    token = page_csrf(http)
    dataset = http.post("/v1/datasets", files={"file": ("a.csv", small_csv(), "text/csv")},
                        headers={"X-CSRF-Token": token}).json()
    job = http.post("/v1/jobs", json={"dataset_id": dataset["id"], "params": {"epochs": 2}},
                    headers={"X-CSRF-Token": token}).json()
    message = "column 'age': values are not numbers <b>here</b>"
    with db() as session:  # as a worker records an engine error
        session.execute(update(Job).where(Job.id == job["id"]).values(status="failed", error=message))
        session.commit()
    html = http.get(f"/ui/jobs/{job['id']}").text
    assert "Training failed:" in html and "values are not numbers &lt;b&gt;here&lt;/b&gt;" in html
    context = browser.new_context(base_url=api)
    context.add_cookies([{"name": "synthd_session", "value": http.cookies["synthd_session"], "url": api}])
    page = context.new_page()
    page.goto(f"/ui/jobs/{job['id']}")
    page.wait_for_selector("#job-live [data-status].failed")
    assert page.locator("#job-error").is_visible() and page.locator("#job-error-text").inner_text() == message
    assert not page.locator("#cancel-job").is_visible()
    assert page.locator("#loss-chart").inner_text() == "The curves appear after the first epoch."
    context.close()
