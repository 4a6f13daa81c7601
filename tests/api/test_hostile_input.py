"""No endpoint answers 5xx to hostile input: every operation of the schema, odd bodies and params."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.api.conftest import API
from tests.api.test_runs_and_shortcuts import ESCALATE
from tests.factories import ContactFactory

BODIES = [
    None,
    "{}",
    "[]",
    '"text"',
    "12",
    "null",
    '{"text": 5, "name": [], "contact": "x", "availability": {}, "team": 1, "agent": null}',
    '{"text": "\\u00e9\\ud83d\\ude00", "name": "\\u202e", "steps": {"a": {"type": "jump", "to": "a"}}}',
    '{"name": "w", "start": 1, "steps": {"a": null, "b": [], "c": {"type": null, "next": {"x": 1}}}}',
    '{"name": "w", "trigger": {"type": "shortcut", "form": [{"name": "x", "type": "number"}]}, "steps": {}}',
    json.dumps({"contact": {"phone": "+" + "9" * 40, "email": "a@" + "b" * 300, "country": "ZZZ"}, "text": "hi"}),
    json.dumps({"team": "x" * 10_000, "agent": "y" * 10_000, "username": "\x7f", "teams": ["Support"] * 3}),
    '{"fields": {"x": {"y": [1, 2.5e308]}}, "tags": [1, null]}',
    "{not json",
]
QUERIES = ["", "?page=abc", "?cursor=%%%", "?status=nope&team=&assignee=%00", "?page_size=-1", "?publish=1"]


@pytest.fixture
def ids(admin_api, support_conversation, alice, bob) -> dict[str, int]:
    ContactFactory()
    workflow = admin_api.post(f"{API}/workflows/import/?publish=1", ESCALATE, format="json").json()["id"]
    run = admin_api.post(
        f"{API}/conversations/{support_conversation.pk}/shortcuts/{workflow}/start/",
        {"team": "Sales", "summary": "x"},
        format="json",
    ).json()["run"]
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
    }


def operations(client) -> list[tuple[str, str]]:
    schema = yaml.safe_load(client.get(f"{API}/schema/").content)
    return [(path, method) for path, item in schema["paths"].items() for method in item if method != "parameters"]


def concrete(path: str, ids: dict[str, int]) -> str:
    resource = path.split("/")[3].rstrip("s")
    path = path.replace("{conversation_id}", str(ids["conversation_id"]))
    path = path.replace("{shortcut_id}", str(ids["shortcut_id"]))
    return path.replace("{id}", str(ids.get(resource, 1)))


@pytest.mark.parametrize("who", ["admin_api", "alice_api"])
def test_no_operation_answers_5xx_to_odd_input(request, client, ids, who):
    api = request.getfixturevalue(who)
    failures = []
    for path, method in operations(client):
        if method == "delete":
            continue
        url = concrete(path, ids)
        for query in QUERIES:
            for body in BODIES if method != "get" else [None]:
                kwargs = {} if body is None else {"data": body, "content_type": "application/json"}
                response = getattr(api, method)(url + query, **kwargs)
                if response.status_code >= 500:
                    failures.append((method, url + query, body, response.status_code))
    assert not failures, failures[:5]
