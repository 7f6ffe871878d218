"""The admin site: Django's, with a second factor between a staff member's password and the admin."""

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse
from django.urls import path

from console import login


class CampanileAdminSite(admin.AdminSite):
    """Django's admin site; its pages need a passed second factor wherever one is needed."""

    site_header = "Campanile"
    site_title = "Campanile"
    index_title = "Email campaigns"

    def has_permission(self, request: HttpRequest) -> bool:
        """Let in active staff who have passed the second factor, where theirs is needed."""
        return super().has_permission(request) and login.second_factor_passed(request)

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """Ask for the password as Django does; a staff member it lets in goes on to the second factor."""
        response = super().login(request, extra_context)
        if login.second_factor_pending(request):
            return login.second_factor_redirect(
                request, request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
            )
        return response

    def get_urls(self):
        """Add the second factor's steps to the admin's own URLs."""
        return [
            path("second-factor/", login.second_factor_verify_view(self), name="second_factor"),
            path("second-factor/enrol/", login.second_factor_enrol_view(self), name="second_factor_enrol"),
            path("second-factor/sign-out/", login.second_factor_sign_out_view, name="second_factor_sign_out"),
            *super().get_urls(),
        ]
