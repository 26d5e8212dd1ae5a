"""The dashboards work offline: plotly.js and the stylesheet come from static/, never from a CDN."""
import re
from pathlib import Path

import plotly
import pytest
from django.conf import settings

VENDORED = Path(settings.BASE_DIR) / "static" / "vendor" / "plotly.min.js"


def test_the_vendored_plotly_js_is_the_one_the_plotly_package_was_built_for():
    installed = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert VENDORED.read_bytes() == installed.read_bytes(), (
        "static/vendor/plotly.min.js differs from the plotly package's copy (was plotly upgraded?): "
        f"cp {installed} {VENDORED}"
    )


@pytest.mark.django_db
def test_pages_load_scripts_and_styles_from_this_site_only(member_client, succeeded_run, face_dataset):
    for url in ("/experiments/", f"/runs/{succeeded_run.pk}/", f"/datasets/{face_dataset.pk}/",
                f"/compare/?run={succeeded_run.pk}&run={succeeded_run.pk}"):
        page = member_client.get(url).content.decode()
        sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
        assert sources and all(source.startswith("/static/") for source in sources), (url, sources)


@pytest.mark.django_db
def test_chart_pages_load_the_local_plotly(member_client, succeeded_run):
    assert '<script src="/static/vendor/plotly.min.js" defer>' in member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()
