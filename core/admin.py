"""Admin of what core owns: API keys."""

from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from core.models import ApiKey

# The library registers its own concrete key model; Campanile's keys are core.ApiKey.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Keys are shown once, on creation, and stored only as a hash."""

    # The library leaves these unannotated, so mypy takes its tuples' exact lengths for their types.
    list_display = [*APIKeyModelAdmin.list_display, "rate_limit", "is_load_test"]  # type: ignore[assignment]
    list_filter = [*APIKeyModelAdmin.list_filter, "is_load_test"]  # type: ignore[assignment]
