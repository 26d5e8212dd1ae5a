"""Dashboards are for logged-in users (DASHBOARDS_PUBLIC opens them to all); staff also see admin links."""
import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def pages(succeeded_run, face_dataset):
    run, dataset = succeeded_run.pk, face_dataset.pk
    return [
        "/experiments/", f"/compare/?run={run}&run={run}", f"/runs/{run}/", f"/runs/{run}/status.json",
        f"/runs/{run}/curves.json", f"/runs/{run}/mistakes/", f"/runs/{run}/metrics.json", f"/runs/{run}/epochs.csv",
        "/datasets/", f"/datasets/{dataset}/", f"/datasets/{dataset}/faces/0.png",
    ]


def test_an_anonymous_visitor_is_sent_to_log_in(client, pages):
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url


def test_an_anonymous_visitor_cannot_download_a_checkpoint(client, succeeded_run):
    response = client.get(f"/runs/{succeeded_run.pk}/checkpoint.pt")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_logged_in_user_sees_every_page(member_client, pages):
    for url in pages:
        assert member_client.get(url).status_code == 200, url


def test_with_dashboards_public_an_anonymous_visitor_sees_every_page(client, pages, settings):
    settings.DASHBOARDS_PUBLIC = True
    for url in pages:
        assert client.get(url).status_code == 200, url


def test_a_user_logs_in_on_the_site_and_lands_where_they_were_going(client, member):
    response = client.post("/login/?next=/datasets/", {"username": "member", "password": "member-password",
                                                        "next": "/datasets/"})
    assert response.status_code == 302 and response["Location"] == "/datasets/"
    assert client.get("/datasets/").status_code == 200


def test_logging_in_without_a_destination_opens_the_experiments(client, member):
    response = client.post("/login/", {"username": "member", "password": "member-password"})
    assert response["Location"] == "/experiments/"


def test_a_logged_in_user_sees_no_admin_links(member_client, succeeded_run):
    page = member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()
    assert "/admin/" not in page
    assert "Log out member" in page


def test_staff_see_links_to_launch_cancel_and_deploy_in_the_admin(staff_client, succeeded_run):
    page = staff_client.get(f"/runs/{succeeded_run.pk}/").content.decode()
    assert 'href="/admin/emotions/experiment/"' in page  # launch
    assert f'href="/admin/emotions/trainingrun/?id__exact={succeeded_run.pk}"' in page  # cancel, deploy


def test_the_admin_link_opens_the_run_alone_with_its_actions(staff_client, succeeded_run, ferlite_experiment):
    from dashboards_test_support import make_run

    make_run(ferlite_experiment)
    page = staff_client.get(f"/admin/emotions/trainingrun/?id__exact={succeeded_run.pk}").content.decode()
    assert "1 training run" in page and "deploy_model" in page and "cancel_runs" in page


def test_staff_who_may_only_view_are_not_offered_launching(viewer, client, succeeded_run):
    client.force_login(viewer)
    page = client.get(f"/runs/{succeeded_run.pk}/").content.decode()
    assert "Launch training" not in page and "in the admin" not in page


def test_the_navigation_links_experiments_and_datasets_and_upload_and_history_once_they_exist(member_client):
    from django.urls import NoReverseMatch, reverse

    page = member_client.get("/experiments/").content.decode()
    assert 'href="/experiments/"' in page and 'href="/datasets/"' in page
    for name, label in (("emotions:upload", "Upload"), ("emotions:history", "History")):
        try:
            assert f'<a href="{reverse(name)}">{label}</a>' in page
        except NoReverseMatch:  # the uploads app is not there yet
            assert f">{label}<" not in page
