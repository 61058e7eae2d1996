"""Residual structures and sigma models: parsing, per-row design, the innovations-form
log-likelihood against a dense multivariate normal, priors, and the numpy helpers."""

import numpy as np
import pandas as pd
import pytensor
import pytest
import xarray as xr
from scipy import stats

import lmm_bayes as lb
from lmm_bayes.residual_spec import parse_residual, parse_sigma
from lmm_bayes.residuals import residual_sd_draws, sigma_covariates
from lmm_bayes.structures import serial_conditional, serial_draws

# three individuals, rows shuffled, irregular times; arm constant within individual
SMALL = pd.DataFrame({
    "id": ["c", "a", "b", "a", "c", "b", "a", "c", "b", "a"],
    "time": [0.0, 2.5, 1.0, 0.0, 0.7, 3.0, 1.0, 4.0, 0.0, 6.0],
    "visit": [0, 3, 1, 0, 1, 3, 1, 4, 0, 5],
    "arm": ["T", "P", "T", "P", "T", "T", "P", "T", "T", "P"],
    "x": [0.3, -1.2, 0.8, 0.1, 1.5, -0.4, 0.9, 0.2, -0.7, 1.1],
    "y": [4.1, 2.0, 5.5, 3.2, 6.0, 4.4, 2.9, 5.1, 3.8, 1.7],
})


def test_parse_residual_and_errors():
    spec = parse_residual("car1(time | centre:patient)")
    assert (spec.structure.name, spec.time, spec.group) == ("car1", "time", ("centre", "patient"))
    assert parse_residual("ar1( visit|subject )").structure.signed
    with pytest.raises(lb.SpecError, match=r"unknown structure 'ar2'.*\['ar1', 'car1', 'cs'"):
        parse_residual("ar2(visit | subject)")
    with pytest.raises(lb.SpecError, match="expected 'structure"):
        parse_residual("ar1(visit)")
    with pytest.raises(lb.SpecError, match="no random terms"):
        parse_sigma("~ arm + (1 | g)")
    with pytest.raises(lb.SpecError, match="one-sided formula"):
        parse_sigma("y ~ arm")
    with pytest.raises(lb.SpecError, match="unknown structure"):
        lb.LMM("y ~ x", SMALL, residual="arma(time | id)")


def test_serial_design_links_each_row_to_the_previous_time():
    serial = lb.LMM("y ~ x", SMALL, residual="car1(time | id)").residuals.serial
    # individual a: rows 3 (t=0), 6 (t=1), 1 (t=2.5), 9 (t=6)
    assert serial.previous[[3, 6, 1, 9]].tolist() == [3, 3, 6, 1]
    np.testing.assert_allclose(serial.gap[[6, 1, 9]], [1.0, 1.5, 3.5])
    assert serial.first.tolist() == [True, False, False, True, False, False, False, False,
                                     True, False]
    assert serial.position[[0, 4, 7]].tolist() == [0, 1, 2]  # individual c


@pytest.mark.parametrize(("data", "residual", "message"), [
    (SMALL.assign(time=SMALL.time.where(SMALL.index != 6, 2.5)), "car1(time | id)",
     r"individual 'a' has two rows at time = 2.5"),
    (SMALL, "ar1(time | id)", r"whole-number visits in 'time', found 2.5 at row position 1"),
    (SMALL, "ar1(arm | id)", "'arm' must be numeric"),
    (SMALL, "ar1(visit | patient)", "column 'patient' not found"),
])
def test_serial_design_errors_name_the_problem(data, residual, message):
    with pytest.raises(lb.DesignError, match=message):
        lb.LMM("y ~ x", data, residual=residual)


def test_missing_values_in_residual_columns_count_like_the_formula():
    data = SMALL.assign(time=SMALL.time.where(SMALL.index != 4))
    with pytest.raises(lb.DesignError, match="'time': 1"):
        lb.LMM("y ~ x", data, residual="car1(time | id)")
    model = lb.LMM("y ~ x", data, residual="car1(time | id)", na_action="drop")
    assert model.design.n_obs == 9 and len(model.residuals.serial.previous) == 9


