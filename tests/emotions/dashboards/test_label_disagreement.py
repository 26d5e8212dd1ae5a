"""The dataset page's view of where FER2013's label and the FER+ raters' majority part ways."""
import re

import numpy as np
import pytest

from emotions.dashboards.faces import load_store
from ml.classes import FER_CLASSES
from ml.data.ferplus import CATEGORIES, VOTE_COLUMNS, agreement_table, vote_categories

pytestmark = [pytest.mark.django_db, pytest.mark.fer2013]


def _table_counts(page: str) -> list[list[int]]:
    table = re.search(r'<table class="disagreement">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", table, re.S)
    return [[int(n.replace(",", "")) for n in re.findall(r'<td class="num heat[^"]*"[^>]*>(?:<a [^>]*>)?([\d,]+)', row)]
            for row in rows]


def test_the_table_counts_each_label_against_the_raters_majority(member_client, ferplus_dataset):
    page = member_client.get(f"/datasets/{ferplus_dataset.pk}/").content.decode()
    store = load_store(ferplus_dataset)
    expected = agreement_table(store.labels, store.votes)
    assert _table_counts(page) == expected["counts"]
    for column in CATEGORIES:
        assert f'<th scope="col">{column}</th>' in page
    # Per class, the share of voted faces whose raters agree with the label.
    happy = expected["agreement"]["Happy"]
    assert f"{happy * 100:.1f}%" in page


def test_a_cell_shows_its_faces_with_their_votes(member_client, ferplus_dataset):
    fear, neutral = FER_CLASSES.index("Fear"), CATEGORIES.index("Neutral")
    page = member_client.get(f"/datasets/{ferplus_dataset.pk}/?label={fear}&raters={neutral}").content.decode()
    store = load_store(ferplus_dataset)
    rows = [int(row) for row in re.findall(r'<img src="/datasets/\d+/faces/(\d+)\.png" width="72" height="72" alt="Face', page)]
    assert rows, "FER2013's fear faces that the raters read as neutral are the commonest disagreement"
    categories = vote_categories(store.votes)
    assert all(store.labels[row] == fear and categories[row] == neutral for row in rows)
    first_votes = store.votes[rows[0]]
    shown = " · ".join(f"{name} {n}" for name, n in zip(VOTE_COLUMNS, first_votes) if n > 0)
    assert shown in page
    assert "FER2013 Fear, raters: Neutral" in page


def test_a_dataset_without_votes_has_no_disagreement_view(member_client, face_dataset):
    page = member_client.get(f"/datasets/{face_dataset.pk}/?label=0&raters=1").content.decode()
    assert "Where the raters disagree" not in page
