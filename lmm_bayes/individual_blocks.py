"""One grouping factor with structured residuals: every effect integrated out, level by level.

An algebra of the blocked engine (:mod:`lmm_bayes.engines.blocked`) for a Gaussian model
with one grouping factor g, any varying terms (their covariance Σ, q × q), and residuals
with an AR(1)/CAR(1) structure within individuals nested in g's levels and/or a log-linear
model of their SD (:mod:`lmm_bayes.residuals`). Given the fixed effects β the levels are
independent, each with its marginal covariance (Pinheiro & Bates 2000, *Mixed-Effects
Models in S and S-PLUS*, §5.1)

.. math::

    y_i \\mid \\beta \\sim N(X_i\\beta, V_i),\\qquad V_i = Z_i\\Sigma Z_i^\\top + R_i,\\qquad
    R_i = \\mathrm{diag}(\\sigma_i)\\, C_i(\\varphi)\\, \\mathrm{diag}(\\sigma_i),

with :math:`C_{i,jl} = \\varphi^{|t_j - t_l|}` for two rows of one individual, 0 across
individuals, and :math:`\\log\\sigma_{ij} = x_{\\sigma,ij}^\\top\\gamma` (one σ without a
sigma formula). Each :math:`V_i` (n_i × n_i) gets a dense Cholesky factorisation. With
β ~ N(m, P), P diagonal, integrated out too,

.. math::

    A = \\sum_i X_i^\\top V_i^{-1}X_i + P^{-1},\\quad h = \\sum_i X_i^\\top V_i^{-1}y_i + P^{-1}m,
    \\quad \\hat\\beta = A^{-1}h,

    \\log p(y \\mid \\Sigma, \\rho) = -\\tfrac12\\sum_i \\log|2\\pi V_i| - \\tfrac12\\log|P|
    - \\tfrac12\\log|A| - \\tfrac12\\Big(\\sum_i y_i^\\top V_i^{-1}y_i + m^\\top P^{-1}m
    - h^\\top\\hat\\beta\\Big),

and β | y ~ N(β̂, A⁻¹). The gradient is Fisher's identity, the posterior mean of the
complete-data score (Louis 1982, *JRSS B* 44: 226–233): with
:math:`\\hat r_i = y_i - X_i\\hat\\beta` and

.. math::

    W_i = V_i^{-1}(\\hat r_i\\hat r_i^\\top + X_iA^{-1}X_i^\\top)V_i^{-1} - V_i^{-1},\\qquad
    \\frac{\\partial\\ell}{\\partial\\theta} = \\tfrac12\\sum_i
    \\mathrm{tr}\\Big(W_i\\frac{\\partial V_i}{\\partial\\theta}\\Big),

so that dℓ = tr(G dΣ) with :math:`G = \\tfrac12\\sum_i Z_i^\\top W_iZ_i`;
∂ℓ/∂log σ_ij = (W_i R_i)_jj, which the sigma formula's design carries to γ; and
∂ℓ/∂φ = ½ Σ_i tr(W_i ∂R_i/∂φ). None of these needs more than V_i⁻¹ applied to
[X_i, y_i, Z_i] (with :math:`V_i^{-1}R_i = I - V_i^{-1}Z_i\\Sigma Z_i^\\top` for the diagonal
of W_iR_i), except tr(V_i⁻¹ ∂R_i/∂φ), which takes V_i⁻¹ itself.

The fixed effects are handled with their non-intercept columns centred, the intercept α
at the column means (as its prior is, :mod:`lmm_bayes.priors`), and the response's mean
taken out, for accuracy; :meth:`IndividualBlocks.draw` reports β on the user's scale.

The residual parameters ρ are those of the PyMC model of :mod:`lmm_bayes.builder`, on
the real line: log σ (no sigma formula), or the sigma formula's coefficients with its
non-intercept columns centred (``sigma_intercept_c``, ``sigma_beta_slopes``); then, with a
serial structure, logit u for φ = low + (1 − low) u, u ∈ (0, 1) carrying the beta prior
(low = −1 for ``ar1``, 0 for ``car1``; :mod:`lmm_bayes.structures`).

Everything is computed in compiled code (:mod:`lmm_bayes.individual_kernels`) reading one
packed vector (:meth:`IndividualBlocks.buffer`): log p(θ | y) over θ = (the covariance's
coordinates of :mod:`lmm_bayes.covariance`, ρ) with nutpie's C log-density entry point, as
:class:`lmm_bayes.effects_system.EffectsSystem` does; the contract's methods are thin
wrappers over the same kernels.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from . import individual_kernels as kernels
from . import names
from .collapsed import centred_columns
from .covariance import CovarianceLayout, factor_covariances
from .design import Design, GroupingFactor
from .distributions import Prior
from .kernel import integrated_prior_obstacle
from .marginal import gaussian_obstacle
from .packing import pack
from .priors import INTERCEPT, PriorSet
from .residuals import ResidualDesign, SerialDesign
from .sigma_model import centred_sigma_design, sigma_priors, sigma_start, sigma_variables

__all__ = ["MAX_LEVEL_ROWS", "IndividualBlocks", "obstacle"]

MAX_LEVEL_ROWS = 2000  # rows of the largest level: a dense n_i × n_i Cholesky per level


def obstacle(design: Design, priors: PriorSet, family: str,
             residuals: ResidualDesign | None) -> str | None:
    """What keeps :class:`IndividualBlocks` from covering a model, in one short phrase, or
    None: it covers a Gaussian model with one grouping factor (no ``gr(by=)``), normal
    priors on the fixed effects, SD priors of the families :mod:`lmm_bayes.kernel` writes
    out, serial individuals (if any) each within one level, and at most
    :data:`MAX_LEVEL_ROWS` rows in a level."""
    found = gaussian_obstacle(design, family, None)  # residual structures are covered here
    if found is not None:
        return found
    split = [g.name for g in design.groups if g.member is not None]
    if split:
        return f"the gr(..., by = ...) factor {split[0]}"
    if len(design.groups) != 1:
        return f"{len(design.groups)} grouping factors, not one"
    group = design.groups[0]
    found = integrated_prior_obstacle(design, priors)
    if found is not None:
        return found
    if residuals is not None and residuals.serial is not None and _spans_levels(
            group, residuals.serial):
        return f"serial individuals spanning several levels of {group.name}"
    if np.bincount(group.index).max() > MAX_LEVEL_ROWS:
        return f"a level of {group.name} with more than {MAX_LEVEL_ROWS} rows"
    return None


def _coefficient_priors(design: Design, priors: PriorSet) -> list[Prior]:
    """The fixed effects' priors in the order of the columns (the intercept's first)."""
    return [priors.intercept if name == INTERCEPT else priors.fixed[name]
            for name in design.fixed_names]


def _spans_levels(group: GroupingFactor, serial: SerialDesign) -> bool:
    """Whether some serial individual has rows in two levels of ``group``."""
    pairs = np.unique(np.column_stack([serial.individual, group.index]), axis=0)
    return len(pairs) > len(np.unique(serial.individual))


def _serial_times(serial: SerialDesign) -> np.ndarray:
    """Each row's time since its individual's first row (the sum of the gaps before it)."""
    time = np.zeros(len(serial.gap))
    for k in range(1, int(serial.position.max()) + 1):
        rows = np.flatnonzero(serial.position == k)
        time[rows] = time[serial.previous[rows]] + serial.gap[rows]
    return time


class IndividualBlocks:
    """The algebra of a Gaussian model with one grouping factor and structured residuals
    (module docstring; the interface is the blocked engine's algebra contract), computed
    end to end in compiled code as :class:`lmm_bayes.effects_system.EffectsSystem` is.

    Parameters
    ----------
    design : Design
        One grouping factor, without ``gr(by=)`` (:func:`obstacle` must say None).
    priors : PriorSet
    residuals : ResidualDesign, optional
        A serial AR(1)/CAR(1) structure and/or a sigma formula; None for one σ.

    Attributes
    ----------
    factors : tuple of GroupingFactor
        ``design.groups`` (one).
    n_residual : int
        Length of ρ: the log-σ coefficients (or log σ), then φ's logit with a structure.
    n_normals : int
        Standard normals one :meth:`draw` consumes: p for β, then q per level.
    n_dim : int
        Length of θ: the factor's covariance coordinates, then ρ.
    """

    def __init__(self, design: Design, priors: PriorSet,
                 residuals: ResidualDesign | None = None):
        found = obstacle(design, priors, "gaussian", residuals)
        if found is not None:
            raise ValueError(f"IndividualBlocks does not cover this model: {found}")
        self.factors = design.groups
        self.fixed_names = design.fixed_names
        group = design.groups[0]
        serial = residuals.serial if residuals is not None else None
        self._sigma_model = residuals.sigma if residuals is not None else None
        X, xbar, shift = centred_columns(design)
        n, p = X.shape
        individual = serial.individual if serial else np.arange(n)
        time = _serial_times(serial) if serial else np.zeros(n)
        order = np.lexsort((time, individual, group.index))
        start = np.searchsorted(group.index[order], np.arange(group.n_levels + 1))
        coefficients = _coefficient_priors(design, priors)
        intercept = np.array([name == INTERCEPT for name in design.fixed_names], float)
        mean = np.array([c.kwargs["mu"] for c in coefficients]) - shift * intercept
        self._structure = serial.spec.structure if serial else None
        self._low = -1.0 if serial is not None and self._structure.signed else 0.0
        a, b = (priors.phi.kwargs["alpha"], priors.phi.kwargs["beta"]) if serial else (1.0, 1.0)
        self._log_sd_design = centred_sigma_design(self._sigma_model, n)[order]
        self._fields = [
            start.astype(np.int64), np.column_stack([X, design.y - shift, group.Z])[order],
            individual[order].astype(np.int64), time[order], self._log_sd_design, mean,
            np.array([c.kwargs["sigma"] ** -2.0 for c in coefficients]),
            sigma_priors(self._sigma_model, priors), np.array([a, b, special.betaln(a, b)]),
            xbar, intercept,
            np.array([p, len(group.terms), serial is not None, self._low, shift,
                      self._sigma_model is not None], dtype=float)]
        self._start_sd = max(float(np.std(design.least_squares()[1])), 1e-8)
        self.n_residual = self._log_sd_design.shape[1] + (serial is not None)
        self.n_normals = p + group.n_levels * len(group.terms)
        self.layout = CovarianceLayout.of(factor_covariances(design.groups, priors))
        self.n_dim = int(self.layout.offsets[-1]) + self.n_residual
        self._buffer = self.buffer()

    # ------------------------------------------------------------------ compiled interface

    def buffer(self, mode: np.ndarray | None = None, factor: np.ndarray | None = None
               ) -> np.ndarray:
        """Everything :func:`log_posterior` reads packed into one vector, with the whitening
        θ = mode + factor·z of the nutpie entry points (default: none)."""
        mode = np.zeros(self.n_dim) if mode is None else mode
        factor = np.eye(self.n_dim) if factor is None else factor
        return pack([*self._fields, *self.layout.fields(), mode, factor])

    #: nutpie's C entry point of the log density in the whitened coordinates of :meth:`buffer`
    logp_cfunc = kernels.logp_cfunc

    def log_posterior(self, x: np.ndarray, gradient: bool = True) -> tuple[float, np.ndarray]:
        """log p(θ | y) up to a constant, θ = (the factor's covariance coordinates, ρ), and
        its gradient (compiled; :mod:`lmm_bayes.integrated`)."""
        return kernels.log_posterior(np.ascontiguousarray(x, dtype=float), self._buffer,
                                     gradient)

    def effect_draws(self, thetas: np.ndarray, normals: np.ndarray
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`draw` at each row of ``thetas`` (m, n_dim) with the normals' rows, in
        compiled code (NaN where a draw fails): β (m, p) and [b (m, levels, q)]."""
        flat = kernels.draws(np.ascontiguousarray(thetas, dtype=float), self._buffer,
                      np.ascontiguousarray(normals, dtype=float))
        p, group = len(self.fixed_names), self.factors[0]
        return flat[:, :p], [flat[:, p:].reshape((len(flat), group.n_levels, -1))]

    # ------------------------------------------------------------------ residual parameters

    def _phi(self, logit: np.ndarray) -> np.ndarray:
        """φ = low + (1 − low) u with u = expit(ρ_φ)."""
        return self._low + (1.0 - self._low) * special.expit(logit)

    def residual_start(self) -> np.ndarray:
        """Every row's σ at the least-squares residual SD, u = ½ (φ = 0 for ``ar1``, ½ for
        ``car1``)."""
        return np.concatenate([sigma_start(self._log_sd_design, self._start_sd),
                               np.zeros(int(self._structure is not None))])

    def residual_prior(self, rho: np.ndarray) -> tuple[float, np.ndarray]:
        """log p(ρ): the priors of the PyMC graph on σ (with the log-Jacobian log σ), on
        log σ's coefficients, and beta(a, b) on u = expit(ρ_φ) (with the log-Jacobian
        log u(1 − u)); and its gradient."""
        gradient = np.zeros(self.n_residual)
        value = kernels.residual_prior(kernels.unpack(self._buffer),
                                       np.asarray(rho, dtype=float), gradient)
        return value, gradient

    def residual_variables(self, rho: np.ndarray):
        """The public residual variables at draws ``rho`` (..., n_residual), with the dims of
        their trailing axes, and coords: ``sigma``, or ``sigma_beta`` (dim ``sigma_fixed``)
        on the user's scale; ``phi`` with a structure."""
        rho = np.asarray(rho, dtype=float)
        variables, coords = sigma_variables(self._sigma_model, rho)
        if self._structure is not None:
            variables[names.PHI] = (self._phi(rho[..., self._log_sd_design.shape[1]]), ())
        return variables, coords

    # ------------------------------------------------------------------ the contract

    def log_likelihood(self, sigmas: list[np.ndarray], rho: np.ndarray, gradient: bool = True):
        """log p(y | Σ, ρ) with β and b integrated out, and its gradient by Fisher's
        identity (module docstring).

        Parameters
        ----------
        sigmas : list of one ndarray, shape (q, q)
            Σ, the covariance of a level's random effects.
        rho : ndarray, shape (n_residual,)
        gradient : bool
            False: zeros for the gradients (cheaper).

        Returns
        -------
        value : float
            −inf where σ overflows or some matrix is not positive definite (the gradients
            are then zeros).
        d_sigmas : list of one ndarray, shape (q, q)
            G = ½ Σ_i Z_iᵀW_iZ_i, symmetric, with dℓ = tr(G dΣ).
        d_rho : ndarray, shape (n_residual,)
            ∂ℓ/∂ρ: X_σᵀ diag(W R) for log σ's coefficients (centred columns), then
            ½ Σ_i tr(W_i ∂R_i/∂φ) · dφ/dρ_φ.
        """
        sigma = np.ascontiguousarray(sigmas[0], dtype=float)
        value, G, d_rho = kernels.log_likelihood(kernels.unpack(self._buffer), sigma,
                                                np.asarray(rho, dtype=float), gradient)
        return value, [G], d_rho

    def draw(self, sigmas: list[np.ndarray], rho: np.ndarray, normals: np.ndarray):
        """One draw of (β, b) from p(β, b | y, Σ, ρ) made from ``normals`` (standard normal,
        length :attr:`n_normals`): deterministic given them.

        β = β̂ + L_A⁻ᵀ z_β (A = L_A L_Aᵀ), then per level, given β, b_i ~ N(K_i Z_iᵀR_i⁻¹
        (y_i − X_iβ), K_i) with K_i⁻¹ = Σ⁻¹ + Z_iᵀR_i⁻¹Z_i, the precision form of
        N(ΣZ_iᵀV_i⁻¹(y_i − X_iβ), Σ − ΣZ_iᵀV_i⁻¹Z_iΣ) (the Woodbury identity), drawn as the
        mean plus L_K⁻ᵀ z_i with K_i⁻¹ = L_K L_Kᵀ.

        Returns
        -------
        beta : ndarray, shape (p,)
            On the user's scale (intercept β₀ = α − x̄ᵀβ₁ + ȳ).
        effects : list of one ndarray, shape (levels, q)

        Raises
        ------
        ValueError
            Where :meth:`log_likelihood` would be −inf, or Σ is not positive definite.
        """
        flat = kernels.draw(kernels.unpack(self._buffer),
                            np.ascontiguousarray(sigmas[0], dtype=float),
                            np.asarray(rho, dtype=float), np.asarray(normals, dtype=float))
        if not np.all(np.isfinite(flat)):
            raise ValueError("draw: Σ or ρ gives a covariance that is not positive definite")
        p = len(self.fixed_names)
        return flat[:p], [flat[p:].reshape((self.factors[0].n_levels, -1))]


