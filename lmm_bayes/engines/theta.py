"""Sampling θ, the parameters left when an engine integrates the effects out
(:class:`~lmm_bayes.integrated.IntegratedPosterior`: the blocked and GLMM engines), in one
of two ways:

* ``"imh"``: independence Metropolis–Hastings from the Laplace fit (:mod:`lmm_bayes.imh`),
  for a θ whose posterior is close to normal, with a proposal adapted to a pilot sample
  (:func:`lmm_bayes.imh.adaptive_draws`); when its Pareto k̂ stays above
  :data:`lmm_bayes.imh.MAX_PARETO_K`, NUTS samples instead, recording ``imh_pareto_k``.
* ``"nutpie"``: NUTS in coordinates whitened by the Laplace covariance, θ = mode + C z with
  CCᵀ the inverse Hessian at the mode, so that the sampler starts at the mode with a dense
  mass matrix that nutpie's diagonal adaptation only refines.

Every draw of θ is then completed by one draw of the effects
(:meth:`~lmm_bayes.integrated.IntegratedPosterior.posterior`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from .. import collapsed, imh
from ..design import Design
from ..integrated import IntegratedPosterior
from ..packing import whitened_expand_cfunc
from ..sampling import SamplerConfig, compiled_model, run_nutpie

if TYPE_CHECKING:
    import arviz as az

__all__ = ["MAX_IMH_DIM", "default_sampler", "sample_theta"]

logger = logging.getLogger("lmm_bayes")
MAX_IMH_DIM = 12    # coordinates up to which the independence sampler is the default
_THETA = "theta"


def _whitened_model(target: IntegratedPosterior):
    """θ = mode + C z as a nutpie model in z, whose draws expand to θ: the algebra's C log
    density and the shared expand entry point on its packed data, so nothing is compiled per
    model."""
    factor = np.linalg.cholesky(target.covariance)
    n = target.n_dim

    def initial_point(seed):
        return np.random.default_rng(seed).uniform(-0.5, 0.5, n)

    return compiled_model({_THETA: ((n,), ("coordinate",))}, {"coordinate": np.arange(n)}, n,
                          target.algebra.logp_cfunc, whitened_expand_cfunc,
                          target.algebra.buffer(target.mode, factor), initial_point)


def _nuts(target: IntegratedPosterior, config: SamplerConfig):
    idata = run_nutpie(_whitened_model(target), config)
    return idata.posterior[_THETA].values, idata.sample_stats, {"sampler": "nutpie"}


def _theta_draws(target: IntegratedPosterior, config: SamplerConfig, rng: np.random.Generator):
    """θ's draws, sample stats and attributes from ``config.sampler``; the independence
    sampler gives way to NUTS when its k̂ check fails (module docstring)."""
    if config.sampler != "imh":
        return _nuts(target, config)
    draws, stats, attrs = imh.adaptive_draws(target, config.chains, config.draws, rng,
                                             config.cores)
    if attrs["pareto_k"] <= imh.MAX_PARETO_K:
        return draws, stats, attrs
    logger.info("the independence sampler's proposal misses part of the posterior (Pareto k = "
                "%.2f); sampling with NUTS instead", attrs["pareto_k"])
    draws, stats, more = _nuts(target, config)
    return draws, stats, {**more, "imh_pareto_k": attrs["pareto_k"]}


def default_sampler(design: Design, n_dim: int) -> str:
    """``"imh"`` when θ's posterior should be close to normal: every grouping factor has at
    least :data:`lmm_bayes.collapsed.MIN_LEVELS` levels and θ (``n_dim`` coordinates that
    count) fewer than :data:`MAX_IMH_DIM`; else ``"nutpie"``."""
    return "imh" if collapsed.near_normal(design) and n_dim < MAX_IMH_DIM else "nutpie"


def sample_theta(target: IntegratedPosterior, config: SamplerConfig) -> az.InferenceData:
    """θ sampled with ``config.sampler`` (module docstring), each draw completed by the
    effects: the public posterior, with the sampler's stats and attributes."""
    import arviz as az

    rng = np.random.default_rng(config.random_seed)
    draws, stats, attrs = _theta_draws(target, config, rng)
    posterior, dims, coords = target.posterior(draws, rng, config.cores)
    idata = az.from_dict(posterior=posterior, coords=coords, dims=dims)
    idata.add_groups(sample_stats=stats)
    idata.sample_stats.attrs.update(attrs)
    return idata
