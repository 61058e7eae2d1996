"""The lmm-bayes command line end to end with short sampling: every model spec, the saved fit,
`summarize`, `check`, the HTML report rendered in headless Chromium, and user mistakes."""

import contextlib
import io
import re
import subprocess
import tomllib

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from test_multivariate_io import hand_made_fit

import lmm_bayes as lb
from lmm_bayes.cli import main
from lmm_bayes.simulate import EEG_TRUTH, HBA1C_TRUTH, TRIAL_TRUTH, simulate_symptoms_il6

SHORT = ["--draws", "150", "--tune", "150", "--chains", "2", "--seed", "1"]
# specs of models with one outcome (a multivariate spec has `formulas`: tested below; a joint
# model's spec has [joint]: tests/integration/test_jm_fit.py)
# the MMRM compiles its PyMC model for 40 s: in the slow tier here, its API in test_mmrm_fit.py
SPECS = [pytest.param(name, marks=pytest.mark.slow) if name == "fev_mmrm.toml" else name
         for name in sorted(p.name for p in (REPO / "models").glob("*.toml")
                            if "formula" in tomllib.loads(p.read_text())["model"]
                            and "joint" not in tomllib.loads(p.read_text()))]
SYMPTOMS = REPO / "models" / "symptoms_il6.toml"
HBA1C = {(("" if t[:4] not in ("sd__", "cor_") else "patient") if t != "sd__Observation"
          else "Residual", t): v for t, v in HBA1C_TRUTH.items()}
# specs on simulated data (eeg: residual SDs by condition, from the variance components)
TRUTH = {"multicentre_trial.toml": TRIAL_TRUTH, "hba1c.toml": HBA1C, "eeg.toml": EEG_TRUTH}
# report sections every model has, and the plots it embeds (+ trajectories with a slope)
SECTIONS = ["Model", "Priors", "Sampling", "Fixed effects", "Variance components",
            "Intraclass correlation", "Shrinkage", "Posterior predictive check", "Diagnostics"]
# what the report shows of the models with a random slope on a time-like covariate
SLOPE_REPORTS = {
    "sleepstudy.toml": ["<h2>Conditional effects of Days</h2>", "<h3>Days by Subject</h3>",
                        "12 of 18 levels shown: the largest and smallest estimated Days, then"],
    "multicentre_trial.toml": [
        "<h2>Conditional effects of week by arm</h2>", "<h3>week by patient</h3>",
        ("30 of 192 levels shown: in each arm (placebo, active) the largest and smallest "
        "estimated (Intercept), the most and fewest rows"),
        ("12 of 192 levels shown: in each arm (placebo, active) the largest and smallest "
        "estimated week")],
}


