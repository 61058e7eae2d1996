"""A GLMM's posterior over all its parameters, the effects included, compiled once for
nutpie: the model for several grouping factors (crossed or nested), whose effects the
quadrature of :mod:`lmm_bayes.quadrature` cannot integrate out.

It is the PyMC model of :func:`lmm_bayes.builder.build_model` written out by hand
(:mod:`lmm_bayes.joint_kernels`): the same likelihood (:mod:`lmm_bayes.glmm`), priors and
covariance coordinates (:mod:`lmm_bayes.covariance`), with nothing to compile per model.
Each factor's effects are centred (b sampled) or non-centred (u, b = Cu) by the information
the data hold on its levels (:func:`level_information`): the centred form suits levels
that the data pin down, the non-centred one levels that borrow most of their strength from
the others (Papaspiliopoulos, Roberts & Sköld 2007, *Stat. Sci.* 22: 59–73).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import names
from .covariance import factor_covariances
from .design import Design
from .glmm import BINOMIAL, FAMILY_CODES, NEGATIVE_BINOMIAL, FixedEffects, fixed_effects
from .joint_kernels import expand_cfunc, log_density, logp_cfunc
from .packing import pack
from .priors import PriorSet

__all__ = ["JointDensity", "joint_density", "level_information"]

# Centred when the data's information on a level exceeds its prior's (W τ² > 1), the point
# at which the centred form mixes faster (Papaspiliopoulos, Roberts & Sköld 2007, section 3)
CENTRED_ABOVE = 1.0
MAX_IRLS = 25
SWEEPS = 3
START_JITTER = 0.5


def _mean_and_slope(eta: np.ndarray, trials: np.ndarray, family: int):
    """μ and dμ/dη under the canonical link (logit with n trials, or log)."""
    if family == BINOMIAL:
        p = 1 / (1 + np.exp(-eta))
        return trials * p, np.maximum(trials * p * (1 - p), 1e-12)
    mean = np.exp(eta)
    return mean, np.maximum(mean, 1e-12)


def _working_residuals(design: Design, family: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed effects alone fitted by iteratively reweighted least squares (McCullagh &
    Nelder 1989, section 2.5): each row's working residual r = (y − μ)/(dμ/dη) on the link
    scale and its information w = (dμ/dη)²/Var y. For the negative binomial Var y =
    μ + φμ² with φ the moment estimate Σ((y − μ)² − μ)/Σμ², which the random effects
    inflate, so that w errs low."""
    trials = design.trials if design.trials is not None else np.ones(design.n_obs)
    offset = design.offset if design.offset is not None else 0.0
    if family == BINOMIAL:
        p = (design.y + 0.5) / (trials + 1.0)
        eta = np.log(p / (1 - p))
    else:
        eta = np.log(design.y + 0.5)
    for _ in range(MAX_IRLS):
        mean, slope = _mean_and_slope(eta, trials, family)
        working = eta - offset + (design.y - mean) / slope
        gram = design.X.T @ (slope[:, None] * design.X) + 1e-8 * np.eye(design.X.shape[1])
        beta = np.linalg.solve(gram, design.X.T @ (slope * working))
        previous, eta = eta, np.clip(design.X @ beta + offset, -30, 30)
        if np.max(np.abs(eta - previous)) < 1e-8:
            break
    mean, slope = _mean_and_slope(eta, trials, family)
    information = slope
    if family == NEGATIVE_BINOMIAL:
        phi = max(np.sum((design.y - mean) ** 2 - mean) / np.sum(mean**2), 0.0)
        information = mean / (1 + phi * mean)
    return (design.y - mean) / slope, np.maximum(information, 1e-12)


def level_information(design: Design, family: int) -> tuple[float, ...]:
    """How strongly the data inform each factor's levels on the link scale: the mean over
    levels of W_ℓ τ̂², the level's information W_ℓ = Σ_j w_j against the prior's 1/τ̂².

    τ̂² is a moment estimate from the fixed effects' working residuals
    (:func:`_working_residuals`): the variance of the levels' information-weighted mean
    residuals less their mean sampling variance 1/W_ℓ, floored at 0 (the one-way analysis
    of variance of :func:`lmm_bayes.builder.level_information`), each factor's shrunken
    level means taken out of the residuals before the next factor's (backfitting, a few
    sweeps), so that a factor nested in another is not credited with its parent's spread."""
    residual, weight = _working_residuals(design, family)
    fitted = [np.zeros(g.n_levels) for g in design.groups]
    found = [0.0] * len(design.groups)
    for _ in range(SWEEPS):
        for k, g in enumerate(design.groups):
            others = sum((f[h.index] for h, f in zip(design.groups, fitted) if h is not g),
                         np.zeros(design.n_obs))
            W = np.maximum(np.bincount(g.index, weights=weight, minlength=g.n_levels), 1e-12)
            means = np.bincount(g.index, weights=weight * (residual - others),
                                minlength=g.n_levels) / W
            tau2 = max(float(np.var(means, ddof=1)) - float(np.mean(1 / W)), 0.0)
            fitted[k] = means * W * tau2 / (1 + W * tau2)
            found[k] = float(np.mean(W) * tau2)
    return tuple(found)


