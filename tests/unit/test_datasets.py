"""Shipped data sets: every entry of DATASETS loads, with its columns and label columns as
strings."""

import pytest

import lmm_bayes as lb
from lmm_bayes.datasets import DATASETS

#: nlme's data sets: rows, columns, the label columns and their numbers of levels
NLME = {
    "oats": (72, ["Block", "Variety", "nitro", "yield"], {"Block": 6, "Variety": 3}),
    "machines": (54, ["Worker", "Machine", "score"], {"Worker": 6, "Machine": 3}),
    "pixel": (102, ["Dog", "Side", "day", "pixel"], {"Dog": 10, "Side": 2}),
    "bodyweight": (176, ["Rat", "Time", "Diet", "weight"], {"Rat": 16, "Diet": 3}),
    "ovary": (308, ["Mare", "Time", "follicles"], {"Mare": 11}),
}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_shipped_data_set_loads(name):
    data = lb.load_dataset(name)
    assert len(data) > 0 and not data.isna().any().any()
    assert DATASETS[name].endswith(").")  # a description that names its source


@pytest.mark.parametrize("name", sorted(NLME))
def test_nlme_data_sets_keep_their_labels_as_strings(name):
    rows, columns, labels = NLME[name]
    data = lb.load_dataset(name)
    assert data.shape == (rows, len(columns)) and list(data.columns) == columns
    for column, n_levels in labels.items():
        assert data[column].map(type).eq(str).all(), column
        assert data[column].nunique() == n_levels, column


def test_numbered_labels_are_the_original_ones():
    assert sorted(lb.load_dataset("bodyweight").Rat.unique(), key=int) == [
        str(i) for i in range(1, 17)]
    assert set(lb.load_dataset("bodyweight").Diet) == {"1", "2", "3"}
    assert set(lb.load_dataset("machines").Worker) == {str(i) for i in range(1, 7)}
