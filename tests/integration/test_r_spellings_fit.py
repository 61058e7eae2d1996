"""R spellings through the public surface: a TOML spec with ``log(y) ~ poly(x, 2) +
factor(dose) + sin(2*pi*t) + (1 | g)``, its summary, predictions on new data (with the
fitting data's polynomials), checks, and the save/load round trip (short sampling)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb
from lmm_bayes.models import model_from_spec
from lmm_bayes.specfile import read_spec

FORMULA = "log(y) ~ poly(x, 2) + factor(dose) + sin(2*pi*t) + (1 | g)"
NAMES = ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2", "factor(dose)2", "factor(dose)3",
         "sin(2*pi*t)"]


@pytest.fixture(scope="module")
def data():
    """15 groups × 8 visits; log y quadratic in x, a dose step and a seasonal term."""
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(15), 8)
    x = np.tile(np.arange(1.0, 9.0), 15)
    dose = rng.integers(1, 4, len(g))
    t = rng.uniform(0, 2, len(g))
    log_y = (1 + 0.3 * x - 0.03 * x**2 + 0.4 * (dose == 3) + 0.5 * np.sin(2 * np.pi * t)
             + rng.normal(0, 0.3, 15)[g] + rng.normal(0, 0.2, len(g)))
    return pd.DataFrame({"y": np.exp(log_y), "x": x, "dose": dose, "t": t, "g": g})


def _spec_fit(data, folder, model: str):
    """A short fit of the spec file with ``[model]`` table ``model`` on ``data``."""
    data.to_csv(folder / "visits.csv", index=False)
    (folder / "model.toml").write_text(f'[model]\n{model}[data]\npath = "visits.csv"\n')
    spec = read_spec(folder / "model.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return model_from_spec(spec.spec, spec.data).fit(draws=200, tune=200, chains=1,
                                                          random_seed=3)


@pytest.fixture(scope="module")
def r_fit(data, tmp_path_factory):
    return _spec_fit(data, tmp_path_factory.mktemp("rspell"), f'formula = "{FORMULA}"\n')


def test_summary_rows_are_named_as_r_names_the_columns(r_fit):
    assert r_fit.summary()["term"].tolist()[:len(NAMES)] == NAMES


def test_predictions_are_on_the_log_scale(r_fit, data):
    fitted = r_fit.predict()["estimate"].to_numpy()
    assert np.corrcoef(fitted, np.log(data.y))[0, 1] > 0.9
    assert fitted.mean() == pytest.approx(np.log(data.y).mean(), abs=0.05)


def test_new_data_use_the_fitting_datas_polynomials(r_fit, data):
    """Three rows of the fitting data as new data: evaluated on their own, poly(x, 2)
    would give other columns (and other predictions) than on all the fitting rows."""
    rows = data.iloc[[0, 9, 18]]
    new = r_fit.predict(rows, groups="population")["estimate"].to_numpy()
    fitted = r_fit.predict(groups="population")["estimate"].to_numpy()[[0, 9, 18]]
    np.testing.assert_allclose(new, fitted, rtol=1e-10)


def test_checks_compare_the_transformed_response(r_fit, data):
    observed = r_fit.ppc(random_seed=1).observed_data["y"].to_numpy()
    np.testing.assert_allclose(observed, np.log(data.y))
    assert np.isfinite(r_fit.loo().elpd_loo)


@pytest.fixture(scope="module")
def contrasts_fit(data, tmp_path_factory):
    """``contrasts = { dose = "contr.poly" }`` in a spec file: dose as an ordered factor."""
    return _spec_fit(data, tmp_path_factory.mktemp("contrasts"),
                     'formula = "log(y) ~ x + dose + (1 | g)"\n'
                     'contrasts = { dose = "contr.poly" }\n')


def test_polynomial_contrasts_from_a_spec_file_survive_save_and_load(contrasts_fit, data,
                                                                     tmp_path):
    assert contrasts_fit.summary()["term"].tolist()[:4] == ["(Intercept)", "x", "dose.L",
                                                           "dose.Q"]
    loaded = lb.load(contrasts_fit.save(tmp_path / "fit.nc"))
    new = data.iloc[[0, 1, 2]]
    pd.testing.assert_frame_equal(loaded.predict(new), contrasts_fit.predict(new))


def test_saved_fit_reloads_the_polynomials(r_fit, data, tmp_path):
    loaded = lb.load(r_fit.save(tmp_path / "fit.nc"))
    new = data.iloc[[3, 40]].assign(x=[0.5, 11.0])  # outside the fitted range
    pd.testing.assert_frame_equal(loaded.predict(new, groups="population"),
                                  r_fit.predict(new, groups="population"))
    pd.testing.assert_frame_equal(loaded.summary(), r_fit.summary())
