"""The blocked engine: any Gaussian mixed model whose effects integrate out exactly, by a
blocked Cholesky of the random-effects system (:mod:`lmm_bayes.effects_system`: crossed or
nested factors, any varying terms, and a sigma formula with few distinct design rows) or of
each individual's marginal covariance (:mod:`lmm_bayes.individual_blocks`: one grouping
factor with residual AR(1)/CAR(1) and/or sigma formulas).

Only the variance parameters θ are sampled (:mod:`lmm_bayes.integrated`), in one of two ways:

* ``"imh"``: independence Metropolis–Hastings from the Laplace fit (:mod:`lmm_bayes.imh`),
  the default when every factor has at least :data:`lmm_bayes.collapsed.MIN_LEVELS` levels
  and θ is small: its posterior is then close to normal. The proposal is refitted to a pilot
  sample, with the SDs on their own scale, and the Pareto k̂ of the importance weights checks
  it: above :data:`MAX_PARETO_K` the engine samples with NUTS instead and
  records ``imh_pareto_k``.
* ``"nutpie"``: NUTS in coordinates whitened by the Laplace covariance, θ = mode + C z with
  CCᵀ the inverse Hessian at the mode, so that the sampler starts at the mode with a dense
  mass matrix that nutpie's diagonal adaptation only refines.

Every draw of θ is then completed by one exact draw of the fixed and random effects.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from .. import collapsed, effects_system, imh
from ..covariance import factor_covariances
from ..integrated import IntegratedPosterior
from ..packing import whitened_expand_cfunc
from ..sampling import SamplerConfig, compiled_model, run_nutpie
from .base import Assessment, Problem

if TYPE_CHECKING:
    import arviz as az

__all__ = ["ENGINE", "BlockedEngine"]

logger = logging.getLogger("lmm_bayes")
MAX_IMH_DIM = 12  # variance parameters the independence sampler takes on by default
# The independence sampler's largest k̂: between 0.5 and 0.7 the weights are usable but the
# chains mix slowly (the EEG study's sigma model: k̂ 0.56, bulk ESS 296 of 2,000 draws against
# NUTS's 919), and NUTS on θ costs seconds (Vehtari et al. 2024, section 3)
MAX_PARETO_K = 0.5
PILOT_FRACTION = 4  # the independence sampler's pilot: a quarter as many proposals as draws
_THETA = "theta"


def _structured(problem: Problem) -> bool:
    return problem.residuals is not None or problem.priors.has_sigma_model


def _per_individual(problem: Problem) -> bool:
    """Whether :class:`~lmm_bayes.individual_blocks.IndividualBlocks` takes the model: a
    residual structure or sigma formula that it covers (one grouping factor)."""
    if not _structured(problem):
        return False
    from .. import individual_blocks

    return individual_blocks.obstacle(problem.design, problem.priors, problem.family,
                                      problem.residuals) is None


def _obstacle(problem: Problem) -> str | None:
    """Why neither algebra covers the model, or None: a residual correlation structure is
    :mod:`lmm_bayes.individual_blocks`' alone, independent residuals (a few-valued sigma
    formula included) :mod:`lmm_bayes.effects_system`'s."""
    if _per_individual(problem):
        return None
    if problem.residuals is not None and problem.residuals.serial is not None:
        from .. import individual_blocks

        return individual_blocks.obstacle(problem.design, problem.priors, problem.family,
                                          problem.residuals)
    return effects_system.obstacle(problem.design, problem.priors, problem.family,
                                   problem.residuals)


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
    then run on proposals from the refitted t alone."""
    import xarray as xr

    total = config.chains * config.draws
    x, log_q, log_p = _proposals(target, target.mode, target.covariance,
                                 max(total // PILOT_FRACTION, 10 * target.n_dim), rng,
                                 config.cores)
    positive = target.log_sd_positions
    centre, shape = imh.refined_proposal(x, log_p - log_q, positive)
    x, log_q, log_p = _proposals(target, centre, shape, total, rng, config.cores, positive)
    index, stats, attrs = imh.run(log_p, log_q, config.chains, rng)
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


class BlockedEngine:
    """Every Gaussian model whose effects integrate out; see the module docstring."""

    name = "blocked"
    samplers = ("nutpie", "imh")

    def assess(self, problem: Problem) -> Assessment:
        found = _obstacle(problem)
        if found is not None:
            return Assessment("", found)
        groups = problem.design.groups
        shape = ", ".join(f"{g.name} ({g.n_levels} levels × {len(g.terms)})" for g in groups)
        kind = ("per-individual covariance" if _per_individual(problem)
                else "random-effects system")
        case = f"blocked: every effect integrated out by a blocked Cholesky of the {kind} ({shape})"
        if problem.likelihood == "conditional":
            return Assessment(case, "the likelihood option 'conditional' samples the effects")
        return Assessment(case)

    def default_sampler(self, problem: Problem) -> str:
        """``"imh"`` when θ's posterior should be close to normal (module docstring)."""
        design = problem.design
        n_dim = sum(c.n_dim for c in factor_covariances(design.groups, problem.priors))
        if collapsed.near_normal(design) and n_dim < MAX_IMH_DIM:
            return "imh"
        return "nutpie"

    def likelihood(self, problem: Problem) -> str:
        return "marginal"

    def build(self, problem: Problem) -> IntegratedPosterior:
        design, priors = problem.design, problem.priors
        if _per_individual(problem):
            from ..individual_blocks import IndividualBlocks

            algebra = IndividualBlocks(design, priors, problem.residuals)
        else:
            algebra = effects_system.EffectsSystem(design, priors, problem.residuals)
        return IntegratedPosterior(algebra, factor_covariances(design.groups, priors))

    def response_data(self, problem: Problem) -> None:
        return None

    def sample(self, target: IntegratedPosterior, problem: Problem, config: SamplerConfig,
               data: dict | None = None) -> az.InferenceData:
        import arviz as az

        rng = np.random.default_rng(config.random_seed)
        draws, stats, attrs = _theta_draws(target, config, rng)
        posterior, dims, coords = target.posterior(draws, rng, config.cores)
        idata = az.from_dict(posterior=posterior, coords=coords, dims=dims)
        idata.add_groups(sample_stats=stats)
        idata.sample_stats.attrs.update(attrs)
        return idata

    def diagnostics(self, idata: az.InferenceData) -> list[str]:
        return []


ENGINE = BlockedEngine()
