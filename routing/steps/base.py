"""What every step kind shares: its outcomes, its context, and how it says where to go next."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

from django.utils.translation import gettext as _

SUCCESS, FAILURE, TIMEOUT, QUEUED = "success", "failure", "timeout", "queued"
# Not transitions: the step waits (for an answer or a timer) and the run stays on it.
WAITING = "waiting"
RETRY = "retry"


class StepError(Exception):
    """A step could not do its work; the message says why, in words an admin understands."""


@dataclasses.dataclass(frozen=True)
class Wait:
    """The run pauses on this step until an answer arrives or a timer fires."""

    status: str  # a Run.Status value
    timer_kind: str | None = None
    seconds: float | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    name: str
    detail: str = ""
    variables: dict[str, Any] = dataclasses.field(default_factory=dict)
    goto: str | None = None  # an explicit next step (branch, jump); else `next` by outcome
    wait: Wait | None = None


@dataclasses.dataclass(frozen=True)
class Event:
    """What woke a waiting step: the contact's answer or a timer."""

    message: Any = None  # inbox.models.Message
    timer_kind: str | None = None


@dataclasses.dataclass
class StepContext:
    """Everything a step may use. The run row is locked by the engine for the step's duration."""

    run: Any  # routing.models.Run, locked
    step_id: str
    config: dict[str, Any]
    snapshot: dict[str, Any]
    idempotency_key: str
    render: Callable[..., str]

    @property
    def conversation(self):
        return self.run.conversation

    @property
    def state(self) -> dict[str, Any]:
        return self.run.state


@dataclasses.dataclass
class ValidationContext:
    """Publish-time lookups, done once per validation, so steps don't query one by one."""

    team_names: set[str]
    agent_usernames: set[str]
    step_ids: set[str]
    schedule_names: set[str] = dataclasses.field(default_factory=set)


class Step(abc.ABC):
    kind: ClassVar[str]
    outcomes: ClassVar[tuple[str, ...]] = (SUCCESS,)
    # Config keys a step accepts beyond "type" and "next" (unknown keys are refused at publish).
    keys: ClassVar[frozenset[str]] = frozenset()

    def validate(self, config: dict[str, Any], ctx: ValidationContext) -> list[str]:
        return []

    @abc.abstractmethod
    def run(self, ctx: StepContext) -> Outcome:
        """Do the step's work inside the run's transaction and say how it went."""

    def resume(self, ctx: StepContext, event: Event) -> Outcome:
        """Continue after a wait; only kinds that wait override it."""
        return Outcome(FAILURE, _("This step was not waiting for anything."))

    def targets(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        """(label, step id) pairs this step may go to, for graph checks."""
        nxt = config.get("next")
        if isinstance(nxt, str):
            return [("next", nxt)]
        if isinstance(nxt, dict):
            return [(f"next.{k}", v) for k, v in nxt.items() if isinstance(v, str)]
        return []

    def next_step(self, config: dict[str, Any], outcome: str) -> str | None:
        """A plain step id is followed whatever the outcome; an object maps outcomes to steps."""
        nxt = config.get("next")
        if isinstance(nxt, str):
            return nxt
        if isinstance(nxt, dict):
            return nxt.get(outcome)
        return None


def require_text(config: dict[str, Any], key: str, *, max_length: int = 10_000) -> list[str]:
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        return [_("'%(key)s' must be a non-empty text.") % {"key": key}]
    if len(value) > max_length:
        return [_("'%(key)s' is longer than %(n)d characters.") % {"key": key, "n": max_length}]
    from routing.interpolation import validate_template

    return validate_template(value)


def optional_bool(config: dict[str, Any], key: str) -> list[str]:
    if key in config and not isinstance(config[key], bool):
        return [_("'%(key)s' must be true or false.") % {"key": key}]
    return []
