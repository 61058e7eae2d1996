"""How to sample (:class:`SamplerConfig`) and how to judge the draws (:func:`diagnose`).

The samplers themselves run inside the engines (:mod:`lmm_bayes.engines`); what they share
is here: the settings, nutpie's call, and the diagnostics every fit is checked with.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal, get_args

import arviz as az
import numpy as np
import pandas as pd

from .errors import SamplingError, SamplingWarning

__all__ = ["SamplerConfig", "default_target_accept", "diagnose", "require_numpyro",
           "run_nutpie", "warn_on_problems"]

Sampler = Literal["auto", "nutpie", "pymc", "numpyro", "imh"]
RHAT_MAX = 1.01
ESS_MIN = 400


@dataclass(frozen=True)
class SamplerConfig:
    """How to sample: draws and warm-up per chain, chains, seed, backend and step size target.

    ``sampler="auto"`` is the chosen engine's default sampler (:mod:`lmm_bayes.engines`);
    ``target_accept=None`` is filled by :meth:`lmm_bayes.LMM.fit` from
    :func:`default_target_accept`.
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
        for name in ("draws", "tune", "chains"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise SamplingError(f"{name} must be a positive whole number, got {value!r}")
        if self.sampler not in get_args(Sampler):
            raise SamplingError(f"unknown sampler {self.sampler!r}; choose one of "
                                f"{list(get_args(Sampler))}")
        if self.target_accept is not None and not 0 < self.target_accept < 1:
            raise SamplingError(f"target_accept must lie in (0, 1), got {self.target_accept}")


FEW_LEVELS = 20


def default_target_accept(n_levels: list[int]) -> float:
    """0.95 when a grouping factor has fewer than 20 levels, else 0.8.

    A variance estimated from few groups has a wide, funnel-shaped posterior whose narrow
    neck needs smaller steps (Betancourt & Girolami 2015); with many groups 0.8, the usual
    NUTS default, is enough and cheaper.
    """
    return 0.95 if n_levels and min(n_levels) < FEW_LEVELS else 0.8


def run_nutpie(compiled, config: SamplerConfig) -> az.InferenceData:
    """nutpie's NUTS on a compiled model (a PyMC model's, or a hand-written density's)."""
    import nutpie

    return nutpie.sample(
        compiled, draws=config.draws, tune=config.tune, chains=config.chains,
        seed=config.random_seed, target_accept=config.target_accept, cores=config.cores,
        save_warmup=False, progress_bar=config.progressbar,
    )


def require_numpyro() -> None:
    """Raise :class:`SamplingError` saying how to install numpyro, where it is missing."""
    try:
        import numpyro  # noqa: F401
    except ImportError:
        raise SamplingError("sampler='numpyro' needs JAX and numpyro: "
                            "pip install 'lmm_bayes[numpyro]'") from None


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
