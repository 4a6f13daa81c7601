from __future__ import annotations

from rest_framework.routers import SimpleRouter

from inbox.api.views import (
    AgentViewSet,
    ChannelViewSet,
    ConversationViewSet,
    DeliveryViewSet,
    TeamViewSet,
    WebhookSubscriptionViewSet,
)

router = SimpleRouter()
router.register("teams", TeamViewSet, basename="team")
router.register("agents", AgentViewSet, basename="agent")
router.register("channels", ChannelViewSet, basename="channel")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("webhook-subscriptions", WebhookSubscriptionViewSet, basename="webhook-subscription")
router.register("webhook-deliveries", DeliveryViewSet, basename="webhook-delivery")

urlpatterns = router.urls
