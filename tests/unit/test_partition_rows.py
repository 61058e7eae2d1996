"""Rows by partition (lmm_bayes.distributed.rows): predictions, exceedance, fitted values,
residuals and PPC statistics of a Dask DataFrame equal the in-memory ones, whatever the
partitioning. A fit of hand-made draws (no sampling) and the synchronous scheduler."""

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import lmm_bayes as lb
from lmm_bayes import names
from lmm_bayes.distributed import rows
from lmm_bayes.ppc import ppc_pvalues as in_memory_pvalues
from lmm_bayes.predict import KeyedRandom, _digest, predict_draws
from lmm_bayes.sampling import SamplerConfig

PARTITIONS = (1, 2, 7)
COLUMNS = ["estimate", "std_error", "conf_low", "conf_high"]


@pytest.fixture(autouse=True, scope="module")
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _data(seed=0, subjects=30, visits=6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subject = np.repeat([f"s{k}" for k in range(subjects)], visits)
    days = np.tile(np.arange(visits, dtype=float), subjects)
    arm = np.repeat(rng.choice(["A", "B", "C"], subjects), visits)
    u = np.repeat(rng.normal(0, [2.0, 0.5], (subjects, 2)), visits, axis=0)
    y = 10 + u[:, 0] + (1 + u[:, 1]) * days + (arm == "B") + rng.normal(0, 1, len(days))
    return pd.DataFrame({"subject": subject, "days": days, "arm": arm, "y": y})


def hand_made_fit(model: lb.LMM, seed=1, chains=2, draws=40) -> lb.Fit:
    """A Fit of ``model`` on random draws with the public names (no sampling)."""
    rng = np.random.default_rng(seed)
    design, shape = model.design, (chains, draws)
    post = {names.BETA: (("chain", "draw", names.FIXED),
                         rng.normal(size=shape + (len(design.fixed_names),))),
            names.SIGMA: (("chain", "draw"), rng.gamma(20.0, 0.05, size=shape))}
    coords = {names.FIXED: list(design.fixed_names)}
    for g in design.groups:
        q = len(g.terms)
        coords.update(names.coords(g.name, g.levels, g.terms))
        post[names.sd(g.name)] = (("chain", "draw", names.term_dim(g.name)),
                                  rng.gamma(10.0, 0.1, size=shape + (q,)))
        post[names.correlation(g.name)] = (("chain", "draw", names.pair_dim(g.name)),
                                           rng.uniform(-0.5, 0.5, size=shape + (q * (q - 1) // 2,)))
        post[names.effects(g.name)] = (("chain", "draw", names.level_dim(g.name),
                                        names.term_dim(g.name)),
                                       rng.normal(size=shape + (g.n_levels, q)))
    import arviz as az

    idata = az.InferenceData(posterior=xr.Dataset(post, coords=coords))
    return lb.Fit(model, idata, SamplerConfig(draws=draws, chains=chains))


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def fit(data):
    return hand_made_fit(lb.LMM("y ~ days + arm + (days | subject)", data))


def _new_rows(data) -> pd.DataFrame:
    """Rows of known subjects and of two new ones (n1 split across partitions)."""
    new = data.iloc[::3].copy()
    new.loc[new.index[10:40:2], "subject"] = "n1"
    new.loc[new.index[41:44], "subject"] = "n2"
    new["days"] = new["days"] + 0.5
    return new


def _partitioned(frame, k):
    return dd.from_pandas(frame, npartitions=k, sort=False)


@pytest.mark.parametrize("k", PARTITIONS)
@pytest.mark.parametrize("groups", ["conditional", "population", "marginal"])
def test_mean_predictions_equal_in_memory(fit, data, k, groups):
    new = data.iloc[::2].assign(days=lambda d: d.days + 0.25)
    if groups == "marginal":            # needs no grouping columns, as in memory
        new = new.drop(columns="subject")
    expected = fit.predict(new, groups=groups)
    got = fit.predict(_partitioned(new, k), groups=groups).compute()
    pd.testing.assert_frame_equal(got[new.columns], new, check_dtype=False)
    np.testing.assert_allclose(got[COLUMNS].to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_one_output_partition_per_input_partition(fit, data):
    assert fit.predict(_partitioned(data, 7)).npartitions == 7


def test_new_levels_keyed_by_label(fit, data):
    new, seed = _new_rows(data), 5
    results = [fit.predict(_partitioned(new, k), random_seed=seed).compute() for k in PARTITIONS]
    for other in results[1:]:
        pd.testing.assert_frame_equal(other, results[0])
    # known subjects: the in-memory values; new ones: x'β + z'L ε, ε from the level's own
    # generator, seeded by (seed, 1, factor, label)
    expected = fit.predict(new, random_seed=seed)
    known = ~new.subject.isin(["n1", "n2"])
    np.testing.assert_allclose(results[0].loc[known, "estimate"], expected.loc[known, "estimate"],
                               rtol=1e-12)
    post = fit.idata.posterior
    beta = post[names.BETA].values.reshape(80, -1)
    from lmm_bayes.posterior import PosteriorDraws

    chol = PosteriorDraws(post).cholesky("subject")
    eps = np.random.default_rng([seed, 1, _digest("subject"), _digest("n1")]).standard_normal(
        (80, 1, 2))
    b_new = np.einsum("sqk,snk->snq", chol, eps)[:, 0]
    rows_n1 = new[new.subject == "n1"]
    X = np.column_stack([np.ones(len(rows_n1)), rows_n1.days, rows_n1.arm == "B",
                         rows_n1.arm == "C"])
    eta = beta @ X.T + b_new[:, :1] + b_new[:, 1:] * rows_n1.days.to_numpy()
    np.testing.assert_allclose(results[0].loc[rows_n1.index, "estimate"], eta.mean(axis=0),
                               rtol=1e-12)


def test_response_draws_keyed_by_row_position(fit, data):
    new, seed = _new_rows(data), 9
    results = [fit.predict(_partitioned(new, k), kind="response", random_seed=seed).compute()
               for k in PARTITIONS]
    for other in results[1:]:
        pd.testing.assert_frame_equal(other, results[0])
    whole = predict_draws(fit.idata.posterior, fit.model.design, fit.family, new,
                          kind="response", keyed=KeyedRandom(seed, np.arange(len(new))))
    np.testing.assert_allclose(results[0].estimate, whole.mean(("chain", "draw")), rtol=1e-12)
    # row 3 by hand: N(μ, σ) from the generator seeded by (seed, 2, 3)
    mean = fit.predict_draws(new.iloc[[3]]).values.reshape(-1)
    sigma = fit.idata.posterior[names.SIGMA].values.reshape(-1)
    draws = np.random.default_rng([seed, 2, 3]).normal(mean[:, None], sigma[:, None])
    assert results[0].estimate.iloc[3] == pytest.approx(draws.mean(), rel=1e-12)


@pytest.mark.parametrize("k", PARTITIONS)
def test_exceedance_equals_in_memory(fit, data, k):
    expected = fit.exceedance(data, 14.0, kind="mean", direction="<=")
    got = fit.exceedance(_partitioned(data, k), 14.0, kind="mean", direction="<=").compute()
    np.testing.assert_array_equal(got.probability, expected.probability)
    assert 0 < got.probability.mean() < 1


def test_written_as_parquet_partition_by_partition(fit, data, tmp_path):
    source = tmp_path / "rows"
    source.mkdir()
    for k, start in enumerate(range(0, len(data), 26)):
        part = data.iloc[start:start + 26]
        part.to_parquet(source / f"part.{k}.parquet")
    out = fit.predict(str(source / "*.parquet"), path=tmp_path / "out")
    assert out == tmp_path / "out"
    assert len(list(out.glob("*.parquet"))) == 7
    got = pd.read_parquet(out).sort_index()
    np.testing.assert_allclose(got[COLUMNS].to_numpy(), fit.predict(data).to_numpy(), rtol=1e-12)
    fit.exceedance(source, 12.0, random_seed=1, path=tmp_path / "risk")
    risk = pd.read_parquet(tmp_path / "risk")
    assert list(risk.columns) == [*data.columns, "probability"]


def test_fitted_and_residuals_equal_in_memory(data):
    gappy = data.copy()
    gappy.loc[[4, 50], "y"] = np.nan            # dropped by the fit, left out here too
    fit = hand_made_fit(lb.LMM("y ~ days + arm + (days | subject)", gappy, na_action="drop"))
    fitted, residuals = fit.fitted(), fit.residuals()
    assert len(fitted) == len(data) - 2
    # the residual of a row by hand: y less its fitted draws' mean
    assert residuals.estimate.iloc[0] == pytest.approx(gappy.y.iloc[0] - fitted.estimate.iloc[0])
    for k in PARTITIONS:
        got = fit.fitted(_partitioned(gappy, k)).compute()
        np.testing.assert_allclose(got[COLUMNS].to_numpy(), fitted.to_numpy(), rtol=1e-12)
        got = fit.residuals(_partitioned(gappy, k)).compute()
        np.testing.assert_allclose(got[COLUMNS].to_numpy(), residuals.to_numpy(), rtol=1e-12,
                                   atol=1e-12)
        assert list(got.index) == list(residuals.index)


def test_draw_statistics_combine_as_the_whole():
    rng = np.random.default_rng(3)
    values = 1e4 + rng.normal(size=(5, 101))    # a large mean: the sums of squares would lose it
    parts = [values[:, :1], values[:, 1:40], values[:, 40:]]
    stats = [rows.DrawStatistics.of(p) for p in parts]
    combined = [(stats[0] + stats[1]) + stats[2], stats[2] + (stats[0] + stats[1])]
    for whole in combined:
        got = whole.statistics()
        np.testing.assert_allclose(got["mean"], values.mean(axis=1), rtol=1e-15)
        np.testing.assert_allclose(got["sd"], values.std(axis=1, ddof=1), rtol=1e-12)
        np.testing.assert_array_equal(got["min"], values.min(axis=1))
        np.testing.assert_array_equal(got["max"], values.max(axis=1))
    for name in ("mean", "sd"):                  # the order of the parts changes no bit
        np.testing.assert_array_equal(combined[0].statistics()[name],
                                      combined[1].statistics()[name])


def test_ppc_pvalues_equal_in_memory_with_the_same_replicates(fit, data):
    tables = [rows.ppc_pvalues(fit, _partitioned(data, k), random_seed=2) for k in PARTITIONS]
    for other in tables[1:]:
        pd.testing.assert_frame_equal(other, tables[0], rtol=1e-12)
    y_rep = predict_draws(fit.idata.posterior, fit.model.design, fit.family, data,
                          kind="response", groups="conditional",
                          keyed=KeyedRandom(2, np.arange(len(data)))).values
    expected = in_memory_pvalues(fit.model.design.y, y_rep.reshape(-1, len(data)))
    pd.testing.assert_frame_equal(tables[0], expected, rtol=1e-10)


# ----------------------------------------------------------------------------- errors


def test_nan_predictor_names_partition_and_position(fit, data):
    bad = data.copy()
    bad.loc[100, "days"] = np.nan
    frame = _partitioned(bad, 7)
    part = next(k for k, p in enumerate(frame.partitions) if 100 in p.index.compute())
    first = frame.partitions[part].index.compute()
    with pytest.raises(lb.DesignError, match=rf"'days' .* missing \(NaN\) in 1 row\(s\), first "
                                             rf"at position {list(first).index(100)} \(in "
                                             rf"partition {part}; row positions are counted "
                                             r"within it\)"):
        fit.predict(frame).compute()


def test_unknown_fixed_level_names_partition_and_rows(fit, data):
    bad = data.copy()
    bad.loc[bad.index[-3:], "arm"] = "Z"
    frame = _partitioned(bad, 7)
    start = len(bad) - len(frame.partitions[6])
    with pytest.raises(lb.DesignError, match=r"'arm' has level\(s\) \['Z'\].*3 row\(s\) "
                                             rf"\(first at row position {177 - start}\).*"
                                             r"\(in partition 6; row positions"):
        fit.predict(frame, kind="response").compute()


def test_unknown_group_level_named_with_conditional(fit, data):
    with pytest.raises(lb.DesignError, match=r"\['n1', 'n2'\] of 'subject'.*\(in partition 0"):
        fit.predict(_partitioned(_new_rows(data), 1), groups="conditional").compute()


def test_bad_requests(fit, data):
    with pytest.raises(lb.DesignError, match="already have column"):
        fit.predict(_partitioned(data.assign(estimate=1.0), 2))
    with pytest.raises(lb.DesignError, match="path= writes results partition by partition"):
        fit.predict(data, path="out")
    with pytest.raises(lb.DesignError, match="history= is not available for rows by partition"):
        fit.predict(_partitioned(data, 2), history=data)
    with pytest.raises(lb.DesignError, match="threshold"):
        fit.exceedance(_partitioned(data, 2), "high")
    with pytest.raises(lb.DesignError, match=r"\['within_sd'\] are not available by partition"):
        rows.ppc_pvalues(fit, _partitioned(data, 2), stats=["within_sd"])
    with pytest.raises(lb.DesignError, match="a path or glob of Parquet files or a dask DataFrame"):
        rows.predict(fit, 3)



def test_blocks_of_rows_give_the_partitions_results(fit, data, monkeypatch):
    new = _new_rows(data)
    whole = [fit.predict(_partitioned(new, 2), kind="response", random_seed=4).compute(),
             rows.ppc_pvalues(fit, _partitioned(data, 2), random_seed=4),
             fit.residuals(_partitioned(data, 2)).compute()]
    monkeypatch.setattr(rows, "BLOCK_VALUES", 80 * 7)            # blocks of 7 rows
    blocked = [fit.predict(_partitioned(new, 2), kind="response", random_seed=4).compute(),
               rows.ppc_pvalues(fit, _partitioned(data, 2), random_seed=4),
               fit.residuals(_partitioned(data, 2)).compute()]
    for got, expected in zip(blocked, whole):
        pd.testing.assert_frame_equal(got, expected, rtol=1e-12)
    bad = data.copy()
    bad.loc[20, "days"] = np.nan                                   # in the third block
    with pytest.raises(lb.DesignError, match=r"first at position 20 \(in partition 0;"):
        fit.predict(_partitioned(bad, 1)).compute()


def test_crossed_factors_by_partition():
    from conftest import crossed_data

    data = crossed_data()
    fit = hand_made_fit(lb.LMM("y ~ x + arm + (1 | a) + (1 | b)", data))
    new = data.assign(x=data.x + 1.0)
    new.loc[new.index[::10], "b"] = "new b"
    for groups in ("population", "new"):
        got = fit.predict(_partitioned(new, 7), groups=groups, random_seed=1).compute()
        known = ~new.b.eq("new b") if groups == "new" else slice(None)
        expected = fit.predict(new, groups=groups)
        np.testing.assert_allclose(got.loc[known, COLUMNS].to_numpy(),
                                   expected.loc[known].to_numpy(), rtol=1e-12)
    got = fit.fitted(_partitioned(data, 7)).compute()
    np.testing.assert_allclose(got[COLUMNS].to_numpy(), fit.fitted().to_numpy(), rtol=1e-12)


def test_keyed_gaussian_draws_are_the_row_generators_normal_draws():
    """The Gaussian's keyed draws μ + σ z equal rng.normal(μ, σ) row by row from each
    row's generator, with one σ per draw or per draw and row (weights)."""
    from lmm_bayes.families import get_family
    from lmm_bayes.predict import _draw_response

    family, rng = get_family("gaussian"), np.random.default_rng(0)
    mean, keyed = rng.normal(size=(50, 7)), KeyedRandom(99, np.arange(10, 17))
    for sigma in (rng.gamma(2.0, size=(50, 1)), rng.gamma(2.0, size=(50, 7))):
        got = _draw_response(family, mean, {"sigma": sigma}, rng, keyed)
        for i in range(7):
            own = sigma[:, i:i + 1] if sigma.shape[1] == 7 else sigma
            expected = keyed.row(i).normal(mean[:, i:i + 1], own)[:, 0]
            np.testing.assert_array_equal(got[:, i], expected)
