"""Start-up checks of settings the campaigns app reads."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ValidationError

from core.models import validate_rate


@register()
def api_default_rate_limit_check(app_configs, **kwargs):
    """Refuse to start with an API_DEFAULT_RATE_LIMIT the throttle cannot read."""
    try:
        validate_rate(settings.API_DEFAULT_RATE_LIMIT)
    except ValidationError as exc:
        return [Error(f"API_DEFAULT_RATE_LIMIT: {exc.messages[0]}", id="campanile.E001")]
    return []
