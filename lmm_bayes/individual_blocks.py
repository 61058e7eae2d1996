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
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
from scipy import special, stats

from . import names
from .collapsed import centred_columns
from .covariance import (
    CovarianceLayout,
    covariance_terms,
    factor_chain,
    factor_covariance,
    factor_covariances,
)
from .design import Design, GroupingFactor
from .distributions import Prior
from .kernel import SCALE_PRIORS, prior_rows, prior_term
from .packing import (
    EXPAND_SIGNATURE,
    LOGP_SIGNATURE,
    buffer_at,
    field,
    int_field,
    pack,
    store_whitened,
    whitened,
)
from .priors import INTERCEPT, PriorSet
from .residuals import ResidualDesign, SerialDesign
from .tiny import backward, backward_rows, factorise, forward, forward_rows, small_cholesky

__all__ = ["MAX_LEVEL_ROWS", "IndividualBlocks", "obstacle"]

MAX_LEVEL_ROWS = 2000  # rows of the largest level: a dense n_i × n_i Cholesky per level


def obstacle(design: Design, priors: PriorSet, family: str,
             residuals: ResidualDesign | None) -> str | None:
    """What keeps :class:`IndividualBlocks` from covering a model, in one short phrase, or
    None: it covers a Gaussian model with one grouping factor (no ``gr(by=)``), normal
    priors on the fixed effects, SD priors of the families :mod:`lmm_bayes.kernel` writes
    out, serial individuals (if any) each within one level, and at most
    :data:`MAX_LEVEL_ROWS` rows in a level."""
    if family != "gaussian":
        return f"the {family} family"
    split = [g.name for g in design.groups if g.member is not None]
    if split:
        return f"the gr(..., by = ...) factor {split[0]}"
    if len(design.groups) != 1:
        return f"{len(design.groups)} grouping factors, not one"
    group = design.groups[0]
    if any(p.dist != "normal" for p in _coefficient_priors(design, priors)):
        return "a fixed effect's prior is not normal"
    scales = [*priors.sd[group.name].values()] + ([priors.sigma] if priors.sigma else [])
    if any(p.dist not in SCALE_PRIORS for p in scales):
        return "an SD prior of a family the algebra does not write out"
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


class Blocks(NamedTuple):
    """What the compiled functions read, unpacked from :meth:`IndividualBlocks.buffer`: the
    rows sorted by level, individual and time.

    start : the first row of each level, and n at the end.
    data : [X (centred), y (its mean out), Z], n × (p + 1 + q).
    individual, time : each row's serial individual (its own row without a structure) and
        time since the individual's first row.
    log_sd : X_σ (centred columns; a column of ones for one σ), n × k.
    mean, precision : the fixed effects' prior means (centred y) and precisions.
    sigma_priors : per coefficient of log σ (or σ itself), kind, ν, μ, scale of
        :func:`lmm_bayes.kernel.prior_term` and the normalising constant it leaves out.
    phi_prior : a, b and log B(a, b) of u's beta prior.
    xbar, intercept : the column means and which column is the intercept (user's scale).
    p, q : fixed effects and varying terms; serial : a structure; low : φ's lower end;
    shift : y's mean; sigma_model : a sigma formula (else ρ₀ = log σ).
    """

    start: np.ndarray
    data: np.ndarray
    individual: np.ndarray
    time: np.ndarray
    log_sd: np.ndarray
    mean: np.ndarray
    precision: np.ndarray
    sigma_priors: np.ndarray
    phi_prior: np.ndarray
    xbar: np.ndarray
    intercept: np.ndarray
    p: int
    q: int
    serial: bool
    low: float
    shift: float
    sigma_model: bool


_SCALARS, _LAYOUT = 11, 12  # then the mode and the factor (lmm_bayes.packing.whitened)


def _prior_row(prior: Prior) -> np.ndarray:
    """``prior`` as [kind, ν, μ, scale] of :func:`lmm_bayes.kernel.prior_term` and the
    normalising constant it leaves out (scipy's density at its location or scale)."""
    kinds, params = prior_rows([prior])
    nu, mu, scale = params[0]
    at = scale if prior.is_positive else mu
    constant = _scipy_logpdf(prior, at) - prior_term(at, kinds[0], nu, mu, scale)[0]
    return np.array([kinds[0], nu, mu, scale, constant])


