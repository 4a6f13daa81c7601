"""Publish-time validation of a workflow definition: shape, steps, graph, references.

Every error names the step it is about. The step checks come from the same registry the
engine runs, so validation and execution cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from routing.conditions import validate_condition
from routing.steps import STEP_TYPES, ValidationContext

MAX_STEPS = 500
FORM_FIELD_TYPES = ("dropdown", "text", "email", "number")
TRIGGERS = ("conversation_opened", "shortcut")


def check_shape(definition: Any) -> list[str]:
    """The minimum a draft must have to be stored: an object with a name and a steps object."""
    if not isinstance(definition, dict):
        return [_("A workflow must be a JSON object.")]
    errors = []
    name = definition.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(_("'name' must be a non-empty text."))
    elif len(name) > 200:
        errors.append(_("'name' is longer than 200 characters."))
    steps = definition.get("steps")
    if not isinstance(steps, dict):
        errors.append(_("'steps' must be an object from step id to step."))
    elif len(steps) > MAX_STEPS:
        errors.append(_("A workflow has at most %(n)d steps.") % {"n": MAX_STEPS})
    trigger = definition.get("trigger")
    if trigger is not None and not isinstance(trigger, dict):
        errors.append(_("'trigger' must be an object."))
    return errors


def validate_trigger(trigger: Any) -> list[str]:
    if not isinstance(trigger, dict):
        return [_("trigger: must be an object with a 'type'.")]
    kind = trigger.get("type")
    if kind not in TRIGGERS:
        return [_("trigger: unknown type '%(type)s'; use %(types)s.") % {"type": kind, "types": ", ".join(TRIGGERS)}]
    errors: list[str] = []
    conditions = trigger.get("conditions", [])
    if not isinstance(conditions, list):
        errors.append(_("trigger: 'conditions' must be a list."))
    else:
        for condition in conditions:
            errors += [f"trigger: {e}" for e in validate_condition(condition)]
    if trigger.get("match", "all") not in ("all", "any"):
        errors.append(_("trigger: 'match' must be 'all' or 'any'."))
    if kind == "shortcut":
        errors += [f"trigger: {e}" for e in validate_form(trigger.get("form", []))]
    return errors


def validate_form(form: Any) -> list[str]:
    if not isinstance(form, list):
        return [_("'form' must be a list of fields.")]
    errors: list[str] = []
    seen: set[str] = set()
    for i, field in enumerate(form, start=1):
        if not isinstance(field, dict):
            errors.append(_("form field %(i)d must be an object.") % {"i": i})
            continue
        name = field.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            errors.append(_("form field %(i)d: 'name' must be a variable name.") % {"i": i})
        elif name in seen:
            errors.append(_("form field '%(name)s' appears twice.") % {"name": name})
        else:
            seen.add(name)
        if field.get("type", "text") not in FORM_FIELD_TYPES:
            errors.append(
                _("form field %(i)d: type must be one of %(types)s.") % {"i": i, "types": ", ".join(FORM_FIELD_TYPES)}
            )
        if field.get("type") == "dropdown":
            options = field.get("options")
            if not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options):
                errors.append(_("form field %(i)d: a dropdown needs a list of text 'options'.") % {"i": i})
    return errors


def _graph(steps: dict[str, Any]) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for step_id, config in steps.items():
        step = STEP_TYPES.get(config.get("type")) if isinstance(config, dict) else None
        graph[step_id] = [target for _label, target in step.targets(config)] if step else []
    return graph


def _loops_without_exit(graph: dict[str, list[str]], steps: dict[str, Any]) -> list[set[str]]:
    """Cycles no run can leave: strongly connected components with no edge out and no waiting step.

    A question or a wait in the loop hands control back to a person or the clock, and any edge
    out of the component is an exit; what's left would spin until the runtime guard stops it.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0

    def connect(node: str) -> None:  # Tarjan's algorithm; graphs are small (<= MAX_STEPS)
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, []):
            if target not in graph:
                continue
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in graph:
        if node not in index:
            connect(node)
    waiting_kinds = {"ask_question", "wait"}
    stuck = []
    for component in components:
        is_cycle = len(component) > 1 or any(n in graph[n] for n in component)
        if not is_cycle:
            continue
        exits = any(t not in component for n in component for t in graph[n])
        # Steps whose unlisted outcomes end the run are exits too (e.g. a branch with no else).
        ends = any(_may_end(steps[n]) for n in component)
        waits = any(steps[n].get("type") in waiting_kinds for n in component)
        if not (exits or ends or waits):
            stuck.append(component)
    return stuck


