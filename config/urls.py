from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from campaigns.api.views import (
    CampaignViewSet,
    ContactListViewSet,
    ContactViewSet,
    SuppressionViewSet,
    TemplateViewSet,
)
from config.health import healthz
from config.metrics import metrics_view
from delivery.api import CampaignDeliveryViewSet, MessageViewSet
from tracking.api import CampaignStatsViewSet, EventViewSet

admin.site.site_header = "Campanile"
admin.site.site_title = "Campanile"
admin.site.index_title = "Email campaigns"

router = SimpleRouter()
# Both /api/v1/messages and /api/v1/messages/ answer: integrators copy URLs either way.
router.trailing_slash = "/?"
router.register("contacts", ContactViewSet, basename="contact")
router.register("lists", ContactListViewSet, basename="list")
router.register("templates", TemplateViewSet, basename="template")
router.register("campaigns", CampaignViewSet, basename="campaign")
# Each app mounts the campaign actions it owns: the ledger's here, the statistics in tracking.
router.register("campaigns", CampaignDeliveryViewSet, basename="campaign-delivery")
router.register("campaigns", CampaignStatsViewSet, basename="campaign-stats")
router.register("messages", MessageViewSet, basename="message")
router.register("suppressions", SuppressionViewSet, basename="suppression")
router.register("events", EventViewSet, basename="event")

urlpatterns = [
    # Nothing public lives at the root: it (and the admin's "View site" link) leads to the admin.
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("tracking.urls")),
    path("api/v1/", include(router.urls)),
    # The schema and its docs are public, like any published API reference; data needs a key.
    path(
        "api/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
        name="api-docs",
    ),
]
