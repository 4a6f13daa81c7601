"""The OpenAPI schema that integrators (and the fuzzer) read is served and valid."""

from __future__ import annotations

import yaml
from drf_spectacular.validation import validate_schema

from tests.api.conftest import API

CONTRACT = [
    ("/api/v1/teams/", "post"),
    ("/api/v1/agents/", "post"),
    ("/api/v1/agents/{id}/", "patch"),
    ("/api/v1/channels/", "post"),
    ("/api/v1/channels/{id}/incoming/", "post"),
    ("/api/v1/conversations/{id}/", "get"),
    ("/api/v1/conversations/{id}/messages/", "get"),
    ("/api/v1/conversations/{id}/messages/", "post"),
    ("/api/v1/conversations/{conversation_id}/runs/", "get"),
    ("/api/v1/workflows/", "post"),
    ("/api/v1/workflows/{id}/publish/", "post"),
    ("/api/v1/workflows/{id}/export/", "get"),
    ("/api/v1/conversations/{conversation_id}/shortcuts/{shortcut_id}/start/", "post"),
]


def test_the_schema_is_valid_openapi_and_covers_the_contract(client, db):
    response = client.get(f"{API}/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    validate_schema(schema)
    for path, method in CONTRACT:
        assert method in schema["paths"].get(path, {}), (method, path)


def test_the_schema_documents_runs_and_messages_as_plain_lists(client, db):
    schema = yaml.safe_load(client.get(f"{API}/schema/").content)

    for path in ("/api/v1/conversations/{id}/messages/", "/api/v1/conversations/{conversation_id}/runs/"):
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["type"] == "array", path


def test_the_docs_page_lists_the_endpoints_without_any_cdn(client, db):
    response = client.get(f"{API}/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/v1/channels/{id}/incoming/" in html
    assert "cdn" not in html.lower() and "<script" not in html