def run(args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module", params=SPECS)
def fitted(request, tmp_path_factory):
    """Each spec fitted once by the CLI: (spec name, output folder, printed text)."""
    out = tmp_path_factory.mktemp(request.param.removesuffix(".toml"))
    code, printed, _ = run(["fit", str(REPO / "models" / request.param), "--out", str(out)]
                           + SHORT)
    assert code == 0
    return request.param, out, printed


def test_fit_prints_tables_and_writes_outputs(fitted):
    spec, out, printed = fitted
    for title in ("Fixed effects", "Variance components", "Intraclass correlation"):
        assert f"\n{title}\n" in printed
    assert "wrote report" in printed
    summary = pd.read_csv(out / "summary.csv")
    family = tomllib.loads((REPO / "models" / spec).read_text())["model"].get("family")
    if family not in (None, "gaussian"):   # no residual SD: the last row is a factor's SD
        assert "sd__Observation" not in printed
        assert summary.term.iloc[-1] == "sd__(Intercept)"
        assert summary.group.iloc[-1] != "Residual"
    elif spec == "fev_mmrm.toml":  # us(): one log σ per visit and the visits' correlations
        assert summary.loc[summary.effect == "sigma", "term"].tolist() == [
            f"C(AVISIT)VIS{k}" for k in range(1, 5)]
        assert summary.term.iloc[-1] == "cor__VIS3.VIS4"
    elif spec == "eeg.toml":  # sigma = "~ condition": log-σ coefficients, no single residual SD
        assert summary.loc[summary.effect == "sigma", "term"].tolist() == [
            "(Intercept)", "conditionincongruent"]
        note = "not defined for this model: icc needs one residual SD"
        assert f"Intraclass correlation\n{note}" in printed
        assert note in (out / "report.html").read_text()
    else:
        assert "sd__Observation" in printed
        assert summary.term.iloc[-1] == "sd__Observation"
    assert lb.load(out / "fit.nc").summary()["estimate"].tolist() == pytest.approx(
        summary["estimate"].tolist(), rel=1e-12)


def test_simulated_truth_inside_the_intervals(fitted):
    spec, out, _ = fitted
    if spec not in TRUTH:
        pytest.skip("real data: agreement with lme4 is tested in tests/validation")
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    by_level = lb.load(out / "fit.nc").variance_components()  # sd__Observation[condition=...]
    summary = pd.concat([summary[summary.effect != "sigma"],
                         by_level[by_level.term.str.contains("[", regex=False)]])
    summary = summary.set_index(["group", "term"])
    truth = {k: v for k, v in TRUTH[spec].items() if k in summary.index}
    assert len(truth) >= 7  # the fixed effects, the SDs and sigma
    rows = summary.loc[list(truth)]
    inside = (rows.conf_low < list(truth.values())) & (list(truth.values()) < rows.conf_high)
    assert inside.all(), rows[~inside]


def test_summarize_prints_the_saved_tables(fitted):
    _, out, printed = fitted
    code, again, _ = run(["summarize", str(out)])
    assert code == 0
    tables = printed[printed.index("\nFixed effects"):printed.index("\nwrote summary")]
    assert tables.strip() in again


def test_report_renders_with_its_images(fitted, chromium, tmp_path):
    """Chromium loads the report; every embedded PNG decodes (naturalWidth > 0) and the
    screenshot is a page of text and plots, not blank."""
    _, out, _ = fitted
    page = (out / "report.html").read_text()
    assert not re.search(r'(src|href)="(?!data:)', page)  # self-contained: nothing fetched
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", "<script>window.addEventListener('load', () => "
                     "document.body.dataset.images = Array.from(document.images, "
                     "i => i.complete ? i.naturalWidth : 0).join(','));</script></body>"))
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--virtual-time-budget=5000"]
    dom = subprocess.run(flags + ["--dump-dom", probe.as_uri()], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    widths = [int(w) for w in re.search(r'data-images="([\d,]*)"', dom).group(1).split(",")]
    expected = page.count("<img ")
    assert len(widths) == expected >= 4 and min(widths) > 0  # 4 plots, 5 with a slope
    shot = tmp_path / "shot.png"
    subprocess.run(flags + ["--window-size=1000,1400", f"--screenshot={shot}", probe.as_uri()],
                   check=True, capture_output=True, timeout=120)
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (1400, 1000)
    assert 0.01 < np.mean(pixels[..., :3].mean(axis=-1) < 0.9) < 0.6  # ink, but not all ink


def test_trajectories_section_only_with_a_random_slope(fitted):
    spec, out, _ = fitted
    page = (out / "report.html").read_text()
    has_slope = spec in ("sleepstudy.toml", "multicentre_trial.toml", "hba1c.toml")
    assert ("<h2>Trajectories over" in page) == has_slope


def test_report_diagnostics_footer_and_slope_sections(fitted):
    """Every report has rank plots, a LOO table and a footer with the version and the
    sampling time; the slope models show conditional effects, slope shrinkage and which
    levels were chosen (both arms of the trial)."""
    spec, out, _ = fitted
    page = (out / "report.html").read_text()
    assert page.count('<img alt="rank plots"') == 1
    assert "<th>elpd_loo</th>" in page or "LOO not available for this model: " in page
    assert re.search(rf"<footer>lmm_bayes {lb.__version__} · report built \d{{4}}-\d\d-\d\d "
                     r"\d\d:\d\d UTC in \d+\.\d s · sampling \d+\.\d s \(", page)
    for text in SLOPE_REPORTS.get(spec, []):
        assert text in page


def test_check_builds_without_sampling():
    code, printed, _ = run(["check", str(REPO / "models" / "sleepstudy.toml")])
    assert code == 0
    assert printed.strip() == (f"OK: {REPO / 'models' / 'sleepstudy.toml'}: 180 observations, "
                               "2 fixed effects, grouping factors Subject (18 levels × 2 "
                               "effects); marginal likelihood; engine marginal: one grouping "
                               "factor (Subject, 2 varying terms), effects integrated out; not "
                               "collapsed: 1 grouping factor, not several")


def test_check_a_multivariate_spec():
    code, printed, _ = run(["check", str(SYMPTOMS)])
    assert code == 0
    assert printed.strip() == (f"OK: {SYMPTOMS}: id (120 levels × 4 effects); MultivariateLMM("
                               "depression (n=707), il6 (n=721), rescor=True)")


@pytest.mark.parametrize("sampled", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["hand-made draws", "sampled"])
def test_fit_a_multivariate_spec(tmp_path, monkeypatch, sampled):
    """The spec's model on 30 of its 120 patients: the tables printed, summary.csv and the
    saved fit written, no report; `summarize` prints the same tables. The default tier
    replaces the sampler by hand-made draws: sampling this model takes minutes even this
    short (test_multivariate_fit.py samples it once for the default tier)."""
    if not sampled:
        monkeypatch.setattr(lb.MultivariateLMM, "fit", lambda self, **_: hand_made_fit(self))
    data = simulate_symptoms_il6()
    data[data.id.isin(data.id.unique()[:30])].to_csv(tmp_path / "few.csv", index=False)
    out = tmp_path / "out"
    code, printed, _ = run(["fit", str(SYMPTOMS), "--data", str(tmp_path / "few.csv"),
                            "--out", str(out)] + SHORT)
    assert code == 0
    assert "no report: the HTML report is for models with one outcome" in printed
    assert sorted(p.name for p in out.iterdir()) == ["fit.nc", "summary.csv"]
    summary = pd.read_csv(out / "summary.csv")
    assert summary.term.iloc[-1] == "rescor__depression.il6"
    loaded = lb.load(out / "fit.nc")
    assert isinstance(loaded, lb.MultivariateFit)
    assert loaded.summary()["estimate"].tolist() == pytest.approx(summary["estimate"].tolist(),
                                                                  rel=1e-12)
    code, again, _ = run(["summarize", str(out)])
    tables = printed[printed.index("\nFixed effects"):printed.index("\nwrote summary")]
    assert code == 0 and tables.strip() in again


def test_progress_flag_reaches_the_sampler(monkeypatch):
    seen = {}

    def record(self, **kwargs):
        seen.update(kwargs)
        raise lb.SamplingError("stopped before sampling")

    monkeypatch.setattr(lb.LMM, "fit", record)
    code, _, err = run(["fit", str(REPO / "models" / "dyestuff.toml"), "--progress"] + SHORT)
    assert code == 2 and "stopped before sampling" in err
    assert seen["progressbar"] is True and seen["draws"] == 150 and seen["random_seed"] == 1


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "bad.toml").write_text('[model]\nformula = "y ~ x + (1 | g)"\ncolour = 1\n')
    (tmp_path / "broken.csv").write_text('a,b\n1,2\n"3,4\n5,6,7,8\n')
    (tmp_path / "wrong.csv").write_text("a\n1\n2\n")
    (tmp_path / "cores.toml").write_text('[model]\nformula = "Reaction ~ Days + (1 | Subject)"'
                                         '\n[data]\ndataset = "sleepstudy"\n'
                                         '[sampler]\ncores = 0\n')
    for name, model in (("factors", "factors = 5"), ("reference", 'reference = "x"')):
        (tmp_path / f"{name}.toml").write_text(f'[model]\nformula = "y ~ x"\n{model}\n')
    (tmp_path / "model.toml").write_text("model = 5\n")
    (tmp_path / "escape.toml").write_text(
        '[model]\nformula = "y ~ x"\n[data]\npath = "../../../etc/hostname"\n')
    return tmp_path


