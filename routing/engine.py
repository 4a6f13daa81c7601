"""Advance a run: execute its steps one transaction each until it waits or ends.

One step = one transaction holding the run's row lock: the step's effects (messages,
assignment, contact change), the run's new position and variables, and the log entry
commit together or not at all. A task delivered twice finds the run already moved on and
does nothing; a worker killed mid-step leaves the run where it was, to be retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox import webhooks
from inbox.models import Conversation
from routing import interpolation
from routing.models import Run, RunLog, Timer
from routing.steps import Event, Outcome, StepContext, get_step
from routing.steps.base import FAILURE, RETRY, TIMEOUT, WAITING

logger = logging.getLogger(__name__)

# Outcomes that leave a run "failed" when there is nowhere to go from them.
FAILING_OUTCOMES = {FAILURE, TIMEOUT}


class LazyValues(Mapping):
    """Snapshot values, some loaded on first use: a step that never reads a name never queries it."""

    def __init__(self, values: dict[str, Any], loaders: dict[str, Callable[[], Any]]):
        self._values = values
        self._loaders = loaders

    def __getitem__(self, key: str) -> Any:
        if key not in self._values and key in self._loaders:
            self._values[key] = self._loaders.pop(key)()
        return self._values[key]

    def __iter__(self):
        return iter({**self._loaders, **self._values})

    def __len__(self) -> int:
        return len({**self._loaders, **self._values})


def build_snapshot(run: Run) -> dict[str, Any]:
    """The read-only view conditions and templates see, built once per step."""
    conversation = run.conversation
    contact = conversation.contact
    contact_values = {key: getattr(contact, key) for key in contact.BUILTIN_FIELDS}
    contact_values["tags"] = list(contact.tags or [])
    for key, value in (contact.fields or {}).items():
        contact_values.setdefault(key, value)
    return {
        "var": dict(run.variables or {}),
        "contact": contact_values,
        "conversation": LazyValues(
            {
                "id": conversation.pk,
                "status": conversation.status,
                "source": conversation.source,
                "channel": conversation.channel.name,
                "opened_at": conversation.opened_at,
                "last_incoming_at": conversation.last_incoming_at,
                "last_outgoing_at": conversation.last_outgoing_at,
            },
            {
                "team": lambda: conversation.team.name if conversation.team_id else None,
                "assignee": lambda: _username(conversation.assignee_id),
            },
        ),
        "now": timezone.now(),
    }


def _username(agent_id: int | None) -> str | None:
    """The assignee's username in one query (not the agent, then its user)."""
    if agent_id is None:
        return None
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(agent__pk=agent_id).values_list("username", flat=True).first()


def _lock(run_id: int) -> Run | None:
    """Lock the run's conversation, then the run.

    The inbox locks a conversation before its runs (a message arriving, a close), and steps
    lock the conversation to assign or close it; taking it first here keeps one lock order
    everywhere, so the two paths cannot deadlock. Few joins: Django's cost per joined model
    is most of a step's time, and the team and assignee are read only when a step needs them.
    """
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("contact", "channel")
        .filter(runs__pk=run_id)
        .first()
    )
    if conversation is None:
        return None
    run = Run.objects.select_for_update(of=("self",)).select_related("version").filter(pk=run_id).first()
    if run is not None:
        run.conversation = conversation
    return run


def advance(run_id: int) -> str | None:
    """Run steps until the run waits, ends, or hits the per-call step limit; returns its status.

    A run in ``waiting_http`` (an HTTP request step) is claimed for a lease in one transaction,
    its request is sent after that commit with no transaction open and no lock held, and the
    answer is applied in a new step transaction only if the run's seq has not moved meanwhile.
    """
    status = None
    for _i in range(settings.ROUTING_MAX_STEPS_PER_ADVANCE):
        try:
            call = None
            with transaction.atomic():
                run = _lock(run_id)
                if run is None:
                    return None
                if run.status == Run.Status.WAITING_HTTP:
                    call = _claim_http(run)
                    if call is None:
                        return run.status  # another worker is sending it now
                elif run.status != Run.Status.RUNNING:
                    return run.status
                else:
                    _step_once(run)
                    status = run.status
            if call is not None:
                status = _send_http(run_id, call)
        except StepCrashed as crash:
            # The step's transaction rolled back whole, so none of its writes stayed behind;
            # the failure is recorded in a transaction of its own and the run goes on from it.
            status = _record_crash(run_id, crash)
        if status not in (Run.Status.RUNNING, Run.Status.WAITING_HTTP):
            return status
    # Too many steps in one go: yield the worker and continue in a fresh task.
    from routing.tasks import advance_run

    transaction.on_commit(lambda: advance_run.delay(run_id))
    return status


