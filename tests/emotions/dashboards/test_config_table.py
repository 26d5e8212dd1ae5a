"""Configs as tables of dotted keys, one column per run."""
from emotions.dashboards.config_table import config_rows, flatten


def test_nested_keys_are_flattened_with_dots():
    assert flatten({"optimizer": {"lr": 0.001, "betas": [0.9, 0.999]}, "classes": None}) == {
        "optimizer.lr": 0.001, "optimizer.betas": [0.9, 0.999], "classes": None,
    }


def test_values_read_as_in_the_config_file():
    row, = config_rows([{"augment": {"hflip": True}}])
    assert (row.key, row.values) == ("augment.hflip", ["true"])


def test_a_key_one_config_lacks_is_marked_and_differs():
    rows = {row.key: row for row in config_rows([{"limit": 300, "seed": 1}, {"seed": 1}])}
    assert rows["limit"].values == ["300", "(not set)"] and rows["limit"].differs
    assert not rows["seed"].differs


def test_an_empty_mapping_gives_way_to_the_keys_another_config_fills_in():
    rows = config_rows([{"model": {"name": "cnn3", "options": {}}}, {"model": {"name": "ferlite", "options": {"width": 8}}}])
    assert [row.key for row in rows] == ["model.name", "model.options.width"]
