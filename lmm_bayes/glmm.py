"""What the compiled GLMM densities share (:mod:`lmm_bayes.quadrature` for one grouping
factor, :mod:`lmm_bayes.joint` for several): which families and links they write out, each
row's log-likelihood in the linear predictor, the fixed effects' coordinates and priors, and
the negative binomial's shape.

A row with linear predictor η = xᵀβ + o + zᵀb (o the offset) contributes, up to a constant
in the data,

=============================  =========================================  ================
family (link)                  log p(y | η)                               −∂²/∂η²
=============================  =========================================  ================
binomial, Bernoulli (logit)    yη − n log(1 + e^η)                        nμ(1 − μ)
Poisson (log)                  yη − μ                                     μ
negative binomial (log)        log Γ(y + α) − log Γ(α) + α log α          (y + α)αμ/(α + μ)²
                               + yη − (y + α) log(α + μ)
=============================  =========================================  ================

with μ = g⁻¹(η) and n the trials (McCullagh & Nelder 1989, ch. 4 and 11; Hilbe 2011,
*Negative Binomial Regression*, eq. 8.11). Every one is concave in η, so each level's
conditional mode of b is unique and Newton's method with step halving finds it.

The fixed effects are sampled as in the PyMC model (:func:`lmm_bayes.builder._coefficients`):
with an intercept, the other columns are centred at their means and the intercept α_c is
that of the centred design, so β₀ = α_c − x̄ᵀβ₁; their priors are the
:class:`~lmm_bayes.priors.PriorSet`'s. The negative binomial's α is sampled as log α with
its prior and the log-Jacobian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from . import names
from .design import Design
from .kernel import SCALE_PRIORS, prior_rows, prior_term
from .priors import INTERCEPT, PriorSet

__all__ = ["FAMILY_CODES", "FixedEffects", "digamma", "fixed_effects", "obstacle",
           "row_terms"]

BINOMIAL, POISSON, NEGATIVE_BINOMIAL = 0, 1, 2
#: the families and links written out here, by (family, link)
FAMILY_CODES = {("bernoulli", "logit"): BINOMIAL, ("binomial", "logit"): BINOMIAL,
                ("poisson", "log"): POISSON, ("negbinomial", "log"): NEGATIVE_BINOMIAL}
_COEFFICIENT_PRIORS = {"normal", "student_t"}


def obstacle(design: Design, priors: PriorSet, family: str, link: str | None,
             residuals) -> str | None:
    """What keeps the compiled GLMM densities from this model, or None: a family and link
    of :data:`FAMILY_CODES`, at least one grouping factor, no residual structure or
    observation weights (the compiled densities weigh every row alike), normal or
    Student-t priors on the fixed effects and priors of :data:`SCALE_PRIORS` on the SDs and
    α."""
    from .families import get_family

    if family == "gaussian":
        return "a Gaussian response (the Gaussian engines integrate every effect out exactly)"
    written = sorted({name for name, _ in FAMILY_CODES})
    if family not in written:
        return f"the {family} family (the compiled GLMM densities write out {written})"
    if (family, get_family(family, link).link) not in FAMILY_CODES:
        return f"the {link} link (the compiled GLMM densities write out logit and log)"
    if not design.groups:
        return "no grouping factor"
    if residuals is not None:
        return "a residual structure"
    if design.weights is not None:
        return "observation weights (the graph engine fits them)"
    coefficients = [priors.intercept, *priors.fixed.values()]
    if any(p is not None and p.dist not in _COEFFICIENT_PRIORS for p in coefficients):
        return "a fixed effect's prior that is neither normal nor Student-t"
    scales = [p for g in design.groups for p in priors.sd[g.name].values()]
    if any(p.dist not in SCALE_PRIORS for p in [*scales, *priors.auxiliary.values()]):
        return "an SD or shape prior of a family the compiled densities do not write out"
    return None


@dataclass(frozen=True)
class FixedEffects:
    """The fixed effects' sampled coordinates (module docstring) and their priors.

    Attributes
    ----------
    names : tuple of str
        The columns of X.
    means : ndarray (p,)
        x̄, the column means taken out of X (0 for the intercept and without one).
    X : ndarray (n, p)
        The design with those means taken out.
    kinds, params : ndarray
        The coefficients' priors, then α's when the family has it, as rows of
        :func:`lmm_bayes.kernel.prior_rows`.
    has_shape : bool
        Whether the family's α (negative binomial) is sampled, as log α after the
        coefficients.
    """

    names: tuple[str, ...]
    means: np.ndarray
    X: np.ndarray
    kinds: np.ndarray
    params: np.ndarray
    has_shape: bool

    @property
    def p(self) -> int:
        return len(self.names)

    @property
    def n_dim(self) -> int:
        """The coefficients and log α."""
        return self.p + int(self.has_shape)

    def coefficients(self, a: np.ndarray) -> np.ndarray:
        """β at the sampled coordinates ``a`` (..., p): β₀ = α_c − x̄ᵀβ₁."""
        beta = np.array(a[..., :self.p], dtype=float)
        if INTERCEPT in self.names:
            beta[..., 0] -= beta[..., 1:] @ self.means[1:]
        return beta

    def variables(self, rho: np.ndarray) -> tuple[dict, dict]:
        """``alpha`` (negative binomial) at draws of ρ = (coordinates, log α), with dims; the
        coefficients are returned with the effects."""
        if not self.has_shape:
            return {}, {}
        return {names.ALPHA: (np.exp(rho[..., self.p]), ())}, {}

    def start(self) -> np.ndarray:
        """Each coefficient at its prior's centre, α at 1."""
        centre = self.params[:self.p, 1]
        return np.concatenate([centre, np.zeros(int(self.has_shape))])


