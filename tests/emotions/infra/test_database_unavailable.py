"""While the database restarts or is out of reach, requests that need it are answered 503 with a word
to try again (JSON on the API, a page elsewhere), never a 500 with a traceback."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError

from emotions.uploads import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_down(monkeypatch):
    def unreachable():
        raise OperationalError('connection to server at "10.0.0.10", port 5432 failed: Connection refused')

    monkeypatch.setattr(services, "model_in_use", unreachable)  # the first query both views make


def test_the_api_answers_503_in_json_while_the_database_is_down(client, database_down):
    response = client.post("/api/predictions/", {"image": SimpleUploadedFile("photo.jpg", b"not looked at")})
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json() == {"error": "The database is unavailable for a moment; try again in a few seconds."}


def test_a_page_answers_503_with_a_short_page_while_the_database_is_down(client, database_down):
    response = client.get("/upload/")
    assert response.status_code == 503 and response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "The database is unavailable for a moment" in page and "Traceback" not in page


def test_other_errors_are_left_to_djangos_own_handling(client, monkeypatch):
    monkeypatch.setattr(services, "model_in_use", lambda: 1 / 0)
    client.raise_request_exception = True
    with pytest.raises(ZeroDivisionError):
        client.get("/upload/")
