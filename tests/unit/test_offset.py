"""Offsets, ``y ~ x + offset(log(t)) + (1 | g)``: parsing, their values in the design, the
engines that refuse them, and every η recomputed from draws (worked out by hand)."""

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import lmm_bayes as lb
from lmm_bayes import collapsed, effects_system, individual_blocks, kernel, marginal
from lmm_bayes.design import build_design, evaluate_offset
from lmm_bayes.errors import DesignError, SpecError
from lmm_bayes.families import FAMILIES
from lmm_bayes.formula import parse_formula
from lmm_bayes.multivariate import build_multivariate_design
from lmm_bayes.ppc import pointwise_loglik
from lmm_bayes.predict import predict_draws
from lmm_bayes.specfile import read_spec
from lmm_bayes.summaries import population_means

# ----------------------------------------------------------------------------- parsing


def test_one_offset_is_kept_out_of_the_fixed_terms():
    f = parse_formula("y ~ x + offset(log(t)) + (1 | g)")
    assert [t.label for t in f.fixed] == ["(Intercept)", "x"]
    assert f.offsets == ("log(t)",)
    assert f.variables == ("y", "x", "log(t)", "g")


def test_two_offsets_in_order_each_once():
    f = parse_formula("y ~ offset( log(t) ) + x + offset(w) + offset(w)")
    assert f.offsets == ("log(t)", "w")
    assert parse_formula("y ~ x").offsets == ()
    assert parse_formula("y ~ 0 + offset(w)").fixed == ()


@pytest.mark.parametrize("text, pos, message", [
    ("y ~ x + (offset(t) | g)", 9, "an offset cannot be part of a random-effect term"),
    ("y ~ offset() + x", 4, "offset() needs an expression"),
    ("y ~ x - offset(t)", 8, "an offset cannot be subtracted"),
    ("y ~ x:offset(t)", 6, "an offset must stand alone"),
    ("y ~ x + offset(__import__('os'))", 8, "offset(__import__('os')) is not a valid"),
])
def test_misplaced_or_empty_offsets_name_the_position(text, pos, message):
    with pytest.raises(SpecError) as err:
        parse_formula(text)
    assert str(err.value).startswith(message)
    assert f"at position {pos} of the formula" in str(err.value)


# ----------------------------------------------------------------------------- design

DATA = pd.DataFrame({
    "y": [1.0, 3, 2, 5, 4, 6, 2, 7, 3], "x": [0.0, 1, 2, 0, 1, 2, 0, 1, 3],
    "t": [1.0, 2, 4, 1, 3, 5, 2, 2, 6], "w": np.arange(9.0), "g": list("aaabbbccc"),
})


def test_design_holds_the_log_of_a_column():
    d = build_design(parse_formula("y ~ x + offset(log(t)) + (1 | g)"), DATA)
    np.testing.assert_allclose(d.offset, np.log(DATA.t))
    assert d.fixed_names == ("(Intercept)", "x")
    assert build_design(parse_formula("y ~ x + (1 | g)"), DATA).offset is None


def test_design_sums_two_offsets_and_new_data_are_evaluated_alike():
    d = build_design(parse_formula("y ~ x + offset(log(t)) + offset(scale(w))"), DATA)
    scaled = (DATA.w - DATA.w.mean()) / DATA.w.std()
    np.testing.assert_allclose(d.offset, np.log(DATA.t) + scaled)
    new = pd.DataFrame({"x": [0.0], "t": [np.e], "w": [DATA.w.mean() + DATA.w.std()]})
    np.testing.assert_allclose(evaluate_offset(d, new), [2.0])  # the fitted scale() constants


def test_missing_offset_values_are_missing_values(caplog):
    data = DATA.assign(t=DATA.t.where(DATA.index != 4))
    formula = parse_formula("y ~ x + offset(log(t)) + (1 | g)")
    with pytest.raises(DesignError, match=r"missing values \(NaN\) in the data: 't': 1 "
                                          r"\(first at row position 4\)"):
        build_design(formula, data)
    with caplog.at_level(logging.WARNING, logger="lmm_bayes"):
        d = build_design(formula, data, na_action="drop")
    assert d.n_dropped == 1 and len(d.offset) == 8
    np.testing.assert_allclose(d.offset, np.log(DATA.t.drop(index=4)))