def _claim_http(run: Run) -> dict[str, Any] | None:
    """Lease the run's pending HTTP request to this worker; None while another one's lease runs.

    Caller holds the run's row lock. The lease outlives the longest request; a worker that dies
    mid-request lets it expire, and the stalled-run sweep (``routing.tasks``) sends it again.
    """
    call = run.state.get("http")
    if not isinstance(call, dict):
        return {"seq": run.seq, "lost": True}  # the step logs a failure rather than wait forever
    now = timezone.now()
    lease = call.get("lease_until")
    if lease and datetime.fromisoformat(lease) > now:
        return None
    call["lease_until"] = (now + http_lease()).isoformat()
    call["attempt"] = call.get("attempt", 0) + 1
    run.save(update_fields=["state", "updated_at"])
    return {**call, "seq": run.seq}


def http_lease() -> timedelta:
    """How long one worker owns a pending HTTP request: its whole deadline plus a margin."""
    return timedelta(seconds=settings.HTTP_REQUEST_TOTAL_TIMEOUT + settings.HTTP_REQUEST_CONNECT_TIMEOUT + 10)


def _send_http(run_id: int, call: dict[str, Any]) -> str | None:
    """Send the request outside any transaction, then apply the answer if the run still waits for it."""
    from routing.steps.http import perform

    if call.get("lost"):
        answer = {"error": _("The prepared HTTP request was lost; it was not sent.")}
    else:
        try:
            answer = perform(call)
        except Exception as exc:  # a bug must fail the step, not leave the run to be retried forever
            logger.exception("HTTP request of run %s crashed", run_id)
            answer = {"error": _("Internal error while sending the request: %(error)s") % {"error": exc}}
    with transaction.atomic():
        run = _lock(run_id)
        if run is None:
            return None
        if run.status != Run.Status.WAITING_HTTP or run.seq != call["seq"]:
            return run.status  # a duplicate task already applied an answer: do nothing
        run.state["event"] = {"http": answer}
        run.status = Run.Status.RUNNING
        _step_once(run)
        return run.status


def _step_once(run: Run) -> None:
    """Execute (or resume) the run's current step. Caller holds the run's row lock."""
    definition = run.version.definition
    step_id = run.current_step
    config = definition.get("steps", {}).get(step_id)
    if not isinstance(config, dict):
        _finish(run, step_id, "?", FAILURE, _("There is no step '%(id)s' in this version.") % {"id": step_id})
        return
    kind = config.get("type", "?")
    step = get_step(kind)
    if step is None:
        _finish(run, step_id, kind, FAILURE, _("Unknown step type '%(type)s'.") % {"type": kind})
        return
    event = _take_event(run)
    if event is None and not _repeat_allowed(run, step_id):
        _finish(
            run,
            step_id,
            kind,
            FAILURE,
            _("Stopped: step '%(id)s' ran %(n)d times without the run waiting once (loop guard).")
            % {"id": step_id, "n": settings.ROUTING_MAX_REPEATS_WITHOUT_WAIT},
        )
        return
    if kind == "jump" and not _jump_allowed(run, step_id):
        _finish(
            run,
            step_id,
            kind,
            FAILURE,
            _("Stopped: jumped from '%(id)s' more than %(n)d times (loop guard).")
            % {"id": step_id, "n": settings.ROUTING_MAX_JUMPS},
        )
        return
    snapshot = build_snapshot(run)
    ctx = StepContext(
        run=run,
        step_id=step_id,
        config=config,
        snapshot=snapshot,
        idempotency_key=f"run:{run.pk}:{run.seq}",
        render=lambda text, escape="text": interpolation.render(text, snapshot, escape),
    )
    try:
        outcome = step.resume(ctx, event) if event is not None else step.run(ctx)
    except Exception as exc:  # whatever a step raises, the run records it
        raise StepCrashed(run.seq, exc) from exc
    _apply(run, step_id, kind, step, config, outcome)


class StepCrashed(Exception):
    """A step raised: its transaction must roll back before the failure is recorded."""

    def __init__(self, seq: int, error: Exception):
        super().__init__(f"{type(error).__name__}: {error}")
        self.seq = seq


def _record_crash(run_id: int, crash: StepCrashed) -> str | None:
    logger.error("Step of run %s crashed: %s", run_id, crash, exc_info=crash.__cause__)
    with transaction.atomic():
        run = _lock(run_id)
        if run is None or run.status not in (Run.Status.RUNNING, Run.Status.WAITING_HTTP) or run.seq != crash.seq:
            return run.status if run is not None else None  # someone else moved it on meanwhile
        config = run.version.definition.get("steps", {}).get(run.current_step, {})
        kind = config.get("type", "?")
        run.state.pop("event", None)  # the answer or timer that made it crash is used up
        detail = _("Internal error in this step: %(error)s") % {"error": crash}
        _apply(run, run.current_step, kind, get_step(kind), config, Outcome(FAILURE, detail))
        return run.status