def test_sigma_design_codes_like_fixed_effects_and_new_rows_alike():
    sigma = lb.LMM("y ~ x", SMALL, sigma="~ arm", reference={"arm": "T"}).residuals.sigma
    assert sigma.names == ("(Intercept)", "armP")
    np.testing.assert_array_equal(sigma.X[:, 1], (SMALL.arm == "P").astype(float))
    assert sigma.row_labels[0] == "arm=T"
    new = sigma_covariates(sigma, pd.DataFrame({"arm": ["P", "T"]}))
    np.testing.assert_array_equal(new, [[1.0, 1.0], [1.0, 0.0]])


def test_residual_models_integrate_the_effects_out_per_individual():
    data = SMALL.assign(g=SMALL.id)
    assert lb.LMM("y ~ x + (1 | g)", data).engine().engine == "marginal"
    model = lb.LMM("y ~ x + (1 | g)", data, sigma="~ arm")
    assert (model.likelihood, model.engine().engine) == ("marginal", "blocked")
    assert "per-individual covariance" in model.engine().reason
    model = lb.LMM("y ~ x + (1 | g)", data, residual="car1(time | id)", likelihood="marginal")
    assert model.engine().engine == "blocked"
    crossed = data.assign(h=np.arange(len(data)) % 3)
    with pytest.raises(lb.DesignError, match="likelihood='marginal' needs a Gaussian model "
                                             "whose effects integrate out"):
        lb.LMM("y ~ x + (1 | g) + (1 | h)", crossed, residual="car1(time | id)",
               likelihood="marginal")


def _dense_loglik(y, mu, sd, time, individual, phi):
    """Σ over individuals of log N(y_i; μ_i, D R D), R_jk = φ^|t_j − t_k| (by hand)."""
    total = 0.0
    for key in np.unique(individual):
        rows = individual == key
        lag = np.abs(time[rows][:, None] - time[rows][None, :])
        cov = np.outer(sd[rows], sd[rows]) * np.power(phi, lag)
        total += stats.multivariate_normal(mu[rows], cov).logpdf(y[rows])
    return total


def _at_random_point(model, names, seed):
    rng = np.random.default_rng(seed)
    point = model.initial_point()
    values = [point[v.name] + rng.normal(scale=0.5, size=np.shape(point[v.name]))
              for v in model.value_vars]
    outputs = model.replace_rvs_by_values([model[n] for n in names]
                                          + [model.logp(vars=[model["y"]], sum=True)])
    return pytensor.function(model.value_vars, outputs, on_unused_input="ignore")(*values)


@pytest.mark.parametrize(("residual", "time"), [("car1(time | id)", "time"),
                                                ("ar1(visit | id)", "visit")])
def test_innovations_loglik_equals_dense_multivariate_normal(residual, time):
    """With a random intercept, a sigma model and serial correlation, the O(n) likelihood
    of y equals the dense block-diagonal multivariate normal density computed with scipy
    (visits with gaps for ar1: φ^2, φ^3 terms; at seed 0 the ar1 φ is negative, -0.17)."""
    model = lb.LMM("y ~ x + (1 | id)", SMALL, residual=residual, sigma="~ arm").pymc_model
    for seed in (0, 1):
        beta, b, sigma_beta, phi, loglik = _at_random_point(
            model, ["beta", "b_id", "sigma_beta", "phi"], seed)
        level = {lab: k for k, lab in enumerate(model.coords["id__level"])}
        mu = beta[0] + beta[1] * SMALL.x.to_numpy() + b[SMALL.id.map(level).to_numpy(), 0]
        sd = np.exp(sigma_beta[0] + sigma_beta[1] * (SMALL.arm == "T").to_numpy())
        expected = _dense_loglik(SMALL.y.to_numpy(), mu, sd, SMALL[time].to_numpy(),
                                 SMALL.id.to_numpy(), phi)
        assert loglik == pytest.approx(expected, rel=1e-9)


