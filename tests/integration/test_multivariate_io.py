"""Save and load of a multivariate fit, on a hand-made posterior (no sampling): the loaded
fit is a MultivariateFit with the same spec and tables; the command line prints it."""

import contextlib
import io

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import lmm_bayes as lb
from lmm_bayes import names
from lmm_bayes.cli import main
from lmm_bayes.sampling import SamplerConfig
from lmm_bayes.simulate import simulate_symptoms_il6

FORMULAS = ["depression ~ months + (1 + months |p| id)", "il6 ~ months + (1 | id)"]


def correlations(rng, shape, k) -> np.ndarray:
    """The k(k − 1)/2 correlations of k terms, one set per draw."""
    return rng.uniform(-0.5, 0.5, shape + (k * (k - 1) // 2,))


def hand_made_fit(model: lb.MultivariateLMM, seed: int = 0, chains: int = 2,
                  draws: int = 40) -> lb.MultivariateFit:
    """A MultivariateFit of ``model`` on random draws with the names, dims and coords of
    :func:`lmm_bayes.builder.build_multivariate_model`'s posterior."""
    rng = np.random.default_rng(seed)
    design, shape = model.design, (chains, draws)
    k = len(design.responses)
    post = {"beta": (("chain", "draw", "fixed"), rng.normal(size=shape + (len(design.fixed_names),))),
            "sigma": (("chain", "draw", "outcome"), rng.gamma(5.0, size=shape + (k,))),
            "rescor": (("chain", "draw", "outcome__pair"), correlations(rng, shape, k))}
    coords = {"fixed": list(design.fixed_names), "outcome": list(design.responses),
              "outcome__pair": names.pair_labels(design.responses)}
    for b in design.blocks:
        level, term = f"{b.name}__level", f"{b.name}__term"
        coords.update(names.coords(b.name, b.levels, b.terms))
        size = len(b.terms)
        post[f"sd_{b.name}"] = (("chain", "draw", term), rng.gamma(5.0, size=shape + (size,)))
        post[f"corr_{b.name}"] = (("chain", "draw", names.pair_dim(b.name)),
                                  correlations(rng, shape, size))
        post[f"b_{b.name}"] = (("chain", "draw", level, term),
                               rng.normal(size=shape + (b.n_levels, size)))
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros(shape, dtype=bool))})
    idata = az.InferenceData(posterior=xr.Dataset(post, coords=coords), sample_stats=stats)
    return lb.MultivariateFit(model, idata, SamplerConfig(draws=draws, chains=chains,
                                                          random_seed=seed))


@pytest.fixture(scope="module")
def fit() -> lb.MultivariateFit:
    data = simulate_symptoms_il6(n_patients=20)
    data["site"] = np.where(data.id < "P011", "north", "south")
    model = lb.MultivariateLMM(FORMULAS, data, rescor=True, reference={"site": "south"},
                               priors={"il6": {"months": lb.Prior("normal", mu=0, sigma=1)}})
    return hand_made_fit(model)


@pytest.fixture(scope="module")
def saved(fit, tmp_path_factory):
    return fit.save(tmp_path_factory.mktemp("mv") / "fit.nc")


def test_loaded_multivariate_fit_gives_identical_tables(fit, saved):
    loaded = lb.load(saved)
    assert isinstance(loaded, lb.MultivariateFit)
    assert loaded.model.spec == fit.model.spec and loaded.config == fit.config
    assert [b.name for b in loaded.model.design.blocks] == ["id__p", "id__il6"]
    xr.testing.assert_identical(loaded.idata.posterior, fit.idata.posterior)
    for table in (lambda f: f.summary(), lambda f: f.variance_components(),
                  lambda f: f.random_effects("id")):
        pd.testing.assert_frame_equal(table(loaded), table(fit))


def test_changed_data_are_caught(fit, tmp_path):
    data = fit.model.data.assign(il6=fit.model.data.il6 * 2)
    changed = hand_made_fit(lb.MultivariateLMM.from_spec(fit.model.spec, fit.model.data))
    changed.model.data = data
    with pytest.raises(lb.LoadError, match=r"do not rebuild the saved model \(il6: response"):
        lb.load(changed.save(tmp_path / "changed.nc"))


def test_posterior_of_another_model_is_caught(fit, tmp_path):
    other = hand_made_fit(fit.model)
    other.idata.posterior = other.idata.posterior.drop_vars("b_id__il6")
    with pytest.raises(lb.LoadError, match=r"it lacks the variables \['b_id__il6'\]"):
        lb.load(other.save(tmp_path / "other.nc"))


def test_summarize_prints_a_saved_multivariate_fit(saved):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["summarize", str(saved)]) == 0
    printed = out.getvalue()
    assert "MultivariateLMM(depression (n=" in printed
    assert "\nFixed effects\n" in printed and "\nVariance components\n" in printed
    assert "rescor__depression.il6" in printed and "Intraclass" not in printed


def test_predict_refuses_a_multivariate_fit(saved, tmp_path):
    pd.DataFrame({"id": ["P001"], "months": [14.0]}).to_csv(tmp_path / "new.csv", index=False)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["predict", str(saved), "--data", str(tmp_path / "new.csv")])
    assert code == 2 and "predictions are made by models with one outcome" in err.getvalue()
