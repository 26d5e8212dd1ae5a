"""Programs own their uploads: a user makes API tokens on /tokens/ (staff in the admin), a program sends
one as `Authorization: Bearer <token>`, and what it uploads is that user's alone."""
import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from uploads_test_support import file

from emotions.models import ApiToken, Upload

pytestmark = pytest.mark.django_db

API = "/api/predictions/"


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def program(member) -> tuple[Client, str]:
    """A script of member's, holding a token they made: no session, no cookie."""
    _, secret = ApiToken.objects.issue(member, "lab camera script")
    return Client(), secret


def upload_with(client, secret, photo) -> dict:
    response = client.post(f"{API}?wait=1", {"image": file("astronaut.jpg", photo)}, **bearer(secret))
    assert response.status_code == 201, response.content
    return response.json()


# Making and revoking -----------------------------------------------------------------------------
def test_a_user_makes_a_token_and_sees_its_secret_once(member_client, member):
    response = member_client.post("/tokens/", {"name": "lab camera script"})
    assert response.status_code == 201
    token = ApiToken.objects.get()
    secret = response.context["secret"]
    assert token.user == member and token.name == "lab camera script" and secret.startswith("fer_")
    assert secret in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0") and "no-store" in response["Cache-Control"]
    assert secret not in member_client.get("/tokens/").content.decode()  # never shown again
    assert token.shown in member_client.get("/tokens/").content.decode()


def test_the_token_is_stored_only_as_a_hash(member):
    import hashlib

    token, secret = ApiToken.objects.issue(member, "script")
    token.refresh_from_db()
    stored = [str(value) for value in ApiToken.objects.filter(pk=token.pk).values().get().values()]
    assert secret not in stored and token.key_hash == hashlib.sha256(secret.encode()).hexdigest()


def test_a_user_revokes_their_token_and_it_gets_401(member_client, member, program, astronaut_jpeg):
    client, secret = program
    token = ApiToken.objects.get()
    response = member_client.post(f"/tokens/{token.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/tokens/"
    token.refresh_from_db()
    assert not token.is_active
    refused = client.post(API, {"image": file("astronaut.jpg", astronaut_jpeg)}, **bearer(secret))
    assert refused.status_code == 401 and refused.json() == {"error": "Invalid or revoked API token."}
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert not Upload.objects.exists()


def test_nobody_else_can_revoke_a_users_token(program, outsider):
    other = Client()
    other.force_login(outsider)
    token = ApiToken.objects.get()
    assert other.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    assert other.get(f"/tokens/{token.pk}/revoke/").status_code == 405
    token.refresh_from_db()
    assert token.is_active
    assert token.shown not in other.get("/tokens/").content.decode()


def test_the_tokens_page_needs_a_login(client):
    response = client.get("/tokens/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_staff_make_a_token_for_a_user_in_the_admin_and_revoke_it(staff_client, member):
    response = staff_client.post("/admin/emotions/apitoken/add/", {"user": member.pk, "name": "for the lab"})
    assert response.status_code == 201
    token = ApiToken.objects.get()
    secret = response.context["secret"]
    assert token.user == member and ApiToken.objects.authenticate(secret) == token
    assert secret in response.content.decode()
    assert secret not in staff_client.get(f"/admin/emotions/apitoken/{token.pk}/change/").content.decode()

    staff_client.post("/admin/emotions/apitoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]})
    assert ApiToken.objects.authenticate(secret) is None


def test_staff_without_the_permission_cannot_make_tokens(client, django_user_model, member):
    viewer = django_user_model.objects.create_user("viewer", password="viewer-password", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_apitoken"))
    client.force_login(viewer)
    assert client.post("/admin/emotions/apitoken/add/", {"user": member.pk, "name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


# Using them ----------------------------------------------------------------------------------------
def test_an_upload_made_with_a_token_belongs_to_its_user(program, member, member_client, astronaut_jpeg):
    client, secret = program
    body = upload_with(client, secret, astronaut_jpeg)
    upload = Upload.objects.get(pk=body["id"])
    assert upload.owner == member and upload.session_owner == "" and body["status"] == "done"
    assert client.get(f"{API}{body['id']}/", **bearer(secret)).status_code == 200
    assert member_client.get("/history/").content.decode().count("astronaut.jpg") == 1  # in their history
    assert member_client.get(f"/uploads/{body['id']}/").status_code == 200


def test_it_is_private_another_users_token_or_no_token_gets_404(program, outsider, astronaut_jpeg):
    client, secret = program
    body = upload_with(client, secret, astronaut_jpeg)
    _, others_secret = ApiToken.objects.issue(outsider, "theirs")
    assert client.get(f"{API}{body['id']}/", **bearer(others_secret)).status_code == 404
    assert Client().get(f"{API}{body['id']}/").status_code == 404  # holding the id is not enough any more
    assert Client().get(f"/uploads/{body['id']}/").status_code == 404


@pytest.mark.parametrize("header", ["Bearer fer_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "fer_x"])
def test_a_wrong_or_malformed_token_gets_401(client, astronaut_jpeg, header):
    response = client.post(API, {"image": file("astronaut.jpg", astronaut_jpeg)}, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and not Upload.objects.exists()
    assert client.get(f"{API}00000000-0000-0000-0000-000000000000/", HTTP_AUTHORIZATION=header).status_code == 401


def test_a_deactivated_users_token_stops_working(program, member, astronaut_jpeg):
    client, secret = program
    member.is_active = False
    member.save()
    assert client.post(API, {"image": file("a.jpg", astronaut_jpeg)}, **bearer(secret)).status_code == 401


def test_without_a_token_the_api_keeps_working_as_before(client, astronaut_jpeg):
    body = client.post(f"{API}?wait=1", {"image": file("astronaut.jpg", astronaut_jpeg)}).json()
    upload = Upload.objects.get(pk=body["id"])
    assert upload.owner is None and body["status"] == "done"
    assert Client().get(f"{API}{body['id']}/").status_code == 200  # the id is the permission, as documented


def test_the_token_records_when_it_was_last_used(program, astronaut_jpeg):
    client, secret = program
    assert ApiToken.objects.get().last_used_at is None
    upload_with(client, secret, astronaut_jpeg)
    assert ApiToken.objects.get().last_used_at is not None
