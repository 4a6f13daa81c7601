"""Administrators configure integrations through the API: connections, the HTTP allowlist,
webhook subscriptions and their delivery log. Secrets go in and never come out."""

from __future__ import annotations

from routing.models import AllowedHost, Connection
from tests.api.conftest import API

SECRET = "sk-test-7d1c9a"


def test_an_admin_creates_a_connection_whose_secret_is_never_shown(admin_api, db):
    created = admin_api.post(
        f"{API}/connections/",
        {"name": "CRM", "base_url": "https://crm.example.com/api", "secret_headers": {"X-Api-Key": SECRET}},
        format="json",
    )

    assert created.status_code == 201, created.content
    assert created.json()["secret_header_names"] == ["X-Api-Key"]
    listed = admin_api.get(f"{API}/connections/")
    assert SECRET not in created.content.decode() + listed.content.decode()
    assert Connection.objects.get(name="CRM").secret_headers == {"X-Api-Key": SECRET}


def test_a_connection_refuses_header_injection(admin_api, db):
    answer = admin_api.post(
        f"{API}/connections/", {"name": "CRM", "secret_headers": {"X-Api-Key": "a\r\nX-Evil: 1"}}, format="json"
    )

    assert answer.status_code == 400
    assert "secret_headers" in answer.json()
    assert not Connection.objects.exists()


def test_the_allowlist_takes_hosts_and_networks_only(admin_api, db):
    good = admin_api.post(f"{API}/http-allowlist/", {"value": " CRM.Internal "}, format="json")
    bad = admin_api.post(f"{API}/http-allowlist/", {"value": "http://crm.internal/x"}, format="json")

    assert good.status_code == 201 and good.json()["value"] == "crm.internal"
    assert bad.status_code == 400 and "value" in bad.json()
    assert list(AllowedHost.objects.values_list("value", flat=True)) == ["crm.internal"]


def test_an_agent_cannot_see_or_change_integrations(alice_api, admin_api, db):
    admin_api.post(f"{API}/connections/", {"name": "CRM", "secret_headers": {"X-Api-Key": SECRET}}, format="json")

    for url in ("connections", "http-allowlist", "webhook-subscriptions", "webhook-deliveries"):
        assert alice_api.get(f"{API}/{url}/").status_code == 403
    assert alice_api.post(f"{API}/http-allowlist/", {"value": "10.0.0.0/8"}, format="json").status_code == 403
    assert not AllowedHost.objects.exists()


def test_a_webhook_subscription_names_known_events_and_channels(admin_api, api_channel):
    ok = admin_api.post(
        f"{API}/webhook-subscriptions/",
        {"url": "https://example.com/hook", "events": ["run.failed", "conversation.closed"], "channel": "API"},
        format="json",
    )
    unknown = admin_api.post(
        f"{API}/webhook-subscriptions/",
        {"url": "https://example.com/hook", "events": ["conversation.deleted"]},
        format="json",
    )

    assert ok.status_code == 201, ok.content
    assert ok.json()["channel"] == "API" and len(ok.json()["secret"]) > 20
    assert unknown.status_code == 400 and "events" in unknown.json()
