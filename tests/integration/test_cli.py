"""The lmm-bayes command line, end to end with short sampling."""

import pandas as pd
import pytest
from conftest import REPO

from lmm_bayes.cli import main

SHORT = ["--draws", "100", "--tune", "100", "--chains", "2", "--seed", "1"]


@pytest.mark.parametrize("spec", sorted(p.name for p in (REPO / "models").glob("*.toml")))
def test_every_model_spec_runs(spec, tmp_path, capsys):
    assert main(["fit", str(REPO / "models" / spec), "--out", str(tmp_path)] + SHORT) == 0
    out = capsys.readouterr().out
    assert "sd__Observation" in out and "wrote report" in out
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary.term.iloc[-1] == "sd__Observation"
    assert (tmp_path / "posterior.nc").stat().st_size > 0
    assert "<table" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["fit", "no/such.toml"], "spec file 'no/such.toml' does not exist"),
    (["fit", str(REPO / "models" / "sleepstudy.toml"), "--data", "missing.csv"], "missing.csv"),
])
def test_user_mistakes_exit_2_with_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_data_without_the_formula_columns(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(csv, index=False)
    assert main(["fit", str(REPO / "models" / "sleepstudy.toml"), "--data", str(csv)]) == 2
    assert "column 'Reaction' not found in the data" in capsys.readouterr().err
