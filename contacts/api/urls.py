from __future__ import annotations

from rest_framework.routers import SimpleRouter

from contacts.api.views import ContactViewSet

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="contact")

urlpatterns = router.urls
