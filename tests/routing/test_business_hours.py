"""The date & time step and on-shift assignment: playbook 3's rules, at unit level."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from inbox import services as inbox
from inbox.models import Schedule, ScheduleRange, Shift
from inbox.schedules import WEEKDAYS
from routing import services as routing
from routing.services import WorkflowInvalid
from tests.factories import AgentFactory, UserFactory
from tests.routing.test_steps import log as full_log
from tests.routing.test_steps import start

TOKYO = "Asia/Tokyo"


def log(run) -> list[tuple[str, str]]:
    return [entry for entry in full_log(run) if entry[1] != "end"]


def today(tz: str = TOKYO) -> dt.date:
    return timezone.now().astimezone(ZoneInfo(tz)).date()


def all_day_today(tz: str = TOKYO, **extra) -> dict:
    """Open all of today (local), so the test does not depend on the hour it runs at."""
    return {"timezone": tz, "hours": {WEEKDAYS[today(tz).weekday()]: [["00:00", "24:00"]]}, **extra}


def closed_today(tz: str = TOKYO) -> dict:
    return all_day_today(tz, closed_dates=[today(tz).isoformat()])


def stored_schedule(name: str, *, open_now: bool, tz: str = TOKYO) -> Schedule:
    schedule = Schedule.objects.create(name=name, timezone=tz)
    weekday = today(tz).weekday() if open_now else (today(tz).weekday() + 3) % 7
    ScheduleRange.objects.create(schedule=schedule, weekday=weekday, start=dt.time(0), end=dt.time(0))
    return schedule


def hours_steps(schedule) -> dict:
    return {
        "when": {"type": "date_time", "schedule": schedule, "next": {"success": "in", "failure": "away"}},
        "in": {"type": "assign", "team": "Support"},
        "away": {"type": "send_message", "text": "We are closed; we answer from 9:00.", "next": "later"},
        "later": {"type": "add_comment", "text": "Arrived out of hours."},
    }


def test_inside_business_hours_the_conversation_is_assigned(api_channel, alice, run_on_commit):
    conversation, run = start(api_channel, hours_steps(all_day_today()), run_on_commit, start="when")
    conversation.refresh_from_db()
    assert conversation.assignee == alice
    assert log(run) == [("when", "success"), ("in", "success")]
    assert f"({WEEKDAYS[today().weekday()].capitalize()} {today():%Y-%m-%d}" in run.log.get(step="when").detail
    assert TOKYO in run.log.get(step="when").detail


def test_on_a_closed_date_the_away_message_goes_out_and_the_run_jumps_on(api_channel, alice, run_on_commit):
    conversation, run = start(api_channel, hours_steps(closed_today()), run_on_commit, start="when")
    assert log(run) == [("when", "failure"), ("away", "success"), ("later", "success")]
    assert conversation.messages.filter(direction="outgoing").get().text.startswith("We are closed")
    assert "Outside the hours" in run.log.get(step="when").detail


def test_a_stored_schedule_is_read_by_name(api_channel, alice, run_on_commit):
    stored_schedule("Tokyo office", open_now=False)
    _conversation, run = start(api_channel, hours_steps("Tokyo office"), run_on_commit, start="when")
    assert log(run)[0] == ("when", "failure")
    assert "Tokyo office" in run.log.get(step="when").detail


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ({"schedule": "Nowhere"}, "Schedule 'Nowhere' does not exist"),
        ({"schedule": {"timezone": "Moon/Base", "hours": {"mon": [["09:00", "10:00"]]}}}, "not a known IANA"),
        ({"schedule": {"timezone": "UTC", "hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}}, "overlap"),
        ({"schedule": {"timezone": "UTC", "hours": {"mon": [["17:00", "08:00"]]}}}, "ends before it starts"),
        ({"schedule": all_day_today(), "timezone": "Europe/Nowhere"}, "not a known IANA"),
        ({"schedule": 42}, "'schedule' must name a schedule"),
    ],
)
def test_publishing_refuses_a_bad_schedule_naming_the_step(db, step, error):
    workflow = routing.create_workflow(
        {
            "name": "Hours",
            "trigger": {"type": "conversation_opened"},
            "start": "when",
            "steps": {"when": {"type": "date_time", **step}},
        }
    )
    with pytest.raises(WorkflowInvalid) as refused:
        routing.publish(workflow)
    assert any("when" in e and error in e for e in refused.value.errors), refused.value.errors


def shift(team, name, agents, *, open_now: bool) -> Shift:
    on_duty = Shift.objects.create(team=team, name=name, schedule=stored_schedule(name, open_now=open_now))
    on_duty.agents.set(agents)
    return on_duty


def test_on_shift_only_picks_among_agents_whose_shift_covers_now(api_channel, support, alice, run_on_commit):
    night = AgentFactory(user=UserFactory(username="night"), teams=[support])
    shift(support, "Day", [alice], open_now=False)
    shift(support, "Night", [night], open_now=True)
    first, _run = start(api_channel, {"a": {"type": "assign", "team": "Support", "on_shift_only": True}}, run_on_commit)
    more = []
    for n in range(2):
        with run_on_commit(execute=True):
            more.append(inbox.receive_message(api_channel, {"external_id": f"c{n}"}, "Hi")[0])
    for conversation in [first, *more]:
        conversation.refresh_from_db()
        assert conversation.assignee == night


def test_nobody_on_shift_queues_the_conversation(api_channel, support, alice, run_on_commit):
    shift(support, "Day", [alice], open_now=False)
    queued, run = start(
        api_channel,
        {"a": {"type": "assign", "team": "Support", "on_shift_only": True}},
        run_on_commit,
        contact={"external_id": "q"},
    )
    queued.refresh_from_db()
    assert (queued.team, queued.assignee, queued.queued_at is not None) == (support, None, True)
    assert log(run) == [("a", "queued")]
    assert "(only agents on shift)" in run.log.get(step="a", outcome="queued").detail


def test_nobody_on_shift_and_told_not_to_queue_fails_and_leaves_it(api_channel, support, alice, run_on_commit):
    shift(support, "Day", [alice], open_now=False)
    kept, run = start(
        api_channel,
        {"a": {"type": "assign", "team": "Support", "on_shift_only": True, "queue": False}},
        run_on_commit,
        contact={"external_id": "f"},
    )
    kept.refresh_from_db()
    assert (kept.assignee, kept.queued_at) == (None, None)
    assert log(run) == [("a", "failure")]


def test_a_named_agent_off_shift_hands_over_to_the_team(api_channel, support, alice, run_on_commit):
    night = AgentFactory(user=UserFactory(username="night"), teams=[support])
    shift(support, "Day", [alice], open_now=False)
    shift(support, "Night", [night], open_now=True)
    conversation, run = start(
        api_channel,
        {"a": {"type": "assign", "agent": "alice", "team": "Support", "on_shift_only": True}},
        run_on_commit,
    )
    conversation.refresh_from_db()
    assert conversation.assignee == night
    assert "alice is not on shift now" in run.log.get(step="a", outcome="success").detail
