"""How to sample (:class:`SamplerConfig`) and how to judge the draws (:func:`diagnose`).

The samplers themselves run inside the engines (:mod:`lmm_bayes.engines`); what they share
is here: the settings, nutpie's call, and the diagnostics every fit is checked with.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd

from .errors import SamplingError, SamplingWarning, Setting

if TYPE_CHECKING:  # ArviZ is imported where a fit needs it (seconds at import)
    import arviz as az

__all__ = ["SamplerConfig", "compiled_model", "default_target_accept", "diagnose",
           "in_threads", "require_numpyro", "run_nutpie", "warn_on_problems"]

Sampler = Literal["auto", "nutpie", "pymc", "numpyro", "imh"]
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

    ``sampler="auto"`` is the chosen engine's default sampler (:mod:`lmm_bayes.engines`);
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
    sampler: Sampler = "auto"
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
        if self.sampler not in get_args(Sampler):
            raise SamplingError(f"unknown sampler {self.sampler!r}; choose one of "
                                f"{list(get_args(Sampler))}")
        target = self.target_accept
        if target is not None and not (isinstance(target, (int, float, np.number))
                                       and 0 < target < 1):
            raise SamplingError(f"target_accept must lie in (0, 1), got {target!r}")


FEW_LEVELS = 20


def default_target_accept(n_levels: list[int]) -> float:
    """0.95 when a grouping factor has fewer than 20 levels, else 0.8.

    A variance estimated from few groups has a wide, funnel-shaped posterior whose narrow
    neck needs smaller steps (Betancourt & Girolami 2015); with many groups 0.8, the usual
    NUTS default, is enough and cheaper.
    """
    return 0.95 if n_levels and min(n_levels) < FEW_LEVELS else 0.8


def run_nutpie(compiled, config: SamplerConfig, **options) -> az.InferenceData:
    """nutpie's NUTS on a compiled model (a PyMC model's, or a hand-written density's);
    ``options`` go to ``nutpie.sample`` (e.g. its low-rank mass matrix)."""
    import nutpie

    return nutpie.sample(
        compiled, draws=config.draws, tune=config.tune, chains=config.chains,
        seed=config.random_seed, target_accept=config.target_accept, cores=config.cores,
        save_warmup=False, progress_bar=config.progressbar, **options,
    )


def compiled_model(variables: dict[str, tuple[tuple[int, ...], tuple[str, ...]]],
                   coords: dict, n_dim: int, logp_cfunc, expand_cfunc, buffer: np.ndarray,
                   initial_point) -> object:
    """A density compiled once (numba C functions reading the packed ``buffer``,
    :mod:`lmm_bayes.packing`) as a nutpie model, so nothing is compiled per model.

    ``variables`` maps each variable that ``expand_cfunc`` writes, in its order, to its shape
    and dims; ``initial_point(seed)`` gives a chain's start."""
    from nutpie.compile_pymc import CompiledPyMCModel

    shapes = {name: shape for name, (shape, _) in variables.items()}
    ends = np.cumsum([int(np.prod(shape)) for shape in shapes.values()])
    slices = [slice(int(start), int(end)) for start, end in zip([0, *ends[:-1]], ends)]
    coords = {name: pd.Index(values) for name, values in coords.items()}
    coords["unconstrained_parameter"] = pd.RangeIndex(n_dim)
    return CompiledPyMCModel(
        _n_dim=n_dim, dims={name: dims for name, (_, dims) in variables.items()},
        _coords=coords, _shapes=shapes, compiled_logp_func=logp_cfunc,
        compiled_expand_func=expand_cfunc, initial_point_func=initial_point, shared_data={},
        user_data=buffer, n_expanded=int(ends[-1]),
        shape_info=(list(shapes), slices, list(shapes.values())), logp_func=None,
        expand_func=None,
    )


def in_threads(function, n: int, cores: int | None) -> list:
    """``function`` on consecutive chunks of ``range(n)``, one chunk per thread (``cores``,
    default every core; one BLAS thread each): the compiled parts release the GIL. The
    results in the chunks' order."""
    from threadpoolctl import threadpool_limits

    workers = max(1, min(cores or os.cpu_count() or 1, n))
    with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, np.array_split(np.arange(n), workers)))


def values_in_threads(function, draws: np.ndarray, cores: int | None) -> np.ndarray:
    """``function`` (a scalar, e.g. a log density) at each row of ``draws``, the rows split
    over threads (:func:`in_threads`; the compiled densities release the GIL)."""
    chunks = in_threads(lambda rows: np.array([function(draws[i]) for i in rows]),
                        len(draws), cores)
    return np.concatenate(chunks)


def require_numpyro() -> None:
    """Raise :class:`SamplingError` saying how to install numpyro, where it is missing."""
    try:
        import numpyro  # noqa: F401
    except ImportError:
        raise SamplingError(Setting("sampler", "numpyro"), " needs JAX and numpyro: "
                            "pip install 'lmm_bayes[numpyro]'") from None


def _worst(values, threshold: float, *, above: bool) -> list[str]:
    """Parameters (with coordinates) past a threshold, worst first, at most five."""
    found = []
    for name, da in values.data_vars.items():
        series = da.to_series() if da.dims else pd.Series([float(da)], index=[()])
        for coord, value in series.items():
            coord = coord if isinstance(coord, tuple) else (coord,)
            if not ((value > threshold) if above else (value < threshold)):
                continue
            label = f"{name}[{', '.join(map(str, coord))}]" if coord else name
            found.append((value, label))
    found.sort(reverse=above)
    return [f"{label} ({value:.3g})" for value, label in found[:5]]


def diagnose(idata: az.InferenceData, var_names: list[str]) -> list[str]:
    """Problems with the sampling of ``var_names``, each a sentence with what to try.

    Checks: divergent transitions, split R-hat above 1.01, bulk or tail ESS below 400
    (Vehtari et al. 2021, "Rank-normalization, folding, and localization").
    """
    import arviz as az

    problems = []
    divergences = int(idata.sample_stats["diverging"].sum())
    if divergences:
        problems.append(f"{divergences} divergent transitions; raise target_accept (e.g. 0.95) "
                        "or give the variance parameters tighter priors")
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
