"""A distributed data set's passes (lmm_bayes.distributed) against the design in memory:
statistics, schema and default priors from 1, 2 and 7 partitions whose boundaries split
levels; the in-memory errors, naming the partition; the models the statistics cannot serve.
The passes run on the local cluster of the ``client`` fixture (conftest.py)."""

import math

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb
from lmm_bayes.distributed import DistributedLMM
from lmm_bayes.kernel import MarginalData
from lmm_bayes.sums import Moments, pair_value

SLEEP = "Reaction ~ Days + (Days | Subject)"
COHORT = "y ~ time * arm + center(age) + (time | id)"


def cohort(seed: int = 0, n_ids: int = 40) -> pd.DataFrame:
    """Visits of ``n_ids`` patients (2 to 8 each, rows shuffled so that every partition
    holds parts of many patients): a text arm of three levels, an age, a date, a random
    intercept and slope."""
    rng = np.random.default_rng(seed)
    visits = rng.integers(2, 9, n_ids)
    ids = np.repeat(np.arange(n_ids), visits)
    frame = pd.DataFrame({"id": np.char.add("p", ids.astype(str)),
                          "time": np.concatenate([np.arange(v) for v in visits]) * 0.5,
                          "arm": rng.choice(["control", "low", "high"], n_ids)[ids],
                          "age": rng.normal(60, 8, n_ids)[ids]})
    frame["date"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(
        rng.integers(0, 900, len(frame)), unit="D")
    u = rng.normal(0, [3.0, 0.8], (n_ids, 2))
    frame["y"] = (120 + 2 * frame.time + (frame.arm == "high") * 3 + 0.1 * frame.age
                  + u[ids, 0] + u[ids, 1] * frame.time + rng.normal(0, 2, len(frame)))
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def partitioned(data: pd.DataFrame, n: int):
    """``data`` as a Dask DataFrame of ``n`` partitions in row order."""
    return dd.from_pandas(data, npartitions=n, sort=False)


TRANSFORMS = "y ~ scale(age) + date + poly(time, 2, raw = TRUE) + factor(arm) + (time | id)"
CASES = {"sleepstudy": (SLEEP, lb.load_dataset("sleepstudy")), "cohort": (COHORT, cohort()),
         "transforms": (TRANSFORMS, cohort(5))}


@pytest.mark.parametrize("n_parts", [1, 2, 7])
@pytest.mark.parametrize("case", list(CASES))
def test_statistics_equal_the_designs_in_memory(case, n_parts, client):
    """Levels, constants and every sum as in memory, from partitions that split levels."""
    formula, data = CASES[case]
    frame = partitioned(data, n_parts)
    assert frame.npartitions == n_parts
    memory = lb.LMM(formula, data)
    expected = MarginalData.of(memory.design)
    model = lb.LMM(formula, frame, client=client)
    assert isinstance(model, DistributedLMM)
    got = model.marginal_data
    assert got.columns == expected.columns and got.terms == expected.terms
    assert model.levels == memory.design.groups[0].levels
    assert dict(model.schema.levels) == dict(memory.design.schema.levels)
    assert dict(model.schema.transforms) == dict(memory.design.schema.transforms)
    assert dict(model.schema.origins) == dict(memory.design.schema.origins)
    # to the last bit (lmm_bayes.sums), not only to the 1e-10 asked for
    assert got.shift == expected.shift
    np.testing.assert_array_equal(got.means, expected.means)
    for name in ("ZtZ", "ZtX", "Zty", "XtX", "Xty", "yty", "n"):
        np.testing.assert_array_equal(getattr(got.stats, name), getattr(expected.stats, name),
                                      err_msg=name)
    np.testing.assert_array_equal(model.statistics.counts,
                                  np.bincount(memory.design.groups[0].index))


@pytest.mark.parametrize("case", list(CASES))
def test_default_priors_equal_the_in_memory_ones(case, client):
    formula, data = CASES[case]
    memory = lb.LMM(formula, data).priors
    got = lb.LMM(formula, partitioned(data, 7), client=client).priors
    pairs = [(memory.intercept, got.intercept), (memory.sigma, got.sigma),
             *zip(memory.fixed.values(), got.fixed.values()),
             *((memory.sd[g][t], got.sd[g][t]) for g in memory.sd for t in memory.sd[g])]
    assert list(got.fixed) == list(memory.fixed) and got.eta == memory.eta
    for expected, prior in pairs:
        assert prior.dist == expected.dist
        assert prior.kwargs == expected.kwargs


def test_an_empty_partition_adds_nothing(client):
    data = lb.load_dataset("sleepstudy")
    parts = [data.iloc[:0], data.iloc[:55], data.iloc[55:]]
    frame = dd.concat([dd.from_pandas(part, npartitions=1) for part in parts])
    assert frame.npartitions == 3
    got = lb.LMM(SLEEP, frame, client=client).marginal_data.stats
    expected = MarginalData.of(lb.LMM(SLEEP, data).design).stats
    np.testing.assert_allclose(got.ZtX, expected.ZtX, rtol=1e-10)
    assert got.n == 180


def test_moments_of_parts_equal_the_wholes_to_the_last_bit():
    """Order-independent sums (lmm_bayes.sums): the parts' moments add up to the whole's
    exactly; the sum is math.fsum's (correctly rounded), the SD numpy's to 1e-14 for a
    column whose mean is 300,000 times its SD (no digits cancel)."""
    values = np.random.default_rng(1).normal(1e6, 3.0, (5001, 2))
    whole = Moments.of(values)
    parts = Moments.of(values[:20]) + Moments.of(values[20:21]) + Moments.of(values[21:])
    np.testing.assert_array_equal(parts.mean, whole.mean)
    np.testing.assert_array_equal(parts.sd, whole.sd)
    np.testing.assert_array_equal(pair_value(whole.sums), [math.fsum(c) for c in values.T])
    np.testing.assert_allclose(whole.sd, values.std(axis=0, ddof=1), rtol=1e-14)
    assert (Moments.of(values[:0]) + whole).n == 5001


def test_reference_level_and_dropped_rows_as_in_memory(client):
    data = cohort(1)
    data.loc[[3, 17, 40], "age"] = np.nan
    options = {"reference": {"arm": "low"}, "na_action": "drop"}
    memory = lb.LMM(COHORT, data, **options)
    model = lb.LMM(COHORT, partitioned(data, 3), client=client, **options)
    assert model.schema.levels["arm"] == ("low", "control", "high")
    assert model.n_obs == memory.design.n_obs == len(data) - 3
    np.testing.assert_allclose(model.marginal_data.stats.Zty,
                               MarginalData.of(memory.design).stats.Zty, rtol=1e-10)


def test_parquet_files_with_a_categorical_column(client, tmp_path):
    """A pandas Categorical keeps its categories' order (not sorted), as in memory."""
    data = cohort(3)
    data["arm"] = pd.Categorical(data["arm"], categories=["low", "control", "high"])
    for k, rows in enumerate(np.array_split(np.arange(len(data)), 3)):
        data.iloc[rows].to_parquet(tmp_path / f"part{k}.parquet")
    memory = lb.LMM(COHORT, data)
    model = lb.LMM(COHORT, str(tmp_path), client=client)
    assert model.schema.levels["arm"] == memory.design.schema.levels["arm"] == (
        "low", "control", "high")
    assert model.marginal_data.columns == memory.design.fixed_names
    np.testing.assert_allclose(model.marginal_data.stats.ZtX,
                               MarginalData.of(memory.design).stats.ZtX, rtol=1e-10)


def test_missing_response_is_the_in_memory_error_naming_the_partition(client):
    data = lb.load_dataset("sleepstudy")
    data.loc[[60, 61, 150], "Reaction"] = np.nan
    with pytest.raises(lb.DesignError) as memory:
        lb.LMM(SLEEP, data)
    frame = partitioned(data, 4)  # 45 rows each: row 60 is partition 1's row 15
    with pytest.raises(lb.DesignError) as got:
        lb.LMM(SLEEP, frame, client=client)
    assert str(memory.value) == ("missing values (NaN) in the data: 'Reaction': 3 (first at "
                                 "row position 60); remove them or set na_action='drop'")
    assert str(got.value) == ("missing values (NaN) in the data: 'Reaction': 3 (first at row "
                              "position 60; row position 15 of partition 1); remove them or "
                              "set na_action='drop'")


def test_an_error_inside_a_partition_names_it(client):
    data = lb.load_dataset("sleepstudy")
    formula = "Reaction ~ log(Days) + (1 | Subject)"
    with pytest.raises(lb.DesignError) as memory:
        lb.LMM(formula, data.iloc[1:].reset_index(drop=True))
    assert "is not finite in 17 row(s) (first at position 9)" in str(memory.value)
    with pytest.raises(lb.DesignError, match=r"'log\(Days\)' is not finite in 1 row\(s\) "
                       r"\(first at position 4\) \(in partition 1; row positions are "
                       "counted within it"):
        lb.LMM(formula, partitioned(data.iloc[1:11], 2), client=client)


def test_unknown_column_and_reference_level_as_in_memory(client):
    data = lb.load_dataset("sleepstudy")
    with pytest.raises(lb.DesignError, match="column 'Dayz' not found"):
        lb.LMM("Reaction ~ Dayz + (1 | Subject)", partitioned(data, 2), client=client)
    with pytest.raises(lb.DesignError, match="reference level '999' of 'Subject' is not in "
                                             "the data"):
        lb.LMM(SLEEP, partitioned(data, 2), client=client, reference={"Subject": 999})


def test_collinear_columns_and_constant_slope_as_in_memory(client):
    data = cohort(2)
    data["time2"] = 2 * data["time"]
    with pytest.raises(lb.DesignError, match=r"collinear: columns \['time', 'time2'\]"):
        lb.LMM("y ~ time + time2 + (1 | id)", partitioned(data, 3), client=client)
    with pytest.raises(lb.DesignError, match="'age' is constant within every level of 'id'"):
        lb.LMM("y ~ age + (age | id)", partitioned(data, 3), client=client)


REFUSED = [
    ({"family": "poisson"}, "y ~ time + (1 | id)", "the poisson family"),
    ({}, "y ~ time + (1 | id) + (1 | arm)", "2 grouping factors, not one"),
    ({"residual": "ar1(time | id)"}, "y ~ time + (1 | id)", "a residual structure"),
    ({}, "y ~ time + offset(age) + (1 | id)", "an offset"),
    ({"weights": "age"}, "y ~ time + (1 | id)", "observation weights"),
    ({}, "y ~ time + (1 + time + age | id)", "3 varying terms"),
    ({}, "y ~ time + (1 | id:arm)", "several columns"),
    ({}, "y | cens(censored) ~ time + (1 | id)", "a censored response"),
    ({"sigma": "~ arm"}, "y ~ time + (1 | id)", "a sigma formula"),
    ({}, "y ~ time + (1 | gr(id, by = arm))", "the gr(id, by = arm) factor"),
    ({"likelihood": "conditional"}, "y ~ time + (1 | id)", "the likelihood option"),
]


@pytest.mark.parametrize(("options", "formula", "reason"), REFUSED)
def test_models_the_statistics_cannot_serve_are_refused(options, formula, reason, client):
    with pytest.raises(lb.DesignError, match="fitted from the statistics of a Gaussian model") \
            as refused:
        lb.LMM(formula, partitioned(cohort(), 2), client=client, **options)
    assert reason in str(refused.value)


def test_client_is_refused_for_data_in_memory():
    with pytest.raises(lb.DesignError, match="client= is for a distributed data set"):
        lb.LMM(SLEEP, lb.load_dataset("sleepstudy"), client="tcp://127.0.0.1:8786")