def test_non_finite_offset_names_the_term_and_the_row_given():
    data = DATA.assign(t=DATA.t.where(DATA.index != 6, 0.0), x=DATA.x.where(DATA.index != 1))
    with pytest.raises(DesignError, match=r"^the formula term 'log\(t\)' is not finite in 1 "
                                          r"row\(s\) \(first at position 6\)$"):
        build_design(parse_formula("y ~ x + offset(log(t))"), data, na_action="drop")


def test_categorical_offset_is_refused():
    with pytest.raises(DesignError, match=r"the offset 'g' is not numeric"):
        build_design(parse_formula("y ~ x + offset(g)"), DATA)


def test_multivariate_models_refuse_offsets():
    formulas = [parse_formula("y ~ x + offset(log(t))"), parse_formula("w ~ x")]
    with pytest.raises(DesignError, match="offsets are not available in multivariate"):
        build_multivariate_design(formulas, DATA)


def test_spec_file_formula_takes_an_offset(tmp_path):
    DATA.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "m.toml").write_text('[model]\nformula = "y ~ x + offset(log(t)) + (1 | g)"\n'
                                     'family = "poisson"\n[data]\npath = "d.csv"\n')
    spec_file = read_spec(tmp_path / "m.toml")
    model = lb.LMM.from_spec(spec_file.spec, spec_file.data)
    np.testing.assert_allclose(model.design.offset, np.log(DATA.t))


# ----------------------------------------------------------------------------- engines


def gaussian_data(n_levels=30, rows=8, seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_levels), rows)
    x = rng.normal(size=len(g))
    t = rng.uniform(1, 5, len(g))
    y = 1 + 0.5 * x + np.log(t) + rng.normal(0, 0.7, n_levels)[g] + rng.normal(size=len(g))
    h = rng.integers(0, 25, len(g))
    return pd.DataFrame({"y": y, "x": x, "t": t, "g": g, "h": h})


@pytest.mark.parametrize("formula", ["y ~ x + offset(log(t)) + (1 + x | g)",
                                     "y ~ x + offset(log(t)) + (1 | g) + (1 | h)"])
def test_gaussian_engines_that_integrate_effects_out_refuse_an_offset(formula):
    model = lb.LMM(formula, gaussian_data())
    plain = lb.LMM(formula.replace(" + offset(log(t))", ""), gaussian_data())
    assert plain.engine().engine != "graph"             # the offset alone sends it there
    choice = model.engine()
    assert choice.engine == "graph" and model.likelihood == "conditional"
    for engine in ("collapsed", "marginal", "blocked"):
        assert f"not {engine}: an offset" in choice.reason
    d, p = model.design, model.priors
    assert marginal.obstacle(d, "gaussian") == marginal.level_obstacle(d, "gaussian")
    assert marginal.level_obstacle(d, "gaussian") in ("an offset", "2 grouping factors, not one")
    assert collapsed.obstacle(d, p, "gaussian", None) == "an offset"
    assert effects_system.obstacle(d, p, "gaussian", None) == "an offset"
    assert individual_blocks.obstacle(d, p, "gaussian", None) == "an offset"
    if len(d.groups) == 1:
        assert kernel.obstacle(d, p, "gaussian", None) == "an offset"
    with pytest.raises(lb.SamplingError, match="an offset"):
        model.engine("marginal" if len(d.groups) == 1 else "collapsed")


def test_graph_likelihood_adds_the_offset():
    data = gaussian_data(n_levels=6, rows=4).assign(y=lambda d: np.arange(len(d)) % 4)
    model = lb.LMM("y ~ x + offset(log(t)) + (1 | g)", data, family="poisson").pymc_model
    point = model.initial_point()
    point = {k: v + 0.1 for k, v in point.items()}
    outs = model.replace_rvs_by_values([model["beta"], model["b_g"]])
    beta, b = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")(point)
    mu = np.exp(beta[0] + beta[1] * data.x + b[data.g, 0] + np.log(data.t))
    logp = model.compile_logp(vars=[model["y"]], sum=True)(point)
    assert logp == pytest.approx(stats.poisson.logpmf(data.y, mu).sum())