def fixed_effects(design: Design, priors: PriorSet, family: str) -> FixedEffects:
    """The :class:`FixedEffects` of ``design`` with its priors."""
    columns = design.fixed_names
    intercept = INTERCEPT in columns
    means = design.X.mean(axis=0) if intercept else np.zeros(len(columns))
    if intercept:
        means[columns.index(INTERCEPT)] = 0.0
    coefficient_priors = [priors.intercept if n == INTERCEPT else priors.fixed[n]
                          for n in columns]
    shape = priors.auxiliary.get(names.ALPHA)
    kinds, params = prior_rows(coefficient_priors + ([shape] if shape is not None else []))
    return FixedEffects(columns, means, design.X - means, kinds, params, shape is not None)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def digamma(x):
    """ψ(x) for x > 0: the recurrence ψ(x) = ψ(x + 1) − 1/x up to x ≥ 10, then the
    asymptotic series (Abramowitz & Stegun 1964, 6.3.5 and 6.3.18)."""
    result = 0.0
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))))
    return result + math.log(x) - 0.5 / x - series


@numba.njit(cache=True, nogil=True, error_model="numpy")
def row_terms(family, y, n, eta, alpha):
    """One row's log p(y | η) up to a constant in y, ∂/∂η, −∂²/∂η² and ∂/∂log α (module
    docstring)."""
    if family == BINOMIAL:
        tail = math.exp(-abs(eta))     # one exponential for log(1 + e^η) and μ, in any range
        mu = 1.0 / (1.0 + tail) if eta >= 0.0 else tail / (1.0 + tail)
        softplus = max(eta, 0.0) + math.log1p(tail)
        return y * eta - n * softplus, y - n * mu, n * mu * (1.0 - mu), 0.0
    mu = math.exp(eta)
    if family == POISSON:
        return y * eta - mu, y - mu, mu, 0.0
    total = alpha + mu
    log_total = math.log(total)
    value = (math.lgamma(y + alpha) - math.lgamma(alpha) + alpha * math.log(alpha)
             + y * eta - (y + alpha) * log_total)
    score = y - (y + alpha) * mu / total
    information = (y + alpha) * alpha * mu / (total * total)
    shape_score = alpha * (digamma(y + alpha) - digamma(alpha) + math.log(alpha) - log_total
                           + (mu - y) / total)
    return value, score, information, shape_score


@numba.njit(cache=True, nogil=True, error_model="numpy")
def fixed_log_prior(a, kinds, params, p, has_shape, gradient):
    """log p(coefficients) + log p(α) + log α at the coordinates ``a`` (coefficients, log α);
    adds the gradient to ``gradient`` (same positions as ``a``)."""
    total = 0.0
    for j in range(p):
        value, slope = prior_term(a[j], kinds[j], params[j, 0], params[j, 1], params[j, 2])
        total += value
        gradient[j] += slope
    if has_shape:
        alpha = math.exp(a[p])
        value, slope = prior_term(alpha, kinds[p], params[p, 0], params[p, 1], params[p, 2])
        total += value + a[p]
        gradient[p] += slope * alpha + 1.0
    return total
