import inspect
import re

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

import lmm_bayes as lb
from lmm_bayes.models import model_from_spec
from lmm_bayes.sampling import SamplerConfig
from lmm_bayes.spec import MODEL_OPTIONS, MULTIVARIATE_OPTIONS, ModelSpec, MultivariateSpec
from lmm_bayes.specfile import read_spec


def write(tmp_path, text):
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


def test_every_shipped_spec_reads(tmp_path):
    specs = sorted((REPO / "models").glob("*.toml"))
    assert specs
    for path in specs:
        spec_file = read_spec(path)
        model_from_spec(spec_file.spec, spec_file.data, spec_file.event_data)


def test_eeg_spec_passes_its_sigma_formula():
    spec_file = read_spec(REPO / "models" / "eeg.toml")
    assert spec_file.spec.sigma.text == "~ condition" and spec_file.spec.residual is None
    model = lb.LMM.from_spec(spec_file.spec, spec_file.data)
    assert (model.likelihood, model.engine().engine) == ("marginal", "blocked")  # per condition
    assert [(g.name, g.n_levels, g.terms) for g in model.design.groups] == [
        ("subject", 24, ("(Intercept)", "conditionincongruent")),
        ("stimulus", 80, ("(Intercept)",))]


def test_spec_with_csv_priors_and_sampler(tmp_path):
    pd.DataFrame({"y": [1.0, 2, 4, 3, 5, 7], "g": list("aabbcc")}).to_csv(tmp_path / "d.csv")
    path = write(tmp_path, """
[model]
formula = "y ~ 1 + (1 | g)"
[data]
path = "d.csv"
[priors]
sigma = { dist = "halfnormal", sigma = 2 }
[sampler]
draws = 50
""")
    spec_file = read_spec(path)
    assert spec_file.spec.priors["sigma"] == lb.Prior("halfnormal", sigma=2)
    assert spec_file.sampler == {"draws": 50}
    assert len(spec_file.data) == 6


@pytest.mark.parametrize("text, message", [
    ("[model]\nformula = 'y ~ x'\n[data]\n", "exactly one of 'dataset'"),
    ("[model]\n[data]\ndataset='sleepstudy'\n", "needs a formula"),
    ("[model]\nformula='y ~ x'\nfamliy='x'\n", r"unknown key\(s\) \['famliy'\]"),
    ("[model]\nformula='y ~ x'\n[data]\npath='nope.csv'\n", "does not exist"),
    ("[model]\nformula='y ~ (x'\n[data]\ndataset='sleepstudy'\n", "position"),
    ("[model]\nformula='y ~ x'\n[data]\ndataset='nosuch'\n", "no shipped data set 'nosuch'"),
    ("[model\n", "not valid TOML"),
    ("[model]\nformula='y ~ x'\nfamily='zip'\n[data]\ndataset='sleepstudy'\n",
     "unknown family 'zip'"),
    ("[model]\nformula='y ~ x'\nfamily='bernoulli'\nlink='log'\n[data]\ndataset='sleepstudy'\n",
     r"the bernoulli family takes the link\(s\) \['logit', 'probit', 'cloglog'\], not 'log'"),
    ("[model]\nformula='y ~ x'\n[priors]\nsigma={sigma=1}\n[data]\ndataset='sleepstudy'\n",
     "needs a 'dist'"),
    # every key of the wrong type
    ("model = 5\n", r"'model' must be a table \(\[model\]\), not 5"),
    ("data = 'x'\n[model]\nformula='y ~ x'\n", r"'data' must be a table"),
    ("priors = 5\n[model]\nformula='y ~ x'\n", r"'priors' must be a table"),
    ("sampler = []\n[model]\nformula='y ~ x'\n", r"'sampler' must be a table"),
    ("[model]\nformula=5\n", r"the formula must be text, not int \(5\)"),
    ("[model]\nformula='y ~ x'\nfactors=5\n", "factors must be a column name or a list"),
    ("[model]\nformula='y ~ x'\nfactors=[1]\n", r"factors must be column names \(text\)"),
    ("[model]\nformula='y ~ x'\nreference='x'\n", "reference must map column names"),
    ("[model]\nformula='y ~ x'\nreference={x=[1]}\n", "reference must map column names"),
    ("[model]\nformula='y ~ x'\nfamily=5\n", "family must be text, not 5"),
    ("[model]\nformula='y ~ x'\nfamily=['gaussian']\n", r"family must be text, not \['gaussian'\]"),
    ("[model]\nformula='y ~ x'\nlink=5\n", "takes the link"),
    ("[model]\nformula='y ~ x'\nna_action=5\n", r"na_action must be one of \['raise', 'drop'\]"),
    ("[model]\nformula='y ~ x'\nparametrization=true\n", "parametrization must be one of"),
    ("[model]\nformula='y ~ x'\nlikelihood=[]\n", "likelihood must be one of"),
    ("[model]\nformula='y ~ x'\nresidual=5\n", "residual=5: expected"),
    ("[model]\nformula='y ~ x'\nsigma=5\n", "sigma=5: expected a one-sided formula"),
    ("[model]\nformula='y ~ x'\npriors={}\n", r"unknown key\(s\) \['priors'\]"),
    ("[model]\nformula='y ~ x'\n[data]\ndataset=5\n", r"\[data\] dataset must be text, not 5"),
    ("[model]\nformula='y ~ x'\n[data]\npath=5\n", r"\[data\] path must be text, not 5"),
    ("[model]\nformula='y ~ x'\n[data]\nfile='d.csv'\n", r"unknown key\(s\) \['file'\]"),
    ("[model]\nformula='y ~ x'\n[sampler]\ndraws='a'\n", "draws must be a whole number, not 'a'"),
    ("[model]\nformula='y ~ x'\n[sampler]\nchains=true\n", "chains must be a whole number"),
    ("[model]\nformula='y ~ x'\n[sampler]\ntarget_accept='x'\n", "target_accept must be a num"),
    ("[model]\nformula='y ~ x'\n[sampler]\nsampler=1\n", r"\[sampler\] sampler must be text"),
])
def test_bad_specs_raise_spec_error(tmp_path, text, message):
    with pytest.raises(lb.SpecError, match=message):
        read_spec(write(tmp_path, text))


