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
from scipy import linalg, special, stats

from . import names
from .collapsed import centred_columns, cholesky
from .design import Design, GroupingFactor
from .distributions import Prior
from .kernel import SCALE_PRIORS, prior_rows, prior_term
from .priors import INTERCEPT, PriorSet
from .residuals import ResidualDesign, SerialDesign

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


class Levels(NamedTuple):
    """The rows sorted by level, individual and time, as the compiled functions read them.

    start : the first row of each level, and n at the end.
    data : [X (centred), y (its mean out), Z], n × (p + 1 + q).
    p : the number of fixed effects.
    individual, time : each row's serial individual (its own row without a structure) and
        time since the individual's first row.
    """

    start: np.ndarray
    data: np.ndarray
    p: int
    individual: np.ndarray
    time: np.ndarray


class Integrated(NamedTuple):
    """β integrated out at one (Σ, ρ): the value, β̂ = E(β | y) (centred columns), the
    Cholesky factor of A (scipy's ``cho_factor``), :func:`_level_solves`'s ``solved``,
    ``applied`` and ``trace``, each sorted row's σ, and φ."""

    value: float
    beta: np.ndarray
    factor: tuple
    solved: np.ndarray
    applied: np.ndarray
    trace: float
    sd: np.ndarray
    phi: float


class ScalarPrior(NamedTuple):
    """One prior on the real or positive line: :func:`lmm_bayes.kernel.prior_term`'s row and
    the normalising constant it leaves out (from scipy.stats)."""

    kind: int
    params: np.ndarray
    constant: float

    @classmethod
    def of(cls, prior: Prior) -> ScalarPrior:
        """``prior`` as a row, its constant from scipy's density at its location or scale."""
        kinds, params = prior_rows([prior])
        nu, mu, scale = params[0]
        at = scale if prior.is_positive else mu
        return cls(int(kinds[0]), params[0],
                   _scipy_logpdf(prior, at) - prior_term(at, kinds[0], nu, mu, scale)[0])

    def logpdf(self, value: float) -> tuple[float, float]:
        """log p(value) and its derivative."""
        v, dv = prior_term(value, self.kind, *self.params)
        return v + self.constant, dv


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


