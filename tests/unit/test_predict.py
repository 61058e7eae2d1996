"""Prediction on hand-made posteriors: the answers are worked out by hand or in closed form."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from lmm_bayes.design import build_design
from lmm_bayes.errors import DesignError
from lmm_bayes.families import FAMILIES, get_family
from lmm_bayes.formula import parse_formula
from lmm_bayes.posterior import PosteriorDraws
from lmm_bayes.ppc import pointwise_loglik, replicate
from lmm_bayes.predict import history_effects, predict_draws
from lmm_bayes.residual_spec import parse_sigma
from lmm_bayes.residuals import build_residual_design

GAUSSIAN = FAMILIES["gaussian"]
BETA = np.array([10.0, 2.0, -1.0])          # (Intercept), x, armB
SD = np.array([3.0, 0.5])
CORR = np.array([[1.0, 0.4], [0.4, 1.0]])
B = np.array([[1.0, 0.2], [-2.0, -0.1], [0.5, 0.3]])  # levels a, b, c
SIGMA = 1.5


DATA = pd.DataFrame({
    "y": np.arange(12, dtype=float) % 5, "x": np.tile([0.0, 1, 2, 3], 3),
    "arm": np.repeat(["A", "B", "A"], 4), "g": np.repeat(["a", "b", "c"], 4),
})


@pytest.fixture(scope="module")
def design():
    return build_design(parse_formula("y ~ x + arm + (1 + x | g)"), DATA)


def posterior(n_draws: int = 1) -> xr.Dataset:
    """The same parameter values repeated ``n_draws`` times (one chain)."""
    def rep(value, *dims):
        value = np.asarray(value, float)
        return (("chain", "draw", *dims), np.broadcast_to(value, (1, n_draws, *value.shape)))
    return xr.Dataset({
        "beta": rep(BETA, "fixed"), "sigma": rep(SIGMA),
        "sd_g": rep(SD, "g__term"), "corr_g": rep(CORR[0, 1:], "g__pair"),
        "b_g": rep(B, "g__level", "g__term"),
    }, coords={"chain": [0], "draw": np.arange(n_draws), "fixed": ["(Intercept)", "x", "armB"],
               "g__term": ["(Intercept)", "x"], "g__pair": ["(Intercept).x"],
               "g__level": ["a", "b", "c"]})


NEW = pd.DataFrame({"x": [2.0, 5.0, 1.0], "arm": ["B", "A", "A"], "g": ["b", "a", "zz"]},
                   index=[7, 8, 9])


def flat(draws: xr.DataArray) -> np.ndarray:
    return draws.values.reshape(-1, draws.sizes["obs"])


def test_conditional_is_fixed_plus_own_effects(design):
    got = flat(predict_draws(posterior(), design, GAUSSIAN, NEW.iloc[:2], groups="conditional"))
    by_hand = [10 + 2 * 2 - 1 + (-2.0 - 0.1 * 2), 10 + 2 * 5 + (1.0 + 0.2 * 5)]
    np.testing.assert_allclose(got[0], by_hand)


def test_conditional_refuses_unseen_levels_by_name(design):
    with pytest.raises(DesignError, match=r"\['zz'\] of 'g'"):
        predict_draws(posterior(), design, GAUSSIAN, NEW, groups="conditional")


def test_population_sets_effects_to_zero(design):
    got = flat(predict_draws(posterior(), design, GAUSSIAN, NEW.drop(columns="g"),
                             groups="population"))
    np.testing.assert_allclose(got[0], [13.0, 20.0, 12.0])


def test_new_level_drawn_from_the_covariance(design):
    draws = flat(predict_draws(posterior(40_000), design, GAUSSIAN, NEW, random_seed=1))
    z = np.array([1.0, 1.0])
    cov = CORR * np.outer(SD, SD)
    assert draws[:, 0].std() == pytest.approx(0.0, abs=1e-9)      # known level: no spread
    assert draws[:, 2].mean() == pytest.approx(12.0, abs=0.05)
    assert draws[:, 2].var() == pytest.approx(z @ cov @ z, rel=0.03)


def test_rows_of_one_new_level_share_its_effect(design):
    twice = pd.DataFrame({"x": [0.0, 0.0], "arm": ["A", "A"], "g": ["new", "new"]})
    draws = flat(predict_draws(posterior(50), design, GAUSSIAN, twice, random_seed=2))
    np.testing.assert_allclose(draws[:, 0], draws[:, 1])


def test_response_adds_residual_variance(design):
    mean = flat(predict_draws(posterior(40_000), design, GAUSSIAN, NEW, random_seed=3))
    response = flat(predict_draws(posterior(40_000), design, GAUSSIAN, NEW, kind="response",
                                  random_seed=3))
    assert response[:, 0].var() == pytest.approx(SIGMA**2, rel=0.03)
    assert response[:, 2].var() - mean[:, 2].var() == pytest.approx(SIGMA**2, rel=0.1)


def test_same_seed_same_draws(design):
    one = predict_draws(posterior(30), design, GAUSSIAN, NEW, kind="response", random_seed=5)
    two = predict_draws(posterior(30), design, GAUSSIAN, NEW, kind="response", random_seed=5)
    np.testing.assert_array_equal(one.values, two.values)
    assert list(one["obs"].values) == [7, 8, 9]


@pytest.mark.parametrize("data, message", [
    (NEW.drop(columns="x"), "no column 'x'"),
    (NEW.assign(x=[1.0, np.nan, 2.0]), r"'x' .* missing \(NaN\) in 1 row.*position 1"),
    (NEW.assign(arm=["A", "C", "A"]), r"'arm' has level\(s\) \['C'\]"),
    (NEW.drop(columns="g"), "no column 'g'"),
])
def test_bad_new_data_is_named(design, data, message):
    with pytest.raises(DesignError, match=message):
        predict_draws(posterior(), design, GAUSSIAN, data)


@pytest.mark.parametrize("x, message", [
    (["2", "5", "1"], (r"'x' was numeric in the fitted data but is text in the new data "
                      r"\(row 0: '2'\)")),
    (np.array([2.0, "9,5", 1.0], dtype=object), r"is text in the new data \(row 1: '9,5'\)"),
    ([True, False, True], r"is logical in the new data \(row 0: True\)"),
    (pd.to_datetime(["2020-01-01"] * 3), r"is a date in the new data"),
])
def test_numeric_variable_given_another_type_is_refused_not_recoded(design, x, message):
    """Text in a numeric column used to become a dummy and give a wrong prediction."""
    with pytest.raises(DesignError, match=message):
        predict_draws(posterior(), design, GAUSSIAN, NEW.assign(x=x), groups="conditional")


def test_numbers_held_as_python_objects_predict_as_numbers(design):
    as_objects = NEW.iloc[:2].assign(x=pd.Series([2.0, 5], dtype=object, index=[7, 8]))
    got = predict_draws(posterior(), design, GAUSSIAN, as_objects, groups="conditional")
    want = predict_draws(posterior(), design, GAUSSIAN, NEW.iloc[:2], groups="conditional")
    np.testing.assert_array_equal(got.values, want.values)


def test_empty_data_has_no_rows_to_predict(design):
    with pytest.raises(DesignError, match="no rows to predict: data has no rows"):
        predict_draws(posterior(), design, GAUSSIAN, NEW.iloc[:0])


def test_bad_options(design):
    with pytest.raises(DesignError, match="kind"):
        predict_draws(posterior(), design, GAUSSIAN, NEW, kind="mode")
    with pytest.raises(DesignError, match="groups"):
        predict_draws(posterior(), design, GAUSSIAN, NEW, groups="all")


# ----------------------------------------------------------------------------- history

HISTORY = pd.DataFrame({"x": [0.0, 1.0, 3.0], "arm": "A", "g": "new", "y": [14.0, 15.5, 19.0]})


def exact_conditional():
    """Mean and covariance of b | y_h by the dense formula: Σ Zᵀ V⁻¹ (y − Xβ) and
    Σ − Σ Zᵀ V⁻¹ Z Σ with V = Z Σ Zᵀ + σ² I."""
    Z = np.column_stack([np.ones(3), HISTORY["x"]])
    X = np.column_stack([np.ones(3), HISTORY["x"], np.zeros(3)])
    cov = CORR * np.outer(SD, SD)
    V = Z @ cov @ Z.T + SIGMA**2 * np.eye(3)
    gain = cov @ Z.T @ np.linalg.inv(V)
    return gain @ (HISTORY["y"].to_numpy() - X @ BETA), cov - gain @ Z @ cov


def test_history_effects_match_the_dense_gaussian_conditional(design):
    draws = PosteriorDraws(posterior(40_000))
    labels, b = history_effects(draws, design, GAUSSIAN, HISTORY, np.random.default_rng(4))["g"]
    mean, cov = exact_conditional()
    assert list(labels) == ["new"]
    np.testing.assert_allclose(b[:, 0].mean(axis=0), mean, atol=0.03)
    np.testing.assert_allclose(np.cov(b[:, 0].T), cov, atol=0.03)


def test_importance_resampling_agrees_with_the_exact_conditional(design):
    """The route for non-Gaussian families, checked on a Gaussian family in disguise."""
    disguised = replace(GAUSSIAN, name="gaussian_sir")
    draws = PosteriorDraws(posterior(20_000))
    _, b = history_effects(draws, design, disguised, HISTORY, np.random.default_rng(6))["g"]
    mean, cov = exact_conditional()
    np.testing.assert_allclose(b[:, 0].mean(axis=0), mean, atol=0.06)
    np.testing.assert_allclose(np.sqrt(np.diag(np.cov(b[:, 0].T))), np.sqrt(np.diag(cov)),
                               rtol=0.1)


def test_prediction_with_history_uses_the_conditional_effects(design):
    target = pd.DataFrame({"x": [4.0], "arm": ["A"], "g": ["new"]})
    draws = flat(predict_draws(posterior(40_000), design, GAUSSIAN, target, history=HISTORY,
                               random_seed=7))
    mean, cov = exact_conditional()
    z = np.array([1.0, 4.0])
    assert draws[:, 0].mean() == pytest.approx(10 + 8 + z @ mean, abs=0.05)
    assert draws[:, 0].var() == pytest.approx(z @ cov @ z, rel=0.05)


@pytest.mark.parametrize("history, message", [
    (HISTORY.assign(g="a"), r"level\(s\) \['a'\] of 'g' were in the fitted data"),
    (HISTORY.drop(columns="y"), "response column 'y'"),
    (HISTORY.assign(y=[1.0, np.nan, 2.0]), "response .y. is missing at position 1"),
])
def test_bad_history_is_named(design, history, message):
    with pytest.raises(DesignError, match=message):
        predict_draws(posterior(), design, GAUSSIAN, NEW, history=history)


def test_history_without_rows_to_predict_is_refused(design):
    """A history whose individual has no row in the data would be ignored silently."""
    other = pd.DataFrame({"x": [4.0], "arm": ["A"], "g": ["someone else"]})
    with pytest.raises(DesignError, match=r"the history's level\(s\) \['new'\] of 'g' match "
                                          r"no row of the data to predict"):
        predict_draws(posterior(), design, GAUSSIAN, other, history=HISTORY)
    with pytest.raises(DesignError, match="no rows to predict: history has no rows"):
        predict_draws(posterior(), design, GAUSSIAN, other, history=HISTORY.iloc[:0])


def test_history_needs_groups_new(design):
    with pytest.raises(DesignError, match="groups='new'"):
        predict_draws(posterior(), design, GAUSSIAN, NEW, groups="population", history=HISTORY)


# ----------------------------------------------------------------------------- checks


def test_pointwise_loglik_and_replicates_on_the_fitted_rows(design):
    post = posterior(4000)
    mu = design.X @ BETA + np.einsum("nq,nq->n", post["b_g"].values[0, 0][design.groups[0].index],
                                     design.groups[0].Z)
    loglik = pointwise_loglik(post, design, FAMILIES["gaussian"])
    np.testing.assert_allclose(loglik.values[0, 0], stats.norm.logpdf(design.y, mu, SIGMA))
    y_rep = replicate(post, design, FAMILIES["gaussian"], np.random.default_rng(3)).values[0]
    np.testing.assert_allclose(y_rep.mean(axis=0), mu, atol=4 * SIGMA / np.sqrt(4000))
    assert y_rep.std(axis=0).mean() == pytest.approx(SIGMA, rel=0.03)


def test_sigma_model_gives_each_new_row_its_residual_sd(design):
    residuals = build_residual_design(DATA, np.arange(12), residual=None,
                                      sigma=parse_sigma("~ arm"))
    post = posterior(40_000).assign(sigma_beta=(("chain", "draw", "sigma_fixed"),
                                                np.broadcast_to([0.1, 0.7], (1, 40_000, 2))))
    post = post.assign_coords(sigma_fixed=["(Intercept)", "armB"]).drop_vars("sigma")
    draws = flat(predict_draws(post, design, GAUSSIAN, NEW.iloc[:2], kind="response",
                               groups="conditional", random_seed=8, residuals=residuals))
    # arm B: σ = exp(0.1 + 0.7); arm A: σ = exp(0.1)
    np.testing.assert_allclose(draws.std(axis=0), np.exp([0.8, 0.1]), rtol=0.02)
    loglik = pointwise_loglik(post.isel(draw=[0]), design, GAUSSIAN, residuals).values[0, 0]
    mu = design.X @ BETA + np.einsum("nq,nq->n", B[design.groups[0].index], design.groups[0].Z)
    sd = np.exp(0.1 + 0.7 * (DATA["arm"] == "B").to_numpy())
    np.testing.assert_allclose(loglik, stats.norm.logpdf(design.y, mu, sd))


def test_marginal_groups_average_over_the_random_effects(design):
    """Probit: the population-averaged probability is Φ(η/√(1 + zᵀΣz)) exactly."""
    probit = get_family("bernoulli", "probit")
    post = posterior(1)
    post["beta"] = post["beta"] * 0.05
    rows = NEW.drop(columns="g")
    got = flat(predict_draws(post, design, probit, rows, groups="marginal", random_seed=9))[0]
    Z = np.column_stack([np.ones(3), rows["x"]])
    eta = np.column_stack([np.ones(3), rows["x"], rows["arm"] == "B"]) @ (BETA * 0.05)
    v = np.einsum("mq,qk,mk->m", Z, CORR * np.outer(SD, SD), Z)
    np.testing.assert_allclose(got, stats.norm.cdf(eta / np.sqrt(1 + v)), atol=0.01)
    at_zero = flat(predict_draws(post, design, probit, rows, groups="population"))[0]
    assert (np.abs(got - 0.5) < np.abs(at_zero - 0.5)).all()   # averaging pulls towards 1/2