@pytest.mark.parametrize("prior, message", [
    ("{dist='normal', mu='a', sigma=1}", (r"prior 'b': parameter mu='a' of the normal prior must "
                                          "be a number, not str")),
    ("{dist=5, sigma=1}", r"prior 'b': unknown prior family 5"),
])
def test_bad_prior_in_a_spec_names_the_prior(tmp_path, prior, message):
    with pytest.raises(lb.PriorError, match=message):
        read_spec(write(tmp_path, f"[model]\nformula='y ~ x'\n[priors]\nb = {prior}\n"))


@pytest.fixture
def spec_folder(tmp_path):
    """A spec folder ``specs/`` with data in ``specs/data/``, data outside it in ``other/``,
    and links from inside the folder to both."""
    folder, other = tmp_path / "specs", tmp_path / "other"
    (folder / "data").mkdir(parents=True)
    other.mkdir()
    frame = pd.DataFrame({"y": [1.0, 2, 4, 3, 5, 7], "g": list("aabbcc")})
    frame.to_csv(folder / "data" / "d.csv", index=False)
    frame.to_csv(other / "secret.csv", index=False)
    (folder / "inside.csv").symlink_to(folder / "data" / "d.csv")
    (folder / "outside.csv").symlink_to(other / "secret.csv")
    return folder


def spec_reading(folder, name):
    return write(folder, f"[model]\nformula='y ~ 1 + (1 | g)'\n[data]\npath = {name!r}\n")


@pytest.mark.parametrize("name", ["data/d.csv", "./data/../data/d.csv", "inside.csv"])
def test_data_path_inside_the_spec_folder_is_read(spec_folder, name):
    assert len(read_spec(spec_reading(spec_folder, name)).data) == 6


@pytest.mark.parametrize("name", ["../other/secret.csv", "outside.csv", "/etc/hostname",
                                  "data/../../other/secret.csv", "{folder}/data/d.csv"])