SLEEP = str(REPO / "models" / "sleepstudy.toml")


@pytest.mark.parametrize("args, message", [
    (["fit", "no/such.toml"], "spec file 'no/such.toml' does not exist"),
    (["check", "{tmp}/bad.toml"], "unknown key(s) ['colour']"),
    (["fit", SLEEP, "--data", "missing.csv"], "missing.csv"),
    (["check", SLEEP, "--data", "{tmp}/wrong.csv"], "column 'Reaction' not found in the data"),
    (["check", SLEEP, "--data", "{tmp}/broken.csv"], "cannot read the data file"),
    (["summarize", "{tmp}"], "no fit.nc in"),
    (["summarize", "{tmp}/none.nc"], "no saved fit at"),
    (["summarize", "{tmp}/wrong.csv"], "is not a readable netCDF file"),
    (["check", "{tmp}/cores.toml"], "[sampler] cores must be a positive whole number, got 0"),
    (["fit", SLEEP, "--seed", "-1"], "random_seed must be a non-negative whole number"),
    (["fit", SLEEP, "--draws", str(10**17)], "draws must be a positive whole number of at most"),
    (["check", "{tmp}/factors.toml"], "factors must be a column name or a list of them, not 5"),
    (["check", "{tmp}/reference.toml"], "reference must map column names to their reference"),
    (["check", "{tmp}/model.toml"], "'model' must be a table ([model]), not 5"),
    (["check", "{tmp}/escape.toml"], ("[data] path '../../../etc/hostname' leaves the spec "
                                      "file's folder")),
    (["fit-many", "{tmp}/escape.toml", "--by", "g"], "leaves the spec file's folder"),
    (["fit", str(SYMPTOMS), "--engine", "graph"], "a multivariate model has one engine"),
    (["fit-many", str(SYMPTOMS), "--by", "id"], "fit-many fits models with one formula"),
])
def test_user_mistakes_exit_2_with_one_line(args, message, bad_files):
    code, _, err = run([a.format(tmp=bad_files) for a in args])
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_predict_from_a_saved_fit(fitted, tmp_path):
    spec, out, _ = fitted
    if spec != "sleepstudy.toml":
        pytest.skip("one spec is enough")
    new = pd.DataFrame({"Days": [0, 9], "Subject": [308, 999]})
    new.to_csv(tmp_path / "new.csv", index=False)
    code, printed, _ = run(["predict", str(out), "--data", str(tmp_path / "new.csv"),
                            "--threshold", "400", "--seed", "3",
                            "--out", str(tmp_path / "pred.csv")])
    assert code == 0 and "wrote predictions" in printed
    written = pd.read_csv(tmp_path / "pred.csv")
    fit = lb.load(out / "fit.nc")
    expected = fit.predict(new, random_seed=3)
    np.testing.assert_allclose(written["estimate"], expected["estimate"])
    np.testing.assert_allclose(written["probability"],
                               fit.exceedance(new, 400, random_seed=3)["probability"])
    code, _, err = run(["predict", str(out), "--data", str(tmp_path / "new.csv"),
                        "--groups", "conditional"])
    assert code == 2 and "['999'] of 'Subject' were not in the fitted data" in err