class IndividualBlocks:
    """The algebra of a Gaussian model with one grouping factor and structured residuals
    (module docstring; the interface is the blocked engine's algebra contract).

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
        sigma_design = residuals.sigma if residuals is not None else None
        X, self._xbar, self._shift = centred_columns(design)
        n, p = X.shape
        individual = serial.individual if serial else np.arange(n)
        time = _serial_times(serial) if serial else np.zeros(n)
        order = np.lexsort((time, individual, group.index))
        data = np.column_stack([X, design.y - self._shift, group.Z])[order]
        start = np.searchsorted(group.index[order], np.arange(group.n_levels + 1))
        self._levels = Levels(start.astype(np.int64), np.ascontiguousarray(data), p,
                              individual[order].astype(np.int64), time[order])
        coefficients = _coefficient_priors(design, priors)
        self._prior_mean = np.array([c.kwargs["mu"] for c in coefficients])
        self._intercept = np.array([name == INTERCEPT for name in design.fixed_names], float)
        self._prior_mean -= self._shift * self._intercept    # the intercept of centred y
        self._prior_precision = np.array([c.kwargs["sigma"] ** -2.0 for c in coefficients])
        self._sigma_model = sigma_design
        self._log_sd_design = self._centred_sigma_design(sigma_design, n)[order]
        self._log_sd_priors = self._sigma_priors(sigma_design, priors)
        self._structure = serial.spec.structure if serial else None
        self._phi_prior = priors.phi
        self._low = -1.0 if self._structure is not None and self._structure.signed else 0.0
        self._start_sd = max(float(np.std(design.least_squares()[1])), 1e-8)
        self.n_residual = self._log_sd_design.shape[1] + (serial is not None)
        self.n_normals = p + group.n_levels * len(group.terms)

    # ------------------------------------------------------------------ residual parameters

    @staticmethod
    def _centred_sigma_design(sigma_design, n: int) -> np.ndarray:
        """X_σ with its non-intercept columns centred (a column of ones for one σ)."""
        if sigma_design is None:
            return np.ones((n, 1))
        X = sigma_design.X.copy()
        if INTERCEPT in sigma_design.names:
            X[:, 1:] -= X[:, 1:].mean(axis=0)
        return X

    @staticmethod
    def _sigma_priors(sigma_design, priors: PriorSet) -> list[ScalarPrior]:
        """The priors of log σ's coefficients (on σ itself without a sigma formula)."""
        if sigma_design is None:
            return [ScalarPrior.of(priors.sigma)]
        return [ScalarPrior.of(priors.sigma_intercept if name == INTERCEPT
                               else priors.sigma_fixed[name]) for name in sigma_design.names]

    def _phi(self, logit: np.ndarray) -> np.ndarray:
        """φ = low + (1 − low) u with u = expit(ρ_φ)."""
        return self._low + (1.0 - self._low) * special.expit(logit)

    def _residual_scale(self, rho: np.ndarray) -> tuple[np.ndarray, float]:
        """Each sorted row's residual SD σ_ij and φ (0 without a structure)."""
        k = self._log_sd_design.shape[1]
        with np.errstate(over="ignore"):                   # σ = inf: −inf, not a warning
            sd = np.exp(self._log_sd_design @ rho[:k])
        return sd, float(self._phi(rho[k])) if self._structure is not None else 0.0

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
        rho = np.asarray(rho, dtype=float)
        gradient = np.zeros(self.n_residual)
        value = 0.0
        if self._sigma_model is None:                        # ρ₀ = log σ
            with np.errstate(over="ignore"):
                sigma = np.exp(rho[0])
            value, slope = self._log_sd_priors[0].logpdf(sigma)
            value += rho[0]
            gradient[0] = slope * sigma + 1.0
        else:
            for j, prior in enumerate(self._log_sd_priors):
                v, gradient[j] = prior.logpdf(rho[j])
                value += v
        if self._structure is not None:
            v, dv = _logit_beta(rho[-1], **self._phi_prior.kwargs)
            value += v
            gradient[-1] = dv
        return float(value), gradient

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

    # ------------------------------------------------------------------ likelihood

    def _integrated(self, sigma: np.ndarray, rho: np.ndarray) -> Integrated | None:
        """The level solves (:func:`_level_solves`) and β integrated out (module docstring);
        None when σ overflows or some V_i or A is not numerically positive definite."""
        sd, phi = self._residual_scale(rho)
        if not (np.all(np.isfinite(sigma)) and np.all(np.isfinite(sd)) and sd.min() > 0):
            return None
        lv = self._levels
        ok, log_det, solved, applied, trace = _level_solves(
            lv, sigma, sd, phi, self._structure is not None)
        if not ok:
            return None
        p = lv.p
        X, y = lv.data[:, :p], lv.data[:, p]
        B, c = solved[:, :p], solved[:, p]
        A = X.T @ B + np.diag(self._prior_precision)
        h = X.T @ c + self._prior_precision * self._prior_mean
        try:
            factor = linalg.cho_factor(A, lower=True)
        except linalg.LinAlgError:
            return None
        beta = linalg.cho_solve(factor, h)
        log_det_A = 2.0 * np.sum(np.log(np.diag(factor[0])))
        quadratic = y @ c + self._prior_mean @ (self._prior_precision * self._prior_mean) - h @ beta
        value = -0.5 * (len(y) * np.log(2.0 * np.pi) + log_det - np.sum(np.log(
            self._prior_precision)) + log_det_A + quadratic)
        if not np.isfinite(value):
            return None
        return Integrated(value, beta, factor, solved, applied, trace, sd, phi)

    def log_likelihood(self, sigmas: list[np.ndarray], rho: np.ndarray):
        """log p(y | Σ, ρ) with β and b integrated out, and its gradient by Fisher's
        identity (module docstring).

        Parameters
        ----------
        sigmas : list of one ndarray, shape (q, q)
            Σ, the covariance of a level's random effects.
        rho : ndarray, shape (n_residual,)

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
        rho = np.asarray(rho, dtype=float)
        found = self._integrated(sigma, rho)
        if found is None:
            return -np.inf, [np.zeros_like(sigma)], np.zeros(self.n_residual)
        beta, solved, applied = found.beta, found.solved, found.applied
        lv = self._levels
        p = lv.p
        Z = lv.data[:, p + 1:]
        B, VZ = solved[:, :p], solved[:, p + 1:]
        A_inv = linalg.cho_solve(found.factor, np.eye(p))
        a = solved[:, p] - B @ beta                                  # V⁻¹ r̂
        B_A = B @ A_inv
        u = np.add.reduceat(Z * a[:, None], lv.start[:-1])           # Z_iᵀ V_i⁻¹ r̂_i
        M = np.add.reduceat(Z[:, :, None] * B[:, None, :], lv.start[:-1])  # Z_iᵀ V_i⁻¹ X_i
        G = 0.5 * (u.T @ u + np.einsum("lap,lbp->ab", M @ A_inv, M) - Z.T @ VZ)
        R_a = applied[:, p] - applied[:, :p] @ beta
        V_inv_R = 1.0 - np.sum(VZ * (Z @ sigma), axis=1)              # diag(V⁻¹R)
        rows = a * R_a + np.sum(B_A * applied[:, :p], axis=1) - V_inv_R  # diag(W R)
        d_rho = self._log_sd_design.T @ rows
        if self._structure is not None:
            dR_a = applied[:, 2 * p + 1] - applied[:, p + 1:2 * p + 1] @ beta
            d_phi = 0.5 * (a @ dR_a + np.sum(B_A * applied[:, p + 1:2 * p + 1]) - found.trace)
            unit = (found.phi - self._low) / (1.0 - self._low)
            d_rho = np.append(d_rho, d_phi * (1.0 - self._low) * unit * (1.0 - unit))
        return found.value, [0.5 * (G + G.T)], d_rho

    # ------------------------------------------------------------------ draws

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
        sigma = np.ascontiguousarray(sigmas[0], dtype=float)
        rho = np.asarray(rho, dtype=float)
        normals = np.asarray(normals, dtype=float)
        found = self._integrated(sigma, rho)
        if found is None:
            raise ValueError("draw: Σ or ρ gives a covariance that is not positive definite")
        p = self._levels.p
        beta = found.beta + linalg.solve_triangular(found.factor[0], normals[:p], lower=True,
                                                    trans="T")
        sigma_inverse = linalg.cho_solve(linalg.cho_factor(sigma, lower=True), np.eye(len(sigma)))
        ok, effects = _effect_draws(self._levels, sigma_inverse, found.sd, found.phi, beta,
                                    normals[p:])
        if not ok:
            raise ValueError("draw: a level's residual covariance is not positive definite")
        user = beta + self._intercept * (self._shift - self._xbar @ beta)  # β₀ = α − x̄ᵀβ₁ + ȳ
        return user, [effects]


def _logit_beta(logit: float, alpha: float, beta: float) -> tuple[float, float]:
    """log Beta(u; α, β) + log u(1 − u) at u = expit(ρ) (the log-Jacobian of ρ → u), and its
    derivative α − (α + β)u."""
    log_u, log_1mu = special.log_expit(logit), special.log_expit(-logit)
    value = alpha * log_u + beta * log_1mu - special.betaln(alpha, beta)
    return float(value), float(alpha - (alpha + beta) * special.expit(logit))


# ---------------------------------------------------------------------- compiled


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
def _residual_blocks(levels, lo, hi, sd, phi):
    """R_i = diag(σ) C(φ) diag(σ) of the rows lo..hi−1 and ∂R_i/∂φ; an individual's rows are
    consecutive, in time order."""
    m = hi - lo
    R = np.zeros((m, m))
    dR = np.zeros((m, m))
    log_abs_phi = math.log(abs(phi)) if phi != 0.0 else 0.0
    for j in range(m):
        R[j, j] = sd[lo + j] ** 2
        k = j + 1
        while k < m and levels.individual[lo + k] == levels.individual[lo + j]:
            scale = sd[lo + j] * sd[lo + k]
            value, slope = _power(phi, log_abs_phi, levels.time[lo + k] - levels.time[lo + j])
            R[j, k] = R[k, j] = scale * value
            dR[j, k] = dR[k, j] = scale * slope
            k += 1
    return R, dR


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _forward(L, B):
    """L⁻¹B for the lower triangle L (C order) of a factor, row by row."""
    out = B.copy()
    for i in range(L.shape[0]):
        out[i] = (out[i] - np.dot(L[i, :i], out[:i])) / L[i, i]
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _backward(L, B):
    """L⁻ᵀB for the lower triangle L (C order) of a factor: each row, once solved for, is
    taken out of the rows above it."""
    out = B.copy()
    for i in range(L.shape[0] - 1, -1, -1):
        out[i] /= L[i, i]
        for k in range(i):
            for c in range(out.shape[1]):
                out[k, c] -= L[i, k] * out[i, c]
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _inverse_trace(L, D):
    """tr(V⁻¹D) from the factor L of V: V⁻¹ = L⁻ᵀL⁻¹."""
    L_inv = _forward(L, np.eye(L.shape[0]))
    return np.sum((L_inv.T @ L_inv) * D)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _level_solves(levels, sigma, sd, phi, serial):
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
        R_i V_i⁻¹[X_i, y_i] and (with a structure) ∂R_i/∂φ V_i⁻¹[X_i, y_i].
    trace : float
        Σ_i tr(V_i⁻¹ ∂R_i/∂φ) (with a structure).
    """
    data, p = levels.data, levels.p
    solved = np.empty(data.shape)
    applied = np.zeros((data.shape[0], 2 * (p + 1)))
    log_det, trace = 0.0, 0.0
    for i in range(levels.start.shape[0] - 1):
        lo, hi = levels.start[i], levels.start[i + 1]
        R, dR = _residual_blocks(levels, lo, hi, sd, phi)
        Z = np.ascontiguousarray(data[lo:hi, p + 1:])
        V = R + Z @ sigma @ Z.T
        if not cholesky(V):
            return False, 0.0, solved, applied, 0.0
        log_det += 2.0 * np.sum(np.log(np.diag(V)))
        block = _backward(V, _forward(V, np.ascontiguousarray(data[lo:hi])))
        solved[lo:hi] = block
        fitted = np.ascontiguousarray(block[:, :p + 1])
        applied[lo:hi, :p + 1] = R @ fitted
        if serial:
            applied[lo:hi, p + 1:] = dR @ fitted
            trace += _inverse_trace(V, dR)
    return True, log_det, solved, applied, trace


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _effect_draws(levels, sigma_inverse, sd, phi, beta, normals):
    """b_i = K_iZ_iᵀR_i⁻¹(y_i − X_iβ) + L_K⁻ᵀz_i per level (:meth:`IndividualBlocks.draw`);
    False when some R_i or K_i⁻¹ is not numerically positive definite."""
    data, p = levels.data, levels.p
    q = data.shape[1] - p - 1
    effects = np.zeros((levels.start.shape[0] - 1, q))
    for i in range(effects.shape[0]):
        lo, hi = levels.start[i], levels.start[i + 1]
        R, _ = _residual_blocks(levels, lo, hi, sd, phi)
        if not cholesky(R):
            return False, effects
        right = np.empty((hi - lo, q + 1))
        right[:, :q] = data[lo:hi, p + 1:]
        right[:, q] = data[lo:hi, p] - np.ascontiguousarray(data[lo:hi, :p]) @ beta
        whitened = _forward(R, right)                          # L_R⁻¹[Z_i, y_i − X_iβ]
        Zw = np.ascontiguousarray(whitened[:, :q])
        precision = sigma_inverse + Zw.T @ Zw
        if not cholesky(precision):
            return False, effects
        centre = _forward(precision, Zw.T @ np.ascontiguousarray(whitened[:, q:]))
        z = normals[i * q:(i + 1) * q].copy().reshape((q, 1))
        effects[i] = _backward(precision, centre + z)[:, 0]
    return True, effects
