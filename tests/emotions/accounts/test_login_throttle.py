"""Repeated failed logins from one address are refused for a while, on /login/ and in the admin."""
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from emotions.models import LoginFailure

pytestmark = [pytest.mark.django_db, pytest.mark.database]

ATTACKER, NEIGHBOUR = "203.0.113.7", "198.51.100.4"


def log_in(path: str, username: str, password: str, address: str = ATTACKER):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 600


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_after_the_limit_even_the_right_password_is_refused_from_that_address(path, staff):
    for _ in range(3):
        response = log_in(path, "staff", "wrong guess")
        assert response.status_code == 200 and "Too many" not in response.content.decode()
    refused = log_in(path, "staff", "staff-password")
    assert "Too many failed logins from your address: try again in 10 minutes." in refused.content.decode()
    assert refused.status_code == (429 if path == "/login/" else 200)
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_other_addresses_are_not_held_back(staff):
    for _ in range(4):
        log_in("/login/", "staff", "wrong guess")
    response = log_in("/login/", "staff", "staff-password", address=NEIGHBOUR)
    assert response.status_code == 302


def test_the_admin_and_the_login_page_count_together(staff):
    log_in("/login/", "staff", "wrong")
    log_in("/admin/login/", "staff", "wrong")
    log_in("/login/", "nobody", "wrong")
    assert log_in("/admin/login/", "staff", "staff-password").status_code == 200  # refused, not redirected


def test_the_address_is_let_in_again_once_its_failures_are_old(staff):
    for _ in range(3):
        log_in("/login/", "staff", "wrong guess")
    assert log_in("/login/", "staff", "staff-password").status_code == 429
    LoginFailure.objects.update(at=timezone.now() - timedelta(seconds=601))
    assert log_in("/login/", "staff", "staff-password").status_code == 302


def test_a_few_failures_do_not_lock_anyone_out(staff):
    log_in("/login/", "staff", "typo")
    log_in("/login/", "staff", "typo again")
    assert log_in("/login/", "staff", "staff-password").status_code == 302


def test_behind_a_proxy_the_forwarded_address_counts(settings, staff):
    settings.LOGIN_ADDRESS_FROM_X_FORWARDED_FOR = True
    proxy = "10.0.0.2"
    for _ in range(3):
        Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.4, {ATTACKER}").post(
            "/login/", {"username": "staff", "password": "wrong"})
    assert set(LoginFailure.objects.values_list("address", flat=True)) == {ATTACKER}
    other_client = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=NEIGHBOUR)
    assert other_client.post("/login/", {"username": "staff", "password": "staff-password"}).status_code == 302
