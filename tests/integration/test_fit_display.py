"""A notebook user's first hour: printing a fit, lme4's fixef/ranef/coef, the default grouping
factor, predicting the fitted rows, loading a results folder."""

import re

import numpy as np
import pandas as pd
import pytest
from conftest import crossed_data
from test_io import hand_made_fit

import lmm_bayes as lb

INTERVAL = ["estimate", "std_error", "conf_low", "conf_high"]


def _block(text: str, title: str) -> list[str]:
    """The lines of the table under ``title`` in a printed fit."""
    return text.split(f"\n{title}\n")[1].split("\n\n")[0].splitlines()


def test_print_gives_the_tables_with_one_number_of_decimals_per_column(sleep_fit):
    text = str(sleep_fit)
    assert text.startswith("Formula: Reaction ~ Days + (Days | Subject)\n")
    assert "Data: 180 observations; Subject: 18 levels" in text
    assert f"Engine: {sleep_fit.engine[1]}\n" in text  # "marginal: one grouping factor..."
    for title in ("Variance components", "Intraclass correlation"):
        assert f"\n\n{title}\n" in text
    header, *rows = _block(text, "Fixed effects")
    assert header.split()[:5] == ["term", *INTERVAL]
    cells = [row.split() for row in rows]
    assert [c[0] for c in cells] == ["(Intercept)", "Days"]
    for column in range(1, 5):  # estimate ... conf_high: the same decimals in both rows
        decimals = {len(c[column].partition(".")[2]) for c in cells}
        assert len(decimals) == 1, cells
    assert "\n" not in repr(sleep_fit)


def test_repr_html_has_the_tables(sleep_fit):
    page = sleep_fit._repr_html_()
    assert page.count("<table") == 3
    for title in ("Fixed effects", "Variance components", "Intraclass correlation"):
        assert f"<h4>{title}</h4>" in page
    assert "Reaction ~ Days + (Days | Subject)" in page


def test_fixef_equals_the_fixed_rows_of_summary(sleep_fit):
    summary = sleep_fit.summary(prob=0.9)
    fixed = summary[summary.effect == "fixed"].set_index("term")[INTERVAL]
    pd.testing.assert_frame_equal(sleep_fit.fixef(prob=0.9), fixed, check_names=False)


def test_coef_is_the_fixed_plus_the_random_effect_per_draw(sleep_model):
    fit = hand_made_fit(sleep_model, seed=3)
    post = fit.idata.posterior
    table = fit.coef("Subject", prob=0.8).set_index(["level", "term"])
    for level, term in (("308", "(Intercept)"), ("335", "Days")):
        draws = (post["beta"].sel(fixed=term)
                 + post["b_Subject"].sel(Subject__level=level, Subject__term=term)).values
        row = table.loc[(level, term)]
        assert row["estimate"] == pytest.approx(draws.mean())
        assert row["std_error"] == pytest.approx(draws.std(ddof=1))
        assert [row["conf_low"], row["conf_high"]] == pytest.approx(
            np.quantile(draws, [0.1, 0.9]))
    assert list(fit.coef()) == ["Subject"]
    pd.testing.assert_frame_equal(fit.coef()["Subject"], fit.coef("Subject"))


def test_the_only_grouping_factor_is_the_default(sleep_fit):
    table = sleep_fit.random_effects("Subject")
    pd.testing.assert_frame_equal(sleep_fit.random_effects(), table)
    pd.testing.assert_frame_equal(sleep_fit.ranef("Subject"), table)
    ranef = sleep_fit.ranef()
    assert list(ranef) == ["Subject"]
    pd.testing.assert_frame_equal(ranef["Subject"], table)


def test_several_grouping_factors_must_be_named():
    fit = hand_made_fit(lb.LMM("y ~ x + (1 | a) + (1 | b)", crossed_data()))
    with pytest.raises(lb.DesignError, match=re.escape("name the grouping factor: the model "
                                                       "has ['a', 'b']")):
        fit.random_effects()
    assert list(fit.ranef()) == list(fit.coef()) == ["a", "b"]
    with pytest.raises(lb.DesignError, match="no grouping factor 'c'"):
        fit.coef("c")


def test_predict_without_data_predicts_the_fitted_rows(sleepstudy):
    data = sleepstudy.copy()
    data.loc[[3, 50], "Days"] = np.nan  # dropped: not fitted, not predicted
    fit = hand_made_fit(lb.LMM("Reaction ~ Days + (Days | Subject)", data, na_action="drop"))
    fitted = fit.predict(random_seed=1)
    rows = data.drop(index=[3, 50])
    assert fitted.index.equals(rows.index)
    pd.testing.assert_frame_equal(fitted, fit.predict(rows, random_seed=1))
    assert fit.predict_draws().sizes["obs"] == len(rows)


def test_load_a_results_folder(sleep_fit, tmp_path):
    sleep_fit.save(tmp_path / "fit.nc")
    pd.testing.assert_frame_equal(lb.load(tmp_path).summary(), sleep_fit.summary())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(lb.LoadError, match=re.escape(f"no fit.nc in {str(empty)!r}")):
        lb.load(empty)
