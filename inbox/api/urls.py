from __future__ import annotations

from rest_framework.routers import SimpleRouter

from inbox.api.views import AgentViewSet, ChannelViewSet, ConversationViewSet, TeamViewSet

router = SimpleRouter()
router.register("teams", TeamViewSet, basename="team")
router.register("agents", AgentViewSet, basename="agent")
router.register("channels", ChannelViewSet, basename="channel")
router.register("conversations", ConversationViewSet, basename="conversation")

urlpatterns = router.urls
