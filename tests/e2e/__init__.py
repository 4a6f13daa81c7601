"""End-to-end tests: the REST API, a real Celery worker process and a real database.

Tests here are marked ``e2e`` and ``django_db(transaction=True)``: every write commits,
``transaction.on_commit`` fires, and the work reaches the real broker, where the worker
started by ``tests/e2e/conftest.py::celery_worker_process`` picks it up. The test then
polls the API with :func:`wait_for` until the worker's effects show.

The helpers below speak only the integrator's API of SPEC.md ("Contract: the
integrator's REST API"), so a test reads like an integrator's script.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
from django.db import connections

T = TypeVar("T")

API = "/api/v1"


def wait_for(predicate: Callable[[], T], timeout: float = 20, interval: float = 0.1, what: str | None = None) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    The worker commits in another process, so each poll must read fresh state: between
    polls, connections that are not inside a transaction are closed (they reconnect on
    the next query), and predicates should query again (the API or ``refresh_from_db``)
    rather than look at objects they already hold. An ``AssertionError`` raised by the
    predicate counts as "not yet"; its message is reported if time runs out.
    """
    deadline = time.monotonic() + timeout
    description = what or getattr(predicate, "__name__", repr(predicate))
    last_value: Any = None
    last_error: AssertionError | None = None
    while True:
        try:
            last_value = predicate()
            last_error = None
        except AssertionError as exc:
            last_value, last_error = None, exc
        if last_value:
            return last_value
        if time.monotonic() >= deadline:
            detail = f"last error: {last_error}" if last_error else f"last value: {last_value!r}"
            pytest.fail(
                f"Timed out after {timeout:g}s waiting for {description}; {detail}. "
                "The Celery worker's log is in the 'celery worker log' section below.",
                pytrace=False,
            )
        for conn in connections.all(initialized_only=True):
            if not conn.in_atomic_block:
                conn.close()
        time.sleep(interval)


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A real HTTP server on localhost standing in for an integrator's webhook endpoint.

    Yields its base URL and the list of ``(headers, body)`` of every POST it got (answered 204).
    """
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


def results(payload: Any) -> list[dict]:
    """The items of a list answer, paginated (``{"results": [...]}``) or not."""
    if isinstance(payload, dict) and "results" in payload:
        return payload["results"]
    assert isinstance(payload, list), f"expected a list answer, got {payload!r}"
    return payload


def refers_to(value: Any, obj: dict, *names: str) -> bool:
    """Whether an API field (an id, a name or a nested object) designates ``obj``.

    ``names`` are the keys of ``obj`` that may be used instead of its id, e.g. a team's
    ``name`` or an agent's ``username``.
    """
    if value is None:
        return False
    if isinstance(value, dict):
        if "id" in value and value["id"] == obj.get("id"):
            return True
        return any(value.get(key) is not None and value.get(key) == obj.get(key) for key in names)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == obj.get("id")
    return any(value == obj.get(key) for key in names)


class HelpdeskApi:
    """An integrator's client of ``/api/v1/``: each call checks its status code."""

    def __init__(self, client) -> None:
        self.client = client

    def _check(self, method: str, url: str, response, expect: int | tuple[int, ...]) -> Any:
        expected = (expect,) if isinstance(expect, int) else expect
        body = response.content.decode(errors="replace")[:2000]
        assert response.status_code in expected, f"{method} {url} answered {response.status_code}: {body}"
        return response.json() if response.content else None

    def get(self, url: str, expect: int | tuple[int, ...] = 200) -> Any:
        return self._check("GET", url, self.client.get(url), expect)

    def post(self, url: str, data: Any = None, expect: int | tuple[int, ...] = 201) -> Any:
        return self._check("POST", url, self.client.post(url, data or {}, format="json"), expect)

    def put(self, url: str, data: Any, expect: int | tuple[int, ...] = 200) -> Any:
        return self._check("PUT", url, self.client.put(url, data, format="json"), expect)

    def patch(self, url: str, data: Any, expect: int | tuple[int, ...] = 200) -> Any:
        return self._check("PATCH", url, self.client.patch(url, data, format="json"), expect)

    # --- set-up -----------------------------------------------------------------------
    def create_team(self, name: str) -> dict:
        team = self.post(f"{API}/teams/", {"name": name})
        assert team["name"] == name and "id" in team, team
        return team

    def create_agent(self, username: str, teams: list[str], availability: str = "online") -> dict:
        agent = self.post(
            f"{API}/agents/",
            {
                "username": username,
                "email": f"{username}@example.com",
                "name": username.title(),
                "teams": teams,
                "availability": availability,
            },
        )
        assert "id" in agent, agent
        agent.setdefault("username", username)
        return agent

    def create_channel(self, name: str, **extra: Any) -> dict:
        channel = self.post(f"{API}/channels/", {"kind": "api", "name": name, "webhook_url": "", **extra})
        assert "id" in channel, channel
        for key, value in extra.items():
            assert channel.get(key) == value, f"channel {key} was not saved: {channel}"
        return channel

    def create_workflow(self, definition: dict) -> dict:
        workflow = self.post(f"{API}/workflows/", definition)
        assert "id" in workflow, workflow
        return workflow

    def update_workflow(self, workflow_id: int, definition: dict) -> dict:
        return self.put(f"{API}/workflows/{workflow_id}/", definition)

    def publish(self, workflow_id: int) -> dict:
        return self.post(f"{API}/workflows/{workflow_id}/publish/", expect=(200, 201))

    # --- a conversation ---------------------------------------------------------------
    def incoming(self, channel_id: int, contact: dict, text: str) -> dict:
        answer = self.post(f"{API}/channels/{channel_id}/incoming/", {"contact": contact, "text": text})
        assert {"conversation", "message"} <= answer.keys(), answer
        return answer

    def conversation(self, conversation_id: int) -> dict:
        return self.get(f"{API}/conversations/{conversation_id}/")

    def messages(self, conversation_id: int) -> list[dict]:
        return results(self.get(f"{API}/conversations/{conversation_id}/messages/"))

    def outgoing(self, conversation_id: int) -> list[str]:
        return [m["text"] for m in self.messages(conversation_id) if m["direction"] == "outgoing"]

    def runs(self, conversation_id: int) -> list[dict]:
        return results(self.get(f"{API}/conversations/{conversation_id}/runs/"))

    # --- waiting for the worker -----------------------------------------------------
    def wait_for_outgoing(self, conversation_id: int, count: int, timeout: float = 20) -> list[str]:
        """Wait until the conversation has at least ``count`` outgoing messages; return them all."""

        def enough() -> list[str] | None:
            texts = self.outgoing(conversation_id)
            return texts if len(texts) >= count else None

        return wait_for(enough, timeout=timeout, what=f"{count} outgoing message(s) in conversation {conversation_id}")

    def wait_for_run(self, conversation_id: int, status: str = "completed", timeout: float = 20) -> dict:
        """Wait until the conversation's (only) run reaches ``status``; return it."""
        finished = {"completed", "failed", "cancelled"}

        def reached() -> dict | None:
            runs = self.runs(conversation_id)
            assert len(runs) == 1, f"expected one run, got {runs}"
            run = runs[0]
            if run["status"] != status and run["status"] in finished:
                pytest.fail(f"the run ended {run['status']!r} instead of {status!r}: {run}", pytrace=False)
            return run if run["status"] == status else None

        return wait_for(reached, timeout=timeout, what=f"the run of conversation {conversation_id} to be {status}")


