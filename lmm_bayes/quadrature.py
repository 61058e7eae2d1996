"""A GLMM with one grouping factor, its random effects integrated out level by level by
adaptive Gauss–Hermite quadrature (glmer's ``nAGQ``; Pinheiro & Bates 1995), so that only
θ = (Σ's coordinates, the fixed effects, log α) is sampled.

The likelihood is a product over levels of q-dimensional integrals (q ≤ :data:`MAX_TERMS`),

.. math::

    p(y \\mid \\beta, \\Sigma, \\alpha) = \\prod_\\ell \\int \\prod_{j \\in \\ell}
    p(y_j \\mid x_j^\\top\\beta + o_j + z_j^\\top b, \\alpha)\\, N(b; 0, \\Sigma)\\, db,

each computed on a tensor grid of m points per dimension placed at the integrand's mode and
scaled by its curvature (:func:`lmm_bayes.quadrature_kernels.level_integral`). The number of
points m is chosen per model (:func:`points_per_dimension`): the smallest odd m whose log
posterior differences, between the mode and points two Laplace SDs away along each
coordinate, move by less than :data:`TOLERANCE` when m grows by two. Only such differences
reach the samplers (the acceptance ratios of NUTS and of the independence sampler), and an
error of 0.05 two SDs out tilts the posterior by about 1% of an SD per SD, well below the
Monte Carlo error of a few thousand draws. A single point (m = 1) is the Laplace
approximation, which the score of Fisher's identity on the nodes does not differentiate
(it leaves out the derivative of the curvature's determinant), so m starts at 3.

After θ is sampled, each draw is completed by one draw of every level's effects from
p(b | y, θ), by importance resampling from a t at the conditional mode (Rubin 1988):
:data:`PROPOSALS` candidates per level and draw.
"""

from __future__ import annotations

import copy

import numpy as np

from .covariance import FactorCovariance, factor_covariances
from .design import Design, GroupingFactor
from .glmm import FAMILY_CODES, FixedEffects, fixed_effects
from .integrated import IntegratedPosterior
from .packing import pack
from .priors import PriorSet
from .quadrature_kernels import conditional_modes, effect_draws, log_posterior, logp_cfunc

__all__ = ["AdaptiveQuadrature", "QuadraturePosterior", "obstacle", "points_per_dimension",
           "quadrature_posterior"]

MAX_TERMS = 3
TOLERANCE = 0.05    # largest change of a log-posterior difference from m to m + 2 points
MAX_POINTS = {1: 25, 2: 11, 3: 7}   # points per dimension at most, by q
PROPOSALS = 8       # importance-resampling candidates per level and draw
PROPOSAL_DF = 8
SEARCH_RANGE = 12.0  # how far (log scale) the search for the mode may take an SD or α
REACH = 2.0         # Laplace SDs from the mode at which the points are checked


def obstacle(design: Design) -> str | None:
    """Why the quadrature does not take the model, or None: it takes one grouping factor
    of at most :data:`MAX_TERMS` varying terms that spans every row."""
    if len(design.groups) != 1:
        return f"{len(design.groups)} grouping factors"
    group = design.groups[0]
    if group.member is not None:
        return f"the gr(..., by = ...) factor {group.name}"
    if len(group.terms) > MAX_TERMS:
        return f"{len(group.terms)} varying terms (the quadrature takes at most {MAX_TERMS})"
    return None


