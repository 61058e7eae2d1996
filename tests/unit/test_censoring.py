"""Censored responses, ``y | cens(censored) ~ ...``: parsing, codes and bounds in the design
(with every error), the engines that refuse them, the PyMC and numpy log-likelihoods against
scipy's normal, replicates censored as each row was, and the spec file."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import lmm_bayes as lb
from lmm_bayes import collapsed, effects_system, individual_blocks, io, kernel, marginal
from lmm_bayes.builder import response_data
from lmm_bayes.censoring import censor, censored_logpdf
from lmm_bayes.errors import DesignError, SpecError
from lmm_bayes.formula import Censoring, parse_formula
from lmm_bayes.ppc import pointwise_loglik, replicate
from lmm_bayes.predict import predict_draws
from lmm_bayes.spec import ModelSpec, MultivariateSpec
from lmm_bayes.specfile import read_spec

# ----------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("text, expected", [
    ("y | cens(c) ~ x + (1 | g)", Censoring("c")),
    ("y | cens(c, u) ~ x", Censoring("c", "u")),
    ("log(y) | cens( `lod flag` , y2 = up ) ~ x", Censoring("lod flag", "up")),
])
def test_cens_is_kept_as_data_beside_the_response(text, expected):
    f = parse_formula(text)
    assert f.censoring == expected
    assert f.response == text.split("|")[0].strip()
    assert [t.label for t in f.fixed] == ["(Intercept)", "x"]
    # the codes are a used column (missing values checked), the upper bounds are not
    assert expected.column in f.variables and "up" not in f.variables
    assert parse_formula("y ~ x").censoring is None


@pytest.mark.parametrize("text, pos, message", [
    ("y | weights(w) ~ x", 4, 'give the option weights="w" instead of weights(w)'),
    ("y | cens(c) + weights(w) ~ x", 14, 'give the option weights="w"'),
    ("y | trunc(lb = 0) ~ x", 4, ("trunc() is not a supported addition to the response; the "
     "response takes cens(censored) or cens(censored, upper)")),
    ("y | x ~ z", 4, "expected an addition such as cens(censored) after '|'"),
    ("y | cens(c) + cens(d) ~ x", 14, "cens() can be given once"),
    ("y | cens() ~ x", 4, "cens() takes one or two column names"),
    ("y | cens(a, b, c) ~ x", 4, "cens() takes one or two column names"),
    ("y | cens(log(c)) ~ x", 4, "cens() takes one or two column names"),
])
def test_other_additions_are_refused_at_their_position(text, pos, message):
    with pytest.raises(SpecError) as err:
        parse_formula(text)
    assert message in str(err.value)
    assert f"at position {pos} of the formula" in str(err.value)


def test_spec_refuses_other_families_residual_structures_and_multivariate_models():
    with pytest.raises(SpecError, match="needs the Gaussian family, not 'poisson'"):
        ModelSpec.from_formula("y | cens(c) ~ x", family="poisson")
    with pytest.raises(SpecError, match="cannot take the residual structure 'ar1"):
        ModelSpec.from_formula("y | cens(c) ~ t + (1 | g)", residual="ar1(t | g)")
    with pytest.raises(SpecError, match="not supported in multivariate models"):
        MultivariateSpec.from_formulas(["y | cens(c) ~ x", "z ~ x"])


# ----------------------------------------------------------------------------- design


def lod_data(n_levels=12, rows=5, seed=3):
    """A biomarker below a detection limit of 0 in about a third of the rows."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_levels), rows)
    x = rng.normal(size=len(g))
    latent = 0.5 + 0.8 * x + rng.normal(0, 0.5, n_levels)[g] + rng.normal(size=len(g))
    left = latent < 0
    return pd.DataFrame({"y": np.where(left, 0.0, latent), "x": x, "g": g,
                         "c": np.where(left, "left", "none")})