def test_priors_for_phi_and_sigma_coefficients():
    sd_y = SMALL.y.std()
    model = lb.LMM("y ~ x", SMALL, residual="ar1(visit | id)", sigma="~ arm + x",
                   priors={"phi": lb.Prior("beta", alpha=3, beta=2), "sigma_b":
                           lb.Prior("normal", mu=0, sigma=0.5)})
    p = model.priors
    assert p.phi == lb.Prior("beta", alpha=3, beta=2)
    assert p.sigma_intercept == lb.Prior("normal", mu=float(np.log(sd_y)), sigma=2.0)
    assert p.sigma_fixed == {"armT": lb.Prior("normal", mu=0, sigma=0.5),
                             "x": lb.Prior("normal", mu=0, sigma=0.5)}
    default = lb.LMM("y ~ x", SMALL, sigma="~ x").priors.sigma_fixed["x"]
    assert default == lb.Prior("normal", mu=0.0, sigma=1 / SMALL.x.std())
    assert "sigma_armT" in set(model.priors.table().parameter)
    with pytest.raises(lb.PriorError, match="needs a beta prior"):
        lb.LMM("y ~ x", SMALL, residual="ar1(visit | id)",
               priors={"phi": lb.Prior("normal", mu=0, sigma=1)})
    with pytest.raises(lb.PriorError, match=r"unknown prior key\(s\) \['sigma'\]"):
        lb.LMM("y ~ x", SMALL, sigma="~ arm", priors={"sigma": lb.Prior("halfnormal", sigma=1)})
    with pytest.raises(lb.PriorError, match="unknown prior key"):
        lb.LMM("y ~ x", SMALL, priors={"phi": lb.Prior("beta", alpha=1, beta=1)})
    with pytest.raises(lb.PriorError, match="needs normal or student_t"):
        lb.LMM("y ~ x", SMALL, priors={"x": lb.Prior("beta", alpha=1, beta=1)})


# ----------------------------------------------------------------------------- numpy helpers


def _posterior(**variables) -> xr.Dataset:
    return xr.Dataset({name: (dims, np.asarray(values)) for name, (dims, values)
                       in variables.items()},
                      coords={"sigma_fixed": ["(Intercept)", "armB"]})