def log_steps(run: dict, known_steps: set[str] | None = None) -> list[tuple[str, str]]:
    """The run's log as ``(step, outcome)`` pairs in order, optionally only known steps."""
    entries = run["log"]
    for entry in entries:
        assert {"step", "type", "outcome", "detail", "at"} <= entry.keys(), entry
    return [(e["step"], e["outcome"]) for e in entries if known_steps is None or e["step"] in known_steps]


def step_path(run: dict, known_steps: set[str]) -> list[str]:
    """The steps the run went through, in order, each once per visit (repeats collapsed)."""
    path: list[str] = []
    for step, _outcome in log_steps(run, known_steps):
        if not path or path[-1] != step:
            path.append(step)
    return path


def outcomes_of(run: dict, step: str) -> list[str]:
    """The outcomes logged for ``step``, in order (a question logs its waits and retries too)."""
    outcomes = [outcome for name, outcome in log_steps(run) if name == step]
    assert outcomes, f"step {step!r} is not in the run's log: {run['log']}"
    return outcomes


def assert_ended_at(run: dict, step: str) -> None:
    """The run ended after ``step`` with its ``success`` outcome, and its log says it ended there."""
    assert "success" in outcomes_of(run, step), run["log"]
    assert run["log"][-1]["step"] == step, f"the log should end at {step!r}: {run['log']}"
