"""Fuzzing: schemathesis generates requests for every operation of the OpenAPI schema.

Whatever it sends (valid bodies, invalid ones, real ids and random ones, as an administrator
and as an agent), the API never answers 5xx, answers only status codes the schema documents,
and its bodies match the schema. Bounded: ``FUZZ_EXAMPLES`` examples per operation and mode
(default 8), each in a savepoint rolled back afterwards, so DELETEs don't starve later ones.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import API
from tests.api.test_runs_and_shortcuts import ESCALATE

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def real_ids(admin_api, support_conversation, alice, bob) -> dict[str, int]:
    """Ids of things that exist, so generated requests reach past the 404 too."""
    workflow = admin_api.post(f"{API}/workflows/import/?publish=1", ESCALATE, format="json").json()["id"]
    run = admin_api.post(
        f"{API}/conversations/{support_conversation.pk}/shortcuts/{workflow}/start/",
        {"team": "Sales", "summary": "x"},
        format="json",
    ).json()["run"]
    connection = admin_api.post(f"{API}/connections/", {"name": "CRM"}, format="json").json()["id"]
    allowed = admin_api.post(f"{API}/http-allowlist/", {"value": "10.0.0.0/8"}, format="json").json()["id"]
    subscription = admin_api.post(
        f"{API}/webhook-subscriptions/",
        {"url": "https://example.com/hook", "events": ["run.failed"]},
        format="json",
    ).json()["id"]
    return {
        "conversation_id": support_conversation.pk,
        "shortcut_id": workflow,
        "workflow": workflow,
        "run": run,
        "agent": alice.pk,
        "channel": support_conversation.channel_id,
        "contact": support_conversation.contact_id,
        "team": support_conversation.team_id,
        "conversation": support_conversation.pk,
        "connection": connection,
        "allowed_host": allowed,
        "webhook_subscription": subscription,
    }


def _id_for(path: str, name: str, ids: dict[str, int]) -> int | None:
    if name != "id":
        return ids.get(name)
    resource = path.split("/api/v1/")[1].split("/")[0]
    return {
        "teams": ids["team"],
        "agents": ids["agent"],
        "channels": ids["channel"],
        "conversations": ids["conversation"],
        "contacts": ids["contact"],
        "workflows": ids["workflow"],
        "runs": ids["run"],
        "connections": ids["connection"],
        "http-allowlist": ids["allowed_host"],
        "webhook-subscriptions": ids["webhook_subscription"],
    }.get(resource)


class NoConnectionClosing:
    """Requests run in this thread and inside the test's transaction: keep Django from closing
    the connection at each request's start and end, as its own test client does."""

    def __enter__(self):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)

    def __exit__(self, *exc):
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def fuzz(schema, ids: dict[str, int], token: str, *, examples: int) -> tuple[int, list[str]]:
    app = get_wsgi_application()
    headers = {"Authorization": f"Token {token}"}
    sent = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = [p.name for p in operation.path_parameters]
        real = {name: _id_for(operation.path, name, ids) for name in names}
        strategies = []
        has_real = bool(names) and all(value is not None for value in real.values())
        # Positive data with generated ids (mostly unknown: 404) and with real ones.
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        if has_real:
            strategies.append(operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=real))
        # Invalid bodies and query strings at real ids. (An id that is no number does not match
        # the URL at all: Django's plain 404 page, outside the API; the schema says ids are integers.)
        if has_real or not names:
            negative = {"path_parameters": real} if has_real else {}
            strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, **negative))

        @settings(
            max_examples=examples * len(strategies),
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies))
        def check(case: Any) -> None:
            nonlocal sent
            sent += 1
            with transaction.atomic():
                try:
                    case.call_and_validate(app=app, headers=headers, checks=CHECKS)
                finally:
                    transaction.set_rollback(True)

        try:
            check()
        except Exception as exc:  # the failure, reported per operation
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    return sent, failures


@pytest.fixture
def schema(client, db):
    raw = json.loads(client.get(f"{API}/schema/?format=json").content)
    return schemathesis.openapi.from_dict(raw)


def test_no_operation_answers_5xx_or_breaks_the_schema_for_an_administrator(schema, real_ids, admin_user):
    token = Token.objects.get_or_create(user=admin_user)[0].key

    with NoConnectionClosing():
        sent, failures = fuzz(schema, real_ids, token, examples=EXAMPLES)
    print(f"schemathesis: {sent} requests as an administrator, {len(failures)} failing operations")

    assert not failures, "\n\n".join(failures)
    assert sent > 500


def test_no_operation_answers_5xx_or_breaks_the_schema_for_an_agent(schema, real_ids, bob):
    """bob is in Sales: the Support conversation and its run are another team's (404)."""
    token = Token.objects.get_or_create(user=bob.user)[0].key

    with NoConnectionClosing():
        sent, failures = fuzz(schema, real_ids, token, examples=max(2, EXAMPLES // 3))
    print(f"schemathesis: {sent} requests as an agent, {len(failures)} failing operations")

    assert not failures, "\n\n".join(failures)
    assert sent > 100
