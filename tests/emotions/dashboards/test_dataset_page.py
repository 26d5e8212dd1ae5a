"""A dataset's page: class balance per split, sample faces per class, and the augmentation preview."""
import io
import re

import numpy as np
import pytest
from dashboards_test_support import embedded_figure
from PIL import Image

from emotions.dashboards.faces import load_store
from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db


def test_the_list_shows_each_dataset_with_its_split_sizes(member_client, face_dataset):
    page = member_client.get("/datasets/").content.decode()
    assert f'<a href="/datasets/{face_dataset.pk}/">faces</a>' in page
    assert page.count('<td class="num">21</td>') == 3


def test_class_counts_per_split_are_charted_from_the_dataset_record(member_client, face_dataset):
    figure = embedded_figure(member_client.get(f"/datasets/{face_dataset.pk}/"), "chart-class-counts")
    assert [trace["name"] for trace in figure["data"]] == ["Training", "PublicTest", "PrivateTest"]
    for trace, split in zip(figure["data"], ("train", "public_test", "private_test")):
        assert trace["x"] == list(FER_CLASSES)
        assert trace["y"] == [face_dataset.counts[split][name] for name in FER_CLASSES]


def test_sample_faces_are_shown_per_class_from_the_training_split(member_client, face_dataset):
    page = member_client.get(f"/datasets/{face_dataset.pk}/").content.decode()
    store = load_store(face_dataset)
    for name in FER_CLASSES:
        grid = re.search(rf'<ul class="face-grid samples" data-class="{name}">(.*?)</ul>', page, re.S).group(1)
        rows = [int(row) for row in re.findall(rf'src="/datasets/{face_dataset.pk}/faces/(\d+)\.png"', grid)]
        assert len(rows) == 3
        assert all(store.splits[row] == 0 and FER_CLASSES[store.labels[row]] == name for row in rows)


def test_a_face_is_served_as_the_png_of_its_store_row(member_client, face_dataset):
    response = member_client.get(f"/datasets/{face_dataset.pk}/faces/5.png")
    assert response["Content-Type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.content)))
    assert np.array_equal(image, load_store(face_dataset).images[5])
    assert member_client.get(f"/datasets/{face_dataset.pk}/faces/62.png").status_code == 200
    assert member_client.get(f"/datasets/{face_dataset.pk}/faces/63.png").status_code == 404


def test_the_augmentation_preview_shows_the_face_through_the_chosen_recipe(member_client, face_dataset):
    response = member_client.get(f"/datasets/{face_dataset.pk}/?recipe=seed001_vgg_style&face=7")
    page = response.content.decode()
    copies = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(copies) == 8
    assert "Face 7 as seed001_vgg_style trains on it" in page
    assert '<option selected>seed001_vgg_style</option>' in page
    assert len(set(copies)) > 1  # random flips, crops and erasing: the draws differ


def test_the_preview_is_the_same_on_every_view(member_client, face_dataset):
    def preview():
        page = member_client.get(f"/datasets/{face_dataset.pk}/?recipe=seed002_cnn3&face=2").content.decode()
        return re.findall(r'src="data:image/png;base64,([^"]+)"', page)

    assert preview() == preview()


def test_a_transfer_recipe_previews_at_its_input_size(member_client, face_dataset):
    import base64

    page = member_client.get(f"/datasets/{face_dataset.pk}/?recipe=seed001_resnet18_transfer&face=0").content.decode()
    first = re.search(r'<img src="data:image/png;base64,([^"]+)"', page).group(1)
    size = Image.open(io.BytesIO(base64.b64decode(first))).size
    assert size[0] == size[1] > 48


def test_by_default_a_recipe_that_augments_is_previewed(member_client, face_dataset):
    page = member_client.get(f"/datasets/{face_dataset.pk}/").content.decode()
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 8


def test_a_dataset_whose_store_is_gone_still_shows_its_counts(member_client, face_dataset):
    face_dataset.store_path.unlink()
    response = member_client.get(f"/datasets/{face_dataset.pk}/")
    assert "store file is missing or unreadable" in response.content.decode()
    assert embedded_figure(response, "chart-class-counts")
    assert member_client.get(f"/datasets/{face_dataset.pk}/faces/0.png").status_code == 404
