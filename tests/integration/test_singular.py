"""The singular-fit warning against lme4's verdict: it warns for data whose REML estimate of a
variance component is zero (a Dyestuff2-like simulation) and not for pastes, dyestuff (nor
sleepstudy, tests/unit/test_preflight.py), whose lme4 fits are not singular."""

import warnings

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb
from lmm_bayes.testing import REFERENCE_CASES

FIT = {"draws": 1000, "tune": 1000, "chains": 4, "random_seed": 8}  # the default fit's size


def singular_warnings(model: lb.LMM) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lb.SamplingWarning)
        model.fit(**FIT)
    return [str(w.message) for w in caught if w.category is lb.SingularFitWarning]


def dyestuff2_like(seed: int = 3) -> pd.DataFrame:
    """6 batches × 5 yields with batch SD 0, on the scale of lme4's Dyestuff2 (mean 5.67,
    residual SD 3.7)."""
    rng = np.random.default_rng(seed)
    batch = np.repeat([f"B{k}" for k in range(6)], 5)
    return pd.DataFrame({"Batch": batch, "Yield": 5.67 + 3.7 * rng.normal(size=30)})


def test_zero_batch_variance_warns():
    data = dyestuff2_like()
    # balanced one-way layout: REML σ²_batch = max(0, (MSB − MSW)/5) (Searle, Casella &
    # McCulloch 1992, sec. 3.7), zero, i.e. lme4's fit is singular, when MSB < MSW
    means = data.groupby("Batch").Yield.transform("mean")
    msb = ((means - data.Yield.mean()) ** 2).sum() / 5
    msw = ((data.Yield - means) ** 2).sum() / 24
    assert msb < msw
    found = singular_warnings(lb.LMM("Yield ~ 1 + (1 | Batch)", data))
    assert len(found) == 1 and "random effect '(Intercept)' by 'Batch'" in found[0]
    assert "mass below median/2" in found[0]


@pytest.mark.parametrize("name", ["pastes", "dyestuff"])
def test_fits_lme4_does_not_call_singular_do_not_warn(name):
    formula, reml = REFERENCE_CASES[name]
    assert min(v for (g, t), v in reml.items() if t == "sd__(Intercept)" and g) > 1.0
    assert singular_warnings(lb.LMM(formula, lb.load_dataset(name))) == []
