"""The Content-Security-Policy: one strict policy, loosened on the admin's pages for its theme.

django-unfold builds its pages with Alpine.js, whose standard build evaluates the expressions in
`x-data` and `x-on` attributes with `new Function` (`'unsafe-eval'`), and sets a few widths and
bars as style attributes. So on the admin, and there only, scripts may be evaluated and style
attributes are allowed; scripts still come from Campanile's own URLs only, and a `<style>` element
still needs the response's nonce. Public pages (tracking, unsubscribe, the API's docs) keep the
strict policy of settings.CONTENT_SECURITY_POLICY.
"""

from csp.constants import UNSAFE_EVAL, UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

ADMIN_POLICY_UPDATE = {"script-src": [UNSAFE_EVAL], "style-src-attr": [UNSAFE_INLINE]}


def request_is_admin(request: HttpRequest) -> bool:
    """Tell whether the request is for one of the admin's pages."""
    return request.path_info.startswith(reverse("admin:index"))


class CampanileCSPMiddleware(CSPMiddleware):
    """django-csp's middleware; the admin's pages get the theme's two allowances on top."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and request_is_admin(request):
            parts.update = {**ADMIN_POLICY_UPDATE, **(parts.update or {})}
        return parts
