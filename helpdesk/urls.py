"""URLs: the admin, the integrator's REST API under /api/v1/ and (later) the agents' inbox."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from inbox.api.docs import ApiDocsView

api_v1 = [
    path("", include("inbox.api.urls")),
    path("", include("contacts.api.urls")),
    path("", include("routing.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", ApiDocsView.as_view(), name="api-docs"),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # path("inbox/", include("inbox.urls")),  # the server-rendered inbox, once inbox/urls.py exists
]
