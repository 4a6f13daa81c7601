"""A run that can never resume shows as such in the admin, with the reason, and can be filtered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from routing import services
from routing.models import Run, Timer
from tests.factories import ConversationFactory, UserFactory, WorkflowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs():
    version = services.publish(WorkflowFactory(name="Greeter"))

    def run(run_status: str, **conversation) -> Run:
        return Run.objects.create(
            workflow=version.workflow,
            version=version,
            conversation=ConversationFactory(**conversation),
            status=run_status,
            current_step="hello",
        )

    waiting = run(Run.Status.WAITING_TIMER)
    Timer.objects.create(run=waiting, kind="wait", seq=0, due_at=timezone.now() + timedelta(minutes=5))
    lost_timer = run(Run.Status.WAITING_TIMER)
    Timer.objects.create(run=lost_timer, kind="wait", seq=0, due_at=timezone.now(), cancelled_at=timezone.now())
    closed = run(Run.Status.WAITING_ANSWER, status="closed")
    asking = run(Run.Status.WAITING_ANSWER)
    stalled = run(Run.Status.RUNNING)
    Run.objects.filter(pk=stalled.pk).update(updated_at=timezone.now() - timedelta(minutes=11))
    running = run(Run.Status.RUNNING)
    done = run(Run.Status.COMPLETED)
    return {"healthy": {waiting, asking, running, done}, "stuck": {lost_timer, closed, stalled}}


def test_stuck_runs_are_found_whatever_the_reason(runs):
    assert set(Run.objects.stuck()) == runs["stuck"]


def test_the_admin_filters_stuck_runs_and_says_why(client, runs):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:routing_run_changelist"), {"stuck": "yes"}).content.decode()
    shown = {run for run in Run.objects.all() if f"/admin/routing/run/{run.pk}/change/" in page}
    assert shown == runs["stuck"]
    assert "never: no timer is pending" in page
    assert "never: the conversation is closed" in page
    assert "stuck: untouched since" in page

    everything = client.get(reverse("admin:routing_run_changelist")).content.decode()
    assert "when its timer fires" in everything
    assert "when the contact answers" in everything
