"""Unit tests of multivariate models without sampling: the ID syntax of the parser, the joint
design (blocks, levels, missing patterns), the priors, and the likelihood of rows with
missing outcomes against scipy's dense multivariate normal."""

import logging

import numpy as np
import pandas as pd
import pytensor
import pytest
from scipy import stats

from lmm_bayes.errors import DesignError, PriorError, SpecError
from lmm_bayes.formula import parse_formula
from lmm_bayes.multivariate import build_multivariate_design, build_multivariate_priors
from lmm_bayes.names import correlation_matrices
from lmm_bayes.priors import Prior
from lmm_bayes.spec import parse_formulas

# ----------------------------------------------------------------------------- parser


def test_id_syntax_sets_the_id_and_keeps_the_terms():
    (term,) = parse_formula("y ~ time + (1 + time |p| id)").random
    assert (term.id, term.group, term.correlated) == ("p", "id", True)
    assert [t.label for t in term.terms] == ["(Intercept)", "time"]
    assert parse_formula("y ~ (1 | id)").random[0].id is None


def test_id_syntax_with_nested_factors_gives_the_id_to_each():
    terms = parse_formula("y ~ (1 |q| a/b)").random
    assert [(t.group, t.id) for t in terms] == [("a", "q"), ("a:b", "q")]


@pytest.mark.parametrize("text, message, position", [
    ("y ~ (1 |p|| id)", "single bars", 7),
    ("y ~ (1 ||p| id)", "single bars", 7),
    ("y ~ (1 |p| gr(id, by = arm))", "cannot use gr", 7),
    ("y ~ (1 |p id)", r"expected '\)'", 10),
])
def test_id_syntax_errors_name_the_position(text, message, position):
    with pytest.raises(SpecError, match=message) as err:
        parse_formula(text)
    assert f"position {position}" in str(err.value)


def test_multivariate_formulas_are_checked():
    with pytest.raises(SpecError, match="two or more formulas"):
        parse_formulas(["y ~ x"])
    with pytest.raises(SpecError, match="more than one formula"):
        parse_formulas(["y ~ x", "y ~ 1"])
    with pytest.raises(SpecError, match="not supported in multivariate"):
        parse_formulas(["y ~ x + (1 | gr(id, by = arm))", "z ~ 1"])


# ----------------------------------------------------------------------------- joint design


@pytest.fixture()
def panel() -> pd.DataFrame:
    """8 people × 3 visits, three outcomes with missing cells."""
    rng = np.random.default_rng(3)
    n = 24
    frame = pd.DataFrame({"id": np.repeat([f"s{i}" for i in range(8)], 3),
                          "time": np.tile([0.0, 1.0, 2.0], 8), "x": rng.normal(size=n),
                          "y1": rng.normal(size=n), "y2": rng.normal(size=n),
                          "y3": rng.normal(size=n)})
    frame.loc[[1, 5], "y1"] = np.nan
    frame.loc[[2, 5, 7], "y2"] = np.nan
    frame.loc[[8], "y3"] = np.nan
    return frame


FORMULAS = ["y1 ~ time + (1 + time |p| id)", "y2 ~ x + (1 |p| id)", "y3 ~ 1 + (1 | id)"]


def design_of(formulas, data, **kw):
    return build_multivariate_design(parse_formulas(formulas), data, **kw)


def test_id_terms_share_one_block_and_others_have_their_own(panel):
    design = design_of(FORMULAS, panel)
    assert [(b.name, b.group, b.terms) for b in design.blocks] == [
        ("id__p", "id", ("y1:(Intercept)", "y1:time", "y2:(Intercept)")),
        ("id__y3", "id", ("y3:(Intercept)",)),
    ]
    shared = design.blocks[0]
    assert [(p.outcome, p.columns) for p in shared.parts] == [(0, (0, 1)), (1, (2,))]
    # each outcome's rows point to the level of their own person
    for part, rows in zip(shared.parts, design.rows[:2]):
        labels = np.asarray(shared.levels)[part.index]
        assert list(labels) == list(panel["id"].iloc[rows])
    np.testing.assert_array_equal(shared.parts[0].Z[:, 1], panel["time"].iloc[design.rows[0]])


