"""The marginal engine: a Gaussian model with one grouping factor, the random effects
integrated out, NUTS on a compiled log density.

The density and its gradient are :mod:`lmm_bayes.kernel`'s (numba, compiled once and cached
on disk, handed to nutpie's C interface, so a new model compiles nothing); with
``sampler="numpyro"`` its JAX twin (:mod:`lmm_bayes.kernel_jax`, the GPU path). Each
level's effects are then drawn from their exact conditional (:mod:`lmm_bayes.marginal`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import kernel
from ..kernel import MarginalDensity
from ..marginal import with_effects
from ..sampling import SamplerConfig, compiled_model, require_numpyro, run_nutpie
from .base import Assessment, Problem

if TYPE_CHECKING:
    import arviz as az

__all__ = ["ENGINE", "MarginalEngine", "sample_density"]


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


def _numpyro(density: MarginalDensity, config: SamplerConfig) -> az.InferenceData:
    require_numpyro()
    from ..kernel_jax import sample_numpyro

    return sample_numpyro(density, config)


def sample_density(density: MarginalDensity, config: SamplerConfig) -> az.InferenceData:
    """Draws of the population parameters from ``density`` with ``config``'s sampler
    (nutpie, or numpyro), the random effects not yet drawn: what a fit from per-level
    statistics alone samples (:mod:`lmm_bayes.distributed`)."""
    run = _numpyro if config.sampler == "numpyro" else _nutpie
    return run(density, config)


class MarginalEngine:
    """The compiled marginal density; see the module docstring."""

    name = "marginal"
    samplers = ("nutpie", "numpyro")

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
        return self.samplers[0]

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
