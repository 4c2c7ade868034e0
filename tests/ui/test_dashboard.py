"""The dashboard as a person uses it, in a real browser (Debian's chromium) against the real API and a real worker:
sign in, upload examples/adult_2000.csv, override a kind, train and watch the progress bar and the loss curve
move, read the model page (every chart drawn, no console error, no request off the host), sample with a
condition, preview and download the file. Screenshots of every page at 1280 and 390 px go to SYNTHD_SCREENSHOTS."""

from __future__ import annotations

import json
import time

import pandas as pd

from tests.conftest import EXAMPLE
from tests.ui.conftest import charts_state

# Small networks, so that the job below trains in seconds.
NETWORK = {"embedding_dim": 32, "generator_dim": [64, 64], "discriminator_dim": [64, 64]}
PAGES = ("login", "datasets", "dataset", "jobs", "job", "models", "model", "report", "docs")


def _shoot(context, path: str, name: str, screenshots, ready: str | None = None) -> None:  # noqa: ANN001
    """`path` at 1280 and 390 px wide (charts are sized on load, so each width loads the page afresh)."""
    for width in (1280, 390):
        page = context.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(path)
        if ready:
            page.wait_for_selector(ready, timeout=60_000)
        page.wait_for_timeout(300)
        if width == 390:  # usable on a phone: the page itself does not scroll sideways
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 2, f"{name} scrolls sideways at 390 px by {overflow} px"
        page.screenshot(path=str(screenshots / f"{name}-{width}.png"), full_page=True)
        page.screenshot(path=str(screenshots / f"{name}-{width}-top.png"))  # what the first screen shows
        page.close()


# Long enough (a few seconds on a quiet machine) for the page, which polls once a second, to see the job mid-way
# more than once: 40 epochs of the small networks were over before the second poll.
EPOCHS = 150


