"""The agent inbox: server-rendered pages, with htmx for the parts that refresh.

Views are thin: parse a form, find the conversation through
``Conversation.objects.visible_to(user)`` (what an agent may not see is a 404), call a
service, render or redirect. Every list query is a fixed number of queries whatever the
page holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Substr
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from contacts.models import Contact, ContactField
from inbox import notifications, services
from inbox.forms import (
    AssignForm,
    AvailabilityForm,
    CommentForm,
    ConversationFilterForm,
    MessageForm,
    ProfileForm,
    ShortcutForm,
    add_service_errors,
)
from inbox.models import Conversation, Message
from routing import services as routing_services
from routing.models import Run, Workflow

PAGE_SIZE = 25
THREAD_LIMIT = 200
RUNS_LIMIT = 10


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _team_ids(request: HttpRequest) -> list[int]:
    agent = request.agent
    return list(agent.teams.values_list("pk", flat=True)) if agent is not None else []


# --- The list -----------------------------------------------------------------------------------


def list_queryset(user, agent, team_ids: list[int], form: ConversationFilterForm) -> QuerySet[Conversation]:
    """The conversations of the tab, filtered; always within ``visible_to(user)``.

    An agent's tabs (theirs, their teams' unassigned, their teams') are each a subset of what
    ``visible_to`` allows, written without its OR-join and DISTINCT so the database can walk
    an index in ``opened_at`` order; "All" is ``visible_to`` itself (admins only).
    """
    tab = form.value("tab")
    qs = Conversation.objects.all()
    if tab == form.TAB_MINE:
        qs = qs.filter(assignee=agent) if agent is not None else qs.none()
    elif tab == form.TAB_UNASSIGNED:
        qs = qs.filter(assignee__isnull=True)
        if not user.is_superuser:
            qs = qs.filter(team__in=team_ids)
    elif tab == form.TAB_TEAMS:
        qs = qs.filter(team__in=team_ids)
    else:
        qs = Conversation.objects.visible_to(user)
    status = form.value("status")
    if status != form.STATUS_ALL:
        qs = qs.filter(status=status)
    if team := form.value("team"):
        qs = qs.filter(team=team)
    if channel := form.value("channel"):
        qs = qs.filter(channel=channel)
    if q := form.value("q"):
        # Two small id sets, each found through a trigram index on PostgreSQL (migration 0005),
        # rather than a per-row test of every conversation in the tab.
        contacts = Contact.objects.filter(Q(name__icontains=q) | Q(email__icontains=q)).values("pk")
        messages = Message.objects.filter(text__icontains=q).values("conversation_id")
        qs = qs.filter(Q(contact__in=contacts) | Q(pk__in=messages))
    last_message = Message.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        qs.select_related("contact", "channel", "team", "assignee__user")
        .annotate(
            last_text=Substr(Subquery(last_message.values("text")[:1]), 1, 140),
            last_direction=Subquery(last_message.values("direction")[:1]),
        )
        # Newest first, as the indexes on (assignee, status, -opened_at) and (status, team,
        # -opened_at) are ordered: a tie-breaker on id would make the database sort instead.
        .order_by("-opened_at")
    )


@login_required
@require_GET
def conversation_list(request: HttpRequest) -> HttpResponse:
    team_ids = _team_ids(request)
    form = ConversationFilterForm(request.GET, user=request.user, team_ids=team_ids)
    form.is_valid()
    page = form.value("page")
    page_size = PAGE_SIZE
    offset = (page - 1) * page_size
    rows = list(list_queryset(request.user, request.agent, team_ids, form)[offset : offset + page_size + 1])
    has_next = len(rows) > page_size
    rows = rows[:page_size]

    def page_url(number: int) -> str:
        params = {k: v for k, v in request.GET.items() if k != "page" and v}
        params["page"] = number
        return f"?{urlencode(params)}"

    context = {
        "form": form,
        "tab": form.value("tab"),
        "tabs": [(value, label, _tab_url(request, value)) for value, label in form.fields["tab"].choices],
        "conversations": rows,
        "page": page,
        "previous_url": page_url(page - 1) if page > 1 else None,
        "next_url": page_url(page + 1) if has_next else None,
    }
    template = "inbox/_list.html" if is_htmx(request) else "inbox/list.html"
    return render(request, template, context)


def _tab_url(request: HttpRequest, tab: str) -> str:
    params = {k: v for k, v in request.GET.items() if k not in ("tab", "page") and v}
    params["tab"] = tab
    return f"?{urlencode(params)}"


# --- One conversation ---------------------------------------------------------------------------


def visible_conversation(request: HttpRequest, pk: int) -> Conversation:
    """The conversation if the user may see it; 404 alike for missing and forbidden."""
    return get_object_or_404(
        Conversation.objects.visible_to(request.user).select_related("contact", "channel", "team", "assignee__user"),
        pk=pk,
    )


def _live_context(conversation: Conversation) -> dict[str, Any]:
    """What refreshes while the agent looks: the thread, the assignment, the runs."""
    thread = list(conversation.messages.select_related("author").order_by("-created_at", "-id")[:THREAD_LIMIT])[::-1]
    runs = list(
        Run.objects.filter(conversation=conversation)
        .select_related("workflow", "version")
        .prefetch_related("log")
        .order_by("-started_at", "-id")[:RUNS_LIMIT]
    )
    return {"conversation": conversation, "thread": thread, "runs": runs}


def _contact_fields(contact: Contact) -> list[tuple[str, Any]]:
    custom = [(field.label, contact.get_field(field.key)) for field in ContactField.objects.all()]
    builtin = [
        (_("E-mail"), contact.email),
        (_("Phone"), contact.phone),
        (_("Language"), contact.language),
        (_("Country"), contact.country),
        (_("External id"), contact.external_id),
    ]
    return [(label, value) for label, value in [*builtin, *custom] if value not in (None, "", [])]


@login_required
@require_GET
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = visible_conversation(request, pk)
    notifications.mark_read(request.user, conversation=conversation)
    context = {
        **_live_context(conversation),
        "contact_fields": _contact_fields(conversation.contact),
        "reply_form": MessageForm(),
        "comment_form": CommentForm(),
        "assign_form": AssignForm(initial={"team": conversation.team_id, "agent": conversation.assignee_id}),
    }
    return render(request, "inbox/conversation.html", context)


@login_required
@require_GET
def conversation_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The polled part of the conversation page.

    A conversation that left the agent's sight meanwhile (escalated to another team) answers
    404 like any other, with a short notice the page shows in place of the thread.
    """
    try:
        conversation = visible_conversation(request, pk)
    except Http404:
        return render(request, "inbox/_gone.html", status=404)
    return render(request, "inbox/_live.html", _live_context(conversation))