def test_data_path_may_not_leave_the_spec_folder(spec_folder, name):
    name = name.format(folder=spec_folder)
    with pytest.raises(lb.SpecError, match=rf"\[data\] path {re.escape(repr(name))} leaves the "
                       "spec file's folder; it must be a relative path to a file in"):
        read_spec(spec_reading(spec_folder, name))


def test_data_given_replaces_the_spec_path_unread(spec_folder):
    given = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": list("aabb")})
    spec_file = read_spec(spec_reading(spec_folder, "/etc/passwd"), data=given)
    assert spec_file.data is given


@pytest.mark.parametrize("kwargs, message", [
    ({"draws": 0}, "draws must be a positive whole number"),
    ({"draws": 10**17}, "draws must be a positive whole number of at most 10_000_000"),
    ({"tune": -1}, "tune must be a non-negative whole number"),
    ({"chains": 1.5}, "chains must be a positive whole number"),
    ({"chains": True}, "chains must be a positive whole number"),
    ({"cores": 0}, "cores must be a positive whole number, got 0"),
    ({"random_seed": "abc"}, (r"random_seed must be a non-negative whole number of at most "
                             r"2\*\*64 - 1, got 'abc'")),
    ({"random_seed": -1}, "random_seed must be a non-negative whole number"),
    ({"random_seed": 2**64}, "random_seed must be a non-negative whole number"),
    ({"sampler": "stan"}, "unknown sampler 'stan'"),
    ({"target_accept": 1.0}, r"target_accept must lie in \(0, 1\)"),
    ({"target_accept": "0.9"}, r"target_accept must lie in \(0, 1\), got '0.9'"),
])
def test_bad_sampler_settings(kwargs, message):
    with pytest.raises(lb.SamplingError, match=message):
        SamplerConfig(**kwargs)


def test_sampler_settings_at_their_limits_are_accepted():
    SamplerConfig(draws=10**7, tune=0, chains=1, cores=1, random_seed=0)
    SamplerConfig(tune=10**7, random_seed=2**64 - 1)


def test_spec_file_sampler_settings_are_checked_on_reading(tmp_path):
    """cores = 0 used to hang the sampler; `lmm-bayes check` now reports it."""
    path = write(tmp_path, "[model]\nformula='y ~ x'\n[data]\ndataset='sleepstudy'\n"
                           "[sampler]\nsampler='auto'\ncores=0\n")
    with pytest.raises(lb.SpecError, match=r"m.toml: \[sampler\] cores must be a positive "):
        read_spec(path)
    with pytest.raises(lb.SpecError, match=r"\[sampler\] unknown sampler 'stan'"):
        read_spec(write(tmp_path, "[model]\nformula='y ~ x'\n[sampler]\nsampler='stan'\n"))


@pytest.mark.parametrize("kwargs", [{"cores": 0}, {"draws": 10**17}, {"random_seed": -1}])
def test_fit_checks_sampler_settings_before_compiling(sleepstudy, kwargs):
    with pytest.raises(lb.SamplingError, match=next(iter(kwargs))):
        lb.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, **kwargs)


def test_fit_many_checks_sampler_settings_before_starting(sleepstudy):
    with pytest.raises(lb.SamplingError, match="random_seed must be a non-negative"):
        lb.fit_many("Reaction ~ Days + (1 | Subject)", sleepstudy, by="Subject",
                    random_seed="abc")


def test_spec_with_a_binomial_family_and_link(tmp_path):
    pd.DataFrame({"k": [1, 2, 0, 3, 4, 2], "n": [4, 4, 3, 5, 6, 4],
                  "g": list("aabbcc")}).to_csv(tmp_path / "d.csv")
    path = write(tmp_path, """
[model]
formula = "cbind(k, n - k) ~ 1 + (1 | g)"
family = "binomial"
link = "probit"
[data]
path = "d.csv"
[priors]
sd = { dist = "halfnormal", sigma = 0.5 }
""")
    spec_file = read_spec(path)
    assert (spec_file.spec.family, spec_file.spec.link) == ("binomial", "probit")
    model = lb.LMM.from_spec(spec_file.spec, spec_file.data)
    assert list(model.design.trials) == [4, 4, 3, 5, 6, 4]
    assert model.priors.sigma is None


# ----------------------------------------------------------------------------- options, multivariate


