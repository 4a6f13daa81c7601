"""URLs of the agent inbox (``/inbox/``) and the contact web chat (``/chat/``)."""

from django.urls import path

from inbox import views, webchat

app_name = "inbox"

urlpatterns = [
    path("", views.conversation_list, name="list"),
    path("c/<int:pk>/", views.conversation_detail, name="conversation"),
    path("c/<int:pk>/live/", views.conversation_live, name="conversation_live"),
    path("c/<int:pk>/reply/", views.reply, name="reply"),
    path("c/<int:pk>/comment/", views.comment, name="comment"),
    path("c/<int:pk>/assign/", views.assign, name="assign"),
    path("c/<int:pk>/unassign/", views.unassign, name="unassign"),
    path("c/<int:pk>/close/", views.close, name="close"),
    path("c/<int:pk>/reopen/", views.reopen, name="reopen"),
    path("c/<int:pk>/shortcuts/", views.shortcuts, name="shortcuts"),
    path("c/<int:pk>/shortcuts/<int:workflow_id>/", views.shortcut_start, name="shortcut_start"),
    path("me/availability/", views.availability, name="availability"),
    path("me/profile/", views.profile, name="profile"),
    path("me/notifications/", views.notification_list, name="notifications"),
    path("me/notifications/read/", views.notifications_read, name="notifications_read"),
]

# Included by helpdesk/urls.py under /chat/ as the "webchat" namespace.
webchat_urlpatterns = (
    [
        path("<int:channel_id>/", webchat.chat, name="chat"),
        path("<int:channel_id>/thread/", webchat.thread, name="thread"),
    ],
    "webchat",
)
