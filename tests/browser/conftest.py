"""Real-browser tests: Playwright drives /usr/bin/chromium against pytest-django's live server.

* One Chromium per session (``browser``); each test gets fresh contexts (cookies) from it.
* A real Celery worker runs the workflows, started for this package only and stopped after
  it (so it never competes with tests/e2e's worker for messages): the same machinery as
  ``tests/e2e/conftest.py``, imported, not copied.
* Playwright's sync API keeps an event loop running in this thread; Django's ORM refuses to
  run "in an async context" unless told that it is safe, which it is here (one thread
  drives the browser and the database in turn).
* Screenshots go to a temporary folder; with ``SAVE_SCREENSHOTS=1`` they go to
  ``docs/screenshots/`` (how the README's pictures are made).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import WorkerProcess, launch_worker, worker_broker, worker_env

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
BASE_DIR = Path(__file__).resolve().parents[2]
SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's

requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Chromium at /usr/bin/chromium (apt-get install -y chromium)"
)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Chromium at /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    # Polling refreshes every few seconds and the worker runs the workflows: give them time.
    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser, live_server) -> Iterator[Callable[[], object]]:
    """Pages in fresh browser contexts (one per person in the test), closed afterwards."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def log_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/inbox/"))


@pytest.fixture
def screenshot(tmp_path) -> Callable[[object, str], Path]:
    folder = SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path

    def take(page, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="package")
def browser_worker(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[WorkerProcess]:
    """A real ``celery -A helpdesk worker`` on the test database, for this package only."""
    from helpdesk.celery import app

    tmp = tmp_path_factory.mktemp("browser-worker")
    env = worker_env(django_db_blocker)
    with worker_broker(app, tmp, env):
        worker = launch_worker(env, tmp, name="browser", pool="threads", beat=False)
        try:
            yield worker
        finally:
            worker.stop()


def wait_until(predicate: Callable[[], object], timeout: float = 20, what: str = "") -> object:
    """Poll the database until ``predicate`` is truthy (the worker commits in another process)."""
    from django.db import connections

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or predicate}", pytrace=False)
        for conn in connections.all(initialized_only=True):
            if not conn.in_atomic_block:
                conn.close()
        time.sleep(0.2)
