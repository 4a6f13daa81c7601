"""Agents' notifications: a conversation given to them, a comment for them.

``notify`` is idempotent by key: automation passes a key derived from its step (or the
message it wrote), so a retried step cannot notify twice. The stored ``text`` is the
detail (the contact's name, the comment's first words); the sentence around it is
written at display time, in the reader's language (``Notification.sentence``-like logic
lives in ``describe``).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.models import Agent, Conversation, Message, Notification

TEXT_MAX = 500


def notify(
    recipient, kind: str, *, conversation: Conversation | None = None, text: str = "", key: str | None = None
) -> Notification | None:
    """Record a notification for ``recipient`` (a user); None when ``key`` was already used."""
    if key is None:  # nothing to collide with: no savepoint (two queries) needed
        return Notification.objects.create(
            recipient=recipient, kind=kind, conversation=conversation, text=text[:TEXT_MAX]
        )
    if Notification.objects.filter(idempotency_key=key).exists():
        return None
    try:
        # A savepoint: losing a race on the key must not break the caller's transaction.
        with transaction.atomic():
            return Notification.objects.create(
                recipient=recipient, kind=kind, conversation=conversation, text=text[:TEXT_MAX], idempotency_key=key
            )
    except IntegrityError:
        if key is None:
            raise
        return None


def conversation_assigned(conversation: Conversation, agent: Agent) -> Notification | None:
    """Tell ``agent`` that ``conversation`` is now theirs."""
    return notify_user_id(
        agent.user_id, Notification.Kind.ASSIGNED, conversation=conversation, text=str(conversation.contact)
    )


def comment_added(conversation: Conversation, message: Message) -> Notification | None:
    """Tell the conversation's assignee about an internal comment someone else (or automation) wrote."""
    assignee_user_id = (
        Conversation.objects.filter(pk=conversation.pk).values_list("assignee__user_id", flat=True).first()
    )
    if assignee_user_id is None or assignee_user_id == message.author_id:
        return None
    return notify_user_id(
        assignee_user_id,
        Notification.Kind.COMMENT,
        conversation=conversation,
        text=message.text,
        key=f"comment:{message.pk}",
    )


def notify_user_id(user_id: int, kind: str, **kwargs) -> Notification | None:
    from django.contrib.auth import get_user_model

    return notify(get_user_model()(pk=user_id), kind, **kwargs)


# --- Reading ------------------------------------------------------------------------------------


def for_user(user, *, limit: int = 10) -> list[Notification]:
    """The user's latest notifications, unread first, newest first."""
    return list(
        Notification.objects.filter(recipient=user)
        .select_related("conversation__contact")
        .order_by("-created_at", "-id")[:limit]
    )


def unread(user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user, read_at__isnull=True)


def unread_count(user) -> int:
    return unread(user).count()


def mark_read(user, ids: list[int] | None = None, *, conversation: Conversation | None = None) -> int:
    """Mark the user's notifications read (all, those ``ids``, or those of ``conversation``); how many."""
    qs = unread(user)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    if conversation is not None:
        qs = qs.filter(conversation=conversation)
    return qs.update(read_at=timezone.now())


def describe(notification: Notification) -> str:
    """The notification as a sentence in the active language."""
    number = notification.conversation_id or ""
    if notification.kind == Notification.Kind.ASSIGNED:
        return _("Conversation #%(id)s with %(contact)s was assigned to you.") % {
            "id": number,
            "contact": notification.text,
        }
    if notification.kind == Notification.Kind.COMMENT:
        return _("New comment on conversation #%(id)s: %(text)s") % {"id": number, "text": notification.text[:140]}
    return _("New message on conversation #%(id)s: %(text)s") % {"id": number, "text": notification.text[:140]}