def test_residual_sd_draws_per_row_and_draw():
    beta = np.array([[[0.0, np.log(2)], [np.log(3), 0.0]]])  # 1 chain, 2 draws
    post = _posterior(sigma_beta=(("chain", "draw", "sigma_fixed"), beta))
    X = np.array([[1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(residual_sd_draws(post, X), [[[1.0, 2.0], [3.0, 3.0]]])
    plain = _posterior(sigma=(("chain", "draw"), [[1.5, 2.5]]))
    np.testing.assert_allclose(residual_sd_draws(plain, X), [[[1.5, 1.5], [2.5, 2.5]]])
    with pytest.raises(ValueError, match="give sigma_X"):
        residual_sd_draws(post)


def test_serial_conditional_matches_the_bivariate_normal():
    """e_new | e_prev from the 2 × 2 covariance [[σp², ρσpσn], [ρσpσn, σn²]] by hand."""
    phi, gap, sd_prev, sd_new, e_prev = np.array([0.7, -0.4]), 2.0, 1.5, 3.0, 1.2
    mean, sd = serial_conditional(phi, e_prev, gap, sd_new, sd_prev)
    rho = phi**2
    cov = rho * sd_prev * sd_new
    np.testing.assert_allclose(mean, cov / sd_prev**2 * e_prev)
    np.testing.assert_allclose(sd, np.sqrt(sd_new**2 - cov**2 / sd_prev**2))


def test_serial_draws_have_unit_variance_and_lag_correlation():
    serial = lb.LMM("y ~ x", SMALL, residual="car1(time | id)").residuals.serial
    phi = 0.6
    rho = phi ** serial.gap
    u = serial_draws(rho, serial, np.random.default_rng(0), size=(40_000,))
    np.testing.assert_allclose(u.var(axis=0), 1.0, atol=0.03)
    a = [3, 6, 1, 9]  # individual a at t = 0, 1, 2.5, 6: corr(t=0, t=2.5) = 0.6^2.5
    assert np.corrcoef(u[:, a[0]], u[:, a[2]])[0, 1] == pytest.approx(phi**2.5, abs=0.02)
    assert np.corrcoef(u[:, a[0]], u[:, 0])[0, 1] == pytest.approx(0.0, abs=0.02)


def test_spec_file_carries_residual_and_sigma(tmp_path):
    from lmm_bayes.specfile import read_spec

    SMALL.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "m.toml").write_text('[model]\nformula = "y ~ x"\n'
                                     'residual = "car1(time | id)"\nsigma = "~ arm"\n'
                                     '[data]\npath = "d.csv"\n')
    spec_file = read_spec(tmp_path / "m.toml")
    assert (spec_file.spec.residual.text, spec_file.spec.sigma.text) == ("car1(time | id)", "~ arm")
    model = lb.LMM.from_spec(spec_file.spec, spec_file.data)
    assert model.residuals.serial.spec.time == "time"
    assert model.residuals.sigma.names == ("(Intercept)", "armT")


def test_prior_predictive_draws_serially_correlated_residuals():
    """y − μ over σ has unit variance, and rows of one individual one visit apart have
    correlation E[φ] (0 under the uniform prior on (−1, 1)); across individuals 0."""
    model = lb.LMM("y ~ x", SMALL, residual="ar1(visit | id)", sigma="~ arm")
    prior = model.prior_predictive(draws=4000, random_seed=1)
    y = prior.prior_predictive["y"].values[0]
    beta, sigma_beta = prior.prior["beta"].values[0], prior.prior["sigma_beta"].values[0]
    mu = beta[:, :1] + beta[:, 1:] * SMALL.x.to_numpy()
    sd = np.exp(sigma_beta[:, :1] + sigma_beta[:, 1:] * (SMALL.arm == "T").to_numpy())
    u = (y - mu) / sd
    np.testing.assert_allclose(u.var(axis=0), 1.0, atol=0.08)
    phi = prior.prior["phi"].values[0]
    assert np.mean(u[:, 3] * u[:, 6] - phi) == pytest.approx(0.0, abs=0.05)  # a: visits 0, 1
    assert np.mean(u[:, 3] * u[:, 0]) == pytest.approx(0.0, abs=0.05)  # a and c


# ----------------------------------------------------------------------------- structure objects


@pytest.mark.parametrize(("residual", "time", "phi"), [("car1(time | id)", "time", 0.6),
                                                       ("ar1(visit | id)", "visit", -0.45)])
def test_structure_logpdf_equals_dense_multivariate_normal(residual, time, phi):
    """The numpy log-density of u, one value per individual (a, b, c), sums to the dense
    N(0, R) with R_jk = φ^|t_j − t_k| by scipy (ar1 visits with gaps: φ², φ³ terms)."""
    serial = lb.LMM("y ~ x", SMALL, residual=residual).residuals.serial
    u = np.random.default_rng(3).normal(size=len(SMALL))
    logpdf = serial.spec.structure.logpdf(u, serial, {"phi": np.array(phi)})
    expected = _dense_loglik(u, np.zeros_like(u), np.ones_like(u), SMALL[time].to_numpy(),
                             SMALL.id.to_numpy(), phi)
    assert logpdf.shape == (3,) and logpdf.sum() == pytest.approx(expected, rel=1e-12)


def test_structure_conditional_is_the_gaussian_forecast():
    """u at t = 4 given u at t = 0, 1, 2.5 under car1: the conditional of the dense 4 × 4
    normal, Σ₂₁ Σ₁₁⁻¹ u and 1 − Σ₂₁ Σ₁₁⁻¹ Σ₁₂ (the Markov property leaves only t = 2.5)."""
    structure = parse_residual("car1(time | id)").structure
    times, u, phi = np.array([0.0, 1.0, 2.5]), np.array([0.3, -1.1, 0.8]), 0.7
    cov = phi ** np.abs(np.r_[times, 4.0][:, None] - np.r_[times, 4.0][None, :])
    weights = np.linalg.solve(cov[:3, :3], cov[:3, 3])
    mean, sd = structure.conditional({"phi": phi}, u, times, 4.0)
    assert mean == pytest.approx(weights @ u)
    assert sd == pytest.approx(np.sqrt(1.0 - weights @ cov[:3, 3]))


def test_structure_draws_follow_the_serial_process():
    """The structure's draws are the AR process of ρ = φ^gap, draw for draw."""
    serial = lb.LMM("y ~ x", SMALL, residual="ar1(visit | id)").residuals.serial
    draws = serial.spec.structure.draw(serial, {"phi": np.array([[0.5], [-0.3]])},
                                       np.random.default_rng(4), size=(2, 1))
    rho = np.array([[0.5], [-0.3]])[..., None] ** serial.gap.astype(int)
    expected = serial_draws(rho, serial, np.random.default_rng(4), size=(2, 1))
    np.testing.assert_array_equal(draws, expected)


def test_structure_parameters_give_the_prior_row_and_its_check():
    """The ar1 default prior is the structure's Beta(1, 1), in the prior table's last row
    under "phi" as before; a non-beta override is refused by the structure."""
    table = lb.LMM("y ~ x", SMALL, residual="ar1(visit | id)").priors.table()
    assert tuple(table.iloc[-1]) == ("phi", str(lb.Prior("beta", alpha=1.0, beta=1.0)))
    structure = parse_residual("car1(time | id)").structure
    assert [p.name for p in structure.parameters] == ["phi"]
    with pytest.raises(lb.PriorError, match="'phi' is for a residual correlation parameter"):
        structure.check_prior("phi", lb.Prior("halfnormal", sigma=1))


def test_posterior_predictive_replicates_carry_the_structure():
    """On a hand-made posterior (β = (1, 0.5), σ = 2, φ = 0.6 in every draw) y_rep − μ has
    variance σ² = 4, correlation 0.6^2.5 between individual a's rows at t = 0 and 2.5, 0
    across individuals; LOO is refused (rows not conditionally independent)."""
    from lmm_bayes.ppc import pointwise_loglik, replicate

    model = lb.LMM("y ~ x", SMALL, residual="car1(time | id)")
    shape = (1, 20_000)
    post = xr.Dataset({"beta": (("chain", "draw", "fixed"), np.broadcast_to([1.0, 0.5],
                                                                         shape + (2,))),
                       "sigma": (("chain", "draw"), np.full(shape, 2.0)),
                       "phi": (("chain", "draw"), np.full(shape, 0.6))},
                      coords={"fixed": ["(Intercept)", "x"]})
    y_rep = replicate(post, model.design, model.family, np.random.default_rng(7),
                      model.residuals).values[0]
    e = y_rep - (1.0 + 0.5 * SMALL.x.to_numpy())
    np.testing.assert_allclose(e.var(axis=0), 4.0, rtol=0.05)
    # 20 000 draws: a correlation's standard error is about 0.007
    assert np.corrcoef(e[:, 3], e[:, 1])[0, 1] == pytest.approx(0.6**2.5, abs=0.03)
    assert np.corrcoef(e[:, 3], e[:, 0])[0, 1] == pytest.approx(0.0, abs=0.03)
    with pytest.raises(lb.DesignError, match="LOO by observation is not available"):
        pointwise_loglik(post, model.design, model.family, model.residuals)
