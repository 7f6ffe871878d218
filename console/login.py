"""The admin's login defences: the lockout page, and the second factor's steps after the password.

A staff member's password (checked by Django's admin login, failures counted by django-axes) makes
them authenticated; the admin lets them in (CampanileAdminSite.has_permission) only once this
session has also passed a second factor (django-otp), where one is needed: always when
ADMIN_REQUIRE_SECOND_FACTOR is on, else for anyone who enrolled a device.
"""

from base64 import b32encode
from typing import cast
from urllib.parse import urlencode

import django_otp
import segno
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import logout
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from console import selectors, services
from console.exceptions import SecondFactorRefused
from core.http import client_address


def axes_username(request: HttpRequest, credentials: dict | None = None) -> str:
    """Return the username a failed login is counted under, cut to what django-axes stores (255):
    no real username is longer (Django's hold 150), and a longer one must not fail the login page."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    return str(username)[:255]


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """Answer a locked-out login (AXES_LOCKOUT_CALLABLE) with a 429 page saying when to try again."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    address = getattr(request, "axes_ip_address", None) or client_address(request)
    ends = selectors.login_lockout_ends(username=username, address=address)
    context = {
        **admin.site.each_context(request),
        "title": gettext("Too many failed logins"),
        "username": username,
        "ends": ends,
        "minutes_left": max(1, round((ends - timezone.now()).total_seconds() / 60)) if ends else None,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": settings.ADMIN_LOGIN_COOLOFF_MINUTES,
    }
    return TemplateResponse(request, "admin/login_locked_out.html", context, status=429).render()


def _staff(request: HttpRequest) -> bool:
    user = request.user
    return user.is_authenticated and user.is_active and user.is_staff


def _user(request: HttpRequest) -> AbstractBaseUser:
    """Return the request's user, known to be logged in (the views check _staff first)."""
    return cast(AbstractBaseUser, request.user)


def _second_factor_needed(request: HttpRequest) -> bool:
    return settings.ADMIN_REQUIRE_SECOND_FACTOR or selectors.second_factor_enrolled(user=_user(request))


def _verified(request: HttpRequest) -> bool:
    is_verified = getattr(request.user, "is_verified", None)  # Set by django-otp's middleware.
    return bool(is_verified and is_verified())


def second_factor_passed(request: HttpRequest) -> bool:
    """Say whether this session has passed the second factor, or needs none."""
    return _verified(request) or not _second_factor_needed(request)


def second_factor_pending(request: HttpRequest) -> bool:
    """Say whether an active staff member is logged in with a password and still owes a second factor."""
    return _staff(request) and not second_factor_passed(request)


def _next_url(request: HttpRequest, candidate: str | None) -> str:
    """Return where to go after the second factor: the page asked for, if it is one of ours."""
    allowed = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if candidate and allowed else reverse("admin:index")


def second_factor_redirect(request: HttpRequest, next_url: str | None) -> HttpResponseRedirect:
    """Send a staff member to enrol a device, or to type a code, then on to next_url."""
    enrolled = selectors.second_factor_enrolled(user=_user(request))
    step = "admin:second_factor" if enrolled else "admin:second_factor_enrol"
    return HttpResponseRedirect(f"{reverse(step)}?{urlencode({'next': _next_url(request, next_url)})}")


def _page(site, request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    context = {**site.each_context(request), "next": _next_url(request, request.GET.get("next")), **context}
    return TemplateResponse(request, template, context, status=status)


def second_factor_verify_view(site):
    """Return the view of the code step: the app's current code, or a backup code."""

    @never_cache
    def view(request: HttpRequest) -> HttpResponse:
        if not _staff(request):
            return redirect("admin:login")
        next_url = _next_url(request, request.GET.get("next"))
        if second_factor_passed(request):
            return HttpResponseRedirect(next_url)
        if not selectors.second_factor_enrolled(user=_user(request)):
            return second_factor_redirect(request, next_url)
        problem = ""
        if request.method == "POST":
            try:
                device = services.second_factor_verify(
                    user=_user(request), token=request.POST.get("token", "")
                )
            except SecondFactorRefused as exc:
                problem = str(exc)
            else:
                request.session.cycle_key()  # A new session id for the session that now reaches the admin.
                django_otp.login(request, device)
                return HttpResponseRedirect(next_url)
        context = {"title": gettext("Second factor"), "problem": problem}
        return _page(site, request, "admin/second_factor/verify.html", context, 400 if problem else 200)

    return view


def second_factor_enrol_view(site):
    """Return the view that enrols an authenticator app: its QR code and secret, then its first code."""

    @never_cache
    def view(request: HttpRequest) -> HttpResponse:
        if not _staff(request):
            return redirect("admin:login")
        next_url = _next_url(request, request.GET.get("next"))
        if selectors.second_factor_enrolled(user=_user(request)):
            return HttpResponseRedirect(next_url if _verified(request) else reverse("admin:second_factor"))
        device = services.totp_device_start(user=_user(request))
        problem = ""
        if request.method == "POST":
            try:
                codes = services.totp_device_confirm(device=device, token=request.POST.get("token", ""))
            except SecondFactorRefused as exc:
                problem = str(exc)
            else:
                request.session.cycle_key()
                django_otp.login(request, device)
                return _page(
                    site,
                    request,
                    "admin/second_factor/enrolled.html",
                    {"title": gettext("Your backup codes"), "codes": codes, "next": next_url},
                )
        secret = b32encode(device.bin_key).decode()
        qr = segno.make(device.config_url, error="m")
        qr_title = gettext("QR code to scan")
        context = {
            "title": gettext("Set up your second factor"),
            "problem": problem,
            # segno writes the SVG from the otpauth: URL alone; it holds no markup of anyone's.
            "qr_svg": mark_safe(qr.svg_inline(scale=5, dark="#000", light="#fff", title=qr_title)),  # noqa: S308
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "issuer": settings.OTP_TOTP_ISSUER,
        }
        return _page(site, request, "admin/second_factor/enrol.html", context, 400 if problem else 200)

    return view


@require_POST
def second_factor_sign_out_view(request: HttpRequest) -> HttpResponse:
    """Log out a staff member who stopped at the second factor (the admin's logout needs it passed)."""
    logout(request)
    return redirect("admin:login")
