"""The graph engine: the PyMC model (:mod:`lmm_bayes.builder`), sampled by nutpie, PyMC or
numpyro.

It fits every model the package builds, and is the reference that tests hold the other
engines to. For a Gaussian model with one grouping factor of at most two varying terms it
integrates the random effects out of the likelihood unless ``likelihood="conditional"``
(:mod:`lmm_bayes.marginal`) and draws them afterwards from their exact conditional.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from ..sampling import SamplerConfig, require_numpyro, run_nutpie
from .base import Assessment, Problem

# PyMC (with PyTensor) and numba (..marginal) are imported where a model is built or
# sampled: a multivariate model's design and priors need neither.
if TYPE_CHECKING:
    import arviz as az
    import pymc as pm

__all__ = ["ENGINE", "GraphEngine", "sample_model"]

_COMPILED: weakref.WeakKeyDictionary[pm.Model, object] = weakref.WeakKeyDictionary()


def _nutpie(model: pm.Model, config: SamplerConfig, data) -> az.InferenceData:
    import nutpie

    if model not in _COMPILED:  # compile once per model; later fits only sample
        _COMPILED[model] = nutpie.compile_pymc_model(model)
    compiled = _COMPILED[model]
    return run_nutpie(compiled.with_data(**data) if data else compiled, config)


def _pymc(model: pm.Model, config: SamplerConfig, data) -> az.InferenceData:
    import pymc as pm

    if config.sampler == "numpyro":
        require_numpyro()
    with model:
        if data:
            pm.set_data(data)
        return pm.sample(
            draws=config.draws, tune=config.tune, chains=config.chains,
            cores=config.cores, random_seed=config.random_seed,
            target_accept=config.target_accept, nuts_sampler=config.sampler,
            progressbar=config.progressbar, compute_convergence_checks=False,
        )


def sample_model(model: pm.Model, config: SamplerConfig,
                 data: dict | None = None) -> az.InferenceData:
    """NUTS on a PyMC model with ``config.sampler``; ``data`` replaces the values of the
    model's ``pm.Data`` inputs (a compiled model is reused)."""
    run = _nutpie if config.sampler == "nutpie" else _pymc
    return run(model, config, data)


class GraphEngine:
    """The PyMC model; see the module docstring."""

    name = "graph"
    samplers = ("nutpie", "pymc", "numpyro")

    def assess(self, problem: Problem) -> Assessment:
        return Assessment(f"graph: the PyMC model ({self._case(problem)})")

    def _case(self, problem: Problem) -> str:
        if self.likelihood(problem) == "marginal":
            return "random effects integrated out of the likelihood"
        return "every random effect sampled"

    def default_sampler(self, problem: Problem) -> str:
        return self.samplers[0]

    def likelihood(self, problem: Problem) -> str:
        from ..marginal import can_marginalize

        marginal = can_marginalize(problem.design, problem.family, problem.residuals)
        return "marginal" if marginal and problem.likelihood != "conditional" else "conditional"

    def build(self, problem: Problem) -> pm.Model:
        from ..builder import build_model

        return build_model(problem.design, problem.priors, problem.family, link=problem.link,
                           parametrization=problem.parametrization,
                           likelihood=self.likelihood(problem), residuals=problem.residuals)

    def response_data(self, problem: Problem) -> dict:
        from ..builder import response_data

        return response_data(problem.design, self.likelihood(problem))

    def sample(self, target: pm.Model, problem: Problem, config: SamplerConfig,
               data: dict | None = None) -> az.InferenceData:
        from ..marginal import with_effects

        idata = sample_model(target, config, data)
        if self.likelihood(problem) == "marginal":
            idata.posterior = with_effects(idata.posterior, problem.design, config.random_seed)
        return idata

    def diagnostics(self, idata: az.InferenceData) -> list[str]:
        return []


ENGINE = GraphEngine()