def keywords(function) -> tuple[str, ...]:
    return tuple(name for name, p in inspect.signature(function).parameters.items()
                 if p.kind is p.KEYWORD_ONLY)


def test_model_classes_take_exactly_the_spec_options():
    """MODEL_OPTIONS is the one list: LMM's keywords, a spec's [model] keys (and lb.fit's
    and fit_many's pass-through, which are checked against it); LMM's ``client`` says where
    a distributed data set's passes run, which is not part of the model."""
    assert keywords(lb.LMM) == (*MODEL_OPTIONS, "client")
    assert keywords(lb.MultivariateLMM) == MULTIVARIATE_OPTIONS


def test_residual_options_are_parsed_once_and_keep_their_text():
    spec = ModelSpec.from_formula("y ~ x", residual="ar1( visit|subject )", sigma="~ arm * x")
    assert (spec.residual.structure.name, spec.residual.time, spec.residual.group) == (
        "ar1", "visit", ("subject",))
    assert spec.residual.text == "ar1( visit|subject )" and spec.sigma.text == "~ arm * x"
    assert spec.residual_columns == ("visit", "subject", "arm", "x")
    assert ModelSpec.from_formula("y ~ x", residual=spec.residual, sigma=spec.sigma) == spec


MULTIVARIATE = """
[model]
formulas = ["y1 ~ time + (1 + time |p| id)", "y2 ~ time + (1 |p| id)"]
rescor = false
factors = "site"
parametrization = "non-centered"
[data]
path = "d.csv"
[priors]
eta_id = 3
[priors.y1]
time = { dist = "normal", mu = 0, sigma = 2 }
[sampler]
draws = 20
"""


def test_multivariate_spec_file_reads_into_a_multivariate_spec(tmp_path):
    rng = np.random.default_rng(0)
    pd.DataFrame({"id": np.repeat(list("abcdef"), 4), "time": np.tile(np.arange(4.0), 6),
                  "site": np.repeat([1, 2], 12), "y1": rng.normal(size=24),
                  "y2": rng.normal(size=24)}).to_csv(tmp_path / "d.csv", index=False)
    spec_file = read_spec(write(tmp_path, MULTIVARIATE))
    expected = MultivariateSpec.from_formulas(
        ["y1 ~ time + (1 + time |p| id)", "y2 ~ time + (1 |p| id)"], rescor=False,
        factors=["site"], parametrization="non-centered",
        priors={"eta_id": 3, "y1": {"time": lb.Prior("normal", mu=0, sigma=2)}})
    assert spec_file.spec == expected and spec_file.sampler == {"draws": 20}
    model = model_from_spec(spec_file.spec, spec_file.data)
    assert isinstance(model, lb.MultivariateLMM) and model.design.responses == ("y1", "y2")
    priors = model.priors.table(model.design.responses).set_index("parameter")["prior"]
    assert priors["y1:time"] == "normal(mu=0, sigma=2)" and priors["corr_id"] == "lkj(eta=3)"
    assert "rescor" not in priors.index


@pytest.mark.parametrize("model, message", [
    ("formulas = ['y1 ~ 1', 'y2 ~ 1']\nfamily = 'poisson'", r"unknown key\(s\) \['family'\]"),
    ("formulas = ['y1 ~ 1']", "two or more formulas"),
    ("formulas = 'y1 ~ 1'", "two or more formulas"),
    ("formulas = ['y1 ~ 1', 5]", r"the formula must be text, not int \(5\)"),
    ("formulas = ['y1 ~ 1', 'y2 ~ 1']\nrescor = 'yes'", "rescor must be true or false"),
    ("formulas = ['y1 ~ 1', 'y2 ~ 1']\nparametrization = 'auto'",
     r"parametrization must be one of \['centered', 'non-centered'\]"),
    ("formulas = ['y1 ~ 1', 'y2 ~ 1']\n[sampler]\nengine = 'graph'",
     r"unknown key\(s\) \['engine'\]"),
])
def test_bad_multivariate_specs_raise_spec_error(tmp_path, model, message):
    with pytest.raises(lb.SpecError, match=message):
        read_spec(write(tmp_path, f"[model]\n{model}\n"))