def _scipy_logpdf(prior: Prior, value: float) -> float:
    """log p(value) under ``prior`` by scipy.stats (PyMC's parametrisations)."""
    kw = prior.kwargs
    return {
        "normal": lambda: stats.norm(kw.get("mu"), kw.get("sigma")).logpdf(value),
        "student_t": lambda: stats.t(kw.get("nu"), kw.get("mu"), kw.get("sigma")).logpdf(value),
        "halfnormal": lambda: stats.halfnorm(scale=kw.get("sigma")).logpdf(value),
        "halfstudentt": lambda: np.log(2.0) + stats.t(kw.get("nu"), 0.0,
                                                      kw.get("sigma")).logpdf(value),
        "halfcauchy": lambda: stats.halfcauchy(scale=kw.get("beta")).logpdf(value),
        "exponential": lambda: stats.expon(scale=1.0 / kw.get("lam", 1.0)).logpdf(value),
    }[prior.dist]()


def _centred_sigma_design(sigma_design, n: int) -> np.ndarray:
    """X_σ with its non-intercept columns centred (a column of ones for one σ)."""
    if sigma_design is None:
        return np.ones((n, 1))
    X = sigma_design.X.copy()
    if INTERCEPT in sigma_design.names:
        X[:, 1:] -= X[:, 1:].mean(axis=0)
    return X


