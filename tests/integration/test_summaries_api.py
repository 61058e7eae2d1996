"""The summary methods of Fit on short real fits, checked against the draws themselves and
against independent computations (per-subject least squares, lme4's lmList)."""

import numpy as np
import pandas as pd
import pytest
from conftest import quiet_fit
from matplotlib.figure import Figure

import lmm_bayes as lb


def draws(fit, name, **sel) -> np.ndarray:
    return fit.idata.posterior[name].sel(sel).values


def test_variance_components_match_the_summary_and_the_draws(sleep_fit):
    table = sleep_fit.variance_components().set_index(["group", "term"])
    tidy = sleep_fit.summary().set_index(["group", "term"])
    for key in [("Subject", "sd__(Intercept)"), ("Subject", "cor__(Intercept).Days"),
                ("Residual", "sd__Observation")]:
        assert table.loc[key, "estimate"] == pytest.approx(tidy.loc[key, "estimate"])
    sd = draws(sleep_fit, "sd_Subject")
    rho = draws(sleep_fit, "corr_Subject")[..., 0]
    cov = (sd[..., 0] * sd[..., 1] * rho).mean()
    assert table.loc[("Subject", "cov__(Intercept).Days"), "estimate"] == pytest.approx(cov)
    assert table.loc[("Residual", "var__Observation"), "estimate"] == pytest.approx(
        (draws(sleep_fit, "sigma") ** 2).mean())


def test_icc_at_a_day_is_the_draw_by_draw_formula(sleep_fit):
    """(τ0² + 2·3·ρτ0τ1 + 9τ1²) / (that + σ²), averaged over draws."""
    sd, sigma = draws(sleep_fit, "sd_Subject"), draws(sleep_fit, "sigma")
    rho = draws(sleep_fit, "corr_Subject")[..., 0]
    between = sd[..., 0] ** 2 + 6 * rho * sd[..., 0] * sd[..., 1] + 9 * sd[..., 1] ** 2
    table = sleep_fit.icc(at={"Days": 3}, prob=0.9)
    assert table["at"].tolist() == ["Days=3"] and table.group.tolist() == ["Subject"]
    assert table.estimate.iloc[0] == pytest.approx((between / (between + sigma**2)).mean())
    assert 0 < table.conf_low.iloc[0] < table.estimate.iloc[0] < table.conf_high.iloc[0] < 1
    with pytest.raises(lb.DesignError, match="no grouping factor 'Subj'"):
        sleep_fit.icc(group="Subj")


def test_no_pooling_is_each_subjects_own_regression(sleep_fit, sleepstudy):
    """With (Days | Subject) and the same fixed terms the partial residual is y itself, so
    no pooling is each subject's least-squares line (lme4's lmList)."""
    own = {str(s): np.polyfit(g.Days, g.Reaction, 1) for s, g in sleepstudy.groupby("Subject")}
    for term, k in [("(Intercept)", 1), ("Days", 0)]:
        table = sleep_fit.shrinkage("Subject", term)
        assert table.no_pooling.tolist() == pytest.approx([own[s][k] for s in table.index])
        beta = draws(sleep_fit, "beta", fixed=term)
        assert table.complete_pooling.iloc[0] == pytest.approx(beta.mean())
        partial = beta + draws(sleep_fit, "b_Subject", Subject__level="309", Subject__term=term)
        assert table.loc["309", "partial_pooling"] == pytest.approx(partial.mean())
        assert (table.n == 10).all() and (table.reason == "").all()


def test_trajectories_are_the_subject_lines(sleep_fit):
    table = sleep_fit.trajectories("Subject", "Days", levels=[308, "309"], grid=[0, 4.5])
    assert len(table) == 2 * 2 * 2
    beta0, beta1 = (draws(sleep_fit, "beta", fixed=t) for t in ("(Intercept)", "Days"))
    b = draws(sleep_fit, "b_Subject", Subject__level="308")
    row = table[(table.level == "308") & (table.Days == 4.5) & (table.curve == "individual")]
    line = beta0 + b[..., 0] + 4.5 * (beta1 + b[..., 1])
    assert row.estimate.iloc[0] == pytest.approx(line.mean())
    pop = table[(table.level == "309") & (table.curve == "population")]
    assert pop.estimate.tolist() == pytest.approx([beta0.mean(), (beta0 + 4.5 * beta1).mean()])


def test_recenter_at_zero_is_the_variance_components(sleep_fit):
    same = sleep_fit.recenter("Days", 0)
    pd.testing.assert_frame_equal(same, sleep_fit.variance_components())
    moved = sleep_fit.recenter("Days", 9).set_index("term")
    sd, rho = draws(sleep_fit, "sd_Subject"), draws(sleep_fit, "corr_Subject")[..., 0]
    var9 = sd[..., 0] ** 2 + 18 * rho * sd[..., 0] * sd[..., 1] + 81 * sd[..., 1] ** 2
    assert moved.loc["var__(Intercept)", "estimate"] == pytest.approx(var9.mean())


def test_plots_render(sleep_fit, tmp_path):
    figures = {
        "shrinkage": sleep_fit.plot_shrinkage("Subject", "Days"),
        "trajectories": sleep_fit.plot_trajectories("Subject", "Days", levels=["308", "309"]),
        "icc": sleep_fit.plot_icc(at={"Days": 3}),
        "random_effects": sleep_fit.plot_random_effects("Subject"),
        "variance_components": sleep_fit.plot_variance_components(),
    }
    for name, fig in figures.items():
        assert isinstance(fig, Figure)
        fig.savefig(tmp_path / f"{name}.png", dpi=60)
        assert (tmp_path / f"{name}.png").stat().st_size > 5_000
    panels = [ax for ax in figures["trajectories"].axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["Subject 308", "Subject 309"]
    assert len(panels[0].lines) == 3  # individual mean, population, observed points
    assert panels[0].lines[2].get_xydata().shape == (10, 2)  # the subject's ten days


@pytest.fixture(scope="module")
def unbalanced_fit(sleepstudy):
    """Random intercepts on sleepstudy with nine subjects cut to their first two days."""
    short = sleepstudy.Subject.isin(sorted(sleepstudy.Subject.unique())[::2])
    data = sleepstudy[~short | (sleepstudy.Days < 2)]
    return quiet_fit(lb.LMM("Reaction ~ Days + (1 | Subject)", data), draws=300, tune=300,
                     chains=2, random_seed=4)


def test_levels_with_fewer_observations_shrink_more(unbalanced_fit):
    """With known variances a random intercept shrinks by B = σ²/(nτ² + σ²) (Gelman & Hill
    2007, §12.2): with this fit's τ ≈ 37, σ ≈ 31 about 0.27 for two rows and 0.07 for ten.
    The median shrinkage of each kind of subject is near its B (the median, because the
    fraction is erratic for a subject whose own estimate is close to the population's)."""
    table = unbalanced_fit.shrinkage("Subject")
    assert sorted(table.n.unique()) == [2, 10]
    sd = unbalanced_fit.summary().set_index("term").estimate
    tau2, sigma2 = sd["sd__(Intercept)"] ** 2, sd["sd__Observation"] ** 2
    two, ten = (table[table.n == n].shrinkage.median() for n in (2, 10))
    assert two > 2 * ten
    assert two == pytest.approx(sigma2 / (2 * tau2 + sigma2), abs=0.08)
    assert ten == pytest.approx(sigma2 / (10 * tau2 + sigma2), abs=0.04)
