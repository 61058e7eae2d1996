"""gr(g, by = arm): a separate random-effect covariance per arm (parsing and design)."""

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb
from lmm_bayes.design import evaluate_covariates


def trial(n_per_arm=4, visits=3) -> pd.DataFrame:
    subjects = np.repeat(np.arange(2 * n_per_arm), visits)
    return pd.DataFrame({
        "subject": [f"s{k}" for k in subjects],
        "time": np.tile(np.arange(visits, dtype=float), 2 * n_per_arm),
        "arm": np.where(subjects < n_per_arm, "A", "B"),
        "y": np.random.default_rng(0).normal(size=len(subjects)),
    })


def test_parse_gr_with_and_without_by():
    term = lb.parse_formula("y ~ time + (1 + time | gr(subject, by = arm))").random[0]
    assert (term.group, term.group_columns, term.by) == ("subject", ("subject",), "arm")
    assert lb.parse_formula("y ~ (1 | gr(subject))").random[0].by is None
    assert "arm" in lb.parse_formula("y ~ (1 | gr(subject, by = arm))").variables
    with pytest.raises(lb.SpecError, match=r"expected gr\(g\) or gr\(g, by = column\)"):
        lb.parse_formula("y ~ (1 | gr(subject, arm))")


def test_one_factor_per_arm_with_its_own_rows_only():
    data = trial()
    design = lb.LMM("y ~ time + (1 + time | gr(subject, by = arm))", data).design
    assert [g.name for g in design.groups] == ["subject:armA", "subject:armB"]
    a, b = design.groups
    assert a.levels == ("s0", "s1", "s2", "s3") and b.levels == ("s4", "s5", "s6", "s7")
    np.testing.assert_array_equal(a.member, data.arm == "A")
    # rows of arm B carry no arm-A effect; within arm B, s5's rows have level index 1
    np.testing.assert_array_equal(a.Z[data.arm == "B"], 0.0)
    np.testing.assert_array_equal(b.index[data.subject == "s5"], 1)
    np.testing.assert_array_equal(b.Z[data.arm == "B", 1], data.time[data.arm == "B"])
    _, Z = evaluate_covariates(design, data.iloc[[0, 20]])
    np.testing.assert_array_equal(Z["subject:armA"], [[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(Z["subject:armB"], [[0.0, 0.0], [1.0, 2.0]])


def test_a_level_in_two_arms_and_a_thin_arm_are_errors():
    data = trial()
    data.loc[0, "arm"] = "B"
    with pytest.raises(lb.DesignError, match="level 's0' of 'subject' has rows in more than one"):
        lb.LMM("y ~ time + (1 | gr(subject, by = arm))", data)
    thin = trial(n_per_arm=2)
    thin.loc[thin.subject == "s1", "time"] = 0.0  # arm A: one subject with varying times
    with pytest.raises(lb.DesignError, match="by 'subject:armA': only 1 of 2 levels"):
        lb.LMM("y ~ time + (1 + time | gr(subject, by = arm))", thin)
