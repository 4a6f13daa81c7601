"""The fixed cast of the suite: Support and Sales teams, an agent in each, an admin."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import AgentFactory, ChannelFactory, TeamFactory, UserFactory


@pytest.fixture
def support(db):
    return TeamFactory(name="Support")


@pytest.fixture
def sales(db):
    return TeamFactory(name="Sales")


@pytest.fixture
def alice(support):
    """An online agent of Support."""
    return AgentFactory(user=UserFactory(username="alice", first_name="Alice"), teams=[support])


@pytest.fixture
def bob(sales):
    """An online agent of Sales: outside Support."""
    return AgentFactory(user=UserFactory(username="bob", first_name="Bob"), teams=[sales])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def api_channel(db):
    return ChannelFactory(name="API", kind="api")


def token_client(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    return token_client(admin_user)


@pytest.fixture
def alice_api(alice) -> APIClient:
    return token_client(alice.user)


@pytest.fixture
def bob_api(bob) -> APIClient:
    return token_client(bob.user)


@pytest.fixture
def run_on_commit(db, django_capture_on_commit_callbacks):
    """Run the tasks that services enqueue on commit, in this process (unit tests only).

    End-to-end tests use a real worker instead (tests/e2e).
    """
    from django.test.utils import override_settings

    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        from helpdesk.celery import app

        app.conf.task_always_eager = True
        try:
            yield django_capture_on_commit_callbacks
        finally:
            app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Real hashers cost ~0.3 s per password; tests make many users and check no hash strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """Throttle counters (API, web chat) live in the cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
