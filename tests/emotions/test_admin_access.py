"""Only staff reach the admin; only staff allowed to launch can launch."""
import pytest

from emotions.models import TrainingRun

pytestmark = pytest.mark.django_db

PAGES = [
    "/admin/",
    "/admin/emotions/dataset/",
    "/admin/emotions/experiment/",
    "/admin/emotions/experiment/add/",
    "/admin/emotions/trainingrun/",
]


def launch(client, experiment):
    return client.post(
        "/admin/emotions/experiment/", {"action": "launch_training", "_selected_action": [experiment.pk]}
    )


@pytest.mark.parametrize("url", PAGES)
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", PAGES)
def test_an_outsider_is_sent_to_the_login_page(client, outsider, url):
    client.force_login(outsider)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_an_outsider_cannot_launch_training(client, outsider, experiment):
    client.force_login(outsider)
    response = launch(client, experiment)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not TrainingRun.objects.exists()


def test_staff_who_may_only_view_are_not_offered_the_launch_action(client, viewer, experiment):
    client.force_login(viewer)
    response = client.get("/admin/emotions/experiment/")
    assert response.status_code == 200
    assert "launch_training" not in response.content.decode()
    launch(client, experiment)
    assert not TrainingRun.objects.exists()


def test_staff_who_may_only_view_cannot_add_experiments(client, viewer):
    client.force_login(viewer)
    assert client.get("/admin/emotions/experiment/add/").status_code == 403


def test_staff_see_every_page(staff_client, experiment):
    for url in PAGES + [f"/admin/emotions/experiment/{experiment.pk}/change/",
                        f"/admin/emotions/dataset/{experiment.dataset.pk}/change/"]:
        assert staff_client.get(url).status_code == 200, url


def test_the_home_page_leads_to_the_upload_page(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/upload/"