def test_one_block_per_factor_is_named_by_the_factor(panel):
    design = design_of(["y1 ~ time + (1 |p| id)", "y3 ~ 1 + (1 |p| id)"], panel)
    assert [b.name for b in design.blocks] == ["id"]
    assert design.fixed_names == ("y1:(Intercept)", "y1:time", "y3:(Intercept)")


def test_each_outcome_keeps_its_observed_rows_and_patterns_partition_the_rows(panel):
    design = design_of(FORMULAS, panel)
    for k, y in enumerate(("y1", "y2", "y3")):
        np.testing.assert_array_equal(design.rows[k], np.flatnonzero(panel[y].notna()))
        np.testing.assert_allclose(design.designs[k].y, panel[y].dropna())
    found = {p.outcomes: p.n_rows for p in design.patterns}
    # row 5 misses y1 and y2; rows 1, 2, 7, 8 miss one outcome each
    assert found == {(0, 1, 2): 19, (1, 2): 1, (0, 2): 2, (0, 1): 1, (2,): 1}
    for pattern in design.patterns:  # aligned: the same data rows for every outcome
        rows = [design.rows[k][pos] for k, pos in zip(pattern.outcomes, pattern.positions)]
        assert all(np.array_equal(rows[0], r) for r in rows)


def test_levels_absent_from_the_first_outcome_are_appended(panel):
    panel.loc[panel["id"] == "s0", "y1"] = np.nan
    design = design_of(["y1 ~ 1 + (1 |p| id)", "y3 ~ 1 + (1 |p| id)"], panel)
    block = design.blocks[0]
    assert block.levels == tuple(f"s{i}" for i in range(1, 8)) + ("s0",)
    assert set(np.asarray(block.levels)[block.parts[1].index]) == {f"s{i}" for i in range(8)}


def test_missing_predictor_raises_or_drops_for_that_outcome_only(panel, caplog):
    panel.loc[3, "x"] = np.nan
    with pytest.raises(DesignError, match=r"\['x'\] on 1 row.*'y2'.*position 3"):
        design_of(FORMULAS, panel)
    with caplog.at_level(logging.WARNING, logger="lmm_bayes"):
        design = design_of(FORMULAS, panel, na_action="drop")
    assert "y2: dropped 1 of 24 rows" in caplog.text
    assert 3 not in design.rows[1] and 3 in design.rows[0] and 3 in design.rows[2]


def test_rows_with_every_outcome_missing(panel, caplog):
    panel.loc[4, ["y1", "y2", "y3"]] = np.nan
    with pytest.raises(DesignError, match="1 row.*every outcome missing.*position 4"):
        design_of(FORMULAS, panel)
    with caplog.at_level(logging.WARNING, logger="lmm_bayes"):
        design = design_of(FORMULAS, panel, na_action="drop")
    assert "dropped 1 of 24 rows with every outcome missing" in caplog.text
    assert sum(p.n_rows for p in design.patterns) == 23


def test_bad_responses_are_refused(panel):
    with pytest.raises(DesignError, match="'log\\(y1\\)'.*must be a column"):
        design_of(["log(y1) ~ 1", "y2 ~ 1"], panel)
    panel["word"] = "a"
    with pytest.raises(DesignError, match="'word' is not numeric"):
        design_of(["word ~ 1", "y2 ~ 1"], panel)


# ----------------------------------------------------------------------------- priors