def test_design_holds_the_codes_and_bounds():
    data = lod_data().assign(c=lambda d: d.c.astype(object), u=np.nan)
    data.loc[2, ["c", "u"]] = ["Interval", data.y[2] + 1]       # any case
    data.loc[3, "c"] = " right "
    cens = lb.LMM("y | cens(c, u) ~ x + (1 | g)", data).design.censoring
    expected = np.where(data.c == "left", -1, 0)
    expected[[2, 3]] = [2, 1]
    assert cens.kind.tolist() == expected.tolist()
    assert cens.upper[2] == data.y[2] + 1 and np.isnan(np.delete(cens.upper, 2)).all()
    counts = {"none": int((expected == 0).sum()), "left": int((expected == -1).sum()),
              "right": 1, "interval": 1}
    assert cens.counts() == counts
    assert cens.describe() == (f"{60 - counts['none']} of 60 rows censored "
                               f"({counts['left']} left, 1 right, 1 interval)")


@pytest.mark.parametrize("codes, expected", [
    ([0, -1, 1, 2], [0, -1, 1, 2]),                   # brms's numbers
    ([0.0, -1.0, 1.0, 2.0], [0, -1, 1, 2]),
    ([False, True, False, True], [0, 1, 0, 1]),       # logical: right-censored, as in brms
])
def test_brms_codes_and_logicals(codes, expected):
    data = lod_data().iloc[:8].assign(g=[0, 0, 0, 0, 1, 1, 1, 1], u=lambda d: d.y + 1.0,
                                      c=codes * 2)
    cens = lb.LMM("y | cens(c, u) ~ x", data).design.censoring
    assert cens.kind.tolist() == expected * 2


@pytest.mark.parametrize("change, message", [
    ({"c": {4: "below"}}, ("the censoring column 'c' has the unknown code 'below' at row "
     "position 4 (1 row(s) in all); use 'none', 'left', 'right', 'interval'")),
    ({"c": {6: 3}}, "the unknown code 3 at row position 6"),
    ({"c": {5: "interval"}, "u": {5: 0.0}}, ("interval-censored row at row position 5 needs "
     "an upper bound above its response: 'u' is 0.0, the response 2.0 (1 such row(s))")),
    ({"c": {5: "interval"}}, ("interval-censored row at row position 5 needs an upper bound "
     "above its response: 'u' is nan")),
])
def test_bad_codes_and_bounds_name_the_row(change, message):
    data = pd.DataFrame({"y": np.arange(8.0) - 3, "x": np.arange(8.0) % 3,
                         "c": ["none"] * 8, "u": np.nan}).astype({"c": object})
    for column, values in change.items():
        for row, value in values.items():
            data.loc[row, column] = value
    with pytest.raises(DesignError) as err:
        lb.LMM("y | cens(c, u) ~ x", data)
    assert message in str(err.value)


def test_interval_rows_need_an_upper_column_present_and_numeric():
    data = pd.DataFrame({"y": np.arange(6.0), "x": np.arange(6.0) % 3,
                         "c": ["none", "interval", "none", "left", "none", "interval"]})
    with pytest.raises(DesignError, match=r"2 row\(s\) of 'c' are interval-censored \(first at "
                       r"row position 1\) but the formula gives no upper bound; write "
                       r"cens\(c, upper\)"):
        lb.LMM("y | cens(c) ~ x", data)
    with pytest.raises(DesignError, match="the upper-bound column 'u' of cens"):
        lb.LMM("y | cens(c, u) ~ x", data)
    with pytest.raises(DesignError, match="the upper-bound column 'u' is not numeric"):
        lb.LMM("y | cens(c, u) ~ x", data.assign(u="high"))
    # no interval rows: no upper column needed, whatever the formula names
    assert lb.LMM("y | cens(c, u) ~ x", data.assign(c="none")).design.censoring.counts()[
        "none"] == 6


def test_missing_codes_are_missing_values():
    data = lod_data().assign(c=lambda d: d.c.where(d.index != 7))
    with pytest.raises(DesignError, match=r"missing values \(NaN\) in the data: 'c': 1"):
        lb.LMM("y | cens(c) ~ x + (1 | g)", data)
    model = lb.LMM("y | cens(c) ~ x + (1 | g)", data, na_action="drop")
    assert model.design.n_obs == 59 and len(model.design.censoring.kind) == 59


