"""The GLMM engine's posterior against NUTS on the plain PyMC model (the graph engine), for
each family and both of the engine's cases: posterior means within 0.15 posterior SDs
(about three Monte Carlo standard errors of the difference at these ESS) and posterior SDs
within 15%. Slow: the plain model compiles and samples for minutes."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import reference_data
from scipy import special

import lmm_bayes as lb

pytestmark = [pytest.mark.validation, pytest.mark.slow]

SETTINGS = {"draws": 1000, "tune": 1000, "chains": 4, "random_seed": 11}


def _simulated(seed=5, levels=40, rows=10, crossed=8):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(levels), rows)
    h = np.arange(levels * rows) % crossed
    x = rng.normal(size=len(g))
    eta = (-0.2 + 0.5 * x + rng.normal(0, 0.8, levels)[g] + rng.normal(0, 0.3, levels)[g] * x
           + rng.normal(0, 0.5, crossed)[h])
    return pd.DataFrame({
        "bin": (rng.random(len(g)) < special.expit(eta)).astype(float),
        "count": rng.poisson(np.exp(eta + 1)),
        "overdispersed": rng.poisson(rng.gamma(2.0, np.exp(eta + 1) / 2.0)),
        "x": x, "g": g.astype(str), "h": h.astype(str)})


CASES = {
    "bernoulli, correlated slopes, quadrature": ("bin ~ x + (1 + x | g)", "bernoulli", None),
    "binomial cbpp, quadrature with NUTS": (
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", "cbpp"),
    "poisson, crossed, full model": ("count ~ x + (1 | g) + (1 | h)", "poisson", None),
    "negative binomial, quadrature": ("overdispersed ~ x + (1 | g)", "negbinomial", None),
}


def _fit(formula, family, data, engine):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return lb.fit(formula, data, family=family, engine=engine, **SETTINGS)


def _draws(fit):
    post = fit.idata.posterior
    names = [n for n in post.data_vars if not n.startswith("b_")]
    columns = {}
    for name in names:
        flat = post[name].stack(sample=("chain", "draw")).values.reshape(-1, 4 * 1000)
        for i, row in enumerate(flat):
            columns[f"{name}[{i}]"] = row
    first_level = post[next(n for n in post.data_vars if n.startswith("b_"))]
    columns["b[0]"] = first_level.isel({first_level.dims[2]: 0, first_level.dims[3]: 0}
                                       ).values.ravel()
    return pd.DataFrame(columns)


@pytest.mark.parametrize("case", list(CASES))
def test_posterior_is_the_plain_models(case):
    formula, family, dataset = CASES[case]
    data = (reference_data(dataset).astype({"herd": str, "period": str}) if dataset
            else _simulated())
    fast, plain = (_fit(formula, family, data, engine) for engine in ("glmm", "graph"))
    assert fast.engine[0] == "glmm"
    ours, theirs = _draws(fast), _draws(plain)
    for column in theirs:
        sd = theirs[column].std()
        assert abs(ours[column].mean() - theirs[column].mean()) < 0.15 * sd, column
        assert ours[column].std() == pytest.approx(sd, rel=0.15), column
    assert fast.summary().r_hat.max() <= 1.01
