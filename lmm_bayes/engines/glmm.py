"""The GLMM engine: Bernoulli, binomial (logit), Poisson and negative binomial (log) mixed
models, offsets included, through densities compiled once (nothing per model).

* One grouping factor of at most three varying terms: the effects are integrated out by
  adaptive Gauss–Hermite quadrature to a stated tolerance (:mod:`lmm_bayes.quadrature`),
  and θ = (Σ, β, α) is sampled as the blocked engine samples its θ (:mod:`.theta`): by
  independence Metropolis–Hastings from the Laplace fit when the factor has at least
  :data:`lmm_bayes.collapsed.MIN_LEVELS` levels and θ is small, else NUTS in whitened
  coordinates. NUTS uses the gradient of Fisher's identity on the quadrature's nodes,
  which differs from the exact gradient of the quadrature by the quadrature's error; the
  leapfrog steps stay reversible and volume-preserving whatever the force, and the
  acceptance uses the density itself, so the chain still targets it exactly. Each draw
  is completed by the effects, drawn by importance resampling.
* Several grouping factors: NUTS (nutpie, with its low-rank mass matrix) on the full
  model, effects included, each factor centred or not by the information on its levels
  (:mod:`lmm_bayes.joint`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import glmm, quadrature
from ..covariance import factor_covariances
from ..sampling import SamplerConfig, run_nutpie
from .base import Assessment, Problem
from .theta import default_sampler, sample_theta

if TYPE_CHECKING:
    import arviz as az

__all__ = ["ENGINE", "GlmmEngine"]


def _n_theta(problem: Problem) -> int:
    covariances = factor_covariances(problem.design.groups, problem.priors)
    return (sum(c.n_dim for c in covariances) + len(problem.design.fixed_names)
            + len(problem.priors.auxiliary))


class GlmmEngine:
    """Every GLMM of the families and links in :data:`lmm_bayes.glmm.FAMILY_CODES`; see
    the module docstring."""

    name = "glmm"
    samplers = ("nutpie", "imh")

    def assess(self, problem: Problem) -> Assessment:
        found = glmm.obstacle(problem.design, problem.priors, problem.family, problem.link,
                              problem.residuals)
        if found is not None:
            return Assessment("", found)
        groups = problem.design.groups
        shape = ", ".join(f"{g.name} ({g.n_levels} levels × {len(g.terms)})" for g in groups)
        if self._integrated(problem):
            case = (f"glmm: effects integrated out by adaptive Gauss-Hermite quadrature "
                    f"({shape})")
        else:
            case = f"glmm: the full model compiled, effects sampled ({shape})"
        return Assessment(case)

    def _integrated(self, problem: Problem) -> bool:
        return (quadrature.obstacle(problem.design) is None
                and problem.likelihood != "conditional")

    def default_sampler(self, problem: Problem) -> str:
        """``"imh"`` when θ's posterior should be close to normal (module docstring)."""
        if not self._integrated(problem):
            return "nutpie"
        return default_sampler(problem.design, _n_theta(problem))

    def likelihood(self, problem: Problem) -> str:
        return "marginal" if self._integrated(problem) else "conditional"

    def build(self, problem: Problem):
        design, priors = problem.design, problem.priors
        if self._integrated(problem):
            return quadrature.quadrature_posterior(design, priors, problem.family, problem.link)
        from ..joint import joint_density

        return joint_density(design, priors, problem.family, problem.link,
                             problem.parametrization)

    def response_data(self, problem: Problem) -> None:
        return None

    def sample(self, target, problem: Problem, config: SamplerConfig,
               data: dict | None = None) -> az.InferenceData:
        if isinstance(target, quadrature.QuadraturePosterior):
            return sample_theta(target, config)
        if config.sampler != "nutpie":
            from ..errors import SamplingError

            raise SamplingError(f"the full GLMM samples with nutpie, not {config.sampler!r}")
        # the fixed effects of level-wide covariates (an item's type) move with the levels'
        # effects; nutpie's low-rank mass matrix adapts to such directions
        idata = run_nutpie(target.compiled(), config, low_rank_modified_mass_matrix=True)
        idata.sample_stats.attrs["centred"] = [int(c) for c in target.centred]
        return idata

    def diagnostics(self, idata: az.InferenceData) -> list[str]:
        return []


ENGINE = GlmmEngine()