def test_the_fingerprint_holds_the_censoring():
    data = lod_data()
    prints = lb.LMM("y | cens(c) ~ x + (1 | g)", data).fingerprints()
    flipped = data.assign(c=np.where(data.c == "left", "none", "left"))
    other = lb.LMM("y | cens(c) ~ x + (1 | g)", flipped).fingerprints()
    assert prints["censoring"] != other["censoring"]
    assert "censoring" not in lb.LMM("y ~ x + (1 | g)", data).fingerprints()
    assert set(prints) - {"censoring"} == set(io.fingerprints(
        {"": lb.LMM("y ~ x + (1 | g)", data).design}, lb.LMM(
            "y ~ x + (1 | g)", data).priors.table()))


# ----------------------------------------------------------------------------- engines


@pytest.mark.parametrize("formula", ["y | cens(c) ~ x + (1 + x | g)",
                                     "y | cens(c) ~ x + (1 | g) + (1 | h)"])
def test_engines_that_integrate_effects_out_refuse_a_censored_response(formula):
    data = lod_data(n_levels=25, rows=8).assign(h=lambda d: np.arange(len(d)) % 25)
    model = lb.LMM(formula, data)
    assert lb.LMM(formula.replace(" | cens(c)", ""), data).engine().engine != "graph"
    choice = model.engine()
    assert choice.engine == "graph" and model.likelihood == "conditional"
    for engine in ("collapsed", "marginal", "blocked"):
        assert f"not {engine}: a censored response (cens())" in choice.reason
    d, p = model.design, model.priors
    refusal = "a censored response (cens())"
    assert marginal.gaussian_obstacle(d, "gaussian") == refusal
    assert collapsed.obstacle(d, p, "gaussian", None) == refusal
    assert effects_system.obstacle(d, p, "gaussian", None) == refusal
    assert individual_blocks.obstacle(d, p, "gaussian", None) == refusal
    if len(d.groups) == 1:
        assert kernel.obstacle(d, p, "gaussian", None) == refusal
    with pytest.raises(lb.SamplingError, match=r"a censored response \(cens\(\)\)"):
        model.engine("marginal" if len(d.groups) == 1 else "collapsed")
    with pytest.raises(DesignError, match="likelihood='marginal'"):
        lb.LMM(formula, data, likelihood="marginal")


# ----------------------------------------------------------------------------- likelihood

# y, μ, σ, code, upper: each case, far tails included
CASES = [(1.0, 0.2, 1.5, 0, np.nan), (-30.0, 0.0, 1.0, 0, np.nan),
         (0.0, 1.0, 0.5, -1, np.nan), (0.0, 40.0, 1.0, -1, np.nan), (0.0, -40.0, 1.0, -1, np.nan),
         (0.0, -1.0, 2.0, 1, np.nan), (0.0, -40.0, 1.0, 1, np.nan), (0.0, 40.0, 1.0, 1, np.nan),
         (0.0, 0.5, 1.0, 2, 1.0), (30.0, 0.0, 1.0, 2, 31.0), (-31.0, 0.0, 1.0, 2, -30.0),
         (2.0, 0.0, 1.0, 2, 2.0 + 1e-6)]


def scipy_loglik(y, mu, sigma, code, upper):
    """Each case with scipy's normal, written out independently of the package's formulas."""
    dist = stats.norm(mu, sigma)
    if code == 0:
        return dist.logpdf(y)
    if code == -1:
        return dist.logcdf(y)
    if code == 1:
        return dist.logsf(y)
    if (y + upper) / 2 > mu:   # upper tail: the survival function keeps the digits
        return np.log(dist.sf(y) - dist.sf(upper)) if dist.sf(upper) > 0 else (
            dist.logsf(y) + np.log1p(-np.exp(dist.logsf(upper) - dist.logsf(y))))
    return dist.logcdf(upper) + np.log1p(-np.exp(dist.logcdf(y) - dist.logcdf(upper)))


def test_numpy_loglik_matches_scipy_in_every_case():
    y, mu, sigma, code, upper = map(np.array, zip(*CASES))
    expected = [scipy_loglik(*case) for case in CASES]
    got = censored_logpdf(y, mu, sigma, code.astype(int), upper)
    assert np.isfinite(got).all()
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # a narrow interval has about the density times its width
    assert got[-1] == pytest.approx(stats.norm.logpdf(2.0) + np.log(1e-6), abs=1e-5)


