"""Playbook 3, "Business hours and shifts", from its one-click template, with a real worker.

The template's schedule is in Europe/Madrid; these tests move it to Asia/Tokyo (never UTC,
nor the machine's zone) and make "now" inside or outside it by choosing today's local weekday
or closing today, so they pass at any hour. Shifts are configured the way an admin does, in
the database the worker reads.
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from inbox.models import Agent, Schedule, ScheduleRange, Shift, Team
from inbox.schedules import WEEKDAYS
from routing.workflow_templates import load
from tests.e2e import HelpdeskApi, refers_to, step_path, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker_process"),
]

TZ = "Asia/Tokyo"
STEPS = set(load("business_hours")["steps"])


def local_today() -> dt.date:
    return timezone.now().astimezone(ZoneInfo(TZ)).date()


def template(*, open_now: bool) -> dict:
    definition = load("business_hours")
    today = local_today()
    definition["steps"]["hours"]["schedule"] = {
        "timezone": TZ,
        "hours": {WEEKDAYS[today.weekday()]: [["00:00", "24:00"]]},
        "closed_dates": [] if open_now else [today.isoformat()],
    }
    return definition


def shift(team_name: str, usernames: list[str], *, on_duty: bool) -> Shift:
    """A shift of the team whose hours cover today (Tokyo) or another day only."""
    weekday = local_today().weekday() if on_duty else (local_today().weekday() + 3) % 7
    name = f"{team_name} {'/'.join(usernames)} {'on' if on_duty else 'off'} duty"
    schedule = Schedule.objects.create(name=name, timezone=TZ)
    ScheduleRange.objects.create(schedule=schedule, weekday=weekday, start=dt.time(0), end=dt.time(0))
    team_shift = Shift.objects.create(team=Team.objects.get(name=team_name), name=name, schedule=schedule)
    team_shift.agents.set(Agent.objects.filter(user__username__in=usernames))
    return team_shift


@pytest.fixture
def api(admin_api) -> HelpdeskApi:
    return HelpdeskApi(admin_api)


@pytest.fixture
def support(api: HelpdeskApi) -> dict:
    team = api.create_team("Support")
    agents = {name: api.create_agent(name, ["Support"]) for name in ("daisy", "nina")}
    shift("Support", ["daisy"], on_duty=True)
    shift("Support", ["nina"], on_duty=False)
    return {"team": team, **agents}


def test_inside_business_hours_the_agent_on_shift_gets_the_conversation(api: HelpdeskApi, support: dict):
    workflow = api.create_workflow(template(open_now=True))
    api.publish(workflow["id"])
    channel = api.create_channel("Web")

    for n in range(2):  # round robin among agents on shift: nina is online but off shift
        opened = api.incoming(channel["id"], {"external_id": f"day-{n}", "name": "Kenji"}, "Hello")
        run = api.wait_for_run(opened["conversation"])
        conversation = api.conversation(opened["conversation"])
        assert refers_to(conversation["assignee"], support["daisy"], "username"), conversation
        assert step_path(run, STEPS) == ["hours", "assign", "greet"], run["log"]
        assert TZ in next(e["detail"] for e in run["log"] if e["step"] == "hours")
        assert api.outgoing(opened["conversation"]) == [
            "Thanks for writing, Kenji. An agent of our Support team is with you now."
        ]


def test_outside_business_hours_the_contact_gets_the_away_message_and_waits_for_the_next_shift(
    api: HelpdeskApi, support: dict
):
    Shift.objects.filter(name="Support daisy on duty").delete()  # nobody on shift now
    workflow = api.create_workflow(template(open_now=False))
    api.publish(workflow["id"])
    channel = api.create_channel("Web")

    opened = api.incoming(channel["id"], {"external_id": "night", "name": "Yui"}, "Hello?")
    run = api.wait_for_run(opened["conversation"])

    assert step_path(run, STEPS) == ["hours", "away", "after_hours", "assign", "queued_note"], run["log"]
    assert api.outgoing(opened["conversation"])[0].startswith("We are closed right now.")
    conversation = api.conversation(opened["conversation"])
    assert conversation["assignee"] is None
    assert refers_to(conversation["team"], support["team"], "name"), conversation

    # The next shift starts (an admin puts nina on duty) and nina comes back online: the
    # waiting conversation is hers within seconds, without the contact writing again.
    shift("Support", ["nina"], on_duty=True)
    api.patch(f"/api/v1/agents/{support['nina']['id']}/", {"availability": "away"})
    started = time.monotonic()
    api.patch(f"/api/v1/agents/{support['nina']['id']}/", {"availability": "online"})

    def assigned_to_nina():
        return refers_to(api.conversation(opened["conversation"])["assignee"], support["nina"], "username")

    wait_for(assigned_to_nina, timeout=10, what="the queued conversation to go to nina")
    assert time.monotonic() - started < 5