def _take_event(run: Run) -> Event | None:
    pending = run.state.pop("event", None)
    if not pending:
        return None
    if pending.get("message"):
        from inbox.models import Message

        return Event(message=Message.objects.filter(pk=pending["message"]).first() or Message(text=""))
    if "http" in pending:
        from routing.steps.http import HTTP_RESPONSE

        run.state[HTTP_RESPONSE] = pending["http"]
        return Event(timer_kind=HTTP_RESPONSE)
    return Event(timer_kind=pending.get("timer"))


def _repeat_allowed(run: Run, step_id: str) -> bool:
    """A step that comes round again and again with no question or wait in between is a spin."""
    visits = run.state.setdefault("visits", {})
    visits[step_id] = visits.get(step_id, 0) + 1
    return visits[step_id] <= settings.ROUTING_MAX_REPEATS_WITHOUT_WAIT


def _jump_allowed(run: Run, step_id: str) -> bool:
    jumps = run.state.setdefault("jumps", {})
    jumps[step_id] = jumps.get(step_id, 0) + 1
    return jumps[step_id] <= settings.ROUTING_MAX_JUMPS


def _log(run: Run, step_id: str, kind: str, outcome: str, detail: str) -> None:
    """Add a log line; it is written with the run's new position by ``_save``, in one insert."""
    pending = run.__dict__.setdefault("_pending_log", [])
    pending.append(RunLog(run=run, seq=run.seq, step=step_id, step_type=kind, outcome=outcome, detail=detail))
    run.seq += 1


def _apply(run: Run, step_id: str, kind: str, step, config: dict[str, Any], outcome: Outcome) -> None:
    """Record the outcome and move the run. Caller holds the run's row lock."""
    run.variables = {**(run.variables or {}), **outcome.variables}
    _log(run, step_id, kind, outcome.name, outcome.detail)
    if outcome.wait is not None:
        run.state.pop("visits", None)
        answers = run.state.get("answers") or []
        if outcome.wait.status == Run.Status.WAITING_ANSWER and answers:
            # The contact already wrote again while this answer was being judged: take that next.
            run.state["event"] = {"message": answers[0]}
            run.state["answers"] = answers[1:]
            run.status = Run.Status.RUNNING
            _save(run)
            return
        run.status = outcome.wait.status
        if outcome.wait.timer_kind and outcome.wait.seconds:
            schedule_timer(run, outcome.wait.timer_kind, outcome.wait.seconds)
        _save(run)
        return
    if outcome.name in (WAITING, RETRY):
        # A waiting outcome without a wait would stall the run: treat it as a failure.
        _finish(run, step_id, kind, FAILURE, _("The step asked to wait but gave no reason to resume."))
        return
    run.state.pop("answers", None)  # messages sent after the question was answered are just messages
    target = outcome.goto or step.next_step(config, outcome.name)
    if target is None:
        if outcome.name in FAILING_OUTCOMES:
            _finish(
                run,
                step_id,
                kind,
                "end",
                _("Run ended: no step for outcome '%(o)s' of '%(id)s'.") % {"o": outcome.name, "id": step_id},
                status=Run.Status.FAILED,
                error=outcome.detail,
            )
        else:
            _finish(
                run,
                step_id,
                kind,
                "end",
                _("Run completed after '%(id)s' (%(o)s).") % {"id": step_id, "o": outcome.name},
                status=Run.Status.COMPLETED,
            )
        return
    run.current_step = target
    run.status = Run.Status.RUNNING
    _save(run)


def _finish(
    run: Run,
    step_id: str,
    kind: str,
    outcome: str,
    detail: str,
    *,
    status: str = Run.Status.FAILED,
    error: str = "",
) -> None:
    _log(run, step_id, kind, outcome, detail)
    run.status = status
    run.error = error or (detail if status == Run.Status.FAILED else "")
    # No timer can be pending here: a run only runs once its timers fired or were cancelled.
    run.finished_at = timezone.now()
    _save(run)
    if status == Run.Status.FAILED:
        logger.info("Run %s failed at %s: %s", run.pk, step_id, run.error)
        # In the step's transaction: the event is sent if and only if the failure commits.
        webhooks.emit("run.failed", run.conversation, lambda: webhooks.run_failed_data(run), f"run:{run.pk}")


def _save(run: Run) -> None:
    if pending := run.__dict__.pop("_pending_log", None):
        RunLog.objects.bulk_create(pending)
    run.save(
        update_fields=["status", "current_step", "seq", "variables", "state", "error", "finished_at", "updated_at"]
    )


def schedule_timer(run: Run, kind: str, seconds: float) -> Timer:
    """A durable timer for the run's current wait; the poller fires it (routing.timers)."""
    from routing.tasks import fire_due_timers

    due = timezone.now() + timedelta(seconds=seconds)
    timer = Timer.objects.create(run=run, kind=kind, seq=run.seq, due_at=due)
    if seconds <= 300:
        # A wake-up close to the due time for short waits; the periodic poll is the safety net.
        transaction.on_commit(lambda: fire_due_timers.apply_async(countdown=seconds))
    return timer
