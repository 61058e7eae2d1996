"""Run the sampler on a built model and check its diagnostics.

Four backends give the same result structure (an ``arviz.InferenceData`` with ``posterior``
and ``sample_stats``): nutpie (default; Rust NUTS on a numba-compiled log density), PyMC's own
NUTS, numpyro (JAX; needs the ``numpyro`` extra), and independence Metropolis–Hastings
(``"imh"``, :mod:`lmm_bayes.imh`) for a collapsed model (:mod:`lmm_bayes.collapsed`).
"""

from __future__ import annotations

import logging
import os
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from . import imh
from .collapsed import CollapsedModel
from .errors import SamplingError, SamplingWarning
from .kernel import MarginalDensity

__all__ = ["SamplerConfig", "diagnose", "sample"]

logger = logging.getLogger("lmm_bayes")

Sampler = Literal["nutpie", "pymc", "numpyro", "imh"]
RHAT_MAX = 1.01
ESS_MIN = 400


MAX_ITERATIONS = 10**7   # draws or tune per chain; beyond this the draws cannot be held
MAX_CHAINS = 1024
MAX_SEED = 2**64 - 1      # nutpie takes the seed as an unsigned 64-bit integer
_LIMIT_TEXT = {MAX_SEED: "2**64 - 1"}


def _whole_number(name: str, value, low: int, high: int | None) -> None:
    """SamplingError unless ``value`` is an integer (not a bool) in [low, high]."""
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not is_int or value < low or (high is not None and value > high):
        what = "a positive" if low == 1 else "a non-negative"
        limit = "" if high is None else f" of at most {_LIMIT_TEXT.get(high, f'{high:_}')}"
        raise SamplingError(f"{name} must be {what} whole number{limit}, got {value!r}")


