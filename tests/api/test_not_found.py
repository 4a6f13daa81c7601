"""A URL the API has no route for answers JSON, as every other API error does; the site root
takes agents to their inbox."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/api/v1/conversations/abc/", "/api/v1/nothing-here/", "/api/v2/"])
def test_unknown_api_urls_answer_json_404(admin_api, path):
    response = admin_api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_other_unknown_urls_keep_the_html_page(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_site_root_leads_to_the_inbox(client, db):
    response = client.get("/", follow=True)
    assert response.redirect_chain[0][0] == "/inbox/"
    assert response.request["PATH_INFO"] == "/accounts/login/"
