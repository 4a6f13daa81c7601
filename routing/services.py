"""Writes of the routing app: drafts, publishing, starting and waking runs.

The inbox calls ``on_conversation_opened`` / ``on_incoming_message`` / ``on_conversation_closed``
inside its own transaction; the work they cause is enqueued on commit.
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from routing.conditions import ConditionError, evaluate_group
from routing.models import Run, RunLog, Timer, Workflow, WorkflowVersion
from routing.validation import check_shape, validate_definition

logger = logging.getLogger(__name__)

__all__ = [
    "WorkflowInvalid",
    "create_workflow",
    "export_workflow",
    "on_conversation_closed",
    "on_conversation_opened",
    "on_incoming_message",
    "publish",
    "start_shortcut",
    "update_draft",
    "validate_definition",
]


class WorkflowInvalid(Exception):
    """A definition that cannot be stored or published; ``errors`` name the steps."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


# --- Drafts and publishing ----------------------------------------------------------------------


def create_workflow(definition: Any) -> Workflow:
    errors = check_shape(definition)
    if errors:
        raise WorkflowInvalid(errors)
    return Workflow.objects.create(name=definition["name"].strip(), definition=definition)


def update_draft(workflow: Workflow, definition: Any) -> Workflow:
    """Replace the draft; the live version and the runs on it are untouched until publish."""
    errors = check_shape(definition)
    if errors:
        raise WorkflowInvalid(errors)
    workflow.definition = definition
    workflow.name = definition["name"].strip()
    workflow.save()
    return workflow


def publish(workflow: Workflow, *, user=None) -> WorkflowVersion:
    """Validate the draft and make it the live version. Runs under way keep their version."""
    with transaction.atomic():
        # The draft as stored now, under the lock: an edit saved a moment ago is what gets published.
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        errors = validate_definition(locked.definition)
        if errors:
            raise WorkflowInvalid(errors)
        number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = WorkflowVersion.objects.create(
            workflow=locked, number=number, definition=copy.deepcopy(locked.definition), published_by=user
        )
        locked.published_version = version
        locked.save()
    workflow.published_version = version
    workflow.definition = locked.definition
    workflow.trigger_type = locked.trigger_type
    return version


def export_workflow(workflow: Workflow) -> dict[str, Any]:
    definition = copy.deepcopy(workflow.definition)
    definition["name"] = workflow.name
    return definition


# --- Starting runs ------------------------------------------------------------------------------


def _start_run(version: WorkflowVersion, conversation, *, variables: dict | None = None, user=None, reason: str) -> Run:
    from routing.tasks import advance_run

    run = Run.objects.create(
        workflow_id=version.workflow_id,
        version=version,
        conversation=conversation,
        current_step=version.definition["start"],
        variables=variables or {},
        started_by=user,
        seq=1,
    )
    RunLog.objects.create(run=run, seq=0, step="", step_type="trigger", outcome="started", detail=reason)
    transaction.on_commit(lambda: advance_run.delay(run.pk))
    return run


def on_conversation_opened(conversation) -> list[Run]:
    """Start every live workflow whose "conversation opened" trigger conditions hold."""
    from routing.engine import build_snapshot

    workflows = (
        Workflow.objects.filter(
            trigger_type=Workflow.Trigger.CONVERSATION_OPENED, is_active=True, published_version__isnull=False
        )
        .select_related("published_version")
        .order_by("pk")
    )
    started = []
    snapshot = None
    for workflow in workflows:
        version = workflow.published_version
        trigger = version.definition.get("trigger") or {}
        conditions = trigger.get("conditions") or []
        if conditions:
            if snapshot is None:
                snapshot = build_snapshot(Run(conversation=conversation, variables={}))
            try:
                matched = evaluate_group(trigger.get("match", "all"), conditions, snapshot)
            except ConditionError as exc:
                # Not a silent "no match": the admin finds a failed run saying why.
                run = Run.objects.create(
                    workflow=workflow,
                    version=version,
                    conversation=conversation,
                    status=Run.Status.FAILED,
                    error=str(exc),
                    finished_at=timezone.now(),
                    seq=1,
                )
                RunLog.objects.create(
                    run=run,
                    seq=0,
                    step="",
                    step_type="trigger",
                    outcome="failure",
                    detail=_("Trigger conditions could not be evaluated: %(e)s") % {"e": exc},
                )
                continue
            if not matched:
                continue
        started.append(_start_run(version, conversation, reason=_("Started: conversation opened.")))
    return started


