"""Repeated failed logins from one address are refused for a while, on the admin's login page and on
/login/ alike: after LOGIN_FAILURE_LIMIT failures within LOGIN_FAILURE_WINDOW_SECONDS, that address
gets "too many failed logins" (HTTP 429 on /login/), correct password or not, until the oldest of them
is out of the window. Failures are rows (LoginFailure), so every web process and host counts the same.

The address is REMOTE_ADDR; behind a proxy set LOGIN_ADDRESS_FROM_X_FORWARDED_FOR=1 and the last
address of X-Forwarded-For (the one our proxy saw) counts instead.
"""
from __future__ import annotations

import math

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from emotions.accounts.models import LoginFailure

THROTTLED = "throttled"
LOGIN_URL = "emotions:login"  # /login/: the admin's login page turns away users who are not staff


def client_address(request) -> str:
    if settings.LOGIN_ADDRESS_FROM_X_FORWARDED_FOR:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"


class ThrottledLoginMixin:
    """For an AuthenticationForm: refuse a throttled address before checking anything, count failures."""

    def clean(self):
        address = client_address(self.request)
        wait = LoginFailure.objects.refused_for(address)
        if wait:
            minutes = math.ceil(wait / 60)
            raise ValidationError(
                f"Too many failed logins from your address: try again in {minutes} minute{'s' if minutes != 1 else ''}.",
                code=THROTTLED,
            )
        try:
            return super().clean()
        except ValidationError:
            LoginFailure.objects.record(address, self.cleaned_data.get("username") or "")
            raise


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if any(error.code == THROTTLED for error in form.errors.as_data().get("__all__", [])):
            response.status_code = 429
        return response