@dataclass(frozen=True)
class JointDensity:
    """The packed model (:mod:`lmm_bayes.joint_kernels`), its public variables and where
    the chains start.

    Attributes
    ----------
    buffer : ndarray
    variables : dict
        Each public variable, in the order the expand function writes them, to its shape
        and dims.
    coords : dict
    start : ndarray
        The chains' centre: coefficients at their priors' centres, α and every SD at 1,
        no correlation, effects 0.
    centred : tuple of bool
        Whether each factor's effects are centred.
    """

    buffer: np.ndarray
    variables: dict
    coords: dict
    start: np.ndarray
    centred: tuple[bool, ...]

    @property
    def n_dim(self) -> int:
        return len(self.start)

    def log_density(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """log p(β, α, θ, b | y) up to a constant and its gradient."""
        return log_density(np.ascontiguousarray(x, dtype=float), self.buffer)

    def compiled(self):
        """The nutpie model (:func:`lmm_bayes.sampling.compiled_model`), chains started at
        :attr:`start` jittered by U(−½, ½) per coordinate."""
        from .sampling import compiled_model

        def initial_point(seed):
            rng = np.random.default_rng(seed)
            return self.start + rng.uniform(-START_JITTER, START_JITTER, self.n_dim)

        return compiled_model(self.variables, self.coords, self.n_dim, logp_cfunc,
                              expand_cfunc, self.buffer, initial_point)


def _public(design: Design, fixed: FixedEffects, covariances) -> tuple[dict, dict]:
    variables = {names.BETA: ((fixed.p,), (names.FIXED,))}
    coords = {names.FIXED: list(fixed.names)}
    if fixed.has_shape:
        variables[names.ALPHA] = ((), ())
    for g, c in zip(design.groups, covariances):
        variables[names.sd(g.name)] = ((c.q,), (names.term_dim(g.name),))
        if c.correlated:
            pairs = c.q * (c.q - 1) // 2
            variables[names.correlation(g.name)] = ((pairs,), (names.pair_dim(g.name),))
        variables[names.effects(g.name)] = ((g.n_levels, c.q), (names.level_dim(g.name),
                                                                 names.term_dim(g.name)))
        coords.update(names.coords(g.name, g.levels, g.terms))
    return variables, coords


def joint_density(design: Design, priors: PriorSet, family: str, link: str | None,
                  parametrization: str = "auto") -> JointDensity:
    """Pack ``design`` and ``priors`` for :mod:`lmm_bayes.joint_kernels`."""
    from .families import get_family

    fixed = fixed_effects(design, priors, family)
    covariances = factor_covariances(design.groups, priors)
    code = FAMILY_CODES[(family, get_family(family, link).link)]
    if parametrization == "auto":
        centred = tuple(i > CENTRED_ABOVE for i in level_information(design, code))
    else:
        centred = (parametrization == "centered",) * len(design.groups)
    q = np.array([c.q for c in covariances])
    first_term = np.concatenate([[0], np.cumsum(q)[:-1]])
    coordinates = fixed.n_dim + np.concatenate([[0], np.cumsum([c.n_dim for c in covariances])])
    effects = coordinates[-1] + np.concatenate(
        [[0], np.cumsum([g.n_levels * c.q for g, c in zip(design.groups, covariances)])])
    meta = np.array([[c.q, g.n_levels, coordinates[k], effects[k], centred[k], first_term[k]]
                     for k, (g, c) in enumerate(zip(design.groups, covariances))],
                    dtype=np.int64)
    trials = design.trials if design.trials is not None else np.ones(design.n_obs)
    offset = design.offset
    index = np.stack([g.index for g in design.groups], axis=1).astype(np.int64)
    Z = np.concatenate([g.Z for g in design.groups], axis=1)
    buffer = pack([np.array([code, fixed.p, fixed.has_shape, len(covariances)], dtype=float),
                   design.y,
                   trials, np.zeros(design.n_obs) if offset is None else offset, fixed.X,
                   meta, np.array([c.eta if c.correlated else 0.0 for c in covariances]),
                   index, Z, fixed.kinds, fixed.params,
                   np.concatenate([c.kinds for c in covariances]).astype(np.int64),
                   np.concatenate([c.params for c in covariances]), fixed.means])
    start = np.concatenate([fixed.start(), *(c.start(1.0) for c in covariances),
                            np.zeros(int(effects[-1] - effects[0]))])
    variables, coords = _public(design, fixed, covariances)
    return JointDensity(buffer, variables, coords, start, centred)