def test_pymc_logp_and_gradient_match_numpy_in_every_case():
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from lmm_bayes.builder import censored_normal_logp

    y, mu, sigma, code, upper = map(np.array, zip(*CASES))
    upper = np.where(code == 2, upper, y + 1.0)
    m = pt.dvector("mu")
    logp = censored_normal_logp(y, m, sigma, code.astype(int), upper)
    f = pytensor.function([m], [logp, pytensor.grad(logp.sum(), m)])
    value, gradient = f(mu)
    # PyMC's normal_lcdf (erfc/erfcx in PyTensor) agrees with scipy's log_ndtr to ~2e-8
    assert value == pytest.approx(censored_logpdf(y, mu, sigma, code.astype(int), upper),
                                  rel=1e-7, abs=1e-12)
    assert np.isfinite(gradient).all()
    step = 1e-6
    numeric = (censored_logpdf(y, mu + step, sigma, code.astype(int), upper)
               - censored_logpdf(y, mu - step, sigma, code.astype(int), upper)) / (2 * step)
    assert gradient[:-1] == pytest.approx(numeric[:-1], rel=1e-4, abs=1e-6)
    # the narrow interval at 2: d/dμ log φ(2 − μ) = 2 at μ = 0 (differences lose the digits)
    assert gradient[-1] == pytest.approx(2.0, abs=1e-5)
    assert pm  # the builder's import of PyMC


def test_graph_likelihood_is_the_censored_normal():
    data = lod_data(n_levels=6, rows=4)
    data.loc[[1, 5], "c"] = ["right", "interval"]
    data["u"] = data.y + 0.7
    model = lb.LMM("y | cens(c, u) ~ x + (1 | g)", data).pymc_model
    point = {k: v + 0.1 for k, v in model.initial_point().items()}
    outs = model.replace_rvs_by_values([model["beta"], model["b_g"], model["sigma"]])
    beta, b, sigma = model.compile_fn(outs, inputs=model.value_vars,
                                      on_unused_input="ignore")(point)
    mu = beta[0] + beta[1] * data.x + b[data.g, 0]
    code = data.c.map({"none": 0, "left": -1, "right": 1, "interval": 2}).to_numpy()
    expected = sum(scipy_loglik(*case) for case in zip(data.y, mu, [sigma] * 24, code, data.u))
    logp = model.compile_logp(vars=[model["y"]], sum=True)(point)
    assert logp == pytest.approx(expected, rel=1e-7)   # PyMC's normal_lcdf: ~2e-8
    inputs = response_data(lb.LMM("y | cens(c, u) ~ x + (1 | g)", data).design, "conditional")
    assert inputs["censoring_kind"].tolist() == code.tolist()
    assert inputs["censoring_upper"][5] == data.u[5]


# ----------------------------------------------------------------------------- draws


def test_censor_replicates_each_row_as_it_was_recorded():
    y = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    kind = np.array([0, -1, 1, 2, 2])
    upper = np.array([np.nan, np.nan, np.nan, 3.0, 3.0])
    latent = np.array([[0.5, 0.5, 0.5, 2.0, 4.0],
                       [2.0, 2.0, 2.0, 0.5, 3.0]])
    assert censor(latent, y, kind, upper).tolist() == [[0.5, 1.0, 0.5, 1.0, 4.0],
                                                       [2.0, 2.0, 1.0, 0.5, 1.0]]


def hand_posterior(design, beta, b, sigma):
    """One chain, one draw with the given values."""
    g = design.groups[0]
    return xr.Dataset({
        "beta": (("chain", "draw", "fixed"), np.array(beta)[None, None]),
        "sigma": (("chain", "draw"), np.array([[sigma]])),
        "sd_g": (("chain", "draw", "g__term"), np.array([[[0.5]]])),
        "b_g": (("chain", "draw", "g__level", "g__term"), np.asarray(b)[None, None, :, None]),
    }, coords={"fixed": list(design.fixed_names), "g__term": ["(Intercept)"],
               "g__level": list(g.levels)})


