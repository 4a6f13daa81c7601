"""Steps that move the run around: branch, jump, wait."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from routing.conditions import ConditionError, evaluate_group, explain, validate_condition
from routing.steps.base import (
    FAILURE,
    SUCCESS,
    WAITING,
    Event,
    Outcome,
    Step,
    StepContext,
    ValidationContext,
    Wait,
)

MAX_WAIT_SECONDS = 366 * 24 * 3600


class BranchStep(Step):
    """The first branch whose conditions hold decides; ``else`` when none does."""

    kind = "branch"
    outcomes = (SUCCESS, FAILURE)
    keys = frozenset({"branches", "else"})

    def validate(self, config: dict[str, Any], ctx: ValidationContext) -> list[str]:
        errors: list[str] = []
        branches = config.get("branches")
        if not isinstance(branches, list) or not branches:
            return [_("'branches' must be a non-empty list.")]
        for i, branch in enumerate(branches, start=1):
            if not isinstance(branch, dict):
                errors.append(_("branch %(i)d must be an object.") % {"i": i})
                continue
            if branch.get("match", "all") not in ("all", "any"):
                errors.append(_("branch %(i)d: 'match' must be 'all' or 'any'.") % {"i": i})
            conditions = branch.get("conditions")
            if not isinstance(conditions, list) or not conditions:
                errors.append(_("branch %(i)d: 'conditions' must be a non-empty list.") % {"i": i})
            else:
                for condition in conditions:
                    errors += [f"branch {i}: {e}" for e in validate_condition(condition)]
            if not isinstance(branch.get("next"), str):
                errors.append(_("branch %(i)d: 'next' must name a step.") % {"i": i})
        if "else" in config and not isinstance(config["else"], str):
            errors.append(_("'else' must name a step."))
        return errors

    def targets(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        found = [
            (f"branch {i}", b["next"])
            for i, b in enumerate(config.get("branches") or [], start=1)
            if isinstance(b, dict) and isinstance(b.get("next"), str)
        ]
        if isinstance(config.get("else"), str):
            found.append(("else", config["else"]))
        return found

    def run(self, ctx: StepContext) -> Outcome:
        for i, branch in enumerate(ctx.config["branches"], start=1):
            match = branch.get("match", "all")
            try:
                matched = evaluate_group(match, branch["conditions"], ctx.snapshot)
            except ConditionError as exc:
                return Outcome(FAILURE, _("Branch %(i)d could not be evaluated: %(error)s") % {"i": i, "error": exc})
            if matched:
                reasons = "; ".join(explain(c, ctx.snapshot) for c in branch["conditions"])
                return Outcome(
                    SUCCESS, _("Branch %(i)d matched (%(why)s).") % {"i": i, "why": reasons}, goto=branch["next"]
                )
        if ctx.config.get("else"):
            return Outcome(SUCCESS, _("No branch matched; took 'else'."), goto=ctx.config["else"])
        return Outcome(SUCCESS, _("No branch matched and there is no 'else'."))

    def next_step(self, config: dict[str, Any], outcome: str) -> str | None:
        return None  # branch always says where to go through Outcome.goto


class JumpStep(Step):
    """Go to another step. The engine stops a run that jumps around too often (loop guard)."""

    kind = "jump"
    keys = frozenset({"to"})

    def validate(self, config: dict[str, Any], ctx: ValidationContext) -> list[str]:
        if not isinstance(config.get("to"), str) or not config["to"]:
            return [_("'to' must name a step.")]
        return []

    def targets(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        return [("to", config["to"])] if isinstance(config.get("to"), str) else []

    def run(self, ctx: StepContext) -> Outcome:
        return Outcome(SUCCESS, _("Jumped to '%(to)s'.") % {"to": ctx.config["to"]}, goto=ctx.config["to"])

    def next_step(self, config: dict[str, Any], outcome: str) -> str | None:
        return None


class WaitStep(Step):
    """Pause the run for a while; the timer is a database row, durable across restarts."""

    kind = "wait"
    keys = frozenset({"seconds"})

    def validate(self, config: dict[str, Any], ctx: ValidationContext) -> list[str]:
        seconds = config.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return [_("'seconds' must be a number.")]
        if not 1 <= seconds <= MAX_WAIT_SECONDS:
            return [_("'seconds' must be between 1 and %(max)d (one year).") % {"max": MAX_WAIT_SECONDS}]
        return []

    def run(self, ctx: StepContext) -> Outcome:
        from routing.models import Run, Timer

        seconds = float(ctx.config["seconds"])
        return Outcome(
            WAITING,
            _("Waiting %(s)s seconds.") % {"s": f"{seconds:g}"},
            wait=Wait(Run.Status.WAITING_TIMER, Timer.Kind.WAIT, seconds),
        )

    def resume(self, ctx: StepContext, event: Event) -> Outcome:
        return Outcome(SUCCESS, _("Waited %(s)s seconds.") % {"s": f"{float(ctx.config['seconds']):g}"})
