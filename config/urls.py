from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.health import healthz
from console.api import router
from console.prometheus import metrics_view
from core.api.errors import NoSuchEndpoint

urlpatterns = [
    # Nothing public lives at the root: it (and the admin's "View site" link) leads to the admin.
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("admin/", admin.site.urls),
    # Django's set_language: the admin's language switcher posts here (a cookie, then back).
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("tracking.urls")),
    path("api/v1/", include(router.urls)),
    # The schema and its docs are public, like any published API reference; data needs a key.
    path(
        "api/schema/",
        # Its one version, never the caller's `?version=`, which would go into a header unchecked.
        SpectacularAPIView.as_view(
            authentication_classes=[],
            permission_classes=[],
            api_version=settings.SPECTACULAR_SETTINGS["VERSION"],
        ),
        name="schema",
    ),
    # The split view serves Swagger UI's start-up script as a file of its own, not inline: the
    # Content-Security-Policy lets scripts come only from this origin's URLs. A page: read only
    # (DRF's OPTIONS answer has no HTML template to render it with).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema",
            authentication_classes=[],
            permission_classes=[],
            http_method_names=["get", "head"],
        ),
        name="api-docs",
    ),
    # Last: a path under the API's prefix that no route above matched (an id with a dot, a typo)
    # is told in the API's JSON, never with Django's HTML page; so is the prefix without its slash,
    # which would otherwise meet Django's slash redirect (a 500 for a POST with debug on).
    re_path(r"^api/v1/", NoSuchEndpoint.as_view()),
    path("api/v1", NoSuchEndpoint.as_view()),
]
