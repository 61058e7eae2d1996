"""The marginal engine: a Gaussian model with one grouping factor, the random effects
integrated out, NUTS on a compiled log density.

The density and its gradient are :mod:`lmm_bayes.kernel`'s (numba, compiled once and cached
on disk, handed to nutpie's C interface, so a new model compiles nothing); with
``sampler="numpyro"`` its JAX twin (:mod:`lmm_bayes.kernel_jax`, the GPU path). With
``sampler="imh"``, independence Metropolis–Hastings from the Laplace fit at the posterior
mode (:func:`lmm_bayes.imh.adaptive_draws`): the default from :data:`IMH_MIN_LEVELS`
levels, where the posterior of a handful of parameters is close to normal and every
evaluation of the density costs O(levels), so that a few thousand evaluations in parallel,
rather than NUTS's tens of thousands in sequence, make the sample; when the importance
weights' Pareto k̂ says the proposal misses part of the posterior, NUTS samples instead.
Each level's effects are then drawn from their exact conditional (:mod:`lmm_bayes.marginal`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from .. import imh, kernel
from ..kernel import MarginalDensity
from ..marginal import with_effects
from ..sampling import SamplerConfig, compiled_model, require_numpyro, run_nutpie
from .base import Assessment, Problem

if TYPE_CHECKING:
    import arviz as az

__all__ = ["ENGINE", "IMH_MIN_LEVELS", "MarginalEngine", "default_sampler", "sample_density"]

logger = logging.getLogger("lmm_bayes")
IMH_MIN_LEVELS = 1000


def _nutpie_model(density: MarginalDensity) -> object:
    """The compiled density as a nutpie model: its C entry points read the density's packed
    buffer, so nothing is compiled here. Each chain starts at the posterior mode jittered by
    U(−0.5, 0.5) per coordinate."""
    def initial_point(seed):
        return density.jittered_start(np.random.default_rng(seed))

    variables = {name: (shape, density.dims[name])
                 for name, shape in zip(density.names, density.shapes)}
    return compiled_model(variables, density.coords, density.n_dim, kernel.logp_cfunc,
                          kernel.expand_cfunc, density.buffer, initial_point)


def _nutpie(density: MarginalDensity, config: SamplerConfig) -> az.InferenceData:
    return run_nutpie(_nutpie_model(density), config)


def _imh(density: MarginalDensity, config: SamplerConfig) -> az.InferenceData:
    """Independence Metropolis–Hastings (module docstring), or NUTS when its proposal fails
    the k̂ check (recorded as ``imh_pareto_k``)."""
    import arviz as az

    rng = np.random.default_rng(config.random_seed)
    x, stats, attrs = imh.adaptive_draws(density, config.chains, config.draws, rng,
                                         config.cores)
    if attrs["pareto_k"] > imh.MAX_PARETO_K:
        logger.info("the independence sampler's proposal misses part of the posterior "
                    "(Pareto k = %.2f); sampling with NUTS instead", attrs["pareto_k"])
        idata = _nutpie(density, config)
        idata.sample_stats.attrs["imh_pareto_k"] = attrs["pareto_k"]
        return idata
    expanded = [density.expand(row) for row in x.reshape(-1, density.n_dim)]
    posterior = {name: np.stack([e[name] for e in expanded]).reshape(x.shape[:2] + shape)
                 for name, shape in zip(density.names, density.shapes)}
    idata = az.from_dict(posterior=posterior, coords=density.coords,
                          dims={name: list(dims) for name, dims in density.dims.items()})
    idata.add_groups(sample_stats=stats)
    idata.sample_stats.attrs.update(attrs)
    return idata


def _numpyro(density: MarginalDensity, config: SamplerConfig) -> az.InferenceData:
    require_numpyro()
    from ..kernel_jax import sample_numpyro

    return sample_numpyro(density, config)


def default_sampler(n_levels: int) -> str:
    """``"imh"`` from :data:`IMH_MIN_LEVELS` levels (module docstring), else nutpie."""
    return "imh" if n_levels >= IMH_MIN_LEVELS else "nutpie"


def sample_density(density: MarginalDensity, config: SamplerConfig) -> az.InferenceData:
    """Draws of the population parameters from ``density`` with ``config``'s sampler
    (nutpie, numpyro or imh), the random effects not yet drawn: what a fit from per-level
    statistics alone samples (:mod:`lmm_bayes.distributed`)."""
    run = {"numpyro": _numpyro, "imh": _imh}.get(config.sampler, _nutpie)
    return run(density, config)


class MarginalEngine:
    """The compiled marginal density; see the module docstring."""

    name = "marginal"
    samplers = ("nutpie", "numpyro", "imh")

    def assess(self, problem: Problem) -> Assessment:
        design = problem.design
        found = kernel.obstacle(design, problem.priors, problem.family, problem.residuals)
        if found is not None:
            return Assessment("", found)
        group = design.groups[0]
        terms = f"{len(group.terms)} varying term{'s' if len(group.terms) > 1 else ''}"
        case = f"marginal: one grouping factor ({group.name}, {terms}), effects integrated out"
        if problem.likelihood == "conditional":
            return Assessment(case, "the likelihood option 'conditional' samples the effects")
        return Assessment(case)

    def default_sampler(self, problem: Problem) -> str:
        return default_sampler(problem.design.groups[0].n_levels)

    def likelihood(self, problem: Problem) -> str:
        return "marginal"

    def build(self, problem: Problem) -> MarginalDensity:
        return kernel.marginal_density(problem.design, problem.priors)

    def response_data(self, problem: Problem) -> None:
        return None

    def sample(self, target: MarginalDensity, problem: Problem, config: SamplerConfig,
               data: dict | None = None) -> az.InferenceData:
        idata = sample_density(target, config)
        idata.posterior = with_effects(idata.posterior, problem.design, config.random_seed)
        return idata

    def diagnostics(self, idata: az.InferenceData) -> list[str]:
        return []


ENGINE = MarginalEngine()
