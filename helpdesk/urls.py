"""URLs: the agents' inbox, the contacts' web chat, the admin and the REST API under /api/v1/."""

from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from inbox.api.docs import ApiDocsView
from inbox.urls import webchat_urlpatterns

admin.site.site_header = _("Helpdesk administration")
admin.site.site_title = _("Helpdesk")
admin.site.index_title = _("Teams, agents, channels and routing workflows")

api_v1 = [
    path("", include("inbox.api.urls")),
    path("", include("contacts.api.urls")),
    path("", include("routing.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", ApiDocsView.as_view(), name="api-docs"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="inbox:list", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("inbox/", include("inbox.urls")),
    path("chat/", include(webchat_urlpatterns)),
    path("accounts/", include("django.contrib.auth.urls")),
]

handler404 = "helpdesk.views.not_found"
handler500 = "helpdesk.views.server_error"