def _grid(m: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    """The tensor-product nodes (m^q, q) for the standard normal and log w̃_k = log w_k +
    |z_k|²/2 (:func:`lmm_bayes.quadrature_kernels.level_integral`)."""
    points, weights = np.polynomial.hermite_e.hermegauss(m)
    grids = np.meshgrid(*([points] * q), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    log_w = np.add.reduce(np.meshgrid(*([np.log(weights)] * q), indexing="ij")).ravel()
    return nodes, log_w + 0.5 * (nodes**2).sum(axis=1)


class AdaptiveQuadrature:
    """The one-factor GLMM's log p(θ | y) and effect draws, compiled (module docstring); an
    algebra of :class:`~lmm_bayes.integrated.IntegratedPosterior`, θ = (Σ's coordinates,
    ρ) with ρ = (coefficients, log α).

    ``points`` per dimension and ``modes``, each level's
    Newton start (default 0), are fixed at construction: :meth:`refined` gives a copy with
    others."""

    logp_cfunc = logp_cfunc

    def __init__(self, design: Design, priors: PriorSet, family: str, link: str | None,
                 covariance: FactorCovariance, points: int = 3,
                 modes: np.ndarray | None = None):
        from .families import get_family

        group = design.groups[0]
        order = np.argsort(group.index, kind="stable")
        self.factors: tuple[GroupingFactor, ...] = (group,)
        self.fixed: FixedEffects = fixed_effects(design, priors, family)
        self.fixed_names = self.fixed.names
        self.n_residual = self.fixed.n_dim
        self.covariance = covariance
        self.points = points
        self.modes = np.zeros((group.n_levels, covariance.q)) if modes is None else modes
        code = FAMILY_CODES[(family, get_family(family, link).link)]
        trials = design.trials if design.trials is not None else np.ones(design.n_obs)
        offset = design.offset
        offset = np.zeros(design.n_obs) if offset is None else offset
        starts = np.searchsorted(group.index[order], np.arange(group.n_levels + 1))
        self._head = [code, group.n_levels, self.fixed.p, covariance.q]
        self._data = [starts.astype(np.int64), design.y[order], trials[order], offset[order],
                      self.fixed.X[order], group.Z[order], self.fixed.kinds, self.fixed.params,
                      covariance.kinds, covariance.params]
        self._buffer = self.buffer()

    def refined(self, points: int, modes: np.ndarray) -> AdaptiveQuadrature:
        """This model with ``points`` per dimension and Newton starts ``modes``."""
        found = copy.copy(self)
        found.points, found.modes = points, modes
        found._buffer = found.buffer()
        return found

    def buffer(self, mode: np.ndarray | None = None, factor: np.ndarray | None = None
               ) -> np.ndarray:
        """Everything :func:`~lmm_bayes.quadrature_kernels.log_posterior` reads, with the
        whitening θ = mode + factor·z of the nutpie entry point (default: none)."""
        nodes, log_weights = _grid(self.points, self.covariance.q)
        c = self.covariance
        scalars = np.array([*self._head, len(log_weights), c.correlated,
                            c.eta if c.correlated else 0.0, self.fixed.has_shape])
        n_dim = c.n_dim + self.n_residual
        mode = np.zeros(n_dim) if mode is None else mode
        factor = np.eye(n_dim) if factor is None else factor
        return pack([scalars, *self._data, nodes, log_weights, self.modes, mode, factor])

    def log_posterior(self, x: np.ndarray, gradient: bool = True) -> tuple[float, np.ndarray]:
        """log p(θ | y) up to a constant and its gradient (module docstring)."""
        return log_posterior(np.ascontiguousarray(x, dtype=float), self._buffer, gradient)

    def level_modes(self, x: np.ndarray) -> np.ndarray:
        """Each level's conditional mode b̂ at θ = ``x`` (L, q)."""
        return conditional_modes(np.ascontiguousarray(x, dtype=float), self._buffer)

    def effect_draws(self, thetas: np.ndarray, seeds: np.ndarray
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
        """β and one draw of b (m, L, q) from p(b | y, θ) at each row of ``thetas``, by
        importance resampling (module docstring), row i's random stream seeded by
        ``seeds[i]``."""
        b = effect_draws(np.ascontiguousarray(thetas, dtype=float), self._buffer,
                         np.asarray(seeds, dtype=np.int64), PROPOSALS, float(PROPOSAL_DF))
        return self.fixed.coefficients(thetas[:, self.covariance.n_dim:]), [b]

    def residual_start(self) -> np.ndarray:
        """The coefficients at their priors' centres, α at 1."""
        return self.fixed.start()

    def residual_variables(self, rho: np.ndarray) -> tuple[dict, dict]:
        return self.fixed.variables(rho)


class QuadraturePosterior(IntegratedPosterior):
    """:class:`~lmm_bayes.integrated.IntegratedPosterior` of the one-factor GLMM: the
    search for the mode starts at ``start`` (default: every SD at 1 on the link scale, the
    coefficients at their priors' centres), and the effects are drawn by importance
    resampling, from a seed per draw of θ."""

    def __init__(self, algebra: AdaptiveQuadrature, start: np.ndarray | None = None):
        self._start = start
        super().__init__(algebra, (algebra.covariance,))

    def start(self) -> np.ndarray:
        if self._start is not None:
            return self._start
        return np.concatenate([self.covariances[0].start(1.0), self.algebra.residual_start()])

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """The log-SDs within ±:data:`SEARCH_RANGE` of their start and log α within
        ±:data:`SEARCH_RANGE`, so that no step of the search overflows exp (on the link
        scale the gradient at the start can be in the hundreds); the rest free."""
        start = self.start()
        found = [(None, None)] * self.n_dim
        for j in range(self.covariances[0].q):
            found[j] = (start[j] - SEARCH_RANGE, start[j] + SEARCH_RANGE)
        if self.algebra.fixed.has_shape:
            found[-1] = (-SEARCH_RANGE, SEARCH_RANGE)
        return found

    def random_inputs(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """A seed per draw of θ for the importance resampling of its effects."""
        return rng.integers(2**31, size=m)


def points_per_dimension(algebra: AdaptiveQuadrature, posterior: IntegratedPosterior) -> int:
    """The smallest odd m ≥ 3 (module docstring) at which no difference of log p(θ | y)
    between ``posterior``'s mode and the points :data:`REACH` Laplace SDs from it along each
    coordinate changes by :data:`TOLERANCE` or more from m to m + 2; the largest of
    :data:`MAX_POINTS` otherwise."""
    mode = posterior.mode
    reach = REACH * np.sqrt(np.diag(posterior.covariance))
    points = [mode] + [mode + sign * step for step in np.diag(reach) for sign in (-1, 1)]

    def differences(m):
        found = algebra.refined(m, algebra.modes)
        values = np.array([found.log_posterior(x, gradient=False)[0] for x in points])
        return values[1:] - values[0]

    m, largest = 3, MAX_POINTS[algebra.covariance.q]
    current = differences(m)
    while m + 2 <= largest:
        following = differences(m + 2)
        if np.max(np.abs(following - current)) < TOLERANCE:
            return m
        m, current = m + 2, following
    return m


def quadrature_posterior(design: Design, priors: PriorSet, family: str, link: str | None
                         ) -> QuadraturePosterior:
    """The one-factor GLMM's posterior of θ: a first fit with 3 points per dimension gives
    each level's Newton start and the mode and Laplace SDs at which the points per
    dimension are chosen (:func:`points_per_dimension`); then the mode and Laplace
    covariance with those points."""
    covariance = factor_covariances(design.groups, priors)[0]
    first = QuadraturePosterior(AdaptiveQuadrature(design, priors, family, link, covariance,
                                                   points=3))
    algebra = first.algebra.refined(3, first.algebra.level_modes(first.mode))
    algebra = algebra.refined(points_per_dimension(algebra, first), algebra.modes)
    return QuadraturePosterior(algebra, first.mode)