def start_shortcut(workflow: Workflow, conversation, *, user, values: Any) -> Run:
    """An agent started a shortcut on a conversation; the form's values become run variables."""
    version = workflow.published_version
    if not workflow.is_active or version is None or workflow.trigger_type != Workflow.Trigger.SHORTCUT:
        raise WorkflowInvalid([_("'%(name)s' is not a live shortcut.") % {"name": workflow.name}])
    form = (version.definition.get("trigger") or {}).get("form") or []
    variables = clean_form(form, values)
    with transaction.atomic():
        who = user.get_username() if user is not None else _("someone")
        return _start_run(
            version,
            conversation,
            variables=variables,
            user=user,
            reason=_("Started by %(user)s with the shortcut form.") % {"user": who},
        )


def clean_form(form: list[dict[str, Any]], values: Any) -> dict[str, Any]:
    """Validate shortcut form values on the server; ``ValidationError`` with field errors."""
    if not isinstance(values, dict):
        raise ValidationError({"non_field_errors": [_("Send the form values as an object.")]})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for field in form:
        name, kind = field["name"], field.get("type", "text")
        value = values.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            if field.get("required"):
                errors[name] = [_("This field is required.")]
            continue
        if kind == "dropdown":
            options = field.get("options") or []
            chosen = next((o for o in options if str(value).casefold() == o.casefold()), None)
            if chosen is None:
                errors[name] = [_("Choose one of: %(options)s.") % {"options": ", ".join(options)}]
            else:
                cleaned[name] = chosen
        elif kind == "number":
            try:
                number = float(str(value).replace(",", "."))
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                errors[name] = [_("Enter a number.")]
            else:
                cleaned[name] = int(number) if number.is_integer() else number
        elif kind == "email":
            try:
                validate_email(str(value))
            except ValidationError:
                errors[name] = [_("Enter a valid e-mail address.")]
            else:
                cleaned[name] = str(value).lower()
        else:
            if not isinstance(value, str | int | float):
                errors[name] = [_("Enter text.")]
            elif len(str(value)) > 5000:
                errors[name] = [_("At most 5000 characters.")]
            else:
                cleaned[name] = str(value)
    if errors:
        raise ValidationError(errors)
    return cleaned


# --- Waking runs --------------------------------------------------------------------------------


def on_incoming_message(conversation, message) -> list[int]:
    """Hand the contact's message to the runs waiting for an answer on this conversation.

    The answer is recorded on the run in the caller's transaction (durable with the message);
    the engine evaluates it in a task. A message arriving while the previous answer still
    waits to be judged is queued behind it; otherwise a message no run waits for is just stored.
    """
    from routing.tasks import advance_run

    runs = Run.objects.select_for_update().filter(
        conversation=conversation, status__in=(Run.Status.WAITING_ANSWER, Run.Status.RUNNING)
    )
    now = timezone.now()
    woken = []
    for run in runs:
        if run.status == Run.Status.RUNNING:
            if run.state.get("event", {}).get("message"):
                # Its last answer is still to be judged: keep this one in case that one is invalid.
                run.state = {**run.state, "answers": [*run.state.get("answers", []), message.pk]}
                run.save(update_fields=["state", "updated_at"])
            continue
        woken.append(run.pk)
        run.state = {**run.state, "event": {"message": message.pk}}
        run.status = Run.Status.RUNNING
        run.save(update_fields=["state", "status", "updated_at"])
        Timer.objects.pending().filter(run=run, kind=Timer.Kind.QUESTION_TIMEOUT).update(cancelled_at=now)
        transaction.on_commit(lambda run_id=run.pk: advance_run.delay(run_id))
    return woken


def on_conversation_closed(conversation, *, except_run_id: int | None = None) -> None:
    """Questions to a contact whose conversation closed will never be answered: cancel those runs."""
    now = timezone.now()
    waiting = Run.objects.filter(conversation=conversation, status=Run.Status.WAITING_ANSWER)
    if except_run_id is not None:
        waiting = waiting.exclude(pk=except_run_id)
    for run in waiting.select_for_update():
        RunLog.objects.create(
            run=run,
            seq=run.seq,
            step=run.current_step,
            step_type="ask_question",
            outcome="cancelled",
            detail=_("The conversation was closed before an answer."),
        )
        Run.objects.filter(pk=run.pk).update(status=Run.Status.CANCELLED, finished_at=now, seq=run.seq + 1)
        Timer.objects.pending().filter(run=run).update(cancelled_at=now)