def test_pointwise_loglik_and_replicates_of_a_censored_response():
    data = lod_data()
    model = lb.LMM("y | cens(c) ~ x + (1 | g)", data)
    b = np.linspace(-0.5, 0.5, 12)
    post = hand_posterior(model.design, [0.4, 0.9], b, 0.8)
    mu = 0.4 + 0.9 * data.x.to_numpy() + b[data.g]
    loglik = pointwise_loglik(post, model.design, model.family).values[0, 0]
    left = (data.c == "left").to_numpy()
    assert loglik[left] == pytest.approx(stats.norm.logcdf(0.0, mu[left], 0.8))
    assert loglik[~left] == pytest.approx(stats.norm.logpdf(data.y[~left], mu[~left], 0.8))
    many = xr.concat([post] * 2000, dim="draw").assign_coords(draw=np.arange(2000))
    y_rep = replicate(many, model.design, model.family, np.random.default_rng(1)).values[0]
    assert (y_rep[:, left] >= 0).all()
    # P(replicate = the limit) on a left-censored row is Φ((0 − μ)/σ)
    assert (y_rep[:, left] == 0).mean(axis=0) == pytest.approx(
        stats.norm.cdf(0, mu[left], 0.8), abs=0.04)
    assert (y_rep[:, ~left] < 0).any()      # uncensored rows replicate the latent value


def test_history_is_refused_for_a_censored_response():
    data = lod_data()
    model = lb.LMM("y | cens(c) ~ x + (1 | g)", data)
    post = hand_posterior(model.design, [0.4, 0.9], np.zeros(12), 0.8)
    history = data.iloc[:3].assign(g=99)
    with pytest.raises(DesignError, match="history= is not available for a censored response"):
        predict_draws(post, model.design, model.family, history, history=history)


# ----------------------------------------------------------------------------- spec file


def test_spec_file_formula_takes_cens(tmp_path):
    lod_data().to_csv(tmp_path / "lod.csv", index=False)
    (tmp_path / "lod.toml").write_text('[model]\nformula = "y | cens(c) ~ x + (1 | g)"\n'
                                       '[data]\npath = "lod.csv"\n')
    spec = read_spec(tmp_path / "lod.toml")
    assert spec.spec.formula.censoring == Censoring("c")
    model = lb.LMM.from_spec(spec.spec, spec.data)
    assert model.design.censoring.counts()["left"] == int((lod_data().c == "left").sum())


def test_fit_many_does_not_standardise_a_censored_response():
    from lmm_bayes.many import _standardisation

    y = lod_data().y.to_numpy()
    plain = _standardisation(ModelSpec.from_formula("y ~ x + (1 | g)"), y)
    assert plain == pytest.approx((y.mean(), y.std(ddof=1)))
    # the upper bounds of cens() would need the same rescaling
    assert _standardisation(ModelSpec.from_formula("y | cens(c) ~ x + (1 | g)"), y) == (0.0, 1.0)


def test_graph_likelihood_takes_a_sigma_formula():
    data = lod_data(n_levels=6, rows=4).assign(arm=lambda d: np.where(d.g < 3, "a", "b"))
    model = lb.LMM("y | cens(c) ~ x + (1 | g)", data, sigma="~ arm").pymc_model
    point = {k: v + 0.1 for k, v in model.initial_point().items()}
    outs = model.replace_rvs_by_values([model["beta"], model["b_g"], model["sigma_beta"]])
    beta, b, log_sd = model.compile_fn(outs, inputs=model.value_vars,
                                       on_unused_input="ignore")(point)
    mu = beta[0] + beta[1] * data.x + b[data.g, 0]
    sd = np.exp(log_sd[0] + log_sd[1] * (data.arm == "b"))
    code = np.where(data.c == "left", -1, 0)
    expected = sum(scipy_loglik(*case) for case in zip(data.y, mu, sd, code, [np.nan] * 24))
    logp = model.compile_logp(vars=[model["y"]], sum=True)(point)
    assert logp == pytest.approx(expected, rel=1e-7)
