"""Residual correlations across visits (us, cs, toep; per arm): densities against the dense
multivariate normal, draws against their covariance, the Toeplitz recursion both ways, the
PyMC likelihood against the numpy one, spec and design errors, and adjusted means against a
hand computation."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import lmm_bayes as lb
from lmm_bayes import names
from lmm_bayes.spec import ModelSpec
from lmm_bayes.summaries import adjusted_means, mean_contrasts
from lmm_bayes.visit_structures import Toeplitz, _row_logp_tensor, visit_patterns


def _trial(n=30, visits=4, seed=0, drop=0.25):
    """A small trial: two arms, ``visits`` visits, some visits missing at random."""
    rng = np.random.default_rng(seed)
    rows = [{"id": f"p{i}", "arm": "AB"[i % 2], "visit": f"V{k + 1}", "x": rng.normal()}
            for i in range(n) for k in range(visits)]
    data = pd.DataFrame(rows)
    data["y"] = rng.normal(size=len(data))
    keep = (rng.uniform(size=len(data)) > drop) | (data["visit"] == "V1")
    return data[keep].reset_index(drop=True)


def _serial(residual, data=None):
    model = lb.LMM("y ~ arm * visit + x", _trial() if data is None else data,
                   residual=residual)
    return model.residuals.serial


def _dense_logpdf(u, serial, corr):
    """log N(u_i; 0, R[V_i, V_i]) per individual, R per arm (arms, K, K)."""
    out = np.zeros(serial.individual.max() + 1)
    for i in range(len(out)):
        rows = np.flatnonzero(serial.individual == i)
        rows = rows[np.argsort(serial.visit[rows])]
        v, arm = serial.visit[rows], serial.arm[rows[0]]
        out[i] = stats.multivariate_normal(np.zeros(len(v)), corr[arm][np.ix_(v, v)]).logpdf(u[rows])
    return out


CASES = [
    ("us(visit | id)", names.RESIDUAL_CORR, np.array([0.5, 0.3, 0.1, 0.4, 0.2, 0.6])),
    ("cs(visit | id)", names.RHO, np.array(0.35)),
    ("toep(visit | id)", names.RHO_LAG, np.array([0.6, 0.3, 0.1])),
    ("cs(visit | id, by = arm)", names.RHO, np.array([0.2, -0.1])),
    ("us(visit | id, by = arm)", names.RESIDUAL_CORR,
     np.array([[0.5, 0.3, 0.1, 0.4, 0.2, 0.6], [-0.2, 0.1, 0.0, 0.3, 0.1, 0.2]])),
]


@pytest.mark.parametrize(("residual", "name", "value"), CASES)
def test_logpdf_is_the_dense_multivariate_normal(residual, name, value):
    serial = _serial(residual)
    structure = serial.spec.structure
    u = np.random.default_rng(1).normal(size=len(serial.visit))
    corr = structure.correlation_draws(value[None], 4)
    corr = corr if serial.spec.by else corr[:, None]
    got = structure.logpdf(u, serial, {name: value})
    np.testing.assert_allclose(got, _dense_logpdf(u, serial, corr[0]), rtol=1e-10)


@pytest.mark.parametrize(("residual", "name", "value"), CASES[:3])
def test_pytensor_rows_equal_numpy_rows(residual, name, value):
    serial = _serial(residual)
    structure = serial.spec.structure
    u = np.random.default_rng(2).normal(size=len(serial.visit))
    corr = structure.correlation_draws(value[None], 4)
    rows = _row_logp_tensor(u, corr, visit_patterns(serial), len(u)).eval()
    per_individual = np.bincount(serial.individual, weights=rows)
    np.testing.assert_allclose(per_individual, structure.logpdf(u, serial, {name: value}),
                               rtol=1e-10)


def test_draws_have_the_structure_correlation():
    data = _trial(n=4000, drop=0.0)
    serial = _serial("toep(visit | id)", data)
    value = np.array([0.6, 0.3, 0.1])
    u = serial.spec.structure.draw(serial, {names.RHO_LAG: value[None]},
                                   np.random.default_rng(3), size=(1,))[0]
    wide = pd.DataFrame({"i": serial.individual, "v": serial.visit, "u": u}).pivot(
        index="i", columns="v", values="u")
    expected = Toeplitz("toep").correlation_draws(value, 4)
    np.testing.assert_allclose(np.corrcoef(wide.to_numpy().T), expected, atol=0.04)


def test_toeplitz_partial_autocorrelations_round_trip_and_stay_positive_definite():
    rng = np.random.default_rng(4)
    partial = rng.uniform(-0.95, 0.95, size=(50, 5))
    from lmm_bayes.visit_structures import _autocorrelations

    rho = _autocorrelations([partial[:, j] for j in range(5)], lambda r: np.stack(r, -1))
    structure = Toeplitz("toep")
    np.testing.assert_allclose(structure.partial_autocorrelations(rho), partial, atol=1e-10)
    assert (np.linalg.eigvalsh(structure.correlation_draws(rho, 6)) > 0).all()
    # AR(1) is the Toeplitz case with π = (φ, 0, 0, ...)
    ar1 = _autocorrelations([np.array(0.7), 0.0, 0.0], np.stack)
    np.testing.assert_allclose(ar1, [0.7, 0.49, 0.343])


def test_conditional_is_the_gaussian_conditional():
    structure = Toeplitz("toep")
    value = np.array([0.6, 0.3, 0.1])
    R = structure.correlation_draws(value, 4)
    u = np.array([0.4, -1.2])
    mean, sd = structure.conditional({names.RHO_LAG: value}, u, np.array([0, 1]), 3)
    w = np.linalg.solve(R[:2, :2], R[:2, 3])
    assert mean == pytest.approx(w @ u)
    assert sd == pytest.approx(np.sqrt(1 - w @ R[:2, 3]))


def test_us_brings_one_sd_per_visit_and_arm():
    serial_model = lb.LMM("y ~ arm * visit", _trial(), residual="us(visit | id, by = arm)")
    assert serial_model.residuals.sigma.names == tuple(
        f"C(visit)V{k}:C(arm){a}" for a in "AB" for k in range(1, 5)) or len(
        serial_model.residuals.sigma.names) == 8
    prior = serial_model.priors.sigma_fixed[serial_model.residuals.sigma.names[0]]
    assert prior.kwargs["mu"] == pytest.approx(np.log(serial_model.design.y.std(ddof=1)),
                                               rel=0.05)


@pytest.mark.parametrize(("options", "message"), [
    ({"residual": "us(visit | id)", "sigma": "~ arm"}, "one residual SD per visit already"),
    ({"residual": "ar1(t | id, by = arm)"}, "ar1 has no per-arm form"),
    ({"residual": "cs(visit | id, by = )"}, "expected 'structure"),
])
def test_spec_errors(options, message):
    with pytest.raises(lb.SpecError, match=message):
        ModelSpec.from_formula("y ~ arm", **options)


def test_us_needs_more_individuals_than_visits():
    with pytest.raises(lb.DesignError, match="3 individuals cannot inform an unstructured"):
        lb.LMM("y ~ visit", _trial(n=3, drop=0.0), residual="us(visit | id)")


def test_us_needs_each_pair_of_visits_together():
    data = _trial(n=20, drop=0.0)
    odd = data["id"].str[1:].astype(int) % 2 == 1
    data = data[~((data["visit"] == "V4") & ~odd) & ~((data["visit"] == "V3") & odd)]
    with pytest.raises(lb.DesignError, match="measured at both 'V3' and 'V4'"):
        lb.LMM("y ~ visit", data, residual="us(visit | id)")
    lb.LMM("y ~ visit", data, residual="cs(visit | id)")  # one ρ: informed by any pair


def test_an_individual_in_two_arms_is_refused():
    data = _trial(drop=0.0)
    data.loc[1, "arm"] = "B" if data.loc[1, "arm"] == "A" else "A"
    with pytest.raises(lb.DesignError, match="rows in two levels of 'arm'"):
        lb.LMM("y ~ visit", data, residual="cs(visit | id, by = arm)")


def _posterior(beta, fixed):
    return xr.Dataset({names.BETA: (("chain", "draw", names.FIXED), beta)},
                      coords={names.FIXED: list(fixed)})


def test_adjusted_means_and_contrasts_by_hand():
    data = _trial(drop=0.0)
    data["sex"] = np.where(np.arange(len(data)) % 3 == 0, "F", "M")
    model = lb.LMM("y ~ arm * visit + sex + x", data)
    design = model.design
    rng = np.random.default_rng(5)
    beta = rng.normal(size=(2, 3, len(design.fixed_names)))
    posterior = _posterior(beta, design.fixed_names)
    b = dict(zip(design.fixed_names, np.moveaxis(beta, -1, 0)))
    xbar = data["x"].mean()
    # arm B at V3: intercept + armB + visitV3 + armB:visitV3 + half of sexM + x̄ slope
    hand = (b["(Intercept)"] + b["armB"] + b["visitV3"] + b["armB:visitV3"]
            + 0.5 * b["sexM"] + xbar * b["x"])
    table = adjusted_means(posterior, design, data, "arm", by="visit")
    row = table[(table["arm"] == "B") & (table["visit"] == "V3")].iloc[0]
    assert row["estimate"] == pytest.approx(hand.mean())
    assert row["std_error"] == pytest.approx(hand.std(ddof=1))
    contrasts = mean_contrasts(posterior, design, data, "arm", by="visit")
    row = contrasts[contrasts["visit"] == "V3"].iloc[0]
    difference = b["armB"] + b["armB:visitV3"]
    assert row["contrast"] == "B - A"
    assert row["estimate"] == pytest.approx(difference.mean())
    assert row["prob_above"] == pytest.approx((difference > 0).mean())


def test_adjusted_means_errors():
    data = _trial(drop=0.0)
    model = lb.LMM("y ~ arm * visit + x", data)
    posterior = _posterior(np.zeros((1, 2, len(model.design.fixed_names))),
                           model.design.fixed_names)
    with pytest.raises(lb.DesignError, match="'x' is not a categorical column"):
        adjusted_means(posterior, model.design, data, "x")
    with pytest.raises(lb.DesignError, match="reference 'C' is not a level of 'arm'"):
        mean_contrasts(posterior, model.design, data, "arm", reference="C")


def test_vine_correlations_follow_the_lkj_prior():
    """Canonical partial correlations with Beta(b_j, b_j) margins give LKJ(η): for K = 4,
    each correlation's margin is Beta(η − 1 + K/2, η − 1 + K/2) on (−1, 1) (Lewandowski et
    al. 2009, §3.2), and every matrix is positive definite."""
    from lmm_bayes.visit_structures import _vine_correlation, _vine_order

    k, eta = 4, 2.0
    b = eta + (k - 2 - _vine_order(k)[1]) / 2.0
    cpc = 2 * np.random.default_rng(6).beta(b, b, size=(20000, len(b))) - 1
    corr = _vine_correlation(cpc, k).eval()
    assert (np.linalg.eigvalsh(corr) > 0).all()
    margin = eta - 1 + k / 2
    for i, j in [(0, 1), (0, 3), (2, 3)]:
        sample = (corr[:, i, j] + 1) / 2
        assert stats.kstest(sample, stats.beta(margin, margin).cdf).pvalue > 0.001, (i, j)


def test_individual_loglik_is_each_individuals_multivariate_normal():
    """LOO's unit with a residual structure: each individual's rows together, log N(y_i;
    X_i β, S_i R S_i) with S_i the visits' SDs."""
    from lmm_bayes.ppc import individual_loglik

    data = _trial(n=12)
    model = lb.LMM("y ~ arm * visit", data, residual="us(visit | id)")
    design, residuals = model.design, model.residuals
    rng = np.random.default_rng(8)
    beta = rng.normal(size=len(design.fixed_names))
    log_sd = rng.normal(0, 0.3, size=4)
    pairs = np.array([0.5, 0.3, 0.1, 0.4, 0.2, 0.6])
    shape = (1, 3)
    post = xr.Dataset({
        names.BETA: (("chain", "draw", names.FIXED), np.broadcast_to(beta, shape + beta.shape)),
        names.SIGMA_BETA: (("chain", "draw", names.SIGMA_FIXED),
                           np.broadcast_to(log_sd, shape + (4,))),
        names.RESIDUAL_CORR: (("chain", "draw", names.RESIDUAL_PAIR),
                              np.broadcast_to(pairs, shape + (6,)))},
        coords={names.FIXED: list(design.fixed_names),
                names.SIGMA_FIXED: list(residuals.sigma.names)})
    got = individual_loglik(post, design, model.family, residuals).values[0, 0]
    serial = residuals.serial
    corr = serial.spec.structure.correlation_draws(pairs, 4)
    sd = np.exp(residuals.sigma.X @ log_sd)
    mean = design.X @ beta
    for i, value in enumerate(got):
        rows = np.flatnonzero(serial.individual == i)
        v = serial.visit[rows]
        cov = corr[np.ix_(v, v)] * np.outer(sd[rows], sd[rows])
        assert value == pytest.approx(
            stats.multivariate_normal(mean[rows], cov).logpdf(design.y[rows]), rel=1e-10)


def test_individual_loglik_with_one_sigma():
    """Compound symmetry with the one σ (no sigma formula): log N(y_i; X_i β, σ² R)."""
    from lmm_bayes.ppc import individual_loglik

    model = lb.LMM("y ~ visit", _trial(n=10), residual="cs(visit | id)")
    design, serial = model.design, model.residuals.serial
    beta = np.linspace(-0.5, 0.5, len(design.fixed_names))
    post = xr.Dataset({names.BETA: (("chain", "draw", names.FIXED), beta[None, None]),
                       names.SIGMA: (("chain", "draw"), [[1.3]]),
                       names.RHO: (("chain", "draw"), [[0.4]])},
                      coords={names.FIXED: list(design.fixed_names)})
    got = individual_loglik(post, design, model.family, model.residuals).values[0, 0]
    mean = design.X @ beta
    for i, value in enumerate(got):
        rows = np.flatnonzero(serial.individual == i)
        cov = 1.3**2 * (0.6 * np.eye(len(rows)) + 0.4)
        assert value == pytest.approx(
            stats.multivariate_normal(mean[rows], cov).logpdf(design.y[rows]), rel=1e-10)
