"""FER+ votes: the majority rule on hand-made rows, matching a votes file onto an archive by path, and a
votes file that does not fit refused by row."""
import numpy as np
import pytest

from ml.classes import FER_CLASSES
from ml.data import DataImportError, FerStore, import_fer2013
from ml.data.ferplus import (
    CATEGORIES, NO_MAJORITY, NO_VOTES, VOTE_COLUMNS, agreement_table, majority_labels, vote_categories,
    vote_distributions,
)

HEADER = "path,usage,row," + ",".join(VOTE_COLUMNS)


def votes(**counts):
    """One FER+ row: counts by FER+ column name."""
    return [counts.get(column, 0) for column in VOTE_COLUMNS]


def test_a_clear_majority_names_the_fer2013_class():
    rows = np.array([votes(happiness=10), votes(anger=6, neutral=4), votes(fear=7, surprise=3)])
    assert [FER_CLASSES[label] for label in majority_labels(rows)] == ["Happy", "Angry", "Fear"]


def test_single_votes_are_dropped_before_the_majority_is_counted():
    # 4 sad of 10 is no majority, but with the three single votes dropped it is 4 of 7.
    rows = np.array([votes(sadness=4, neutral=3, anger=1, fear=1, surprise=1)])
    assert FER_CLASSES[majority_labels(rows)[0]] == "Sad"


def test_a_tie_is_no_majority():
    rows = np.array([votes(sadness=5, neutral=5), votes(happiness=4, surprise=4, neutral=2)])
    assert list(majority_labels(rows)) == [-1, -1]
    assert list(vote_categories(rows)) == [NO_MAJORITY, NO_MAJORITY]


def test_not_a_face_contempt_and_unknown_majorities_have_no_class():
    rows = np.array([votes(NF=10), votes(contempt=6, neutral=4), votes(unknown=8, sadness=2)])
    assert list(majority_labels(rows)) == [-1, -1, -1]
    assert [CATEGORIES[code] for code in vote_categories(rows)] == ["NF", "contempt", "unknown"]


def test_a_face_without_votes_has_no_label_and_no_distribution():
    rows = np.array([[-1] * 10, votes(happiness=10)])
    assert vote_categories(rows)[0] == NO_VOTES
    distributions, usable = vote_distributions(rows)
    assert list(usable) == [False, True]


def test_the_distribution_covers_the_seven_classes_without_single_votes():
    rows = np.array([votes(sadness=6, neutral=2, fear=1, contempt=1)])
    distributions, usable = vote_distributions(rows)
    expected = np.zeros(7)
    expected[FER_CLASSES.index("Sad")] = 0.75
    expected[FER_CLASSES.index("Neutral")] = 0.25
    assert usable[0]
    np.testing.assert_allclose(distributions[0], expected)


def test_faces_most_raters_could_not_read_are_not_trained_on():
    rows = np.array([votes(unknown=4, NF=3, neutral=3), votes(contempt=10)])
    _, usable = vote_distributions(rows)
    assert list(usable) == [False, False]


def _archive(make):
    files = make.kaggle_files({"happy": (2, 1, 1), "sad": (2, 1, 1)})
    return make.zip(files), sorted(files)


def _votes_file(tmp_path, lines, name="votes.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def _usage(member):
    return member.rsplit("/", 1)[1].split("_")[0]


def test_votes_are_matched_to_faces_by_archive_path(make, tmp_path):
    archive, members = _archive(make)
    # Listed in another order than the archive's, with one face left without a row and one blank.
    chosen, blank = members[::-1][:-2], members[0]
    lines = [f"{m},{_usage(m)},{i}," + ",".join(map(str, votes(neutral=i % 10, sadness=10 - i % 10)))
             for i, m in enumerate(chosen)]
    lines.append(f"{blank},{_usage(blank)},," + "," * 9)
    store = import_fer2013(archive, ferplus=_votes_file(tmp_path, lines))

    by_path = {str(path): row for row, path in enumerate(store.paths)}
    for i, member in enumerate(chosen):
        expected = votes(neutral=i % 10, sadness=10 - i % 10)
        assert list(store.votes[by_path[member]]) == expected
    assert list(store.votes[by_path[blank]]) == [-1] * 10
    assert store.report["ferplus"]["faces_without_votes"] == 2
    assert store.report["ferplus"]["faces_with_votes"] == len(chosen)


def test_the_votes_survive_saving_and_loading(make, tmp_path):
    archive, members = _archive(make)
    lines = [f"{m},{_usage(m)},0," + ",".join(map(str, votes(happiness=9, neutral=1))) for m in members]
    store = import_fer2013(archive, ferplus=_votes_file(tmp_path, lines))
    loaded = FerStore.load(store.save(tmp_path / "store.npz"))
    assert loaded.has_votes and (loaded.votes == store.votes).all()
    assert list(loaded.paths) == list(store.paths)
    # A subset keeps each face's own votes.
    subset = loaded.select_classes(["Happy"])
    assert len(subset.votes) == len(subset) and subset.has_votes


@pytest.mark.parametrize("bad_line, message", [
    ("train/happy/Training_99999.png,Training,0,10,0,0,0,0,0,0,0,0,0", "is not in the archive"),
    ("{member},PrivateTest,0,10,0,0,0,0,0,0,0,0,0", "disagrees with the archive"),
    ("{member},Training,0,ten,0,0,0,0,0,0,0,0,0", "must be a whole number"),
    ("{member},Training,0,9.5,0,0,0,0,0,0,0,0,0", "must be a whole number"),
    ("{member},Training,0,-1,0,0,0,0,0,0,0,0,0", "must be a whole number"),
])
def test_a_votes_file_that_does_not_fit_the_archive_is_refused_by_row(make, tmp_path, bad_line, message):
    archive, members = _archive(make)
    training = [m for m in members if "Training_" in m]
    good = f"{training[0]},Training,0," + ",".join(map(str, votes(happiness=10)))
    path = _votes_file(tmp_path, [good, bad_line.format(member=training[1])])
    with pytest.raises(DataImportError) as caught:
        import_fer2013(archive, ferplus=path)
    assert "row 3" in str(caught.value) and message in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_csv_source_cannot_take_votes(make, tmp_path):
    csv = make.csv([(3, make.pixels(), "Training"), (4, make.pixels(), "PublicTest")])
    with pytest.raises(DataImportError, match="archive member path"):
        import_fer2013(csv, ferplus=_votes_file(tmp_path, []))


@pytest.mark.fer2013
def test_the_shared_votes_fit_the_shared_archive(fer2013_store, ferplus_votes):
    store = fer2013_store
    assert store.has_votes
    row = list(store.paths).index("train/happy/Training_63537808.png")
    assert list(store.votes[row]) == votes(happiness=10)
    # The FER+ evaluation set: the PrivateTest faces with a 7-class majority.
    assert (majority_labels(store.split_votes("private_test")) >= 0).sum() == 3136
    agreement = agreement_table(store.labels, store.votes)["agreement"]
    assert agreement["Happy"] > 0.9 and agreement["Fear"] < 0.15