@dataclass(frozen=True)
class SamplerConfig:
    """How to sample: draws and warm-up per chain, chains, seed, backend and step size target.

    ``target_accept=None`` is filled by :meth:`lmm_bayes.LMM.fit` from
    :func:`default_target_accept`. Every path to a sampler (:meth:`lmm_bayes.LMM.fit`, spec
    files, the command line, :func:`lmm_bayes.fit_many`) builds one of these, so the
    settings are checked here, once: ``draws`` in [1, 10⁷] and ``tune`` in [0, 10⁷] per
    chain (more cannot be held in memory: the samplers allocate the draws up front),
    ``chains`` in [1, 1024], ``cores`` None or at least 1, ``random_seed`` None or a whole
    number in [0, 2⁶⁴ − 1]; :class:`~lmm_bayes.SamplingError` naming the setting otherwise.
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    random_seed: int | None = None
    sampler: Sampler = "nutpie"
    target_accept: float | None = 0.8
    cores: int | None = None
    progressbar: bool = False

    def __post_init__(self):
        _whole_number("draws", self.draws, 1, MAX_ITERATIONS)
        _whole_number("tune", self.tune, 0, MAX_ITERATIONS)
        _whole_number("chains", self.chains, 1, MAX_CHAINS)
        if self.cores is not None:  # cores=0 leaves the samplers waiting for a worker forever
            _whole_number("cores", self.cores, 1, None)
        if self.random_seed is not None:
            _whole_number("random_seed", self.random_seed, 0, MAX_SEED)
        if self.sampler not in ("nutpie", "pymc", "numpyro", "imh"):
            raise SamplingError(f"unknown sampler {self.sampler!r}; choose 'nutpie', 'pymc', "
                                "'numpyro' or 'imh'")
        target = self.target_accept
        if target is not None and not (isinstance(target, (int, float, np.number))
                                       and 0 < target < 1):
            raise SamplingError(f"target_accept must lie in (0, 1), got {target!r}")


_COMPILED: weakref.WeakKeyDictionary[pm.Model, object] = weakref.WeakKeyDictionary()


FEW_LEVELS = 20


def default_target_accept(n_levels: list[int]) -> float:
    """0.95 when a grouping factor has fewer than 20 levels, else 0.8.

    A variance estimated from few groups has a wide, funnel-shaped posterior whose narrow
    neck needs smaller steps (Betancourt & Girolami 2015); with many groups 0.8, the usual
    NUTS default, is enough and cheaper.
    """
    return 0.95 if n_levels and min(n_levels) < FEW_LEVELS else 0.8


def _sample_nutpie(model: pm.Model, config: SamplerConfig, data) -> az.InferenceData:
    import nutpie

    if isinstance(model, MarginalDensity):
        compiled = _compiled_density(model)
    elif model not in _COMPILED:  # compile once per model; later fits only sample
        compiled = _COMPILED[model] = nutpie.compile_pymc_model(model)
    else:
        compiled = _COMPILED[model]
    if data:
        compiled = compiled.with_data(**data)
    return nutpie.sample(
        compiled, draws=config.draws, tune=config.tune, chains=config.chains,
        seed=config.random_seed, target_accept=config.target_accept, cores=config.cores,
        save_warmup=False, progress_bar=config.progressbar,
    )


def _compiled_density(density) -> object:
    """The compiled marginal density (:mod:`lmm_bayes.kernel`) as a nutpie model: its C
    entry points read the density's packed buffer, so nothing is compiled here. Each chain
    starts at the posterior mode jittered by U(−0.5, 0.5) per coordinate."""
    from nutpie.compile_pymc import CompiledPyMCModel

    from .kernel import expand_cfunc, logp_cfunc

    slices = density.slices
    coords = {name: pd.Index(values) for name, values in density.coords.items()}
    coords["unconstrained_parameter"] = pd.RangeIndex(density.n_dim)

    def initial_point(seed):
        return density.jittered_start(np.random.default_rng(seed))

    return CompiledPyMCModel(
        _n_dim=density.n_dim, dims=density.dims, _coords=coords,
        _shapes=dict(zip(density.names, density.shapes)), compiled_logp_func=logp_cfunc,
        compiled_expand_func=expand_cfunc, initial_point_func=initial_point, shared_data={},
        user_data=density.buffer, n_expanded=slices[-1].stop,
        shape_info=(list(density.names), slices, list(density.shapes)),
        logp_func=None, expand_func=None,
    )


def _sample_pymc(model: pm.Model, config: SamplerConfig, nuts_sampler: str,
                 data) -> az.InferenceData:
    with model:
        if data:
            pm.set_data(data)
        return pm.sample(
            draws=config.draws, tune=config.tune, chains=config.chains,
            cores=config.cores, random_seed=config.random_seed,
            target_accept=config.target_accept, nuts_sampler=nuts_sampler,
            progressbar=config.progressbar, compute_convergence_checks=False,
        )


MAX_IMH_VALUES = 2 * 10**8  # effects × draws held in memory (1.6 GB of float64)


def _sample_imh(model: CollapsedModel, config: SamplerConfig) -> az.InferenceData:
    """Independence Metropolis–Hastings (:mod:`lmm_bayes.imh`) on the variance parameters
    of a collapsed model, each proposal with one exact draw of every effect from its
    conditional (a joint proposal of (θ, b), so the chains move both together). The
    proposals are evaluated in ``config.cores`` threads (default: all cores), one BLAS
    thread each; the same ``random_seed`` gives the same draws."""
    from threadpoolctl import threadpool_limits

    if model.n_effects * config.draws * config.chains > MAX_IMH_VALUES:
        raise SamplingError(f"{config.chains} chains × {config.draws} draws of "
                            f"{model.n_effects} effects are too many values to hold; "
                            "take fewer draws")
    rng = np.random.default_rng(config.random_seed)
    total = config.chains * config.draws
    x, log_q = imh.t_proposals(model.mode, model.covariance, total, rng)
    effects = rng.standard_normal((total, model.n_effects))
    log_p = np.empty(total)

    def evaluate(rows):
        workspace = model.workspace()
        for i in rows:
            log_p[i] = model.draw(x[i], effects[i], workspace)

    workers = max(1, min(config.cores or os.cpu_count() or 1, total))
    with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
        list(pool.map(evaluate, np.array_split(np.arange(total), workers)))
    log_weights = log_p - log_q
    index, accepted = imh.chains(log_weights, config.chains, rng)
    random, beta = model.effects(effects[index])
    posterior = {"beta": beta, "sigma": np.exp(x[index, -1])}
    coords = {"fixed": list(model.fixed_names)}
    dims = {"beta": ["fixed"]}
    for k, (factor, levels) in enumerate(zip(model.factors, model.levels)):
        posterior[f"sd_{factor}"] = np.exp(x[index, k])[..., None]
        posterior[f"b_{factor}"] = random[factor][..., None]
        dims[f"sd_{factor}"] = [f"{factor}__term"]
        dims[f"b_{factor}"] = [f"{factor}__level", f"{factor}__term"]
        coords[f"{factor}__term"] = ["(Intercept)"]
        coords[f"{factor}__level"] = list(levels)
    stats = {"diverging": np.zeros(index.shape, dtype=bool), "accepted": accepted,
             "lp": log_p[index]}
    idata = az.from_dict(posterior=posterior, sample_stats=stats, coords=coords, dims=dims)
    idata.sample_stats.attrs.update(sampler="independence Metropolis-Hastings",
                                    proposal_df=imh.PROPOSAL_DF,
                                    pareto_k=imh.pareto_k(log_weights))
    return idata


def sample(model: pm.Model, config: SamplerConfig,
           data: dict[str, np.ndarray] | None = None) -> az.InferenceData:
    """Draw from the posterior of ``model`` with the backend named in ``config``; ``data``
    replaces the values of the model's ``pm.Data`` inputs (a compiled model is reused)."""
    if config.sampler == "numpyro":
        try:
            import numpyro  # noqa: F401
        except ImportError:
            raise SamplingError("sampler='numpyro' needs JAX and numpyro: "
                                "pip install 'lmm_bayes[numpyro]'") from None
    logger.info("sampling %d chains × (%d tune + %d draws) with %s", config.chains,
                config.tune, config.draws, config.sampler)
    if isinstance(model, CollapsedModel) != (config.sampler == "imh"):
        raise SamplingError("sampler='imh' runs on a collapsed model (LMM.collapsed_model) "
                            "and a collapsed model only on 'imh'")
    if config.sampler == "imh":
        return _sample_imh(model, config)
    if config.sampler == "nutpie":
        return _sample_nutpie(model, config, data)
    if isinstance(model, MarginalDensity):
        from .kernel_jax import sample_numpyro

        return sample_numpyro(model, config)
    return _sample_pymc(model, config, config.sampler, data)


