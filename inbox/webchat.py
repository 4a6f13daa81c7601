"""The contact web chat: one page per web-chat channel, no login.

A visitor is known by a signed cookie holding a random external id ("webchat:<uuid>");
what they write goes through ``inbox.services.receive_message`` like any channel, so the
same workflows answer. They see their messages and the replies, never internal comments.
When the workflow waits for the answer to a multiple-choice question, its options show
as buttons.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods

from contacts.models import Contact
from inbox import services
from inbox.forms import WebChatMessageForm, WebChatStartForm, add_service_errors
from inbox.models import Channel, Conversation, Message
from routing.models import Run

COOKIE_SALT = "inbox.webchat"
COOKIE_MAX_AGE = 90 * 24 * 3600
THREAD_LIMIT = 200


def cookie_name(channel: Channel) -> str:
    return f"helpdesk_chat_{channel.pk}"


def visitor_id(request: HttpRequest, channel: Channel) -> str | None:
    """The visitor's external id from the signed cookie; None when absent or forged."""
    value = request.get_signed_cookie(cookie_name(channel), default=None, salt=COOKIE_SALT, max_age=COOKIE_MAX_AGE)
    return value if isinstance(value, str) and value.startswith("webchat:") else None


def remember_visitor(response: HttpResponse, request: HttpRequest, channel: Channel, external_id: str) -> None:
    response.set_signed_cookie(
        cookie_name(channel),
        external_id,
        salt=COOKIE_SALT,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )


def current_conversation(contact: Contact | None, channel: Channel) -> Conversation | None:
    """The visitor's open conversation on the channel, else their latest one."""
    if contact is None:
        return None
    conversations = Conversation.objects.filter(contact=contact, channel=channel)
    return conversations.open().first() or conversations.order_by("-opened_at", "-id").first()


def pending_options(conversation: Conversation | None) -> list[tuple[str, str]]:
    """(value, label) of the multiple-choice question the conversation's workflow waits on."""
    if conversation is None:
        return []
    run = (
        Run.objects.filter(conversation=conversation, status=Run.Status.WAITING_ANSWER)
        .select_related("version")
        .order_by("-updated_at", "-id")
        .first()
    )
    if run is None:
        return []
    step = (run.version.definition.get("steps") or {}).get(run.current_step) or {}
    if step.get("type") != "ask_question" or step.get("kind") != "multiple_choice":
        return []
    # Only while the question is the last thing said: not once the visitor answered.
    last = conversation.messages.exclude(direction=Message.Direction.COMMENT).order_by("-created_at", "-id").first()
    if last is None or last.direction != Message.Direction.OUTGOING:
        return []
    return [(str(option), gettext(str(option))) for option in step.get("options") or []]


def _context(channel: Channel, contact: Contact | None) -> dict[str, Any]:
    conversation = current_conversation(contact, channel)
    thread: list[Message] = []
    if conversation is not None:
        thread = list(
            conversation.messages.exclude(direction=Message.Direction.COMMENT)
            .select_related("author")
            .order_by("-created_at", "-id")[:THREAD_LIMIT]
        )[::-1]
    return {
        "channel": channel,
        "contact": contact,
        "conversation": conversation,
        "thread": thread,
        "options": pending_options(conversation),
    }


def _channel(channel_id: int) -> Channel:
    return get_object_or_404(Channel, pk=channel_id, kind=Channel.Kind.WEB_CHAT)


def _contact(request: HttpRequest, channel: Channel) -> tuple[str | None, Contact | None]:
    external_id = visitor_id(request, channel)
    contact = Contact.objects.filter(external_id=external_id).first() if external_id else None
    return external_id, contact


@require_http_methods(["GET", "POST"])
def chat(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(channel_id)
    external_id, contact = _contact(request, channel)
    start_form, message_form = WebChatStartForm(), WebChatMessageForm()
    if request.method == "POST":
        if contact is None:
            start_form = WebChatStartForm(request.POST)
            if start_form.is_valid():
                external_id = external_id or f"webchat:{uuid.uuid4()}"
                data = {"external_id": external_id, "name": start_form.cleaned_data["name"]}
                if start_form.cleaned_data["email"]:
                    data["email"] = start_form.cleaned_data["email"]
                if _receive(request, start_form, channel, data, start_form.cleaned_data["text"]):
                    response = redirect("webchat:chat", channel_id=channel.pk)
                    remember_visitor(response, request, channel, external_id)
                    return response
        else:
            message_form = WebChatMessageForm(request.POST)
            if message_form.is_valid() and _receive(
                request, message_form, channel, {"external_id": external_id}, message_form.cleaned_data["text"]
            ):
                if request.headers.get("HX-Request") == "true":
                    return render(request, "webchat/_thread.html", _context(channel, contact))
                return redirect("webchat:chat", channel_id=channel.pk)
    context = {**_context(channel, contact), "start_form": start_form, "message_form": message_form}
    status = 200 if request.method == "GET" else 429 if getattr(request, "_webchat_throttled", False) else 400
    return render(request, "webchat/chat.html", context, status=status)


def _too_fast(request: HttpRequest, external_id: str | None) -> bool:
    """More than WEBCHAT_MESSAGES_PER_MINUTE from this visitor, or ten times that from this address.

    Counted in the cache (per process with the default local-memory cache; configure a shared
    cache to count across web servers).
    """
    limit = settings.WEBCHAT_MESSAGES_PER_MINUTE
    window = int(time.time() // 60)
    counters = [(f"webchat:ip:{request.META.get('REMOTE_ADDR', '')}:{window}", limit * 10)]
    if external_id:
        counters.append((f"webchat:visitor:{external_id}:{window}", limit))
    over = False
    for key, most in counters:
        cache.add(key, 0, timeout=120)
        over |= cache.incr(key) > most
    return over


def _receive(request: HttpRequest, form, channel: Channel, contact_data: dict[str, str], text: str) -> bool:
    if _too_fast(request, contact_data.get("external_id")):
        request._webchat_throttled = True
        form.add_error(None, gettext("You are sending messages too fast. Wait a minute, then try again."))
        return False
    try:
        services.receive_message(channel, contact_data, text)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return False
    return True


@require_GET
def thread(request: HttpRequest, channel_id: int) -> HttpResponse:
    """The polled thread: new replies and the current question's options."""
    channel = _channel(channel_id)
    _external_id, contact = _contact(request, channel)
    return render(request, "webchat/_thread.html", _context(channel, contact))