def test_default_intercept_prior_is_centred_on_the_rate():
    data = gaussian_data(n_levels=6, rows=4).assign(y=lambda d: np.arange(len(d)) % 4)
    with_offset = lb.LMM("y ~ x + offset(log(t)) + (1 | g)", data, family="poisson")
    without = lb.LMM("y ~ x + (1 | g)", data, family="poisson")
    assert with_offset.priors.intercept.kwargs["mu"] == pytest.approx(
        without.priors.intercept.kwargs["mu"] - np.log(data.t).mean())


# ----------------------------------------------------------------------------- from draws

BETA = np.array([0.5, 0.25])                 # (Intercept), x
B = np.array([[0.1], [-0.2], [0.3]])        # levels a, b, c
SD = 0.4


@pytest.fixture(scope="module")
def design():
    return build_design(parse_formula("y ~ x + offset(log(t)) + (1 | g)"), DATA,
                        family="poisson")


def posterior() -> xr.Dataset:
    return xr.Dataset({
        "beta": (("chain", "draw", "fixed"), BETA[None, None]),
        "sd_g": (("chain", "draw", "g__term"), np.full((1, 1, 1), SD)),
        "b_g": (("chain", "draw", "g__level", "g__term"), B[None, None]),
    }, coords={"chain": [0], "draw": [0], "fixed": ["(Intercept)", "x"],
               "g__term": ["(Intercept)"], "g__level": ["a", "b", "c"]})


NEW = pd.DataFrame({"x": [2.0, 1.0], "t": [3.0, 10.0], "g": ["b", "c"]}, index=[5, 6])


def test_prediction_on_new_rows_adds_their_offset(design):
    poisson = FAMILIES["poisson"]
    got = predict_draws(posterior(), design, poisson, NEW, groups="conditional").values.ravel()
    eta = BETA[0] + BETA[1] * NEW.x + B[[1, 2], 0] + np.log(NEW.t)
    np.testing.assert_allclose(got, np.exp(eta))
    population = predict_draws(posterior(), design, poisson, NEW.drop(columns="g"),
                               groups="population").values.ravel()
    np.testing.assert_allclose(population, np.exp(BETA[0] + BETA[1] * NEW.x + np.log(NEW.t)))
    averaged = predict_draws(posterior(), design, poisson, NEW, groups="marginal").values.ravel()
    np.testing.assert_allclose(averaged, population * np.exp(SD ** 2 / 2))  # log-normal mean


def test_population_means_take_an_offset():
    X = np.array([[1.0, 2.0]])
    got = population_means(posterior(), X, {}, FAMILIES["poisson"], offset=np.array([1.5]))
    np.testing.assert_allclose(got.ravel(), np.exp(BETA @ X[0] + 1.5))


@pytest.mark.parametrize("data, message", [
    (NEW.drop(columns="t"), r"^the new data have no column for the offset 'log\(t\)'"),
    (NEW.assign(t=[np.nan, 1.0]), (r"^column 't' of the offset is missing \(NaN\) in the new "
                                   r"data in 1 row\(s\), first at position 0$")),
])
def test_new_data_without_the_offset_are_refused_by_name(design, data, message):
    with pytest.raises(DesignError, match=message):
        predict_draws(posterior(), design, FAMILIES["poisson"], data)


def test_pointwise_loglik_uses_the_fitted_offset(design):
    got = pointwise_loglik(posterior(), design, FAMILIES["poisson"]).values.ravel()
    level = {"a": 0, "b": 1, "c": 2}
    eta = (BETA[0] + BETA[1] * DATA.x + B[DATA.g.map(level), 0] + np.log(DATA.t))
    np.testing.assert_allclose(got, stats.poisson.logpmf(DATA.y, np.exp(eta)))