def _worst(values, threshold: float, *, above: bool) -> list[str]:
    """Parameters (with coordinates) past a threshold, worst first, at most five."""
    found, seen = [], set()
    for name, da in values.data_vars.items():
        series = da.to_series() if da.dims else pd.Series([float(da)], index=[()])
        for coord, value in series.items():
            coord = coord if isinstance(coord, tuple) else (coord,)
            key = (name, frozenset(coord))  # a correlation matrix lists each pair twice
            if key in seen or not ((value > threshold) if above else (value < threshold)):
                continue
            seen.add(key)
            label = f"{name}[{', '.join(map(str, coord))}]" if coord else name
            found.append((value, label))
    found.sort(reverse=above)
    return [f"{label} ({value:.3g})" for value, label in found[:5]]


def diagnose(idata: az.InferenceData, var_names: list[str]) -> list[str]:
    """Problems with the sampling of ``var_names``, each a sentence with what to try.

    Checks: divergent transitions, split R-hat above 1.01, bulk or tail ESS below 400
    (Vehtari et al. 2021, "Rank-normalization, folding, and localization").
    """
    problems = []
    k_hat = idata.sample_stats.attrs.get("pareto_k", -np.inf)
    if k_hat > imh.PARETO_K_MAX:
        problems.append(f"the independence sampler's proposal misses part of the posterior "
                        f"(Pareto k = {k_hat:.2f} > {imh.PARETO_K_MAX}); refit with "
                        "sampler='nutpie' (NUTS with every effect sampled)")
    divergences = int(idata.sample_stats["diverging"].sum())
    if divergences:
        problems.append(f"{divergences} divergent transitions; raise target_accept (e.g. 0.95) "
                        "or give the variance parameters tighter priors")
    with warnings.catch_warnings():
        # constant draws (the unit diagonal of a correlation matrix) give NaN, not a problem
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = az.rhat(idata, var_names=var_names) if idata.posterior.sizes["chain"] > 1 else None
        ess = {m: az.ess(idata, var_names=var_names, method=m) for m in ("bulk", "tail")}
    bad = _worst(rhat, RHAT_MAX, above=True) if rhat is not None else []
    if bad:
        problems.append(f"R-hat above {RHAT_MAX} for {', '.join(bad)}; run more tune and "
                        "draws, or check the model for identifiability")
    for method in ("bulk", "tail"):
        bad = _worst(ess[method], ESS_MIN, above=False)
        if bad:
            problems.append(f"{method} ESS below {ESS_MIN} for {', '.join(bad)}; run more "
                            "draws or chains")
    return problems


def warn_on_problems(problems: list[str]) -> None:
    """Emit one :class:`SamplingWarning` per problem."""
    for problem in problems:
        warnings.warn(problem, SamplingWarning, stacklevel=3)
