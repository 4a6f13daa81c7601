"""Steps that act on the conversation: assign, send a message, comment, update the contact, close.

Each writes through the inbox/contacts services with the step's idempotency key, inside the
run's transaction, so a retried task cannot repeat what the customer or an agent sees.
"""

from __future__ import annotations

import abc
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from routing.steps.base import (
    FAILURE,
    QUEUED,
    SUCCESS,
    Outcome,
    Step,
    StepContext,
    ValidationContext,
    optional_bool,
    require_text,
)


class AssignStep(Step):
    """Give the conversation to a team (by strategy) or to a named agent, or unassign it."""

    kind = "assign"
    outcomes = (SUCCESS, FAILURE, QUEUED)
    keys = frozenset(
        {"team", "agent", "strategy", "online_only", "on_shift_only", "unassign", "exclude_current", "queue"}
    )

    def validate(self, config: dict[str, Any], ctx: ValidationContext) -> list[str]:
        from inbox.services import Strategy

        errors = optional_bool(config, "online_only") + optional_bool(config, "unassign")
        errors += optional_bool(config, "exclude_current") + optional_bool(config, "on_shift_only")
        errors += optional_bool(config, "queue")
        team, agent = config.get("team"), config.get("agent")
        if config.get("unassign"):
            if team or agent:
                errors.append(_("'unassign' cannot be combined with 'team' or 'agent'."))
            return errors
        if not team and not agent:
            errors.append(_("Name a 'team' or an 'agent' (or set 'unassign')."))
        if team is not None and (not isinstance(team, str) or team not in ctx.team_names):
            errors.append(_("Team '%(team)s' does not exist.") % {"team": team})
        if agent is not None and (not isinstance(agent, str) or agent not in ctx.agent_usernames):
            errors.append(_("Agent '%(agent)s' does not exist.") % {"agent": agent})
        strategy = config.get("strategy", Strategy.ROUND_ROBIN)
        if strategy not in Strategy.ALL:
            errors.append(_("Unknown strategy '%(s)s'; use round_robin, least_open or specific.") % {"s": strategy})
        elif strategy == Strategy.SPECIFIC and not agent:
            errors.append(_("Strategy 'specific' needs an 'agent'."))
        return errors

    def run(self, ctx: StepContext) -> Outcome:
        from inbox import services
        from inbox.models import Agent, Team

        config = ctx.config
        if config.get("unassign"):
            services.unassign(
                ctx.conversation,
                reason=_("Workflow step '%(s)s'") % {"s": ctx.step_id},
                idempotency_key=ctx.idempotency_key,
            )
            return Outcome(SUCCESS, _("Unassigned."))
        team = agent = None
        if config.get("team"):
            team = Team.objects.filter(name=config["team"]).first()
            if team is None:
                return Outcome(FAILURE, _("Team '%(team)s' no longer exists.") % {"team": config["team"]})
        if config.get("agent"):
            agent = Agent.objects.select_related("user").filter(user__username=config["agent"]).first()
            if agent is None:
                return Outcome(FAILURE, _("Agent '%(agent)s' no longer exists.") % {"agent": config["agent"]})
        result = services.assign(
            ctx.conversation,
            team=team,
            agent=agent,
            strategy=config.get("strategy", services.Strategy.ROUND_ROBIN),
            online_only=bool(config.get("online_only")),
            on_shift_only=bool(config.get("on_shift_only")),
            exclude_current=bool(config.get("exclude_current")),
            queue=config.get("queue"),
            reason=_("Workflow step '%(s)s'") % {"s": ctx.step_id},
            idempotency_key=ctx.idempotency_key,
            locked=True,  # the engine holds the conversation's lock for the step
        )
        if result.assigned:
            return Outcome(SUCCESS, result.detail)
        return Outcome(QUEUED if result.queued else FAILURE, result.detail)


class _PostStep(Step):
    """Post a text on the conversation: to the contact (send_message) or for agents (add_comment)."""

    keys = frozenset({"text"})

    def validate(self, config: dict[str, Any], ctx: ValidationContext) -> list[str]:
        return require_text(config, "text")

    done: str

    @abc.abstractmethod
    def post(self, conversation, text: str, idempotency_key: str) -> None:
        """Write the text through the inbox service, keyed so that a retry cannot post twice."""

    def run(self, ctx: StepContext) -> Outcome:
        text = ctx.render(ctx.config["text"])
        if not text.strip():
            return Outcome(FAILURE, _("The text is empty once its variables are filled in."))
        self.post(ctx.conversation, text, ctx.idempotency_key)
        return Outcome(SUCCESS, self.done % {"text": text[:200]})


class SendMessageStep(_PostStep):
    kind = "send_message"
    done = gettext_lazy("Sent: %(text)s")

    def post(self, conversation, text: str, idempotency_key: str) -> None:
        from inbox import services

        services.send_message(conversation, text, idempotency_key=idempotency_key)


class AddCommentStep(_PostStep):
    kind = "add_comment"
    done = gettext_lazy("Commented: %(text)s")

    def post(self, conversation, text: str, idempotency_key: str) -> None:
        from inbox import services

        services.add_comment(conversation, text, idempotency_key=idempotency_key)


class UpdateContactStep(Step):
    kind = "update_contact"
    outcomes = (SUCCESS, FAILURE)
    keys = frozenset({"field", "value"})

    def validate(self, config: dict[str, Any], ctx: ValidationContext) -> list[str]:
        from routing.interpolation import validate_template

        errors: list[str] = []
        if not isinstance(config.get("field"), str) or not config["field"]:
            errors.append(_("'field' must name a contact field."))
        if "value" not in config:
            errors.append(_("'value' is required (use \"\" to clear the field)."))
        elif isinstance(config["value"], str):
            errors += validate_template(config["value"])
        return errors

    def run(self, ctx: StepContext) -> Outcome:
        from contacts import services

        field, value = ctx.config["field"], ctx.config["value"]
        if isinstance(value, str):
            value = ctx.render(value)
        try:
            services.set_field(ctx.conversation.contact, field, value)
        except ValidationError as exc:
            return Outcome(
                FAILURE, _("Could not set %(field)s: %(error)s") % {"field": field, "error": "; ".join(exc.messages)}
            )
        return Outcome(SUCCESS, _("Set contact %(field)s to %(value)s.") % {"field": field, "value": value})


class CloseConversationStep(Step):
    kind = "close_conversation"

    def run(self, ctx: StepContext) -> Outcome:
        from inbox import services

        if services.close_conversation(ctx.conversation, by_run_id=ctx.run.pk):
            return Outcome(SUCCESS, _("Conversation closed."))
        return Outcome(SUCCESS, _("The conversation was already closed."))
