"""Fixtures for the dashboard's tests: Debian's chromium driven by Playwright (a missing browser fails the run;
`make test` installs it), a context signed in through the sign-in form, and the screenshots folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import ROOT

CHROMIUM = os.environ.get("SYNTHD_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SYNTHD_SCREENSHOTS", ROOT / "var" / "screenshots"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no browser at {CHROMIUM}: the dashboard is tested in Debian's chromium "
                    "(`apt-get install -y chromium`; `make test` installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


class Watch:
    """What a browser context did: console errors, uncaught page errors, and requests that left the API's host
    (each one refused: the dashboard must not need the network)."""

    def __init__(self, base: str) -> None:
        self.host = urlparse(base).netloc
        self.errors: list[str] = []
        self.outside: list[str] = []

    def attach(self, context) -> None:  # noqa: ANN001
        def route(r) -> None:  # noqa: ANN001
            url = r.request.url
            if url.startswith(("data:", "blob:")) or urlparse(url).netloc == self.host:
                r.continue_()
            else:
                self.outside.append(url)
                r.abort()

        context.route("**/*", route)
        context.on("page", self.page)

    def page(self, page) -> None:  # noqa: ANN001
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))


@pytest.fixture
def signed_in(browser, api: str) -> Iterator[Callable[..., tuple[object, Watch]]]:  # noqa: ANN001
    """signed_in(key, width=1280) -> (a browser context signed in with `key` through the form, its Watch)."""
    contexts = []

    def make(key: str, width: int = 1280) -> tuple[object, Watch]:
        context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True,
                                      base_url=api)
        watch = Watch(api)
        watch.attach(context)
        contexts.append(context)
        page = context.new_page()
        page.goto("/ui/login")
        page.fill("#key", key)
        page.click("button[type=submit]")
        page.wait_for_url("**/ui/datasets")
        page.close()
        return context, watch

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def charts_state(page) -> dict[str, int]:  # noqa: ANN001
    """How many charts on the page rendered, failed or are pending, and how many rendered without content."""
    return page.evaluate("""() => {
        const out = {rendered: 0, error: 0, pending: 0, empty: 0};
        for (const el of document.querySelectorAll('[data-chart]')) {
            out[el.getAttribute('data-chart')] = (out[el.getAttribute('data-chart')] || 0) + 1;
            const marks = el.querySelectorAll('svg path, svg rect, svg line').length;
            if (el.getAttribute('data-chart') === 'rendered' && (!el.querySelector('svg') || marks < 3)) out.empty++;
        }
        return out;
    }""")
