"""The worked examples of docs/multivariate.md, executed block by block, and their estimates
checked against the simulations' truth (inside the 95% interval, and close).

The two univariate examples (time-varying covariate, cross-level interaction; marginal
likelihood, quick to compile) run in the default tier. The two multivariate ones are in the
slow tier: each takes minutes (on 2 shared cores: 1.5–3 min to compile, 3–4 min to sample).
"""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import lmm_bayes as lb
from lmm_bayes.simulate import (
    CROSSLAG_TRUTH,
    DAILY_SYMPTOMS_TRUTH,
    DOSE_EGFR_TRUTH,
    SYMPTOMS_IL6_TRUTH,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "multivariate.md"


def sections() -> dict[str, str]:
    """The python code of each ``## `` section of the document, by title."""
    found = {}
    for part in re.split(r"^## ", DOC.read_text(), flags=re.MULTILINE)[1:]:
        title, _, body = part.partition("\n")
        found[title.strip()] = "\n".join(re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL))
    return found


def run(title: str) -> dict:
    """Execute one section's code (each section imports what it uses)."""
    code = sections()
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)  # short runs: ESS below 400
        exec(code[next(t for t in code if t.startswith(title))], namespace)  # noqa: S102 - our own docs
    return namespace


def assert_recovered(table, truth: dict, tolerance: dict[str, float]) -> None:
    """Each term's truth inside its 95% interval and within ``tolerance`` of the estimate."""
    rows = table.set_index("term")
    for term, tol in tolerance.items():
        row = rows.loc[term]
        assert row["conf_low"] < truth[term] < row["conf_high"], (term, row, truth[term])
        assert abs(row["estimate"] - truth[term]) < tol, (term, row["estimate"], truth[term])


def test_every_code_block_belongs_to_a_tested_section():
    titles = [t for t, code in sections().items() if code]
    assert len(titles) == 4
    assert sum(t.startswith(("Two outcomes", "Cross-lagged", "Time-varying", "Cross-level"))
               for t in titles) == 4


@pytest.fixture(scope="module")
def bivariate() -> dict:
    return run("Two outcomes")


@pytest.mark.slow
@pytest.mark.validation
def test_bivariate_example_recovers_cross_outcome_and_residual_correlations(bivariate):
    table = bivariate["table"]
    assert_recovered(table, SYMPTOMS_IL6_TRUTH, {
        "depression:months": 0.15, "il6:months": 0.04,
        "sd__depression:months": 0.15, "sd__il6:months": 0.05,
        "cor__depression:(Intercept).il6:(Intercept)": 0.25,
        "cor__depression:months.il6:months": 0.3,
        "sd__depression:Observation": 0.25, "sd__il6:Observation": 0.06,
        "rescor__depression.il6": 0.12,
    })
    # the layout: broom.mixed's columns, outcome named in every term
    assert list(table.columns) == ["effect", "group", "term", "estimate", "std_error",
                                   "conf_low", "conf_high", "ess_bulk", "ess_tail", "r_hat"]
    ran = table[table["effect"] == "ran_pars"]
    assert set(ran["group"]) == {"id", "Residual"}
    assert (ran["term"] == "rescor__depression.il6").sum() == 1
    assert ((ran["group"] == "id") & ran["term"].str.startswith("cor__")).sum() == 6


@pytest.mark.slow
@pytest.mark.validation
def test_bivariate_example_other_tables(bivariate):
    fit = bivariate["fit"]
    components = fit.variance_components().set_index("term")
    sd = fit.summary().set_index("term").loc["sd__il6:months", "estimate"]
    var = components.loc["var__il6:months", "estimate"]
    assert sd**2 < var  # the mean of σ² exceeds the squared mean of σ (Jensen)
    assert {"var__depression:Observation", "rescor__depression.il6"} <= set(components.index)
    effects = fit.random_effects("id")
    assert len(effects) == 120 * 4 and set(effects["group"]) == {"id"}
    # each patient's effects average near zero (they are deviations from the fixed effects)
    means = effects.groupby("term")["estimate"].mean()
    assert abs(means["depression:(Intercept)"]) < 0.5
    with pytest.raises(lb.DesignError, match="no grouping factor 'patient'"):
        fit.random_effects("patient")


@pytest.mark.slow
@pytest.mark.validation
def test_crosslag_example_recovers_the_lagged_effects():
    lags = run("Cross-lagged")["lags"]
    for term, row in lags.iterrows():
        truth = CROSSLAG_TRUTH[term]
        assert row["conf_low"] < truth < row["conf_high"], (term, row)
        assert abs(row["estimate"] - truth) < 0.1, (term, row)


def run_and_check(title: str, fit: str, truth: dict, tolerance: dict[str, float]) -> dict:
    """Run a section and check its fit's summary against the truth; the namespace."""
    namespace = run(title)
    assert_recovered(namespace[fit].summary(), truth, tolerance)
    return namespace


@pytest.mark.validation
def test_within_between_example_recovers_both_effects_and_the_sensitivity_sd():
    truth = DAILY_SYMPTOMS_TRUTH
    namespace = run_and_check("Time-varying", "sensitivity_fit", truth,
                              {"il6_within": 0.25, "il6_between": 0.6, "sd__il6_within": 0.25})
    var = namespace["components"].set_index("term").loc["var__il6_within"]
    assert var["conf_low"] < truth["sd__il6_within"] ** 2 < var["conf_high"]


@pytest.mark.validation
def test_cross_level_example_recovers_the_interaction():
    truth = DOSE_EGFR_TRUTH
    namespace = run_and_check("Cross-level", "dose_fit", truth,
                              {"dose:egfr_baseline": 0.006, "dose": 0.4, "sd__dose": 0.1})
    at_60 = namespace["response_at_60"].values
    expected = truth["dose"] + 60 * truth["dose:egfr_baseline"]
    assert np.quantile(at_60, 0.025) < expected < np.quantile(at_60, 0.975)
