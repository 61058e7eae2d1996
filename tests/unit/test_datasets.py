"""Shipped data sets: every entry of DATASETS loads, with its columns and label columns as
strings."""

import pandas as pd
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

#: the GLMM data sets (scripts/export_glmm_data.R), in the same form
GLMM = {
    "contraception": (1934, ["woman", "district", "use", "livch", "age", "urban"],
                      {"woman": 1934, "district": 60, "livch": 4, "urban": 2}),
    "verbagg": (7584, ["id", "item", "r2", "Anger", "Gender", "btype", "situ", "mode"],
                {"id": 316, "item": 24, "Gender": 2, "btype": 3, "situ": 2, "mode": 2}),
    "arabidopsis": (625, ["reg", "popu", "gen", "rack", "nutrient", "amd", "status",
                          "total_fruits"],
                    {"reg": 3, "popu": 9, "gen": 24, "rack": 2, "nutrient": 2, "amd": 2,
                     "status": 3}),
    "grouseticks": (403, ["INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT"],
                    {"INDEX": 403, "BROOD": 118, "YEAR": 3, "LOCATION": 63}),
}


#: data sets whose missing values are part of the study (a trial's missed visits)
MISSING = {"fev_trial": {"FEV1": 263}}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_shipped_data_set_loads(name):
    data = lb.load_dataset(name)
    missing = data.isna().sum()
    assert len(data) > 0 and missing[missing > 0].to_dict() == MISSING.get(name, {})
    assert DATASETS[name].endswith(").")  # a description that names its source


@pytest.mark.parametrize("name", sorted(NLME | GLMM))
def test_data_sets_keep_their_labels_as_strings(name):
    rows, columns, labels = (NLME | GLMM)[name]
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


@pytest.mark.parametrize(("name", "response"), [("contraception", "use"), ("verbagg", "r2")])
def test_binary_responses_are_numbers_0_and_1(name, response):
    data = lb.load_dataset(name)
    assert pd.api.types.is_numeric_dtype(data[response])
    assert set(data[response]) == {0, 1}


def test_glmm_labels_written_as_numbers_are_the_original_ones():
    arabidopsis = lb.load_dataset("arabidopsis")
    assert set(arabidopsis.nutrient) == {"1", "8"} and set(arabidopsis.rack) == {"1", "2"}
    assert set(lb.load_dataset("contraception").livch) == {"0", "1", "2", "3+"}
    assert lb.load_dataset("contraception").use.sum() == 759  # mlmRev: 759 of 1,934 women use


def test_aids_visits_and_patients_match_jm():
    visits, patients = lb.load_dataset("aids_visits"), lb.load_dataset("aids_patients")
    assert visits.shape == (1405, 7) and patients.shape == (467, 7)
    assert patients.death.sum() == 188 and patients.patient.is_unique  # JM: 188 deaths
    assert set(visits.patient) == set(patients.patient) and set(visits.drug) == {"ddC", "ddI"}
    assert sorted(visits.obstime.unique()) == [0, 2, 6, 12, 18]
    last = visits.groupby("patient").obstime.max()
    assert (last <= patients.set_index("patient").Time.reindex(last.index)).all()
