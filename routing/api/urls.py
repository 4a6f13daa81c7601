from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from routing.api.views import (
    AllowedHostViewSet,
    ConnectionViewSet,
    ConversationRunsView,
    ConversationShortcutsView,
    RunViewSet,
    StartShortcutView,
    WorkflowViewSet,
)

router = SimpleRouter()
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("runs", RunViewSet, basename="run")
router.register("connections", ConnectionViewSet, basename="connection")
router.register("http-allowlist", AllowedHostViewSet, basename="allowed-host")

urlpatterns = [
    *router.urls,
    path("conversations/<int:conversation_id>/runs/", ConversationRunsView.as_view(), name="conversation-runs"),
    path(
        "conversations/<int:conversation_id>/shortcuts/",
        ConversationShortcutsView.as_view(),
        name="conversation-shortcuts",
    ),
    path(
        "conversations/<int:conversation_id>/shortcuts/<int:shortcut_id>/start/",
        StartShortcutView.as_view(),
        name="conversation-shortcut-start",
    ),
]