def test_priors_take_each_outcomes_defaults_and_overrides(panel):
    design = design_of(FORMULAS, panel)
    priors = build_multivariate_priors(design, {"y1": {"time": Prior("normal", mu=0, sigma=1)},
                                                "eta_id__p": 4})
    sd_y2 = float(panel["y2"].std())
    assert priors.outcomes[0].fixed["time"] == Prior("normal", mu=0, sigma=1)
    assert priors.outcomes[1].sigma == Prior("halfstudentt", nu=3, sigma=sd_y2)
    assert priors.sd["id__p"]["y2:(Intercept)"] == Prior("halfstudentt", nu=3, sigma=sd_y2)
    assert priors.eta == {"id__p": 4.0} and priors.rescor_eta == 2.0
    table = priors.table(design.responses)
    assert {"y1:time", "sd_id__p__y1:time", "corr_id__p", "rescor"} <= set(table["parameter"])


def test_prior_errors_name_the_valid_keys(panel):
    design = design_of(FORMULAS, panel)
    with pytest.raises(PriorError, match="unknown prior key.*'eta_id__y3'.*valid keys"):
        build_multivariate_priors(design, {"eta_id__y3": 2})
    with pytest.raises(PriorError, match="'eta_rescor'.*positive"):
        build_multivariate_priors(design, {"eta_rescor": 0})
    with pytest.raises(PriorError, match="unknown prior key.*eta_rescor"):
        build_multivariate_priors(design, {"eta_rescor": 2}, rescor=False)
    with pytest.raises(PriorError, match="block 'id__p'.*one family"):
        build_multivariate_priors(design, {"y2": {"sd": Prior("halfnormal", sigma=1)}})


# ----------------------------------------------------------------------------- likelihood


def _scipy_loglik(design, beta, effects, cov) -> float:
    """Σ over the data rows of log N(y_obs; μ_obs, Σ_ε[obs, obs]) with scipy's dense normal,
    μ from the fixed effects and the random effects of each row's level."""
    n = design.n_rows_given
    K = len(design.responses)
    mu, y = np.full((n, K), np.nan), np.full((n, K), np.nan)
    start = 0
    for k, d in enumerate(design.designs):
        p = d.X.shape[1]
        mu[design.rows[k], k] = d.X @ beta[start:start + p]
        y[design.rows[k], k] = d.y
        start += p
    for block in design.blocks:
        for part in block.parts:
            rows = design.rows[part.outcome]
            b = effects[block.name][part.index][:, list(part.columns)]
            mu[rows, part.outcome] += (part.Z * b).sum(axis=1)
    total = 0.0
    for i in range(n):
        seen = np.flatnonzero(~np.isnan(y[i]))
        if seen.size:
            total += stats.multivariate_normal(mu[i, seen], cov[np.ix_(seen, seen)]).logpdf(
                y[i, seen])
    return total


@pytest.mark.parametrize("formulas", [[FORMULAS[0], "y3 ~ x + (1 |p| id)"], FORMULAS],
                         ids=["K=2", "K=3"])
def test_missing_pattern_likelihood_equals_dense_normal_of_observed_cells(panel, formulas):
    from lmm_bayes.builder import build_multivariate_model

    design = design_of(formulas, panel)
    model = build_multivariate_model(design, build_multivariate_priors(design), rescor=True)
    names = ["beta", "sigma", "rescor"] + [f"b_{b.name}" for b in design.blocks]
    outputs = model.replace_rvs_by_values([model.logp(vars=model.observed_RVs)]
                                          + [model[n] for n in names])
    function = pytensor.function(model.value_vars, outputs, mode="FAST_COMPILE",
                                 on_unused_input="ignore")
    rng = np.random.default_rng(8)
    start = model.initial_point()
    loglik, *values = function(*(rng.normal(0, 0.5, size=np.shape(start[v.name]))
                                 for v in model.value_vars))
    found = dict(zip(names, values))
    rescor = correlation_matrices(found["rescor"], len(formulas))
    cov = rescor * np.outer(found["sigma"], found["sigma"])
    assert not np.allclose(rescor, np.eye(len(formulas)))  # a real correlation
    effects = {b.name: found[f"b_{b.name}"] for b in design.blocks}
    expected = _scipy_loglik(design, found["beta"], effects, cov)
    assert len(model.observed_RVs) == len(design.patterns)
    np.testing.assert_allclose(loglik, expected, rtol=1e-10)
