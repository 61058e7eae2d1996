"""Save and load: a loaded fit gives the same tables as the fit that was saved."""

import json
import re
import shutil

import arviz as az
import h5netcdf
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import lmm_bayes as lb
from lmm_bayes import names
from lmm_bayes.cli import main
from lmm_bayes.io import paired
from lmm_bayes.names import correlation_matrices
from lmm_bayes.sampling import SamplerConfig

TABLES = {
    "summary": lambda f: f.summary(),
    "random_effects": lambda f: f.random_effects("Subject"),
    "variance_components": lambda f: f.variance_components(),
    "icc": lambda f: f.icc(at={"Days": 3}),
    "shrinkage": lambda f: f.shrinkage("Subject", "Days"),
    "trajectories": lambda f: f.trajectories("Subject", "Days", grid=[0, 4.5, 9]),
    "recenter": lambda f: f.recenter("Days", 4.5),
}


def hand_made_fit(model: lb.LMM, seed: int = 0, chains: int = 2, draws: int = 50) -> lb.Fit:
    """A Fit of ``model`` on random draws of the right names, dims and coords (no sampling)."""
    rng = np.random.default_rng(seed)
    design, shape = model.design, (chains, draws)
    post = {"beta": (("chain", "draw", "fixed"), rng.normal(size=shape + (len(design.fixed_names),))),
            "sigma": (("chain", "draw"), rng.gamma(5.0, size=shape))}
    coords = {"fixed": list(design.fixed_names)}
    for g in design.groups:
        level, term = f"{g.name}__level", f"{g.name}__term"
        coords.update(names.coords(g.name, g.levels, g.terms))
        post[f"sd_{g.name}"] = ((*("chain", "draw"), term), rng.gamma(5.0, size=shape + (len(g.terms),)))
        post[f"b_{g.name}"] = ((*("chain", "draw"), level, term),
                               rng.normal(size=shape + (g.n_levels, len(g.terms))))
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros(shape, dtype=bool))})
    idata = az.InferenceData(posterior=xr.Dataset(post, coords=coords), sample_stats=stats)
    return lb.Fit(model, idata, SamplerConfig(draws=draws, chains=chains, random_seed=seed))