def _may_end(config: dict[str, Any]) -> bool:
    kind = config.get("type")
    step = STEP_TYPES.get(kind)
    if step is None:
        return False
    if kind == "branch":
        return "else" not in config
    if kind == "jump":
        return False
    nxt = config.get("next")
    if nxt is None:
        return True
    if isinstance(nxt, dict):
        return any(outcome not in nxt for outcome in step.outcomes)
    return False


def validate_definition(definition: Any, *, context: ValidationContext | None = None) -> list[str]:
    """All the reasons ``definition`` cannot be published; an empty list when it can."""
    errors = check_shape(definition)
    if errors:
        return errors
    errors += validate_trigger(definition.get("trigger"))
    steps: dict[str, Any] = definition["steps"]
    if not steps:
        return [*errors, _("'steps' is empty: a workflow needs at least one step.")]
    start = definition.get("start")
    if not isinstance(start, str) or start not in steps:
        errors.append(_("'start' must name one of the steps (got %(start)r).") % {"start": start})
    if context is None:
        context = load_context(steps.keys())
    for step_id, config in steps.items():
        errors += [
            _("Step '%(id)s': %(error)s") % {"id": step_id, "error": e}
            for e in _validate_step(step_id, config, context)
        ]
    if errors:
        return errors
    graph = _graph(steps)
    reachable: set[str] = set()
    pending = [start]
    while pending:
        node = pending.pop()
        if node in reachable:
            continue
        reachable.add(node)
        pending += graph[node]
    for step_id in steps:
        if step_id not in reachable:
            errors.append(
                _("Step '%(id)s': unreachable from the start step '%(start)s'.") % {"id": step_id, "start": start}
            )
    for component in _loops_without_exit(graph, steps):
        names = ", ".join(f"'{n}'" for n in sorted(component))
        errors.append(_("Steps %(names)s: a loop with no exit (no question, wait or way out).") % {"names": names})
    return errors


def _validate_step(step_id: str, config: Any, context: ValidationContext) -> list[str]:
    if not isinstance(config, dict):
        return [_("must be an object with a 'type'.")]
    kind = config.get("type")
    step = STEP_TYPES.get(kind) if isinstance(kind, str) else None
    if step is None:
        return [
            _("unknown step type %(type)r; known types: %(types)s.")
            % {"type": kind, "types": ", ".join(sorted(STEP_TYPES))}
        ]
    errors = []
    unknown = set(config) - step.keys - {"type", "next", "name", "description"}
    if unknown:
        errors.append(
            _("unknown setting(s) %(keys)s for a %(type)s step.") % {"keys": ", ".join(sorted(unknown)), "type": kind}
        )
    nxt = config.get("next")
    if nxt is not None and not isinstance(nxt, str | dict):
        errors.append(_("'next' must be a step id or an object from outcome to step id."))
    if isinstance(nxt, dict):
        for outcome, target in nxt.items():
            if outcome not in step.outcomes:
                errors.append(
                    _("'next' has outcome '%(o)s', but a %(type)s step has only %(outcomes)s.")
                    % {"o": outcome, "type": kind, "outcomes": ", ".join(step.outcomes)}
                )
            if not isinstance(target, str):
                errors.append(_("'next.%(o)s' must be a step id.") % {"o": outcome})
    errors += step.validate(config, context)
    for label, target in step.targets(config):
        if target not in context.step_ids:
            errors.append(
                _("'%(label)s' points to '%(target)s', which is not a step.") % {"label": label, "target": target}
            )
    return errors


def load_context(step_ids) -> ValidationContext:
    from inbox.models import Agent, Schedule, Team

    return ValidationContext(
        team_names=set(Team.objects.values_list("name", flat=True)),
        agent_usernames=set(Agent.objects.values_list("user__username", flat=True)),
        step_ids=set(step_ids),
        schedule_names=set(Schedule.objects.values_list("name", flat=True)),
    )
