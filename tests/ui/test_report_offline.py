"""The report to forward opens with the network off: saved to a file and opened in chromium with every request
refused, it draws every chart and asks for nothing."""

from __future__ import annotations

import httpx

from tests.ui.conftest import charts_state


def test_report_html_opens_with_the_network_off(browser, api, trained, tmp_path, screenshots):  # noqa: ANN001
    resp = httpx.get(f"{api}/v1/models/{trained['model_id']}/report.html",
                     headers={"Authorization": f"Bearer {trained['key']}"}, timeout=60)
    assert resp.status_code == 200
    path = tmp_path / "report.html"
    path.write_text(resp.text, encoding="utf-8")
    report = httpx.get(f"{api}/v1/models/{trained['model_id']}",
                       headers={"Authorization": f"Bearer {trained['key']}"}, timeout=60).json()["report"]

    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    requests, errors = [], []

    def refuse(route) -> None:  # noqa: ANN001
        if route.request.url == path.as_uri():
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    context.route("**/*", refuse)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-charts-done]", timeout=60_000)
    state = charts_state(page)
    columns = len(report["charts"]["columns"])
    checks = sum(1 for key in ("detection", "tstr", "coherence") if report.get(key)) + 2  # + copies, DCR share
    assert state == {"rendered": columns + 3 + checks, "error": 0, "pending": 0, "empty": 0}, state
    assert requests == [] and errors == [], (requests, errors)
    text = page.inner_text("body")
    for piece in ("The data and the training job", "Training rows", "epochs", "How each number is computed",
                  "Detection AUC", "Exact copies"):
        assert piece in text, piece
    page.screenshot(path=str(screenshots / "report-offline-1280.png"), full_page=True)
    context.close()
