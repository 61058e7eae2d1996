"""The marginal model's log posterior density and its gradient, compiled once and cached.

For a Gaussian model with one grouping factor of at most two varying terms the random
effects integrate out (:mod:`lmm_bayes.marginal`) and NUTS samples only the fixed effects β,
the random-effect SDs s, their correlation r and the residual SD σ. Built through PyTensor,
nutpie compiles that small graph with numba for every new model, which takes far longer
than sampling it (about 9–15 s on 2 cores against under a second of sampling for
sleepstudy). Here the same density is written once as a numba function cached on disk
(``cache=True``): a model only fills in its data and priors, and nothing is compiled per
model.

Unconstrained coordinates x, in this order:

* the fixed effects, with the intercept α at the means of the other columns when there is
  one (β₀ = α − x̄ᵀβ₁, as in :func:`lmm_bayes.builder._coefficients`);
* log s_k for each varying term k;
* atanh r when the two terms are correlated;
* log σ.

The log density is, up to a constant,

.. math::

    \\log p(y \\mid \\beta, L, \\sigma) + \\sum_j \\log p(\\beta_j) + \\sum_k [\\log p(s_k) +
    \\log s_k] + \\eta \\log(1 - r^2) + \\log p(\\sigma) + \\log \\sigma,

with the marginal log-likelihood of :mod:`lmm_bayes.marginal`, the priors of the
:class:`~lmm_bayes.priors.PriorSet`, the LKJ(η) density of a 2 × 2 correlation,
(1 − r²)^(η−1) (Lewandowski, Kurowicka & Joe 2009), and the log-Jacobians of the log and
tanh transforms. The same posterior as the PyMC model of
:func:`lmm_bayes.builder.build_model` with ``likelihood="marginal"``, which stays the plain
path (``sampler="pymc"``) and is compared with this one in the tests.

Its gradient is written out from the matrix derivatives (Petersen & Pedersen, *The Matrix
Cookbook*, eqs. 51 and 61): with Λ = L/σ, A_ℓ = I + ΛᵀS_ℓΛ, w_ℓ = Z_ℓᵀ(y_ℓ − X_ℓβ),
u_ℓ = Λᵀw_ℓ and v_ℓ = A_ℓ⁻¹u_ℓ,

.. math::

    \\frac{\\partial \\ell}{\\partial \\Lambda} = \\sum_\\ell \\Big[-S_\\ell\\Lambda A_\\ell^{-1}
    + \\frac{(w_\\ell - S_\\ell\\Lambda v_\\ell)v_\\ell^\\top}{\\sigma^2}\\Big],\\quad
    \\frac{\\partial \\ell}{\\partial \\beta} = \\frac{X^\\top y - X^\\top X\\beta -
    \\sum_\\ell X_\\ell^\\top Z_\\ell \\Lambda v_\\ell}{\\sigma^2},

and ∂ℓ/∂σ at fixed Λ is −n/σ + (RSS − Σ u_ℓᵀv_ℓ)/σ³, to which Λ = L/σ adds
−Σ (∂ℓ/∂Λ ⊙ Λ)/σ. A model with one varying term is the 2 × 2 case with a zero second
column of Z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numba
import numpy as np
from scipy import optimize

from . import names
from .design import Design
from .imh import laplace_covariance
from .marginal import LevelStatistics, level_statistics
from .marginal import obstacle as marginal_obstacle
from .packing import EXPAND_SIGNATURE, LOGP_SIGNATURE, buffer_at
from .priors import INTERCEPT, Prior, PriorSet
from .sampling import values_in_threads
from .sums import Moments

__all__ = ["MarginalData", "MarginalDensity", "integrated_prior_obstacle", "marginal_density",
           "obstacle", "prior_obstacle", "statistics_density"]

_T, _EXPONENTIAL = 0, 1                      # prior kinds: (half-)Student-t/normal, exponential
SCALE_PRIORS = {"halfnormal", "halfstudentt", "halfcauchy", "exponential"}
_SUPPORTED = {"normal", "student_t", *SCALE_PRIORS}


def obstacle(design: Design, priors: PriorSet, family: str, residuals) -> str | None:
    """What keeps the compiled density from covering this model, or None: it covers a
    marginal model (:func:`lmm_bayes.marginal.obstacle`) of a factor that spans every row
    whose priors are all of the families written out here (normal, Student-t and their
    half versions, half-Cauchy, exponential)."""
    found = marginal_obstacle(design, family, residuals)
    if found is not None:
        return found
    group = design.groups[0]
    if group.member is not None:
        return f"the gr(..., by = ...) factor {group.name}"
    return prior_obstacle(priors, group.name)


def prior_obstacle(priors: PriorSet, group: str) -> str | None:
    """The first prior of a family that the compiled density does not write out (normal,
    Student-t and their half versions, half-Cauchy, exponential), or None."""
    used = [priors.intercept, *priors.fixed.values(), *priors.sd[group].values(),
            priors.sigma]
    others = sorted({p.dist for p in used if p is not None and p.dist not in _SUPPORTED})
    return f"a {others[0]} prior" if others else None


def integrated_prior_obstacle(design: Design, priors: PriorSet) -> str | None:
    """What in the priors keeps every effect from being integrated out by the compiled
    densities (:mod:`lmm_bayes.collapsed`, :mod:`lmm_bayes.effects_system`,
    :mod:`lmm_bayes.individual_blocks`), or None: the fixed effects need normal priors
    (they are integrated out with the random effects) and the SDs and σ priors of the
    families written out here (:data:`SCALE_PRIORS`)."""
    coefficients = [priors.intercept, *priors.fixed.values()]
    if any(p is not None and p.dist != "normal" for p in coefficients):
        return "a fixed effect's prior is not normal"
    scales = [p for g in design.groups for p in priors.sd[g.name].values()]
    if priors.sigma is not None:
        scales.append(priors.sigma)
    if any(p.dist not in SCALE_PRIORS for p in scales):
        return "an SD prior of a family the compiled densities do not write out"
    return None


@dataclass(frozen=True)
class MarginalDensity:
    """The data and priors of one marginal model, packed for the compiled density.

    Attributes
    ----------
    buffer : ndarray of float
        Everything :func:`log_density` reads, in one contiguous vector (packed by
        :func:`marginal_density`): the
        per-level statistics padded to two terms, the global cross-products, the means of
        the non-intercept columns, the response's mean (taken out of y for numerical
        accuracy and put back into the intercept) and one row per prior (kind, ν (0 for the
        normal), μ, scale).
    names, shapes, dims, coords
        Of the posterior variables that :meth:`expand` returns, in its order.
    group : str
        The grouping factor.
    start : ndarray
        Unconstrained starting point, the posterior mode (:func:`posterior_mode`).
    """

    buffer: np.ndarray
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dims: dict
    coords: dict
    group: str
    start: np.ndarray

    @property
    def n_dim(self) -> int:
        return len(self.start)

    def log_density(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log posterior density (up to a constant) and its gradient at ``x``."""
        return log_density(np.ascontiguousarray(x, dtype=float), self.buffer)

    @property
    def slices(self) -> list[slice]:
        """Where each posterior variable lies in the flat vector :func:`expand` writes."""
        ends = np.cumsum([int(np.prod(shape)) for shape in self.shapes])
        return [slice(int(start), int(end)) for start, end in zip([0, *ends[:-1]], ends)]

    @property
    def mode(self) -> np.ndarray:
        """The posterior mode (the start), centre of the independence sampler's proposal."""
        return self.start

    @cached_property
    def covariance(self) -> np.ndarray:
        """The Laplace covariance at the mode (:func:`lmm_bayes.imh.laplace_covariance`)."""
        return laplace_covariance(lambda x: self.log_density(x)[1], self.start)

    @property
    def log_sd_positions(self) -> np.ndarray:
        """The coordinates that are log random-effect SDs (after the p fixed effects)."""
        p, q = int(self.buffer[2]), int(self.buffer[3])
        return np.arange(p, p + q)

    def log_densities(self, draws: np.ndarray, cores: int | None) -> np.ndarray:
        """The log density at each row of ``draws``, in threads."""
        return values_in_threads(lambda x: self.log_density(x)[0], draws, cores)

    def jittered_start(self, rng: np.random.Generator, chains: int | None = None) -> np.ndarray:
        """The posterior mode jittered by U(−0.5, 0.5) per coordinate; one row per chain
        when ``chains`` is given."""
        size = self.n_dim if chains is None else (chains, self.n_dim)
        return self.start + rng.uniform(-0.5, 0.5, size)

    def expand(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The posterior variables (``beta``, ``sd_<g>``, ``corr_<g>``, ``sigma``) at ``x``."""
        slices = self.slices
        flat = np.empty(slices[-1].stop)
        expand(np.ascontiguousarray(x, dtype=float), flat, self.buffer)
        return {name: flat[where].reshape(shape)
                for name, shape, where in zip(self.names, self.shapes, slices)}


def prior_rows(priors: list[Prior]) -> tuple[np.ndarray, np.ndarray]:
    """Each prior as (kind, ν, μ, scale): the normal is ν = 0, the half-Cauchy a half-t
    with ν = 1, the exponential's scale 1/λ."""
    kinds, params = [], []
    for prior in priors:
        kw = prior.kwargs
        if prior.dist == "exponential":
            kinds.append(_EXPONENTIAL)
            params.append((0.0, 0.0, 1.0 / kw["lam"]))
            continue
        kinds.append(_T)
        nu = {"normal": 0.0, "halfnormal": 0.0, "halfcauchy": 1.0}.get(prior.dist, kw.get("nu"))
        params.append((nu, kw.get("mu", 0.0), kw.get("sigma", kw.get("beta"))))
    return np.array(kinds, dtype=np.int64), np.array(params, dtype=float)


def _padded(stats: LevelStatistics) -> LevelStatistics:
    """The statistics of a one-term factor as those of two terms, the second column of Z 0."""
    if stats.ZtZ.shape[1] == 2:
        return stats
    L, _, p = stats.ZtX.shape
    ZtZ = np.zeros((L, 2, 2))
    ZtZ[:, 0, 0] = stats.ZtZ[:, 0, 0]
    ZtX = np.zeros((L, 2, p))
    ZtX[:, 0] = stats.ZtX[:, 0]
    Zty = np.zeros((L, 2))
    Zty[:, 0] = stats.Zty[:, 0]
    return replace(stats, ZtZ=ZtZ, ZtX=ZtX, Zty=Zty)


def _posterior_variables(group: str, terms: tuple[str, ...], columns: tuple[str, ...],
                         correlated: bool) -> tuple[dict, dict]:
    """The public variables that :meth:`MarginalDensity.expand` returns, in its order, as
    name → (shape, dims), and their coords."""
    term_dim, pair_dim = names.term_dim(group), names.pair_dim(group)
    variables = {names.BETA: ((len(columns),), (names.FIXED,)),
                 names.sd(group): ((len(terms),), (term_dim,))}
    coords = {names.FIXED: list(columns), term_dim: list(terms)}
    if correlated:
        variables[names.correlation(group)] = ((1,), (pair_dim,))
        coords[pair_dim] = names.pair_labels(terms)
    variables[names.SIGMA] = ((), ())
    return variables, coords


@dataclass(frozen=True)
class MarginalData:
    """What the marginal density reads of the data: the per-level statistics of the
    response less ``shift`` (its mean when there is an intercept, else 0: centring keeps the
    cross-products accurate), the means of the fixed-effect columns and the names; sums
    and means of :mod:`lmm_bayes.sums`, the same whatever the order of the rows.

    Attributes
    ----------
    stats : LevelStatistics
        Of y − shift.
    shift : float
    means : ndarray (p,)
        Column means of X.
    columns : tuple of str
        The fixed-effect names.
    group : str
    terms : tuple of str
        The grouping factor's varying terms.
    """

    stats: LevelStatistics
    shift: float
    means: np.ndarray
    columns: tuple[str, ...]
    group: str
    terms: tuple[str, ...]

    @classmethod
    def of(cls, design: Design) -> MarginalData:
        """The statistics of a design held in memory (:func:`level_statistics`)."""
        group = design.groups[0]
        intercept = INTERCEPT in design.fixed_names
        shift = float(Moments.of(design.y[:, None]).mean[0]) if intercept else 0.0
        stats = level_statistics(replace(design, y=design.y - shift), group)
        return cls(stats, shift, Moments.of(design.X).mean, design.fixed_names, group.name,
                   group.terms)


def marginal_density(design: Design, priors: PriorSet) -> MarginalDensity:
    """Pack ``design`` and ``priors`` for the compiled density (:func:`applies` must hold):
    :func:`statistics_density` of its :class:`MarginalData`."""
    return statistics_density(MarginalData.of(design), priors)


def statistics_density(data: MarginalData, priors: PriorSet) -> MarginalDensity:
    """Pack the statistics ``data`` and ``priors`` for the compiled density: all it reads
    of the rows, so a data set never held in memory (:mod:`lmm_bayes.distributed`) is
    packed as one that is."""
    columns, terms = data.columns, data.terms
    intercept = INTERCEPT in columns
    stats = _padded(data.stats)
    correlated = data.group in priors.eta
    xbar = np.concatenate([[0.0], data.means[1:]]) if intercept else np.zeros(len(columns))
    coefficient_priors = ([priors.intercept] if intercept else []) + [
        priors.fixed[n] for n in columns if n != INTERCEPT]
    kinds, params = prior_rows([*coefficient_priors,
                                 *[priors.sd[data.group][t] for t in terms], priors.sigma])
    header = [len(stats.Zty), len(columns), len(terms), intercept, correlated,
              priors.eta.get(data.group, 1.0), data.shift, stats.n, stats.yty]
    parts = [stats.ZtZ, stats.ZtX, stats.Zty, stats.XtX, stats.Xty, xbar, kinds, params]
    body = np.concatenate([np.asarray(a, dtype=float).ravel() for a in parts])
    buffer = np.concatenate([[HEADER + body.size], header, body])
    variables, coords = _posterior_variables(data.group, terms, columns, correlated)
    start = posterior_mode(buffer, _crude_start(data, xbar, correlated))
    return MarginalDensity(buffer, tuple(variables), tuple(s for s, _ in variables.values()),
                           {name: d for name, (_, d) in variables.items()}, coords, data.group,
                           start)


HEADER = 10  # total size, levels, p, q, intercept, correlated, η, shift, n, yᵀy


def _crude_start(data: MarginalData, xbar: np.ndarray, correlated: bool) -> np.ndarray:
    """Least-squares fixed effects from the normal equations XᵀX β = Xᵀ(y − shift) (as the
    sampled coefficients), each SD at half the least-squares residual SD
    √((‖y − shift‖² − βᵀXᵀ(y − shift))/n), r = 0."""
    stats = data.stats
    beta = np.linalg.solve(stats.XtX, stats.Xty)
    residual_sd = max(float(np.sqrt(max(stats.yty - beta @ stats.Xty, 0.0) / stats.n)), 1e-8)
    coefficients = beta.copy()
    if INTERCEPT in data.columns:
        coefficients[0] = beta[0] + data.shift + xbar @ beta    # α at the column means
    return np.concatenate([coefficients, np.full(len(data.terms), np.log(residual_sd / 2)),
                           np.zeros(int(correlated)), [np.log(residual_sd)]])


def posterior_mode(buffer: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The posterior mode in the unconstrained coordinates (L-BFGS from ``start``): the
    chains start near it, so warm-up spends its steps adapting instead of travelling."""
    def objective(x):
        value, gradient = log_density(x, buffer)
        return -value, -gradient

    found = optimize.minimize(objective, start, jac=True, method="L-BFGS-B")
    return found.x if np.all(np.isfinite(found.x)) else start


@numba.njit(cache=True, nogil=True, error_model="numpy")
def unpack(buffer):
    """The arrays and constants packed by :func:`marginal_density`."""
    L, p, q = int(buffer[1]), int(buffer[2]), int(buffer[3])
    m = p + q + 1
    sizes = (4 * L, 2 * L * p, 2 * L, p * p, p, p, m, 3 * m)
    at = np.cumsum(np.array((HEADER,) + sizes))
    return (buffer[at[0]:at[1]].reshape((L, 2, 2)), buffer[at[1]:at[2]].reshape((L, 2, p)),
            buffer[at[2]:at[3]].reshape((L, 2)), buffer[at[3]:at[4]].reshape((p, p)),
            buffer[at[4]:at[5]], buffer[at[5]:at[6]], buffer[at[6]:at[7]],
            buffer[at[7]:at[8]].reshape((m, 3)),
            p, q, buffer[4] > 0, buffer[5] > 0, buffer[6], buffer[7], buffer[8], buffer[9])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def prior_term(value, kind, nu, mu, scale):
    """log p(value) up to a constant and its derivative, for one prior row."""
    if kind == _EXPONENTIAL:
        return -value / scale, -1.0 / scale
    d = value - mu
    if nu == 0.0:
        return -0.5 * (d / scale) ** 2, -d / scale**2
    return (-0.5 * (nu + 1.0) * math.log1p(d * d / (nu * scale * scale)),
            -(nu + 1.0) * d / (nu * scale * scale + d * d))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _constrained(x, xbar, p, q, intercept, correlated):
    """β, the SDs (padded to two), r and σ from the unconstrained coordinates."""
    beta = x[:p].copy()
    if intercept:
        beta[0] = x[0] - np.dot(xbar, x[:p])
    s = np.zeros(2)
    s[:q] = np.exp(x[p:p + q])
    r = math.tanh(x[p + q]) if correlated else 0.0
    return beta, s, r, math.exp(x[-1])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def expand(x, out, buffer):
    """Write β, the SDs, the correlation of the two terms (correlated terms only) and σ at ``x``
    into ``out``, in the order of :attr:`MarginalDensity.names`."""
    _, _, _, _, _, xbar, _, _, p, q, intercept, correlated, _, _, _, _ = unpack(buffer)
    beta, s, r, sigma = _constrained(x, xbar, p, q, intercept, correlated)
    out[:p] = beta
    out[p:p + q] = s[:q]
    at = p + q
    if correlated:
        out[at] = r
        at += 1
    out[at] = sigma


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _priors(x, s, r, sigma, kinds, params, p, q, correlated, eta, grad):
    """The log prior density with its log-Jacobians; adds its gradient to ``grad``."""
    lp = 0.0
    for j in range(p + q + 1):
        k = j if j < p + q else x.shape[0] - 1       # σ is the last coordinate
        value = x[j] if j < p else (s[j - p] if j < p + q else sigma)
        v, dv = prior_term(value, kinds[j], params[j, 0], params[j, 1], params[j, 2])
        if j < p:
            lp += v
            grad[k] += dv
        else:                                         # log transform: + log value
            lp += v + x[k]
            grad[k] += dv * value + 1.0
    if correlated:                                    # LKJ(η) and the tanh Jacobian
        lp += eta * math.log1p(-r * r)
        grad[p + q] += -2.0 * eta * r
    return lp


@numba.njit(cache=True, nogil=True, error_model="numpy")
def log_density(x, buffer):
    """The log posterior density and its gradient (formulas in the module docstring)."""
    (ZtZ, ZtX, Zty, XtX, Xty, xbar, kinds, params, p, q, intercept, correlated, eta, shift,
     n, yty) = unpack(buffer)
    beta, s, r, sigma = _constrained(x, xbar, p, q, intercept, correlated)
    grad = np.zeros(x.shape[0])
    lp = _priors(x, s, r, sigma, kinds, params, p, q, correlated, eta, grad)
    c = math.sqrt(1.0 - r * r)
    if intercept:
        beta[0] -= shift                                 # the response was centred
    l00, l10, l11 = s[0] / sigma, s[1] * r / sigma, s[1] * c / sigma
    s2 = sigma * sigma
    g_beta = Xty - XtX @ beta
    rss = yty - 2.0 * np.dot(beta, Xty) + np.dot(beta, XtX @ beta)
    logdet, quad = 0.0, 0.0
    g00 = g10 = g11 = 0.0                                # ∂ℓ/∂Λ, lower triangle
    for lev in range(ZtZ.shape[0]):
        a, b, d = ZtZ[lev, 0, 0], ZtZ[lev, 0, 1], ZtZ[lev, 1, 1]
        w0, w1 = Zty[lev, 0], Zty[lev, 1]
        for k in range(p):
            w0 -= ZtX[lev, 0, k] * beta[k]
            w1 -= ZtX[lev, 1, k] * beta[k]
        m00, m01 = a * l00 + b * l10, b * l11             # SΛ
        m10, m11 = b * l00 + d * l10, d * l11
        A00 = 1.0 + l00 * m00 + l10 * m10                 # A = I + ΛᵀSΛ
        A01 = l00 * m01 + l10 * m11
        A11 = 1.0 + l11 * m11
        det = A00 * A11 - A01 * A01
        u0, u1 = l00 * w0 + l10 * w1, l11 * w1
        v0, v1 = (A11 * u0 - A01 * u1) / det, (A00 * u1 - A01 * u0) / det
        logdet += math.log(det)
        quad += u0 * v0 + u1 * v1
        i00, i01, i11 = A11 / det, -A01 / det, A00 / det  # A⁻¹
        t0, t1 = m00 * v0 + m01 * v1, m10 * v0 + m11 * v1
        g00 += -(m00 * i00 + m01 * i01) + (w0 - t0) * v0 / s2
        g10 += -(m10 * i00 + m11 * i01) + (w1 - t1) * v0 / s2
        g11 += -(m10 * i01 + m11 * i11) + (w1 - t1) * v1 / s2
        lv0, lv1 = l00 * v0, l10 * v0 + l11 * v1          # Λv
        for k in range(p):
            g_beta[k] -= ZtX[lev, 0, k] * lv0 + ZtX[lev, 1, k] * lv1
    lp += -n * math.log(sigma) - 0.5 * logdet - (rss - quad) / (2.0 * s2)

    g_beta /= s2
    grad[:p] += g_beta - xbar * g_beta[0]                # β₀ = α − x̄ᵀβ₁ (x̄₀ = 0)
    g_sigma = -n / sigma + (rss - quad) / sigma**3 - (g00 * l00 + g10 * l10 + g11 * l11) / sigma
    grad[-1] += g_sigma * sigma
    G00, G10, G11 = g00 / sigma, g10 / sigma, g11 / sigma  # ∂ℓ/∂L
    grad[p] += G00 * s[0]
    if q == 2:
        grad[p + 1] += (G10 * r + G11 * c) * s[1]
    if correlated:
        grad[p + q] += s[1] * (G10 - G11 * r / c) * (1.0 - r * r)
    return lp, grad


@numba.cfunc(LOGP_SIGNATURE, cache=True, error_model="numpy")
def logp_cfunc(dim, x_, gradient_, logp_, buffer_):
    """nutpie's C entry point for the log density (the ``nuts-rs`` calling convention: 0 on
    success, 3 for a non-finite gradient, 4 for a non-finite density)."""
    lp, grad = log_density(numba.carray(x_, (dim,)), buffer_at(buffer_))
    numba.carray(gradient_, (dim,))[:] = grad
    numba.carray(logp_, (1,))[0] = lp
    if not np.all(np.isfinite(grad)):
        return 3
    return 0 if np.isfinite(lp) else 4


@numba.cfunc(EXPAND_SIGNATURE, cache=True, error_model="numpy")
def expand_cfunc(dim, n_expanded, x_, out_, buffer_):
    """nutpie's C entry point for the posterior variables at a draw."""
    expand(numba.carray(x_, (dim,)), numba.carray(out_, (n_expanded,)), buffer_at(buffer_))
    return 0
