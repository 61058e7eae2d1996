"""Sampling θ, the parameters left when an engine integrates the effects out
(:class:`~lmm_bayes.integrated.IntegratedPosterior`: the blocked and GLMM engines), in one
of two ways:

* ``"imh"``: independence Metropolis–Hastings from the Laplace fit (:mod:`lmm_bayes.imh`),
  for a θ whose posterior is close to normal. The proposal is refitted to a pilot sample,
  with the SDs on their own scale, and the Pareto k̂ of the importance weights checks it:
  above :data:`MAX_PARETO_K` the proposal is refitted to the draws and the chains run
  again, and after :data:`MAX_REFITS` refits NUTS samples instead, recording
  ``imh_pareto_k``.
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

__all__ = ["MAX_IMH_DIM", "MAX_PARETO_K", "default_sampler", "sample_theta"]

logger = logging.getLogger("lmm_bayes")
# The independence sampler's largest k̂: between 0.5 and 0.7 the weights are usable but the
# chains mix slowly (the EEG study's sigma model: k̂ 0.56, bulk ESS 296 of 2,000 draws against
# NUTS's 919), and NUTS on θ costs seconds (Vehtari et al. 2024, section 3)
MAX_PARETO_K = 0.5
MAX_IMH_DIM = 12    # coordinates up to which the independence sampler is the default
PILOT_FRACTION = 4  # the independence sampler's pilot: a quarter as many proposals as draws
MAX_REFITS = 2      # refits of the independence sampler's proposal before NUTS takes over
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


def _proposals(target: IntegratedPosterior, centre: np.ndarray, shape: np.ndarray, size: int,
               rng: np.random.Generator, cores: int | None, positive=None):
    """``size`` t proposals (:func:`lmm_bayes.imh.t_proposals`) with their log densities
    under the proposal and the target."""
    x, log_q = imh.t_proposals(centre, shape, size, rng, positive)
    return x, log_q, target.log_densities(x, cores)


def _imh(target: IntegratedPosterior, config: SamplerConfig, rng: np.random.Generator):
    """Independence Metropolis–Hastings (module docstring): θ's draws, sample stats and
    attributes, with the Pareto k̂ of the importance weights.

    A pilot of a quarter as many proposals as draws, from the Laplace fit, refits the
    proposal to the posterior's importance-weighted mean and covariance, with the
    random-effect SDs on their own scale (:func:`lmm_bayes.imh.t_proposals`); the chains
    then run on proposals from the refitted t alone. While their k̂ is above
    :data:`MAX_PARETO_K`, up to :data:`MAX_REFITS` times, the proposal is refitted to them
    and the chains run again on fresh proposals (a log-SD near zero, skewed, can take two
    refits); each proposal is fixed before its draws, so every run is exact."""
    import xarray as xr

    total = config.chains * config.draws
    x, log_q, log_p = _proposals(target, target.mode, target.covariance,
                                 max(total // PILOT_FRACTION, 10 * target.n_dim), rng,
                                 config.cores)
    positive = target.log_sd_positions
    for refits in range(1 + MAX_REFITS):
        centre, shape = imh.refined_proposal(x, log_p - log_q, positive)
        x, log_q, log_p = _proposals(target, centre, shape, total, rng, config.cores, positive)
        index, stats, attrs = imh.run(log_p, log_q, config.chains, rng)
        if attrs["pareto_k"] <= MAX_PARETO_K:
            break
    attrs["proposal_refits"] = refits
    return x[index], xr.Dataset({k: (("chain", "draw"), v) for k, v in stats.items()}), attrs


def _theta_draws(target: IntegratedPosterior, config: SamplerConfig, rng: np.random.Generator):
    """θ's draws, sample stats and attributes from ``config.sampler``; the independence
    sampler gives way to NUTS when its k̂ check fails (module docstring)."""
    if config.sampler != "imh":
        return _nuts(target, config)
    draws, stats, attrs = _imh(target, config, rng)
    if attrs["pareto_k"] <= MAX_PARETO_K:
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