def _sigma_priors(sigma_design, priors: PriorSet) -> np.ndarray:
    """The priors of log σ's coefficients (on σ itself without a sigma formula), as rows."""
    if sigma_design is None:
        return _prior_row(priors.sigma)[None, :]
    return np.array([_prior_row(priors.sigma_intercept if name == INTERCEPT
                                else priors.sigma_fixed[name]) for name in sigma_design.names])


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
        self._log_sd_design = _centred_sigma_design(self._sigma_model, n)[order]
        self._fields = [
            start.astype(np.int64), np.column_stack([X, design.y - shift, group.Z])[order],
            individual[order].astype(np.int64), time[order], self._log_sd_design, mean,
            np.array([c.kwargs["sigma"] ** -2.0 for c in coefficients]),
            _sigma_priors(self._sigma_model, priors), np.array([a, b, special.betaln(a, b)]),
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

    @property
    def entry_points(self) -> tuple[object, object]:
        """nutpie's C entry points for :meth:`buffer` (log density and expand)."""
        return logp_cfunc, expand_cfunc

    def log_posterior(self, x: np.ndarray, gradient: bool = True) -> tuple[float, np.ndarray]:
        """log p(θ | y) up to a constant, θ = (the factor's covariance coordinates, ρ), and
        its gradient (compiled; :mod:`lmm_bayes.integrated`)."""
        return log_posterior(np.ascontiguousarray(x, dtype=float), self._buffer, gradient)

    def log_posteriors(self, thetas: np.ndarray) -> np.ndarray:
        """:meth:`log_posterior` without the gradient at each row of ``thetas``."""
        return _log_posteriors(np.ascontiguousarray(thetas, dtype=float), self._buffer)

    def effect_draws(self, thetas: np.ndarray, normals: np.ndarray
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`draw` at each row of ``thetas`` (m, n_dim) with the normals' rows, in
        compiled code (NaN where a draw fails): β (m, p) and [b (m, levels, q)]."""
        flat = _draws(np.ascontiguousarray(thetas, dtype=float), self._buffer,
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
        target = np.full(len(self._log_sd_design), np.log(self._start_sd))
        coefficients = np.linalg.lstsq(self._log_sd_design, target, rcond=None)[0]
        return np.concatenate([coefficients, np.zeros(int(self._structure is not None))])

    def residual_prior(self, rho: np.ndarray) -> tuple[float, np.ndarray]:
        """log p(ρ): the priors of the PyMC graph on σ (with the log-Jacobian log σ), on
        log σ's coefficients, and beta(a, b) on u = expit(ρ_φ) (with the log-Jacobian
        log u(1 − u)); and its gradient."""
        gradient = np.zeros(self.n_residual)
        value = _residual_prior(_unpack(self._buffer), np.asarray(rho, dtype=float), gradient)
        return value, gradient

    def residual_variables(self, rho: np.ndarray):
        """The public residual variables at draws ``rho`` (..., n_residual), with the dims of
        their trailing axes, and coords: ``sigma``, or ``sigma_beta`` (dim ``sigma_fixed``)
        on the user's scale; ``phi`` with a structure."""
        rho = np.asarray(rho, dtype=float)
        k = self._log_sd_design.shape[1]
        variables, coords = {}, {}
        if self._sigma_model is None:
            variables[names.SIGMA] = (np.exp(rho[..., 0]), ())
        else:
            beta = rho[..., :k].copy()
            if INTERCEPT in self._sigma_model.names:      # α − x̄ᵀβ₁ (builder._coefficients)
                means = self._sigma_model.X[:, 1:].mean(axis=0)
                beta[..., 0] -= rho[..., 1:k] @ means
            variables[names.SIGMA_BETA] = (beta, (names.SIGMA_FIXED,))
            coords[names.SIGMA_FIXED] = list(self._sigma_model.names)
        if self._structure is not None:
            variables[names.PHI] = (self._phi(rho[..., k]), ())
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
        value, G, d_rho = _log_likelihood(_unpack(self._buffer), sigma,
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
        flat = _draw(_unpack(self._buffer), np.ascontiguousarray(sigmas[0], dtype=float),
                     np.asarray(rho, dtype=float), np.asarray(normals, dtype=float))
        if not np.all(np.isfinite(flat)):
            raise ValueError("draw: Σ or ρ gives a covariance that is not positive definite")
        p = len(self.fixed_names)
        return flat[:p], [flat[p:].reshape((self.factors[0].n_levels, -1))]


# ---------------------------------------------------------------------- compiled


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unpack(buffer):
    """The :class:`Blocks` packed by :meth:`IndividualBlocks.buffer`."""
    s = field(buffer, _SCALARS)
    p, q = int(s[0]), int(s[1])
    n = field(buffer, 3).shape[0]
    return Blocks(int_field(buffer, 0), field(buffer, 1).reshape((n, p + 1 + q)),
                  int_field(buffer, 2), field(buffer, 3), field(buffer, 4).reshape((n, -1)),
                  field(buffer, 5), field(buffer, 6), field(buffer, 7).reshape((-1, 5)),
                  field(buffer, 8), field(buffer, 9), field(buffer, 10), p, q, s[2] > 0.0,
                  s[3], s[4], s[5] > 0.0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _log_expit(x):
    """log(1/(1 + e^−x)) without overflow."""
    return -math.log1p(math.exp(-x)) if x >= 0.0 else x - math.log1p(math.exp(x))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _residual_prior(b, rho, gradient):
    """log p(ρ) (:meth:`IndividualBlocks.residual_prior`); its gradient is written to
    ``gradient`` (length n_residual)."""
    value = 0.0
    pr = b.sigma_priors
    if not b.sigma_model:                                      # ρ₀ = log σ
        sigma = math.exp(rho[0])
        v, slope = prior_term(sigma, int(pr[0, 0]), pr[0, 1], pr[0, 2], pr[0, 3])
        value = v + pr[0, 4] + rho[0]
        gradient[0] = slope * sigma + 1.0
    else:
        for j in range(pr.shape[0]):
            v, gradient[j] = prior_term(rho[j], int(pr[j, 0]), pr[j, 1], pr[j, 2], pr[j, 3])
            value += v + pr[j, 4]
    if b.serial:                          # beta(a, b) on u = expit(ρ_φ), Jacobian u(1 − u)
        a, c, log_beta = b.phi_prior[0], b.phi_prior[1], b.phi_prior[2]
        r = rho[rho.shape[0] - 1]
        value += a * _log_expit(r) + c * _log_expit(-r) - log_beta
        gradient[rho.shape[0] - 1] = a - (a + c) * math.exp(_log_expit(r))
    return value


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _residual_scale(b, rho):
    """Each sorted row's residual SD and φ (0 without a structure)."""
    k = b.log_sd.shape[1]
    sd = np.empty(b.log_sd.shape[0])
    for j in range(sd.shape[0]):
        total = 0.0
        for t in range(k):
            total += b.log_sd[j, t] * rho[t]
        sd[j] = math.exp(total)
    if not b.serial:
        return sd, 0.0
    return sd, b.low + (1.0 - b.low) * math.exp(_log_expit(rho[k]))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _power(phi, log_abs_phi, lag):
    """φ^lag and its derivative lag φ^(lag − 1), for lag > 0 (a whole number when φ < 0:
    ``ar1`` visits); ``log_abs_phi`` = log|φ|."""
    if phi == 0.0:
        return 0.0, 1.0 if lag == 1.0 else 0.0
    value = math.exp(lag * log_abs_phi)
    if phi < 0.0 and int(lag) % 2 == 1:
        value = -value
    return value, lag * value / phi


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _residual_blocks(b, lo, sd, phi, R, dR):
    """R ← R_i = diag(σ) C(φ) diag(σ) of the rows lo.. lo + m − 1 (R m × m) and dR ← ∂R_i/∂φ;
    an individual's rows are consecutive, in time order, so that φ^(t_k − t_j) is the
    product of the gaps' powers φ^(t_l − t_(l−1)), j < l ≤ k (one exp per row; whole-number
    gaps when φ < 0)."""
    m = R.shape[0]
    R[:] = 0.0
    dR[:] = 0.0
    log_abs_phi = math.log(abs(phi)) if phi != 0.0 else 0.0
    for j in range(m):
        R[j, j] = sd[lo + j] ** 2
        if j > 0:       # the gap's power φ^(t_j − t_(j−1)), kept in dR's unused diagonal
            dR[j, j] = _power(phi, log_abs_phi, b.time[lo + j] - b.time[lo + j - 1])[0]
    for j in range(m):
        value = 1.0
        k = j + 1
        while k < m and b.individual[lo + k] == b.individual[lo + j]:
            scale = sd[lo + j] * sd[lo + k]
            lag = b.time[lo + k] - b.time[lo + j]
            if phi == 0.0:
                value, slope = _power(phi, log_abs_phi, lag)
            else:
                value *= dR[k, k]
                slope = lag * value / phi
            R[j, k] = R[k, j] = scale * value
            dR[j, k] = dR[k, j] = scale * slope
            k += 1
    for j in range(m):
        dR[j, j] = 0.0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _inverse_trace(L, D, T):
    """tr(V⁻¹D) = Σ_k ‖row k of L⁻¹‖²_D from the factor L of V, with T (m × m) as scratch."""
    m = L.shape[0]
    for i in range(m):                                             # T = L⁻¹ (lower)
        for c in range(i + 1):
            total = 1.0 if i == c else 0.0
            for k in range(c, i):
                total -= L[i, k] * T[k, c]
            T[i, c] = total / L[i, i]
    total = 0.0
    for k in range(m):                              # D symmetric: the lower triangle twice
        for j in range(k + 1):
            row = 0.5 * D[j, j] * T[k, j]
            for c in range(j):
                row += D[j, c] * T[k, c]
            total += T[k, j] * row
    return 2.0 * total


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _widest(b):
    widest = 0
    for i in range(b.start.shape[0] - 1):
        widest = max(widest, b.start[i + 1] - b.start[i])
    return widest


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _square(flat, m):
    """An m × m C-contiguous view of the scratch vector ``flat``."""
    return flat[:m * m].reshape((m, m))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _level_solves(b, sigma, sd, phi, gradient):
    """Per level, V_i = Z_iΣZ_iᵀ + R_i, its Cholesky factor and V_i⁻¹[X_i, y_i, Z_i].

    Returns
    -------
    ok : bool
        False when some V_i is not numerically positive definite.
    log_det : float
        Σ_i log|V_i|.
    solved : ndarray (n, p + 1 + q)
        V_i⁻¹[X_i, y_i, Z_i], the levels stacked.
    applied : ndarray (n, 2(p + 1))
        R_i V_i⁻¹[X_i, y_i] and (with a structure) ∂R_i/∂φ V_i⁻¹[X_i, y_i] (with
        ``gradient``; zeros without).
    trace : float
        Σ_i tr(V_i⁻¹ ∂R_i/∂φ) (with a structure and ``gradient``).
    """
    data, p, q = b.data, b.p, b.q
    w = p + 1
    solved = data.copy()
    applied = np.zeros((data.shape[0], 2 * w))
    widest = _widest(b)
    R_, dR_ = np.empty(widest * widest), np.empty(widest * widest)
    V_, T_ = np.empty(widest * widest), np.empty(widest * widest)
    ZS, ZVB = np.empty((widest, q)), np.empty((q, w))
    log_det, trace = 0.0, 0.0
    for i in range(b.start.shape[0] - 1):
        lo, hi = b.start[i], b.start[i + 1]
        m = hi - lo
        R, dR, V = _square(R_, m), _square(dR_, m), _square(V_, m)
        _residual_blocks(b, lo, sd, phi, R, dR)
        for j in range(m):
            for a in range(q):
                total = 0.0
                for c in range(q):
                    total += data[lo + j, w + c] * sigma[c, a]
                ZS[j, a] = total
        for j in range(m):
            for k in range(j + 1):
                total = R[j, k]
                for a in range(q):
                    total += ZS[j, a] * data[lo + k, w + a]
                V[j, k] = V[k, j] = total
        if not factorise(V):
            return False, 0.0, solved, applied, 0.0
        for j in range(m):
            log_det += 2.0 * math.log(V[j, j])
        block = solved[lo:hi]
        forward_rows(V, block)
        backward_rows(V, block)
        if not gradient:
            continue
        for a in range(q):                                    # ZᵀV⁻¹[X, y]
            for c in range(w):
                total = 0.0
                for j in range(m):
                    total += data[lo + j, w + a] * block[j, c]
                ZVB[a, c] = total
        for j in range(m):                                    # RV⁻¹ = I − ZΣZᵀV⁻¹
            for c in range(w):
                total = data[lo + j, c]
                for a in range(q):
                    total -= ZS[j, a] * ZVB[a, c]
                applied[lo + j, c] = total
        if b.serial:
            for j in range(m):
                for k in range(m):
                    dr = dR[j, k]
                    if dr != 0.0:
                        for c in range(w):
                            applied[lo + j, w + c] += dr * block[k, c]
            trace += _inverse_trace(V, dR, _square(T_, m))
    return True, log_det, solved, applied, trace


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _fixed(b, solved):
    """β integrated out: the Cholesky factor of A = Σ_i X_iᵀV_i⁻¹X_i + P⁻¹, β̂ = A⁻¹h,
    log|A| and the quadratic form yᵀV⁻¹y + mᵀP⁻¹m − hᵀβ̂ (module docstring); False when A
    is not positive definite."""
    data, p = b.data, b.p
    A = np.zeros((p, p))
    h = b.precision * b.mean
    quadratic = 0.0
    for j in range(data.shape[0]):
        quadratic += data[j, p] * solved[j, p]
        for c in range(p):
            h[c] += data[j, c] * solved[j, p]
            for d in range(c + 1):
                A[c, d] += data[j, c] * solved[j, d]
    for c in range(p):
        A[c, c] += b.precision[c]
        quadratic += b.precision[c] * b.mean[c] ** 2
    if not small_cholesky(A, A):
        return False, A, h, 0.0, 0.0
    beta = forward(A, h)
    log_det = 0.0
    for c in range(p):
        log_det += 2.0 * math.log(A[c, c])
        quadratic -= beta[c] * beta[c]                          # hᵀA⁻¹h = ‖L⁻¹h‖²
    backward(A, beta)
    return True, A, beta, log_det, quadratic


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _log_likelihood(b, sigma, rho, gradient):
    """log p(y | Σ, ρ), G and ∂ℓ/∂ρ (:meth:`IndividualBlocks.log_likelihood`)."""
    data, p, q = b.data, b.p, b.q
    w = p + 1
    k = b.log_sd.shape[1]
    G = np.zeros((q, q))
    d_rho = np.zeros(k + int(b.serial))
    sd, phi = _residual_scale(b, rho)
    for j in range(sd.shape[0]):
        if not (sd[j] > 0.0 and math.isfinite(sd[j])):
            return -np.inf, G, d_rho
    for c in range(q):
        for a in range(q):
            if not math.isfinite(sigma[c, a]):
                return -np.inf, G, d_rho
    ok, log_det, solved, applied, trace = _level_solves(b, sigma, sd, phi, gradient)
    if not ok:
        return -np.inf, G, d_rho
    ok, L_A, beta, log_det_A, quadratic = _fixed(b, solved)
    if not ok:
        return -np.inf, G, d_rho
    log_det_P = 0.0
    for c in range(p):
        log_det_P -= math.log(b.precision[c])
    value = -0.5 * (data.shape[0] * math.log(2.0 * math.pi) + log_det + log_det_P + log_det_A
                    + quadratic)
    if not math.isfinite(value):
        return -np.inf, G, d_rho
    if not gradient:
        return value, G, d_rho
    A_inv = _inverse(L_A)
    u, ba, zs = np.empty(q), np.empty(p), np.empty(q)
    M, MA = np.empty((q, p)), np.empty((q, p))
    d_phi = 0.0
    for i in range(b.start.shape[0] - 1):
        u[:] = 0.0
        M[:] = 0.0
        for j in range(b.start[i], b.start[i + 1]):
            a_j, R_a, dR_a = solved[j, p], applied[j, p], applied[j, w + p]
            for c in range(p):
                a_j -= solved[j, c] * beta[c]
                R_a -= applied[j, c] * beta[c]
                dR_a -= applied[j, w + c] * beta[c]
                total = 0.0
                for d in range(p):
                    total += solved[j, d] * A_inv[d, c]
                ba[c] = total                                  # (V⁻¹X A⁻¹)_j
            row = a_j * R_a - 1.0                              # diag(W R) = … − diag(V⁻¹R)
            for a in range(q):
                total = 0.0
                for c in range(q):
                    total += data[j, w + c] * sigma[c, a]
                zs[a] = total
                row += solved[j, w + a] * zs[a]                # V⁻¹R = I − V⁻¹ZΣZᵀ
                u[a] += data[j, w + a] * a_j
                for c in range(q):
                    G[a, c] -= data[j, w + a] * solved[j, w + c]
                for c in range(p):
                    M[a, c] += data[j, w + a] * solved[j, c]
            for c in range(p):
                row += ba[c] * applied[j, c]
                d_phi += ba[c] * applied[j, w + c]
            d_phi += a_j * dR_a
            for t in range(k):
                d_rho[t] += b.log_sd[j, t] * row
        for a in range(q):                                     # + u uᵀ + M A⁻¹ Mᵀ
            for c in range(p):
                total = 0.0
                for d in range(p):
                    total += M[a, d] * A_inv[d, c]
                MA[a, c] = total
        for a in range(q):
            for c in range(q):
                total = u[a] * u[c]
                for d in range(p):
                    total += MA[a, d] * M[c, d]
                G[a, c] += total
    for a in range(q):
        for c in range(a + 1):
            G[a, c] = G[c, a] = 0.25 * (G[a, c] + G[c, a])
    if b.serial:
        unit = (phi - b.low) / (1.0 - b.low)
        d_rho[k] = 0.5 * (d_phi - trace) * (1.0 - b.low) * unit * (1.0 - unit)
    return value, G, d_rho


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _inverse(L):
    """(LLᵀ)⁻¹ from the lower factor L (tiny)."""
    n = L.shape[0]
    out = np.eye(n)
    forward_rows(L, out)                                       # L⁻¹
    result = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            total = 0.0
            for k in range(max(i, j), n):
                total += out[k, i] * out[k, j]
            result[i, j] = total
    return result


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _draw(b, sigma, rho, normals):
    """(β on the user's scale, b flattened) of :meth:`IndividualBlocks.draw`; NaN when a
    matrix is not positive definite."""
    data, p, q = b.data, b.p, b.q
    w = p + 1
    levels = b.start.shape[0] - 1
    out = np.full(p + levels * q, np.nan)
    sd, phi = _residual_scale(b, rho)
    ok, _, solved, _, _ = _level_solves(b, sigma, sd, phi, False)
    if not ok:
        return out
    ok, L_A, beta, _, _ = _fixed(b, solved)
    L_S = np.empty((q, q))
    if not ok or not small_cholesky(sigma, L_S):
        return out
    z = normals[:p].copy()
    backward(L_A, z)
    beta += z
    sigma_inverse = _inverse(L_S)
    widest = _widest(b)
    R_, dR_ = np.empty(widest * widest), np.empty(widest * widest)
    right = np.empty((widest, q + 1))
    K = np.empty((q, q))
    centre = np.empty(q)
    for i in range(levels):
        lo, hi = b.start[i], b.start[i + 1]
        m = hi - lo
        R, dR = _square(R_, m), _square(dR_, m)
        _residual_blocks(b, lo, sd, phi, R, dR)
        if not factorise(R):
            return out
        white = right[:m]
        for j in range(m):
            for a in range(q):
                white[j, a] = data[lo + j, w + a]
            white[j, q] = data[lo + j, p]
            for c in range(p):
                white[j, q] -= data[lo + j, c] * beta[c]
        forward_rows(R, white)                                 # L_R⁻¹[Z_i, y_i − X_iβ]
        for a in range(q):
            for c in range(q + 1):
                total = sigma_inverse[a, c] if c < q else 0.0
                for j in range(m):
                    total += white[j, a] * white[j, c]
                if c < q:
                    K[a, c] = total
                else:
                    centre[a] = total
        if not small_cholesky(K, K):
            return out
        effect = forward(K, centre) + normals[p + i * q:p + (i + 1) * q]
        backward(K, effect)
        out[p + i * q:p + (i + 1) * q] = effect
    out[:p] = beta
    if p:
        total = 0.0
        for c in range(p):
            total += b.xbar[c] * beta[c]
        for c in range(p):
            out[c] += b.intercept[c] * (b.shift - total)           # β₀ = α − x̄ᵀβ₁ + ȳ
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def log_posterior(x, buffer, gradient):
    """log p(θ | y) and its gradient: the covariance's prior (:mod:`lmm_bayes.covariance`),
    the residual prior, the integrated likelihood, and the chain rule from G."""
    b = _unpack(buffer)
    offsets, q, eta = int_field(buffer, _LAYOUT), int_field(buffer, _LAYOUT + 1), field(
        buffer, _LAYOUT + 2)
    _, log_det, log_prior, grad = covariance_terms(
        x, offsets, q, eta, int_field(buffer, _LAYOUT + 3), int_field(buffer, _LAYOUT + 4),
        field(buffer, _LAYOUT + 5).reshape((-1, 3)), field(buffer, _LAYOUT + 6))
    if not np.isfinite(log_det):
        return -np.inf, grad
    c = offsets[1]
    xs = x[:c]
    rho = x[c:]
    value, G, d_rho = _log_likelihood(b, factor_covariance(xs, q[0], eta[0] > 0.0), rho,
                                      gradient)
    if not np.isfinite(value):
        return -np.inf, grad
    d_prior = np.zeros(rho.shape[0])
    value += log_prior + _residual_prior(b, rho, d_prior)
    for t in range(rho.shape[0]):
        grad[c + t] += d_prior[t] + d_rho[t]
    if gradient:
        grad[:c] += factor_chain(xs, q[0], eta[0] > 0.0, G)
    return value, grad


@numba.cfunc(LOGP_SIGNATURE, cache=True, error_model="numpy")
def logp_cfunc(dim, z_, gradient_, logp_, buffer_):
    """nutpie's C entry point: log p(θ | y) in the whitened coordinates z
    (:func:`lmm_bayes.packing.store_whitened`)."""
    buffer = buffer_at(buffer_)
    lp, grad = log_posterior(whitened(numba.carray(z_, (dim,)), buffer), buffer, True)
    return store_whitened(lp, grad, gradient_, logp_, buffer)


@numba.cfunc(EXPAND_SIGNATURE, cache=True, error_model="numpy")
def expand_cfunc(dim, n_expanded, z_, out_, buffer_):
    """nutpie's C entry point for θ at a draw of z."""
    numba.carray(out_, (n_expanded,))[:] = whitened(numba.carray(z_, (dim,)), buffer_at(buffer_))
    return 0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _draws(thetas, buffer, normals):
    """One draw of (β, b) (:func:`_draw`) at each row of ``thetas``."""
    b = _unpack(buffer)
    offsets, q, eta = int_field(buffer, _LAYOUT), int_field(buffer, _LAYOUT + 1), field(
        buffer, _LAYOUT + 2)
    c = offsets[1]
    out = np.empty((thetas.shape[0], b.p + (b.start.shape[0] - 1) * b.q))
    for i in range(thetas.shape[0]):
        sigma = factor_covariance(thetas[i, :c], q[0], eta[0] > 0.0)
        out[i] = _draw(b, sigma, thetas[i, c:], normals[i])
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _log_posteriors(thetas, buffer):
    """log p(θ | y) at each row of ``thetas``."""
    out = np.empty(thetas.shape[0])
    for i in range(thetas.shape[0]):
        out[i] = log_posterior(thetas[i], buffer, False)[0]
    return out