def test_a_person_trains_reads_and_samples(signed_in, make_key, workers, screenshots, browser, api):  # noqa: ANN001
    key = make_key("ui-person")
    login = browser.new_page(viewport={"width": 1280, "height": 900})
    login.goto(f"{api}/ui/login")
    login.screenshot(path=str(screenshots / "login-1280.png"), full_page=True)
    login.set_viewport_size({"width": 390, "height": 844})
    login.screenshot(path=str(screenshots / "login-390.png"), full_page=True)
    login.close()

    context, watch = signed_in(key)
    page = context.new_page()
    page.goto("/ui/datasets")
    assert page.locator("header nav a[aria-current=page]").inner_text() == "Datasets"

    # Upload with the file picker: the progress bar shows, then the schema page opens.
    page.set_input_files("#file", str(EXAMPLE))
    page.wait_for_url("**/ui/datasets/*", timeout=60_000)
    dataset_id = page.url.rsplit("/", 1)[1]
    rows = page.locator("tbody tr")
    assert rows.count() >= 15
    assert page.locator("select[data-kind-for=age]").input_value() == "integer"
    assert page.locator("select[data-kind-for=sex]").input_value() == "categorical"
    page.wait_for_function("document.querySelectorAll('[data-mini][data-chart=rendered]').length >= 15",
                           timeout=30_000)
    assert charts_state(page)["empty"] == 0

    # Left empty, epochs and batch size are not sent: the table's size decides them, as in the API.
    assert page.input_value("#epochs") == "" and page.input_value("#batch_size") == ""
    # Override a kind, set the epochs, a target and the small networks, and queue training.
    page.select_option("select[data-kind-for='education-num']", "categorical")
    page.fill("#epochs", str(EPOCHS))
    page.fill("#batch_size", "200")
    page.select_option("#target", "income")
    page.click("details summary")
    page.fill("#advanced", json.dumps(NETWORK))
    workers.start("ui")
    page.click("#train-button")
    page.wait_for_url("**/ui/jobs/*", timeout=30_000)
    job_id = page.url.rsplit("/", 1)[1]

    # Watch the bar and the curve move while it trains.
    bars, points, texts = [], [], set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        bars.append(float(page.locator("#job-progress").get_attribute("value")))
        points.append(int(page.locator("#loss-chart").get_attribute("data-points") or 0))
        texts.add(page.locator("#job-live [data-progress-text]").inner_text())
        if page.locator("#job-model").is_visible():
            break
        time.sleep(0.25)
    assert page.locator("#job-model").is_visible(), f"training did not finish: {texts}"
    assert page.locator("#job-live [data-status]").inner_text() == "succeeded"
    moving = sorted({b for b in bars if 0 < b < 100})
    assert len(moving) >= 2, f"the progress bar did not move while training: {sorted(set(bars))}"
    assert len({p for p in points if 0 < p < EPOCHS}) >= 2, f"the loss curve did not grow: {sorted(set(points))}"
    assert any("left" in t for t in texts), f"no ETA shown: {texts}"
    page.wait_for_function(f"document.querySelector('#loss-chart').getAttribute('data-points') === '{EPOCHS}'")
    assert charts_state(page) == {"rendered": 1, "error": 0, "pending": 0, "empty": 0}
    job = page.evaluate(f"fetch('/v1/jobs/{job_id}').then(r => r.json())")
    assert job["params"]["column_kinds"] == {"education-num": "categorical"}
    assert job["params"]["target"] == "income" and job["params"]["generator_dim"] == [64, 64]

    # The model page: every chart drawn with content.
    page.click("#job-model a")
    page.wait_for_url("**/ui/models/*")
    model_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("body[data-charts-done]", timeout=60_000)
    model = page.evaluate(f"fetch('/v1/models/{model_id}').then(r => r.json())")
    report = model["report"]
    columns = len(report["charts"]["columns"])
    assert columns == 15
    state = charts_state(page)
    # a chart per column, three heatmaps, detection, TSTR, impossible combinations, copies, DCR share
    assert state == {"rendered": columns + 3 + 5, "error": 0, "pending": 0, "empty": 0}, state
    for name in ("heatmap:real", "heatmap:synthetic", "heatmap:difference", "detection", "tstr", "coherence",
                 "copies", "dcr", "column:age", "column:sex"):
        assert page.locator(f"[data-chart-name='{name}'] svg").count() == 1, name
    auc = page.locator("[data-check=detection_auc] .value").inner_text()
    assert auc.startswith(f"{report['detection']['auc']:.3f}")
    assert page.locator("[data-check=ml_utility]").count() == 1
    privacy = page.locator("[data-privacy]")
    assert privacy.get_attribute("data-privacy") == ("flagged" if model["privacy_flagged"] else "ok")
    assert "flagged" in privacy.locator(".headline").inner_text().lower()
    assert page.locator("[data-privacy-key=exact_copy_rate]").count() == 1

    # Sampling with a condition: preview, then download.
    page.fill("#n", "300")
    page.fill("#sample-seed", "7")
    page.click("#add-condition")
    page.select_option("#cond-1-col", "sex")
    assert "Female" in page.eval_on_selector_all("#cond-1-values option", "os => os.map(o => o.value)")
    page.fill("#cond-1-value", "Female")
    page.click("#preview-button")
    page.wait_for_selector("#preview-box:not([hidden])", timeout=60_000)
    header = page.eval_on_selector_all("#preview thead th", "ths => ths.map(t => t.textContent)")
    sex = header.index("sex")
    cells = page.eval_on_selector_all(f"#preview tbody tr td:nth-child({sex + 1})",
                                      "tds => tds.map(t => t.textContent)")
    assert len(cells) == 20 and set(cells) == {"Female"}
    page.select_option("#format", "csv")
    with page.expect_download(timeout=60_000) as download_info:
        page.click("#download-button")
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    frame = pd.read_csv(download.path())
    assert len(frame) == 300 and set(frame["sex"]) == {"Female"}
    assert list(frame.columns) == [c["name"] for c in model["columns"]]
    page.close()

    # Every page at a laptop's width and a phone's; charts drawn at both.
    for name, path, ready in (
        ("datasets", "/ui/datasets", None),
        ("dataset", f"/ui/datasets/{dataset_id}", "[data-mini][data-chart=rendered]"),
        ("jobs", "/ui/jobs", None),
        ("job", f"/ui/jobs/{job_id}", "#loss-chart[data-chart=rendered]"),
        ("models", "/ui/models", None),
        ("model", f"/ui/models/{model_id}", "body[data-charts-done]"),
        ("report", f"/v1/models/{model_id}/report.html", "body[data-charts-done]"),
        ("docs", "/docs", ".swagger-ui .info .title"),
    ):
        _shoot(context, path, name, screenshots, ready)
    for name in PAGES:
        for width in (1280, 390):
            assert (screenshots / f"{name}-{width}.png").stat().st_size > 5_000

    assert watch.errors == [], watch.errors
    assert watch.outside == [], f"the dashboard asked the network for {watch.outside}"
