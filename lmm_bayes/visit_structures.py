"""Residual correlation across a fixed set of visits: unstructured, compound symmetry and
Toeplitz, optionally one correlation per arm. The covariances of the mixed model for
repeated measures (MMRM; Mallinckrodt et al. 2008, *Drug Inf. J.* 42; R's ``mmrm``).

Each individual is measured at some of K visits (the distinct values of the time variable,
or its levels in order) and its residuals ε_i = σ_i u_i have Corr(u) = R(θ), K × K, the
same for every individual of an arm (``by = arm``: one R per arm). A missing visit is left
out of R (missing at random: the likelihood of the observed visits is the marginal of R's
observed rows and columns). The structures:

=========  ==========================================  ==============================
structure  Corr(u_j, u_k), visits j ≠ k                parameters (per arm)
=========  ==========================================  ==============================
us         free: an LKJ prior (Lewandowski et al.      ``residual_corr`` (the pairs)
           2009) on R
cs         ρ (compound symmetry)                       ``rho`` ∈ (−1/(K−1), 1)
toep       ρ_|j−k| (Toeplitz, visits equally spaced)   ``rho_lag`` (K − 1 lags)
=========  ==========================================  ==============================

``us`` is the unstructured covariance: besides R it has one residual SD per visit (per visit
and arm with ``by``), the sigma formula ``~ 0 + C(visit)`` that
:func:`lmm_bayes.residuals.build_residual_design` implies (nlme's ``corSymm`` with
``varIdent``); ``csh`` and ``toeph`` are ``cs`` and ``toep`` with that heterogeneous SD.
``cs`` and ``toep`` take a sigma formula of the user's instead.

The Toeplitz correlations are parametrised by the partial autocorrelations π_1..π_{K−1},
each in (−1, 1), which map one to one onto the positive definite Toeplitz correlation
matrices (Barndorff-Nielsen & Schou 1973, *J. Multivariate Anal.* 3); the Durbin–Levinson
recursion gives the autocorrelations. Each π and ρ has a beta prior on its position in its
interval, uniform by default.

The likelihood is written per row, in the innovations form: with the individual's visits
in order and L the Cholesky factor of R over them, z = L⁻¹ u, row k contributes
log N(z_k; 0, 1) − log L_kk − log σ_i, the density of u_k given the earlier visits; the
rows' sum is the multivariate normal log-density. Individuals with the same arm and
observed visits (a pattern) share L.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import stats

from .distributions import Prior
from .errors import DesignError, PriorError, Setting
from .families import Parameter
from .names import (
    OBS,
    RESIDUAL_BY,
    RESIDUAL_CORR,
    RESIDUAL_LAG,
    RESIDUAL_PAIR,
    RHO,
    RHO_LAG,
    correlation_matrices,
    pair_labels,
    pair_positions,
)
from .structures import ResidualStructure, SerialDesign, bounded, by_individual, uniform

__all__ = ["CompoundSymmetry", "Toeplitz", "Unstructured", "VisitPattern", "VisitStructure",
           "visit_patterns"]


@dataclass(frozen=True)
class VisitPattern:
    """The individuals of one arm observed at the same visits.

    Attributes
    ----------
    arm : int
    visits : ndarray of int, shape (m,)
        The visits observed, in order.
    rows : ndarray of int, shape (individuals, m)
        Each individual's rows, one column per visit.
    """

    arm: int
    visits: np.ndarray
    rows: np.ndarray


def visit_patterns(design: SerialDesign) -> list[VisitPattern]:
    """The patterns of (arm, observed visits) among the individuals of ``design``."""
    order = np.lexsort((design.visit, design.individual))
    starts = np.flatnonzero(np.r_[True, np.diff(design.individual[order]) != 0])
    groups: dict[tuple, list[np.ndarray]] = {}
    for rows in np.split(order, starts[1:]):
        key = (int(design.arm[rows[0]]), tuple(design.visit[rows]))
        groups.setdefault(key, []).append(rows)
    return [VisitPattern(arm, np.array(visits), np.array(rows))
            for (arm, visits), rows in groups.items()]


def _lkj(_: float) -> Prior:
    """LKJ(1): uniform over correlation matrices (brms's default, Bürkner 2017)."""
    return Prior("lkj", eta=1.0)


def _row_logp_tensor(u, corr, patterns: list[VisitPattern], n: int):
    """Per row, log N(z_k; 0, 1) − log L_kk (see the module docstring), as a PyTensor
    vector; ``corr`` (arms, K, K)."""
    import pytensor.tensor as pt
    from pytensor.tensor.slinalg import solve_triangular

    out = pt.zeros(n)
    for p in patterns:
        chol = pt.linalg.cholesky(corr[p.arm][p.visits][:, p.visits])
        z = solve_triangular(chol, u[p.rows].T, lower=True)
        logp = -0.5 * z**2 - pt.log(pt.diag(chol))[:, None] - 0.5 * np.log(2 * np.pi)
        out = pt.set_subtensor(out[p.rows.T], logp)
    return out


def _pattern_cholesky(corr: np.ndarray, pattern: VisitPattern) -> np.ndarray:
    """Per draw, the Cholesky factor (S, m, m) of R over the pattern's arm and visits, from
    R per draw and arm ``corr`` (S, arms, K, K)."""
    return np.linalg.cholesky(corr[:, pattern.arm][:, pattern.visits][:, :, pattern.visits])


def _flat_draws(value, lead: tuple[int, ...], own: int) -> np.ndarray:
    """A parameter's draws with leading shape ``lead`` (to which they may broadcast) and
    ``own`` axes of their own, the draws flattened to one axis: (S, own axes...)."""
    value = np.asarray(value, dtype=float)
    value = np.broadcast_to(value, lead + value.shape[value.ndim - own:])
    return value.reshape((-1,) + value.shape[len(lead):])


def _draw_rows(corr: np.ndarray, patterns: list[VisitPattern], n: int,
               rng: np.random.Generator) -> np.ndarray:
    """Draws of u (S, n) given R per draw and arm ``corr`` (S, arms, K, K): each
    individual's visits drawn together as L z, z ~ N(0, I)."""
    u = np.zeros((corr.shape[0], n))
    for p in patterns:
        chol = _pattern_cholesky(corr, p)
        z = rng.standard_normal((corr.shape[0],) + p.rows.shape)
        u[:, p.rows] = np.einsum("sij,spj->spi", chol, z)
    return u


@dataclass(frozen=True)
class VisitStructure(ResidualStructure):
    """A correlation across visits, per arm (see the module docstring); ``us``, ``csh`` and
    ``toeph`` are heterogeneous, with one residual SD per visit (and arm)."""

    per_arm: ClassVar[bool] = True
    categorical_times: ClassVar[bool] = True
    #: the parameter's dims besides the arms' (the pairs of visits, the lags)
    _own_dims: ClassVar[tuple[str, ...]] = ()

    @property
    def parameter(self) -> Parameter:
        return self.parameters[0]

    @abstractmethod
    def correlation_tensor(self, design: SerialDesign, prior: Prior):
        """The parameter with its prior in the current PyMC model, and R per arm as a
        tensor (arms, K, K)."""

    @abstractmethod
    def correlation_draws(self, value: np.ndarray, n_visits: int) -> np.ndarray:
        """R per draw (and arm), (..., K, K), from the parameter's draws (..., own dims);
        K = ``n_visits`` where the draws do not tell it."""

    def dims(self, design: SerialDesign) -> tuple[str, ...]:
        """The parameter's dims: ``residual__by`` with ``by``, then its own."""
        return ((RESIDUAL_BY,) if design.spec.by else ()) + self._own_dims

    def coords(self, design: SerialDesign) -> dict[str, list[str]]:
        """The coordinates of :meth:`dims`."""
        out = {RESIDUAL_BY: list(design.arm_labels)} if design.spec.by else {}
        return out | self._own_coords(design.visit_labels)

    def _own_coords(self, visits: tuple[str, ...]) -> dict[str, list[str]]:
        return {}

    def likelihood(self, mu, sd, design, priors, observed):
        import pymc as pm

        corr = self.correlation_tensor(design, priors[self.parameter.name])
        patterns = visit_patterns(design)
        n = len(design.visit)

        def logp(value, mu, sd, corr):
            return _row_logp_tensor((value - mu) / sd, corr, patterns, n) - pm.math.log(sd)

        def random(mu, sd, corr, rng=None, size=None):
            size = tuple(size or ())[:-1]
            draws = int(np.prod(size))
            u = _draw_rows(np.broadcast_to(corr, (draws,) + corr.shape), patterns, n, rng)
            return mu + sd * u.reshape(size + (n,))

        pm.CustomDist("y", mu, sd, corr, logp=logp, random=random, observed=observed, dims=OBS,
                      signature="(n),(n),(a,k,k)->(n)")

    def _correlations(self, values, design: SerialDesign, lead: tuple[int, ...]) -> np.ndarray:
        """R per draw and arm, (S, arms, K, K), the S draws flattened from ``lead``, the
        leading shape of the parameter's draws in ``values`` (which may broadcast)."""
        value = _flat_draws(values[self.parameter.name], lead,
                            len(self._own_dims) + bool(design.spec.by))
        if not design.spec.by:
            value = value[:, None]
        return self.correlation_draws(value, len(design.visit_labels))

    def logpdf(self, u, design, values):
        lead = u.shape[:-1]
        flat = u.reshape(-1, u.shape[-1])
        corr = self._correlations(values, design, lead)
        rows = np.empty_like(flat)
        for p in visit_patterns(design):
            chol = _pattern_cholesky(corr, p)
            z = np.linalg.solve(chol[:, None], flat[:, p.rows][..., None])[..., 0]
            diag = np.diagonal(chol, axis1=-2, axis2=-1)
            rows[:, p.rows] = stats.norm.logpdf(z) - np.log(diag)[:, None, :]
        return by_individual(rows.reshape(u.shape), design)

    def draw(self, design, values, rng, size=()):
        n = len(design.visit)
        corr = self._correlations(values, design, tuple(size))
        return _draw_rows(corr, visit_patterns(design), n, rng).reshape(tuple(size) + (n,))

    def conditional(self, values, u, times, time):
        """Mean and SD of u at visit ``time`` given one individual's u (..., m) at visits
        ``times`` (positions among the K visits), ``values`` the parameter of the
        individual's arm: the Gaussian conditional R_{t,o} R_{o,o}⁻¹ u_o and
        1 − R_{t,o} R_{o,o}⁻¹ R_{o,t} (Anderson 2003, §2.5). K is taken as the latest
        visit named plus one, enough for every structure here."""
        visits = np.asarray(times, dtype=int)
        lead = np.shape(u)[:-1]
        value = _flat_draws(values[self.parameter.name], lead, len(self._own_dims))
        corr = self.correlation_draws(value, int(max(visits.max(), time)) + 1)
        cross = corr[:, int(time), visits]
        weights = np.linalg.solve(corr[:, visits][:, :, visits], cross[..., None])[..., 0]
        flat = np.reshape(u, (-1, len(visits)))
        mean = np.einsum("sm,sm->s", weights, flat)
        var = 1.0 - np.einsum("sm,sm->s", weights, cross)
        return mean.reshape(lead), np.sqrt(var).reshape(lead)


def _vine_order(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns (i > j) of the canonical partial correlations z_ij, row by row."""
    return np.tril_indices(k, -1)


def _vine_correlation(cpc, k: int):
    """R = L Lᵀ per arm from the canonical partial correlations ``cpc`` (arms, K(K−1)/2) in
    (−1, 1), in the order of :func:`_vine_order`: L_i0 = z_i0,
    L_ij = z_ij (1 − Σ_{l<j} L_il²)^½, L_ii = (1 − Σ_{l<i} L_il²)^½ (Lewandowski,
    Kurowicka & Joe 2009, *J. Multivariate Anal.* 100, §2; Stan's ``cholesky_corr``
    transform). Any z gives a positive definite R, and z_ij ~ Beta(b_j, b_j) on (−1, 1)
    independently, b_j = η + (K − 2 − j)/2, gives R ~ LKJ(η) (their §3.2)."""
    import pytensor.tensor as pt

    rows = [[pt.ones(cpc.shape[0])] + [pt.zeros(cpc.shape[0])] * (k - 1)]
    position = 0
    for i in range(1, k):
        row, remaining = [], 1.0
        for _ in range(i):
            value = cpc[:, position] * pt.sqrt(remaining)
            remaining = remaining - value**2
            row.append(value)
            position += 1
        rows.append(row + [pt.sqrt(remaining)] + [pt.zeros(cpc.shape[0])] * (k - 1 - i))
    chol = pt.stack([pt.stack(row, axis=1) for row in rows], axis=1)
    return chol @ chol.transpose(0, 2, 1)


@dataclass(frozen=True)
class Unstructured(VisitStructure):
    """``us``: a free correlation per pair of visits, LKJ(η) prior (η = 1 by default:
    uniform over correlation matrices), with one SD per visit; sampled through the
    canonical partial correlations (:func:`_vine_correlation`), so every draw is positive
    definite."""

    heterogeneous: bool = True
    parameters: ClassVar[tuple[Parameter, ...]] = (Parameter(RESIDUAL_CORR, "cor", _lkj),)
    _own_dims: ClassVar[tuple[str, ...]] = (RESIDUAL_PAIR,)

    def _own_coords(self, visits):
        return {RESIDUAL_PAIR: pair_labels(visits)}

    def check_prior(self, key, prior):
        if not isinstance(prior, Prior) or prior.dist != "lkj":
            raise PriorError(f"prior {key!r} is for the residual correlation matrix and needs "
                             f"an LKJ prior (lb.Prior('lkj', eta=...)), not {prior!r}")
        return prior

    def check_design(self, design):
        """Each arm needs more individuals than visits, and each pair of visits observed
        together in one of them, for its correlations to be informed."""
        labels, spec = design.visit_labels, design.spec
        patterns = visit_patterns(design)
        for arm, arm_label in enumerate(design.arm_labels):
            together = np.zeros((len(labels), len(labels)), bool)
            people = 0
            for p in patterns:
                if p.arm == arm:
                    together[np.ix_(p.visits, p.visits)] = True
                    people += len(p.rows)
            where = "" if spec.by is None else f" in {spec.by} = {arm_label!r}"
            if people <= len(labels):
                raise DesignError(Setting("residual", spec.text),
                                  f": {people} individuals{where} cannot inform an "
                                  f"unstructured correlation across {len(labels)} visits; "
                                  "use cs or toep")
            if not together.all():
                j, k = np.argwhere(~together)[0]
                raise DesignError(Setting("residual", spec.text),
                                  f": no individual{where} was measured at both "
                                  f"{labels[j]!r} and {labels[k]!r}, so their correlation "
                                  "is not informed; use cs or toep")

    def correlation_tensor(self, design, prior):
        import pymc as pm

        k = len(design.visit_labels)
        below, shape = _vine_order(k), (len(design.arm_labels), k * (k - 1) // 2)
        b = prior.kwargs["eta"] + (k - 2 - below[1]) / 2.0
        unit = pm.Beta(f"{RESIDUAL_CORR}_cpc_unit", alpha=b, beta=b, shape=shape)
        corr = _vine_correlation(2.0 * unit - 1.0, k)
        rows, columns = pair_positions(k)
        pairs = corr[:, rows, columns]
        pm.Deterministic(RESIDUAL_CORR, pairs if design.spec.by else pairs[0],
                         dims=self.dims(design))
        return corr

    def correlation_draws(self, value, n_visits):
        return correlation_matrices(value, round((1 + np.sqrt(1 + 8 * value.shape[-1])) / 2))


@dataclass(frozen=True)
class CompoundSymmetry(VisitStructure):
    """``cs`` (``csh``): one correlation ρ ∈ (−1/(K−1), 1) between any two visits, the
    bounds of a positive definite R; a beta prior on ρ's position in the interval."""

    parameters: ClassVar[tuple[Parameter, ...]] = (Parameter(RHO, "rho", uniform),)

    def correlation_tensor(self, design, prior):
        import pytensor.tensor as pt

        k = len(design.visit_labels)
        dims = self.dims(design)
        rho = bounded(RHO, prior, -1.0 / (k - 1), dims=dims or None)
        rho = rho if design.spec.by else pt.stack([rho])
        return (1.0 - rho)[:, None, None] * np.eye(k) + rho[:, None, None]

    def correlation_draws(self, value, n_visits):
        rho = value[..., None, None]
        return (1.0 - rho) * np.eye(n_visits) + rho


def _autocorrelations(partial, stack):
    """Autocorrelations ρ_1..ρ_{K−1} from partial autocorrelations π_1..π_{K−1} (a list of
    arrays or tensors) by the Durbin–Levinson recursion (Brockwell & Davis 1991, §5.2):
    ρ_k = Σ_{j<k} φ_{k−1,j} ρ_{k−j} + π_k v_{k−1}, φ_{k,k} = π_k,
    φ_{k,j} = φ_{k−1,j} − π_k φ_{k−1,k−j}, v_k = v_{k−1} (1 − π_k²)."""
    phi, rho, variance = [], [], 1.0
    for k, pi in enumerate(partial, start=1):
        rho.append(sum(phi[j] * rho[k - 2 - j] for j in range(k - 1)) + pi * variance)
        phi = [phi[j] - pi * phi[k - 2 - j] for j in range(k - 1)] + [pi]
        variance = variance * (1.0 - pi**2)
    return stack(rho)


@dataclass(frozen=True)
class Toeplitz(VisitStructure):
    """``toep`` (``toeph``): Corr(u_j, u_k) = ρ_|j−k| by the visits' positions, with the
    K − 1 partial autocorrelations as parameters (see the module docstring); ``rho_lag``
    holds the autocorrelations, and its prior (beta, uniform by default) is of each partial
    autocorrelation's position in (−1, 1)."""

    parameters: ClassVar[tuple[Parameter, ...]] = (Parameter(RHO_LAG, "rho", uniform),)
    _own_dims: ClassVar[tuple[str, ...]] = (RESIDUAL_LAG,)

    def _own_coords(self, visits):
        return {RESIDUAL_LAG: [f"lag{k}" for k in range(1, len(visits))]}

    def correlation_tensor(self, design, prior):
        import pymc as pm
        import pytensor.tensor as pt

        k = len(design.visit_labels)
        shape = (len(design.arm_labels), k - 1)
        unit = pm.Beta(f"{RHO_LAG}_partial_unit", **prior.kwargs, shape=shape)
        partial = 2.0 * unit - 1.0
        rho = _autocorrelations([partial[:, j] for j in range(k - 1)],
                                lambda r: pt.stack(r, axis=1))
        pm.Deterministic(RHO_LAG, rho if design.spec.by else rho[0], dims=self.dims(design))
        lags = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
        full = pt.concatenate([pt.ones((shape[0], 1)), rho], axis=1)
        return full[:, lags]

    def correlation_draws(self, value, n_visits):
        k = value.shape[-1] + 1
        lags = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
        full = np.concatenate([np.ones(value.shape[:-1] + (1,)), value], axis=-1)
        return full[..., lags]

    def partial_autocorrelations(self, rho: np.ndarray) -> np.ndarray:
        """π from autocorrelations (..., K−1): the Durbin–Levinson recursion inverted
        (for tests and starting values)."""
        k = rho.shape[-1] + 1
        lags = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
        full = np.concatenate([np.ones(rho.shape[:-1] + (1,)), rho], axis=-1)[..., lags]
        out = []
        for m in range(1, k):
            r = full[..., :m, :m]
            coef = np.linalg.solve(r, full[..., 1:m + 1, 0][..., None])[..., 0]
            out.append(coef[..., -1])
        return np.stack(out, axis=-1)
