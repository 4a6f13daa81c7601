"""The date & time step: is it business hours now, by a weekly schedule in a named time zone?"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from routing.steps.base import FAILURE, SUCCESS, Outcome, Step, StepContext, ValidationContext


class DateTimeStep(Step):
    """``success`` inside the schedule's hours, ``failure`` outside them (or on a closed date).

    ``schedule`` names a stored schedule (admin → Schedules) or is inline:
    ``{"timezone": "Europe/Madrid", "hours": {"mon": [["09:00", "18:00"]]}, "closed_dates": [...]}``.
    ``timezone``, when given, is the zone the hours are read in.
    """

    kind = "date_time"
    outcomes = (SUCCESS, FAILURE)
    keys = frozenset({"schedule", "timezone"})

    def validate(self, config: dict[str, Any], ctx: ValidationContext) -> list[str]:
        from inbox import schedules

        schedule, tz = config.get("schedule"), config.get("timezone")
        errors = schedules.load_timezone(tz)[1] if tz is not None else []
        if isinstance(schedule, str):
            if schedule not in ctx.schedule_names:
                errors.append(_("Schedule '%(name)s' does not exist.") % {"name": schedule})
        elif isinstance(schedule, dict):
            if not errors:
                errors += schedules.parse_inline(schedule, timezone=tz)[1]
        else:
            errors.append(_("'schedule' must name a schedule or be an inline schedule object."))
        return errors

    def run(self, ctx: StepContext) -> Outcome:
        from inbox import schedules

        schedule, tz = ctx.config["schedule"], ctx.config.get("timezone")
        if isinstance(schedule, str):
            hours = schedules.load(schedule, timezone=tz)
            if hours is None:
                return Outcome(FAILURE, _("Schedule '%(name)s' no longer exists.") % {"name": schedule})
            name = schedule
        else:
            hours, errors = schedules.parse_inline(schedule, timezone=tz)
            if hours is None:  # published versions were validated; only a changed time zone database gets here
                return Outcome(FAILURE, "; ".join(errors))
            name = _("the inline schedule")
        now = timezone.now()
        when = hours.describe(now)
        if hours.is_open(now):
            return Outcome(SUCCESS, _("Inside the hours of %(name)s (%(when)s).") % {"name": name, "when": when})
        return Outcome(FAILURE, _("Outside the hours of %(name)s (%(when)s).") % {"name": name, "when": when})