@pytest.fixture(scope="module")
def saved(sleep_fit, tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "sleep.nc"
    assert sleep_fit.save(path) == path
    return path


@pytest.mark.parametrize("table", sorted(TABLES))
def test_loaded_fit_gives_identical_tables(sleep_fit, saved, table):
    loaded = lb.load(saved)
    pd.testing.assert_frame_equal(TABLES[table](loaded), TABLES[table](sleep_fit))


def test_loaded_fit_keeps_posterior_sample_stats_and_settings(sleep_fit, saved):
    loaded = lb.load(saved)
    xr.testing.assert_identical(loaded.idata.posterior, sleep_fit.idata.posterior)
    xr.testing.assert_equal(loaded.idata.sample_stats, sleep_fit.idata.sample_stats)
    assert loaded.sampling_time == sleep_fit.sampling_time > 0  # the report's footer shows it
    assert loaded.config == sleep_fit.config
    assert loaded.model.spec == sleep_fit.model.spec
    assert loaded.model.likelihood == sleep_fit.model.likelihood
    assert loaded.diagnostics() == sleep_fit.diagnostics()
    # the file is an ordinary ArviZ netCDF file too
    with az.rc_context({"data.load": "eager"}):
        assert set(az.from_netcdf(str(saved)).posterior.data_vars) == set(
            sleep_fit.idata.posterior.data_vars)



@pytest.mark.parametrize("groups, kind", [("conditional", "response"), ("new", "mean")])
def test_loaded_fit_predicts_the_same_numbers(sleep_fit, saved, groups, kind):
    """New days of known subjects (their own effects, or a new subject's), same seed."""
    new = pd.DataFrame({"Subject": [308, 308, 309], "Days": [2.5, 12.0, 4.0]})
    loaded = lb.load(saved)
    pd.testing.assert_frame_equal(
        loaded.predict(new, groups=groups, kind=kind, random_seed=5),
        sleep_fit.predict(new, groups=groups, kind=kind, random_seed=5))


@pytest.fixture(scope="module")
def coded_model():
    """Codings that a rebuilt design must reproduce: a text factor with a chosen reference
    level, a logical, a Categorical in a non-alphabetical order, a numeric column treated as a
    factor, a scale() constant, a dropped row, and prior overrides."""
    data = lb.load_dataset("sleepstudy")
    data["arm"] = np.where(data.Subject % 3 == 0, "placebo", "active")
    data["late"] = data.Days >= 5
    data["site"] = pd.Categorical(np.where(data.Subject < 340, "south", "north"),
                                  categories=["south", "north"])
    data["period"] = data.Days % 3 + 1
    data.loc[7, "Reaction"] = np.nan
    return lb.LMM("Reaction ~ scale(Days) * arm + late + site + period + (Days | Subject)",
                  data, factors=["period"], reference={"arm": "placebo"}, na_action="drop",
                  priors={"lateTRUE": lb.Prior("normal", mu=0, sigma=30), "eta_Subject": 3})


def test_round_trip_keeps_levels_codings_and_centring(coded_model, tmp_path):
    fit = hand_made_fit(coded_model)
    loaded = lb.load(fit.save(tmp_path / "coded.nc"))
    design, again = coded_model.design, loaded.model.design
    assert again.fixed_names == design.fixed_names == (
        "(Intercept)", "scale(Days)", "armactive", "lateTRUE", "sitenorth", "period2", "period3",
        "scale(Days):armactive")
    np.testing.assert_array_equal(again.X, design.X)
    np.testing.assert_array_equal(again.y, design.y)
    assert again.schema == design.schema
    assert again.n_dropped == design.n_dropped == 1
    assert loaded.model.spec == coded_model.spec
    pd.testing.assert_frame_equal(loaded.model.priors.table(), coded_model.priors.table())
    for table in TABLES.values():
        pd.testing.assert_frame_equal(table(loaded), table(fit))


def version_1(saved, path):
    """A copy of ``saved`` as format version 1 wrote it: ``corr_Subject`` as the whole 2 × 2
    matrix over ``Subject__term`` and ``Subject__term_``."""
    idata = az.from_netcdf(saved)
    post = idata.posterior
    matrix = correlation_matrices(post["corr_Subject"].transpose("chain", "draw", ...).values, 2)
    terms = list(post["Subject__term"].values)
    post = post.drop_vars(["corr_Subject", "Subject__pair"]).assign_coords(
        Subject__term_=terms).assign(
        corr_Subject=(("chain", "draw", "Subject__term", "Subject__term_"), matrix))
    idata.posterior = post
    idata.lmm_bayes.attrs["format_version"] = 1
    idata.to_netcdf(str(path))
    return path


def test_a_fit_saved_with_correlation_matrices_loads_with_pairs(sleep_fit, saved, tmp_path):
    """Format version 1 stored corr_<g> whole, diagonal included; it loads in the layout of
    names.py, equal to the saved fit's, with the same tables."""
    loaded = lb.load(version_1(saved, tmp_path / "v1.nc"))
    corr = loaded.idata.posterior["corr_Subject"]
    assert corr.dims == ("chain", "draw", "Subject__pair")
    assert "Subject__term_" not in loaded.idata.posterior.coords
    xr.testing.assert_allclose(corr, sleep_fit.idata.posterior["corr_Subject"])
    pd.testing.assert_frame_equal(loaded.variance_components(), sleep_fit.variance_components())


def test_missing_file(tmp_path):
    with pytest.raises(lb.LoadError, match="does not exist"):
        lb.load(tmp_path / "nothing.nc")


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.nc"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    with pytest.raises(lb.LoadError, match="not a readable netCDF file"):
        lb.load(path)


def test_arviz_file_without_the_model(sleep_fit, tmp_path):
    path = tmp_path / "posterior.nc"
    sleep_fit.idata.to_netcdf(str(path))
    with pytest.raises(lb.LoadError, match="not a fit saved by lmm_bayes"):
        lb.load(path)


def test_data_changed_after_fitting_is_caught(coded_model, tmp_path):
    fit = hand_made_fit(coded_model)
    fit.model.data = fit.model.data.assign(Reaction=fit.model.data.Reaction + 1)
    path = fit.save(tmp_path / "changed.nc")
    with pytest.raises(lb.LoadError, match=r"do not rebuild the saved model \(response, priors"):
        lb.load(path)


def test_dates_and_durations_survive_save_and_load(sleepstudy, tmp_path):
    """Date columns (zoned, with a missing value in an unused one) are stored exactly, so
    the loaded model counts days from the same origin and predicts the same numbers."""
    data = sleepstudy.assign(
        when=pd.Timestamp("2024-03-01", tz="Europe/Paris")
        + pd.to_timedelta(sleepstudy["Days"], unit="D"),
        gap=pd.to_timedelta(sleepstudy["Days"] * 24, unit="h"))
    data.loc[0, "gap"] = pd.NaT
    fit = hand_made_fit(lb.LMM("Reaction ~ when + (1 | Subject)", data))
    loaded = lb.load(fit.save(tmp_path / "dated.nc"))
    assert loaded.model.design.schema.origins == fit.model.design.schema.origins
    pd.testing.assert_series_equal(loaded.model.data["gap"], data["gap"])
    new = pd.DataFrame({"when": [pd.Timestamp("2024-03-05", tz="UTC")], "Subject": ["308"]})
    pd.testing.assert_frame_equal(loaded.predict(new, random_seed=1),
                                  fit.predict(new, random_seed=1))


# ----------------------------------------------------------------------------- untrusted files


def edited(saved, tmp_path, **attrs):
    """A copy of the saved fit whose ``lmm_bayes`` group has the attributes ``attrs``
    (None deletes one)."""
    path = tmp_path / "edited.nc"
    shutil.copy(saved, path)
    with h5netcdf.File(path, "a") as file:
        group = file["lmm_bayes"].attrs
        for name, value in attrs.items():
            if value is None:
                del group[name]
            else:
                group[name] = value
    return path


def saved_spec(saved, **changes) -> str:
    with h5netcdf.File(saved, "r") as file:
        return json.dumps({**json.loads(file["lmm_bayes"].attrs["spec"]), **changes})


@pytest.mark.parametrize("attrs, message", [
    ({"format_version": "abc"}, "attribute 'format_version' must be a whole number, found 'abc'"),
    ({"format_version": 3}, "saved in format version 3; this lmm_bayes reads versions 1, 2"),
    ({"format": "other"}, "is not a fit saved by lmm_bayes"),
    ({"spec": None}, "attribute 'spec' must be text, found nothing"),
    ({"spec": 5}, "attribute 'spec' must be text, found int64"),
    ({"spec": "{oops"}, "attribute 'spec' is not valid JSON"),
    ({"spec": "[1]"}, "attribute 'spec' must hold a JSON object, not list"),
    ({"spec": '{"__prior__": "exponential", "lam": 1}'},
     "cannot read attribute 'spec': TypeError: it holds a Prior, not the model's options"),
    ({"fingerprints": None}, "attribute 'fingerprints' must be text, found nothing"),
    ({"fingerprints": "oops"}, "attribute 'fingerprints' is not valid JSON"),
    ({"fingerprints": '{"response": 1}'}, "attribute 'fingerprints' must map names to text"),
    ({"sampler": '{"colour": 1}'}, "cannot read attribute 'sampler': TypeError"),
    ({"sampler": '{"draws": "x"}'}, "cannot read attribute 'sampler': SamplingError"),
])
def test_malformed_attributes_are_named(saved, tmp_path, attrs, message):
    with pytest.raises(lb.LoadError, match=re.escape(message)):
        lb.load(edited(saved, tmp_path, **attrs))


@pytest.mark.parametrize("changes, message", [
    ({"formula": {"__formula__": 5}}, "SpecError: the formula must be text, not int (5)"),
    ({"formula": None}, "SpecError: the formula must be text, not NoneType"),
    ({"factors": 5}, "SpecError: factors must be a column name or a list of them, not 5"),
    ({"colour": 1}, "SpecError: unknown model option(s) ['colour']"),
    ({"priors": {"sigma": {"__prior__": "halfnormal", "sigma": "a"}}},
     "PriorError: parameter sigma='a' of the halfnormal prior must be a number, not str"),
])
def test_malformed_spec_is_named(saved, tmp_path, changes, message):
    path = edited(saved, tmp_path, spec=saved_spec(saved, **changes))
    with pytest.raises(lb.LoadError, match=re.escape(f"cannot read attribute 'spec': {message}")):
        lb.load(path)


@pytest.mark.parametrize("name, value, message", [
    ("column", None, "attribute 'column' of {key!r} must be text, found nothing"),
    ("levels", "[1, 2]", ("data variable {key!r} must hold whole-number codes into its list "
                          "of text levels")),
    ("levels", "{", "attribute 'levels' of {key!r} is not valid JSON"),
])
def test_malformed_data_variable_is_named(coded_model, tmp_path, name, value, message):
    path = hand_made_fit(coded_model).save(tmp_path / "coded.nc")
    with h5netcdf.File(path, "a") as file:
        key, var = next((key, v) for key, v in file["lmm_bayes"].variables.items()
                        if "levels" in v.attrs)  # a text column: codes and levels
        if value is None:
            del var.attrs[name]
        else:
            var.attrs[name] = value
    with pytest.raises(lb.LoadError, match=re.escape(message.format(key=key))):
        lb.load(path)


@pytest.mark.parametrize("change, message", [
    (lambda post: post.drop_vars("b_Subject"), r"it lacks the variables \['b_Subject'\]"),
    (lambda post: post.assign_coords(fixed=["a", "b"]), r"its coords \['fixed'\] differ"),
])
def test_posterior_that_does_not_match_the_model(sleep_model, tmp_path, change, message):
    fit = hand_made_fit(sleep_model)
    fit.idata.posterior = change(fit.idata.posterior)
    with pytest.raises(lb.LoadError, match="the posterior does not match the model: " + message):
        lb.load(fit.save(tmp_path / "posterior.nc"))


def test_summarize_of_a_malformed_file_is_one_line_exit_2(saved, tmp_path, capsys):
    path = edited(saved, tmp_path, fingerprints="oops")
    assert main(["summarize", str(path)]) == 2
    err = capsys.readouterr().err
    assert "attribute 'fingerprints' is not valid JSON" in err and err.count("\n") == 1


def test_stored_formula_is_parsed_as_a_formula(saved, tmp_path):
    """The stored formula goes through the formula parser like a new model's: Python code
    in its place is refused, not run."""
    code = saved_spec(saved, formula={"__formula__": "__import__('os').system('true')"})
    with pytest.raises(lb.LoadError, match="cannot read attribute 'spec': SpecError"):
        lb.load(edited(saved, tmp_path, spec=code))


def test_save_creates_missing_folders(sleep_model, tmp_path):
    path = hand_made_fit(sleep_model).save(tmp_path / "no" / "such" / "dir" / "fit.nc")
    assert path.is_file() and lb.load(path).model.spec.formula.text.startswith("Reaction")


def test_save_where_a_folder_cannot_be_made(sleep_model, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(lb.LoadError, match=r"cannot create the folder '.*file/sub' for the fit"):
        hand_made_fit(sleep_model).save(tmp_path / "file" / "sub" / "fit.nc")


def test_version_1_residual_correlations_become_pairs():
    """A multivariate version-1 posterior: ``rescor`` over outcome × outcome_ (3 outcomes)."""
    pairs = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 5, 3))
    outcomes = ["a", "b", "c"]
    old = xr.Dataset(
        {"rescor": (("chain", "draw", "outcome", "outcome_"), correlation_matrices(pairs, 3)),
         "sigma": (("chain", "draw", "outcome"), np.ones((2, 5, 3)))},
        coords={"outcome": outcomes, "outcome_": outcomes})
    new = paired(old)
    assert new["rescor"].dims == ("chain", "draw", "outcome__pair")
    assert list(new["outcome__pair"].values) == ["a.b", "a.c", "b.c"]
    np.testing.assert_array_equal(new["rescor"].values, pairs)
    assert "outcome_" not in new.coords and list(new["outcome"].values) == outcomes
