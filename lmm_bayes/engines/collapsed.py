"""The collapsed engine: Gaussian random intercepts on several crossed or nested grouping
factors, every effect integrated out (:mod:`lmm_bayes.collapsed`), the variance parameters
sampled by independence Metropolis–Hastings (:mod:`lmm_bayes.imh`).

Each proposal of the variance parameters carries one exact draw of every effect from its
conditional, so the chains move (θ, b) jointly. Proposals do not depend on the chain, so
they are evaluated in ``config.cores`` threads (default: all cores), one BLAS thread each;
the same ``random_seed`` gives the same draws whatever the number of threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import collapsed, imh, names
from ..collapsed import CollapsedModel
from ..errors import SamplingError
from ..sampling import SamplerConfig, in_threads
from .base import Assessment, Problem

if TYPE_CHECKING:
    import arviz as az

__all__ = ["ENGINE", "CollapsedEngine"]

MAX_IMH_VALUES = 2 * 10**8  # effects × draws held in memory (1.6 GB of float64)


def _log_posterior(model: CollapsedModel, x: np.ndarray, effects: np.ndarray,
                   cores: int | None) -> np.ndarray:
    """log p(x_i | y) of every proposal, each overwriting its row of ``effects`` with a draw
    of the effects given x_i; rows split over threads (:func:`lmm_bayes.sampling.in_threads`)."""
    log_p = np.empty(len(x))

    def evaluate(rows):
        workspace = model.workspace()
        for i in rows:
            log_p[i] = model.draw(x[i], effects[i], workspace)

    in_threads(evaluate, len(x), cores)
    return log_p


def _posterior(model: CollapsedModel, x: np.ndarray, effects: np.ndarray) -> tuple[dict, dict,
                                                                                 dict]:
    """The public posterior variables, their dims and coords, from chained draws."""
    random, beta = model.effects(effects)
    posterior = {names.BETA: beta, names.SIGMA: np.exp(x[..., -1])}
    coords = {names.FIXED: list(model.fixed_names)}
    dims = {names.BETA: [names.FIXED]}
    for k, (factor, levels) in enumerate(zip(model.factors, model.levels)):
        term, level = names.term_dim(factor), names.level_dim(factor)
        posterior[names.sd(factor)] = np.exp(x[..., k])[..., None]
        posterior[names.effects(factor)] = random[factor][..., None]
        dims[names.sd(factor)] = [term]
        dims[names.effects(factor)] = [level, term]
        coords[term] = ["(Intercept)"]
        coords[level] = list(levels)
    return posterior, dims, coords


class CollapsedEngine:
    """Collapsed crossed or nested random intercepts; see the module docstring."""

    name = "collapsed"
    samplers = ("imh",)

    def assess(self, problem: Problem) -> Assessment:
        design = problem.design
        found = collapsed.obstacle(design, problem.priors, problem.family, problem.residuals)
        if found is not None:
            return Assessment("", found)
        case = (f"collapsed: {len(design.groups)} crossed or nested intercept factors, every "
                "effect integrated out")
        fewest = min(g.n_levels for g in design.groups)
        if problem.likelihood == "conditional":
            return Assessment(case, "the likelihood option 'conditional' samples the effects")
        if fewest < collapsed.MIN_LEVELS:
            return Assessment(case, f"a factor has {fewest} levels, fewer than "
                              f"{collapsed.MIN_LEVELS}: too skewed a variance posterior for "
                              "the independence sampler")
        return Assessment(case + f", each of ≥ {collapsed.MIN_LEVELS} levels")

    def default_sampler(self, problem: Problem) -> str:
        return self.samplers[0]

    def likelihood(self, problem: Problem) -> str:
        return "marginal"

    def build(self, problem: Problem) -> CollapsedModel:
        return collapsed.collapsed_model(problem.design, problem.priors)

    def response_data(self, problem: Problem) -> None:
        return None

    def sample(self, target: CollapsedModel, problem: Problem, config: SamplerConfig,
               data: dict | None = None) -> az.InferenceData:
        import arviz as az

        if target.n_effects * config.draws * config.chains > MAX_IMH_VALUES:
            raise SamplingError(f"{config.chains} chains × {config.draws} draws of "
                                f"{target.n_effects} effects are too many values to hold; "
                                "take fewer draws")
        rng = np.random.default_rng(config.random_seed)
        total = config.chains * config.draws
        x, log_q = imh.t_proposals(target.mode, target.covariance, total, rng)
        effects = rng.standard_normal((total, target.n_effects))
        log_p = _log_posterior(target, x, effects, config.cores)
        index, stats, attrs = imh.run(log_p, log_q, config.chains, rng)
        posterior, dims, coords = _posterior(target, x[index], effects[index])
        idata = az.from_dict(posterior=posterior, sample_stats=stats, coords=coords,
                             dims=dims)
        idata.sample_stats.attrs.update(attrs)
        return idata

    def diagnostics(self, idata: az.InferenceData) -> list[str]:
        k_hat = idata.sample_stats.attrs.get("pareto_k", -np.inf)
        if k_hat <= imh.PARETO_K_MAX:
            return []
        problem = (f"the independence sampler's proposal misses part of the posterior "
                   f"(Pareto k = {k_hat:.2f} > {imh.PARETO_K_MAX}); refit with "
                   "engine='graph' (NUTS with every effect sampled)")
        return [problem]


ENGINE = CollapsedEngine()
