"""The blocked engine: any Gaussian mixed model whose effects integrate out exactly, by a
blocked Cholesky of the random-effects system (:mod:`lmm_bayes.effects_system`: crossed or
nested factors, any varying terms, and a sigma formula with few distinct design rows) or of
each individual's marginal covariance (:mod:`lmm_bayes.individual_blocks`: one grouping
factor with residual AR(1)/CAR(1) and/or sigma formulas).

Only the variance parameters θ are sampled (:mod:`lmm_bayes.integrated`), by independence
Metropolis–Hastings or NUTS (:mod:`.theta`); the independence sampler is the default when
every factor has at least :data:`lmm_bayes.collapsed.MIN_LEVELS` levels and θ is small: its
posterior is then close to normal. Every draw of θ is then completed by one exact draw of
the fixed and random effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import effects_system
from ..covariance import factor_covariances
from ..integrated import IntegratedPosterior
from ..sampling import SamplerConfig
from .base import Assessment, Problem
from .theta import default_sampler, sample_theta

if TYPE_CHECKING:
    import arviz as az

__all__ = ["ENGINE", "BlockedEngine"]

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
        covariances = factor_covariances(design.groups, problem.priors)
        return default_sampler(design, sum(c.n_dim for c in covariances))

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
        return sample_theta(target, config)

    def diagnostics(self, idata: az.InferenceData) -> list[str]:
        return []


ENGINE = BlockedEngine()
