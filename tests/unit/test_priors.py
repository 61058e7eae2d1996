import numpy as np
import pandas as pd
import pytest

from lmm_bayes import Prior, PriorError
from lmm_bayes.design import build_design
from lmm_bayes.formula import parse_formula
from lmm_bayes.priors import build_priors

DATA = pd.DataFrame({
    "y": [3.0, 7.0, 5.0] * 3,
    "x": [0.0, 4.0, 8.0] * 3,
    "g": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
    "h": ["p", "q", "r"] * 3,
})
SD_Y = np.sqrt(24 / 8)  # y has mean 5; squared deviations (4 + 4 + 0) × 3 = 24, over n-1 = 8
SD_X = np.sqrt(96 / 8)  # x has mean 4; squared deviations (16 + 0 + 16) × 3 = 96


def priors_for(formula, overrides=None, data=DATA):
    return build_priors(build_design(parse_formula(formula), data), overrides)


def test_defaults_are_scaled_by_hand_computed_sds():
    p = priors_for("y ~ x + (x | g)")
    assert p.intercept == Prior("normal", mu=5.0, sigma=2.5 * SD_Y)
    assert p.fixed["x"] == Prior("normal", mu=0.0, sigma=2.5 * SD_Y / SD_X)
    assert p.sd["g"]["(Intercept)"] == Prior("halfstudentt", nu=3.0, sigma=SD_Y)
    assert p.sd["g"]["x"] == Prior("halfstudentt", nu=3.0, sigma=SD_Y / SD_X)
    assert p.eta == {"g": 2.0}
    assert p.sigma == Prior("halfstudentt", nu=3.0, sigma=SD_Y)


def test_indicator_columns_get_the_intercept_scale_and_uncorrelated_blocks_no_eta():
    p = priors_for("y ~ 1 + (0 + g || h)")
    assert p.sd["h"]["ga"].kwargs["sigma"] == pytest.approx(SD_Y)
    assert p.eta == {}


def test_specific_keys_win_over_class_keys():
    narrow, wide = Prior("halfnormal", sigma=1.0), Prior("halfnormal", sigma=9.0)
    p = priors_for("y ~ x + (x | g)", {"sd": wide, "sd_g__x": narrow, "eta": 4, "b": Prior(
        "normal", mu=0, sigma=3), "Intercept": Prior("student_t", nu=4, mu=5, sigma=10)})
    assert p.sd["g"] == {"(Intercept)": wide, "x": narrow}
    assert p.eta["g"] == 4.0
    assert p.fixed["x"] == Prior("normal", mu=0, sigma=3)
    assert p.intercept.dist == "student_t"


def test_table_lists_every_parameter():
    table = priors_for("y ~ x + (x | g)").table()
    assert list(table["parameter"]) == ["(Intercept)", "x", "sd_g__(Intercept)", "sd_g__x",
                                        "corr_g", "sigma"]


@pytest.mark.parametrize("overrides, message", [
    ({"Dayz": Prior("normal", mu=0, sigma=1)}, r"unknown prior key\(s\) \['Dayz'\]; valid keys"),
    ({"sigma": Prior("normal", mu=0, sigma=1)}, "needs a positive family"),
    ({"x": Prior("halfnormal", sigma=1)}, "needs normal or student_t"),
    ({"eta_g": -1}, "must be a positive number"),
    ({"sigma": 3.0}, "must be a lmm_bayes.Prior"),
    ({"sd_g__x": Prior("halfnormal", sigma=1)}, "must use one family"),
])
def test_bad_overrides_raise(overrides, message):
    with pytest.raises(PriorError, match=message):
        priors_for("y ~ x + (x | g)", overrides)


@pytest.mark.parametrize("args, message", [
    (("lognormal",), "unknown prior family 'lognormal'"),
    (("normal",), r"takes parameters \['mu', 'sigma'\]"),
])
def test_bad_prior_family_or_parameters(args, message):
    with pytest.raises(PriorError, match=message):
        Prior(*args)


def test_negative_scale_raises():
    with pytest.raises(PriorError, match="sigma=-1 of the normal prior must be positive"):
        Prior("normal", mu=0, sigma=-1)


def test_constant_response_raises():
    with pytest.raises(PriorError, match="response is constant"):
        priors_for("y ~ x", data=DATA.assign(y=1.0))
