"""Weekly opening hours in a named time zone: is a given instant inside them?

A schedule is wall-clock time in its zone: "Mon 09:00–18:00 Europe/Madrid" stays 09:00–18:00
in Madrid across daylight-saving changes, because the instant is converted to local time
before it is compared. A range ending at 00:00 (or "24:00" in JSON) runs until midnight.
Overnight ranges are written as two ranges, one each side of midnight.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIDNIGHT = dt.time(0, 0)


@dataclasses.dataclass(frozen=True)
class WeeklyHours:
    timezone: zoneinfo.ZoneInfo
    # weekday (0 = Monday) -> sorted (start, end) ranges; end None means midnight.
    ranges: dict[int, tuple[tuple[dt.time, dt.time | None], ...]]
    closed_dates: frozenset[dt.date] = frozenset()

    def local(self, at: dt.datetime) -> dt.datetime:
        return at.astimezone(self.timezone)

    def is_open(self, at: dt.datetime) -> bool:
        local = self.local(at)
        if local.date() in self.closed_dates:
            return False
        now = local.time().replace(tzinfo=None)
        return any(start <= now and (end is None or now < end) for start, end in self.ranges.get(local.weekday(), ()))

    def describe(self, at: dt.datetime) -> str:
        """The local time the decision was made on, for run logs: "Mon 2026-11-30 10:32 Europe/Madrid"."""
        local = self.local(at)
        return f"{WEEKDAYS[local.weekday()].capitalize()} {local:%Y-%m-%d %H:%M} {self.timezone.key}"


def check_ranges(ranges: Iterable[tuple[int, dt.time, dt.time | None]]) -> list[str]:
    """Errors for inverted or overlapping ranges; ``end`` None or 00:00 means midnight."""
    errors: list[str] = []
    by_day: dict[int, list[tuple[dt.time, dt.time | None]]] = {}
    for weekday, start, end in ranges:
        end = None if end in (None, MIDNIGHT) else end
        day = WEEKDAYS[weekday].capitalize()
        if end is not None and end <= start:
            errors.append(
                _("%(day)s %(start)s–%(end)s ends before it starts; split a range that crosses midnight in two.")
                % {"day": day, "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}
            )
            continue
        by_day.setdefault(weekday, []).append((start, end))
    for weekday, day_ranges in sorted(by_day.items()):
        day_ranges.sort(key=lambda r: r[0])
        for (s1, e1), (s2, _e2) in itertools.pairwise(day_ranges):
            if e1 is None or s2 < e1:
                errors.append(
                    _("%(day)s: %(a)s and %(b)s overlap.")
                    % {
                        "day": WEEKDAYS[weekday].capitalize(),
                        "a": f"{s1:%H:%M}–{e1:%H:%M}" if e1 else f"{s1:%H:%M}–24:00",
                        "b": f"{s2:%H:%M}",
                    }
                )
    return errors


def load_timezone(name: Any) -> tuple[zoneinfo.ZoneInfo | None, list[str]]:
    if not isinstance(name, str) or not name:
        return None, [_("'timezone' must be an IANA time zone name, e.g. Europe/Madrid.")]
    if name not in zoneinfo.available_timezones():
        return None, [_("'%(tz)s' is not a known IANA time zone, e.g. Europe/Madrid.") % {"tz": name}]
    return zoneinfo.ZoneInfo(name), []


def _parse_time(value: Any) -> dt.time | None:
    """ "HH:MM" to a time; "24:00" to None (midnight at the end of the day). Raises ValueError."""
    if value == "24:00":
        return None
    if not isinstance(value, str) or len(value) != 5:
        raise ValueError(value)
    return dt.time.fromisoformat(value)


def parse_inline(data: Any, *, timezone: Any = None) -> tuple[WeeklyHours | None, list[str]]:
    """An inline schedule from workflow JSON:
    ``{"timezone": "Europe/Madrid", "hours": {"mon": [["09:00", "18:00"]]}, "closed_dates": ["2026-12-25"]}``.
    """
    if not isinstance(data, dict):
        return None, [_("An inline schedule must be an object with 'timezone', 'hours' and 'closed_dates'.")]
    errors: list[str] = []
    unknown = set(data) - {"timezone", "hours", "closed_dates"}
    if unknown:
        errors.append(_("Unknown schedule setting(s): %(keys)s.") % {"keys": ", ".join(sorted(map(str, unknown)))})
    tz, tz_errors = load_timezone(timezone or data.get("timezone"))
    errors += tz_errors
    hours = data.get("hours")
    ranges: list[tuple[int, dt.time, dt.time | None]] = []
    if not isinstance(hours, dict) or not hours:
        errors.append(_('\'hours\' must map days (mon … sun) to lists of ["HH:MM", "HH:MM"] ranges.'))
        hours = {}
    for day, day_ranges in hours.items():
        if day not in WEEKDAYS:
            errors.append(_("'%(day)s' is not a day; use mon, tue, wed, thu, fri, sat, sun.") % {"day": day})
            continue
        if not isinstance(day_ranges, list):
            errors.append(_("'hours.%(day)s' must be a list of ranges.") % {"day": day})
            continue
        for pair in day_ranges:
            try:
                start, end = pair
                start_time = _parse_time(start)
                if start_time is None:
                    raise ValueError(start)
                ranges.append((WEEKDAYS.index(day), start_time, _parse_time(end)))
            except (TypeError, ValueError):
                errors.append(
                    _('\'hours.%(day)s\' has %(range)s; a range is ["HH:MM", "HH:MM"].')
                    % {"day": day, "range": str(pair)[:40]}
                )
    errors += check_ranges(ranges)
    closed: set[dt.date] = set()
    closed_dates = data.get("closed_dates", [])
    if not isinstance(closed_dates, list):
        errors.append(_("'closed_dates' must be a list of dates (YYYY-MM-DD)."))
        closed_dates = []
    for value in closed_dates:
        try:
            closed.add(dt.date.fromisoformat(value))
        except (TypeError, ValueError):
            errors.append(_("'%(value)s' in 'closed_dates' is not a date (YYYY-MM-DD).") % {"value": str(value)[:40]})
    if errors:
        return None, errors
    return _build(tz, ranges, closed), []


def _build(tz, ranges, closed) -> WeeklyHours:
    by_day: dict[int, list] = {}
    for weekday, start, end in ranges:
        by_day.setdefault(weekday, []).append((start, None if end == MIDNIGHT else end))
    return WeeklyHours(
        timezone=tz,
        ranges={day: tuple(sorted(r, key=lambda x: x[0])) for day, r in by_day.items()},
        closed_dates=frozenset(closed),
    )


def from_model(schedule, *, timezone: str | None = None) -> WeeklyHours:
    """A stored ``inbox.Schedule`` (its ranges and closed dates prefetched, or two queries)."""
    tz = zoneinfo.ZoneInfo(timezone or schedule.timezone)
    ranges = [(r.weekday, r.start, r.end) for r in schedule.ranges.all()]
    return _build(tz, ranges, {c.date for c in schedule.closed_dates.all()})


def load(name: str, *, timezone: str | None = None) -> WeeklyHours | None:
    from inbox.models import Schedule

    schedule = Schedule.objects.prefetch_related("ranges", "closed_dates").filter(name=name).first()
    return None if schedule is None else from_model(schedule, timezone=timezone)


def shifts_on_duty(team, at: dt.datetime) -> list[int]:
    """Ids of ``team``'s shifts whose hours cover ``at``: three queries, whatever the team's size."""
    from inbox.models import Shift

    shifts = Shift.objects.filter(team=team).select_related("schedule")
    shifts = shifts.prefetch_related("schedule__ranges", "schedule__closed_dates")
    return [shift.pk for shift in shifts if from_model(shift.schedule).is_open(at)]