@pytest.fixture
def saved_sleep(sleep_fit, tmp_path):
    """The session's sleepstudy fit saved as `lmm-bayes fit` would (no new sampling)."""
    sleep_fit.save(tmp_path / "fit.nc")
    return tmp_path


@pytest.mark.parametrize("csv, extra, message", [
    ("Days,Subject\n0,308\n9,999\n", ["--threshold", "nan"],
     "threshold must be a finite number, got nan"),
    ('Days,Subject\n0,308\n"9,5",308\n', [],
     "'Days' was numeric in the fitted data but is text in the new data (row 1: '9,5')"),
])
def test_predict_refuses_bad_input_with_exit_2(saved_sleep, csv, extra, message):
    """A NaN threshold gave probability 0; one "9,5" cell made Days text and every row was
    predicted as a dummy: both exited 0."""
    (saved_sleep / "new.csv").write_text(csv)
    code, _, err = run(["predict", str(saved_sleep), "--data", str(saved_sleep / "new.csv")]
                       + extra)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_predict_prints_rounded_numbers_and_writes_full_precision(saved_sleep):
    (saved_sleep / "new.csv").write_text("Days,Subject\n0,308\n9,308\n")
    args = ["predict", str(saved_sleep), "--data", str(saved_sleep / "new.csv"), "--seed", "2"]
    code, printed, _ = run(args)
    assert code == 0
    header, *rows = printed.splitlines()
    assert header.split() == ["Days", "Subject", "estimate", "std_error", "conf_low",
                              "conf_high"]
    estimates = [row.split()[2] for row in rows]
    (decimals,) = {len(e.partition(".")[2]) for e in estimates}  # one number of decimals
    assert decimals <= 3
    code, _, _ = run(args + ["--out", str(saved_sleep / "pred.csv")])
    written = pd.read_csv(saved_sleep / "pred.csv")["estimate"]
    assert [float(e) for e in estimates] == written.round(decimals).tolist()
    assert written.round(decimals + 3).tolist() != written.tolist()  # the CSV keeps every digit


def test_error_messages_spell_settings_as_the_command_line_does(saved_sleep):
    """The API's hints are Python keywords (na_action='drop'); the command line's are spec
    file keys and flags."""
    data = lb.load_dataset("sleepstudy")
    data.loc[4, "Days"] = np.nan
    data.to_csv(saved_sleep / "missing.csv", index=False)
    code, _, err = run(["check", SLEEP, "--data", str(saved_sleep / "missing.csv")])
    assert code == 2
    assert 'remove them or set na_action = "drop" in [model]' in err
    (saved_sleep / "new.csv").write_text("Days,Subject\n0,999\n")
    code, _, err = run(["predict", str(saved_sleep), "--data", str(saved_sleep / "new.csv"),
                        "--groups", "conditional"])
    assert code == 2 and "set --groups new (or --groups population)" in err