def _back(conversation: Conversation) -> HttpResponse:
    return redirect("inbox:conversation", pk=conversation.pk)


def _error(request: HttpRequest, error: ValidationError | str) -> None:
    if isinstance(error, ValidationError):
        for text in error.messages:
            messages.error(request, text)
    else:
        messages.error(request, error)


def _form_errors(request: HttpRequest, form) -> None:
    for errors in form.errors.values():
        for text in errors:
            messages.error(request, text)


def _post_text(request: HttpRequest, pk: int, form_class, post: Callable[..., object]) -> HttpResponse:
    """A reply or an internal comment: validate the form, post through the service, go back."""
    conversation = visible_conversation(request, pk)
    form = form_class(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(conversation)
    try:
        post(conversation, form.cleaned_data["text"], author=request.user)
    except ValidationError as exc:
        _error(request, exc)
    return _back(conversation)


@login_required
@require_POST
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    return _post_text(request, pk, MessageForm, services.send_message)


@login_required
@require_POST
def comment(request: HttpRequest, pk: int) -> HttpResponse:
    return _post_text(request, pk, CommentForm, services.add_comment)


@login_required
@require_POST
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = visible_conversation(request, pk)
    if request.POST.get("me"):
        if request.agent is None:
            raise Http404
        team, agent = None, request.agent
    else:
        form = AssignForm(request.POST)
        if not form.is_valid():
            _form_errors(request, form)
            return _back(conversation)
        team, agent = form.cleaned_data["team"], form.cleaned_data["agent"]
    result = services.assign(
        conversation,
        team=team,
        agent=agent,
        reason=_("Assigned by %(user)s in the inbox.") % {"user": request.user.get_username()},
    )
    (messages.success if result.assigned or result.queued else messages.warning)(request, result.detail)
    return _back(conversation)


@login_required
@require_POST
def unassign(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = visible_conversation(request, pk)
    services.unassign(conversation, reason=_("Unassigned by %(user)s in the inbox.") % {"user": request.user})
    messages.success(request, _("The conversation is unassigned."))
    return _back(conversation)


@login_required
@require_POST
def close(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = visible_conversation(request, pk)
    if services.close_conversation(conversation):
        messages.success(request, _("The conversation is closed."))
    return _back(conversation)


@login_required
@require_POST
def reopen(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = visible_conversation(request, pk)
    try:
        if services.reopen_conversation(conversation):
            messages.success(request, _("The conversation is open again."))
    except ValidationError as exc:
        _error(request, exc)
    return _back(conversation)


# --- Shortcuts ----------------------------------------------------------------------------------


def live_shortcuts() -> QuerySet[Workflow]:
    return Workflow.objects.filter(
        trigger_type=Workflow.Trigger.SHORTCUT, is_active=True, published_version__isnull=False
    ).select_related("published_version")


def _trigger(workflow: Workflow) -> dict[str, Any]:
    trigger = workflow.published_version.definition.get("trigger") or {}
    return trigger if isinstance(trigger, dict) else {}


def _shortcut_view(workflow: Workflow) -> dict[str, Any]:
    trigger = _trigger(workflow)
    return {
        "id": workflow.pk,
        "name": gettext(str(trigger.get("name") or workflow.name)),
        "description": gettext(str(trigger.get("description") or "")) if trigger.get("description") else "",
    }


@login_required
@require_GET
def shortcuts(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = visible_conversation(request, pk)
    context = {"conversation": conversation, "shortcuts": [_shortcut_view(w) for w in live_shortcuts()]}
    template = "inbox/_shortcuts.html" if is_htmx(request) else "inbox/shortcuts.html"
    return render(request, template, context)


@login_required
def shortcut_start(request: HttpRequest, pk: int, workflow_id: int) -> HttpResponse:
    conversation = visible_conversation(request, pk)
    workflow = get_object_or_404(live_shortcuts(), pk=workflow_id)
    definition = _trigger(workflow).get("form") or []
    started = False
    if request.method == "POST":
        form = ShortcutForm(definition, request.POST)
        form.is_valid()
        try:
            routing_services.start_shortcut(workflow, conversation, user=request.user, values=form.raw_values())
        except ValidationError as exc:
            add_service_errors(form, exc)
        except routing_services.WorkflowInvalid as exc:
            form.add_error(None, exc.errors)
        else:
            started = True
            form = ShortcutForm(definition)
    else:
        form = ShortcutForm(definition)
    context = {
        "conversation": conversation,
        "shortcut": _shortcut_view(workflow),
        "form": form,
        "started": started,
        "action": reverse("inbox:shortcut_start", args=[conversation.pk, workflow.pk]),
    }
    template = "inbox/_shortcut_form.html" if is_htmx(request) else "inbox/shortcut_form.html"
    # htmx swaps only 2xx answers: the form with its errors comes back as 200 there.
    status = 400 if form.errors and not is_htmx(request) else 200
    return render(request, template, context, status=status)


# --- The agent ----------------------------------------------------------------------------------


@login_required
@require_POST
def availability(request: HttpRequest) -> HttpResponse:
    if request.agent is None:
        raise Http404
    form = AvailabilityForm(request.POST)
    if form.is_valid():
        services.set_availability(request.agent, form.cleaned_data["availability"])
    else:
        _form_errors(request, form)
    if is_htmx(request):
        return render(request, "inbox/_availability.html", {"agent": request.agent})
    return redirect(_safe_next(request))


def _safe_next(request: HttpRequest) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("inbox:list")


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    if request.agent is None:
        raise Http404
    form = ProfileForm(request.POST or None, instance=request.agent)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your preferences are saved."))
        return redirect("inbox:profile")
    return render(request, "inbox/profile.html", {"form": form})


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    """The header's bell: unread count and the latest notifications (polled)."""
    return _render_notifications(request)


def _render_notifications(request: HttpRequest) -> HttpResponse:
    latest = notifications.for_user(request.user)
    context = {
        "unread_count": notifications.unread_count(request.user),
        "notifications": [(n, notifications.describe(n)) for n in latest],
    }
    return render(request, "inbox/_notifications.html", context)


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    notifications.mark_read(request.user)
    if is_htmx(request):
        return _render_notifications(request)
    return redirect(_safe_next(request))
