"""Independence Metropolis–Hastings from a multivariate-t fit to the posterior mode.

For a posterior of a few parameters that is close to normal, such as the variance parameters
of a collapsed model (:mod:`lmm_bayes.collapsed`, thousands of observations per parameter),
proposals x* ~ t_ν(μ, Σ) are drawn independently of the chain, with μ the posterior mode and
Σ the inverse Hessian there (the Laplace approximation), and each is accepted with
probability

.. math::

    \\min\\{1,\\; w(x^*)/w(x)\\},\\qquad w = \\pi/q

(Tierney 1994, *Ann. Stat.* 22: 1701–1762). The proposals do not depend on the chain, so
their densities are evaluated in parallel before the chains are run. When the weights w are
bounded the chain is uniformly ergodic (Mengersen & Tweedie 1996, *Ann. Stat.* 24: 101–121);
the t's polynomial tails (ν = 8) are heavier than those of a near-normal posterior. The
Pareto k̂ of the log-weights (Vehtari et al. 2024, *JMLR* 25(72), Pareto smoothed importance
sampling) checks the proposal: above 0.7 it misses a part of the posterior that the chains
would then visit too rarely.
"""

from __future__ import annotations

import warnings
from typing import Protocol

import numpy as np

__all__ = ["MAX_PARETO_K", "PROPOSAL_DF", "LaplaceTarget", "adaptive_draws", "chains",
           "laplace_covariance", "pareto_k", "refined_proposal", "run", "t_proposals"]

PROPOSAL_DF = 8
PARETO_K_MAX = 0.7
MAX_TRUNCATION_ROUNDS = 20
# The independence sampler's largest k̂ before its draws are refitted or given up: between
# 0.5 and 0.7 the weights are usable but the chains mix slowly (the EEG study's sigma model:
# k̂ 0.56, bulk ESS 296 of 2,000 draws against NUTS's 919; Vehtari et al. 2024, section 3)
MAX_PARETO_K = 0.5
PILOT_FRACTION = 4  # the pilot: a quarter as many proposals as draws
MAX_REFITS = 2      # refits of the proposal to the draws before the caller's fallback
HESSIAN_STEP = 1e-4
LARGEST_LOG_SD = 2.0  # the Laplace SD of a coordinate whose curvature the mode does not fix


class LaplaceTarget(Protocol):
    """A posterior the independence sampler can take (:func:`adaptive_draws`): its mode,
    the Laplace covariance there, which coordinates are log-SDs (proposed on their own
    scale) and log p at many points."""

    mode: np.ndarray
    covariance: np.ndarray
    n_dim: int
    log_sd_positions: np.ndarray

    def log_densities(self, draws: np.ndarray, cores: int | None) -> np.ndarray: ...


def laplace_covariance(gradient, mode: np.ndarray, step: float = HESSIAN_STEP) -> np.ndarray:
    """The inverse Hessian of −log p at ``mode``, by central differences of ``gradient``
    (∂ log p/∂x); directions the curvature does not fix get the SD
    :data:`LARGEST_LOG_SD`.

    Notes
    -----
    Column j of the Hessian is (g(x + h e_j) − g(x − h e_j)) / 2h, exact for a quadratic
    log density and O(h²) otherwise; the symmetrised matrix's eigenvalues are floored at
    :data:`LARGEST_LOG_SD` ⁻² before it is inverted (the Laplace approximation, Tierney &
    Kadane 1986, *JASA* 81: 82–86).
    """
    columns = [(gradient(mode + step * unit) - gradient(mode - step * unit)) / (2 * step)
               for unit in np.eye(len(mode))]
    hessian = -np.array(columns)
    values, vectors = np.linalg.eigh(0.5 * (hessian + hessian.T))
    values = np.maximum(values, LARGEST_LOG_SD ** -2)
    return (vectors / values) @ vectors.T


def _proposals(target: LaplaceTarget, centre: np.ndarray, shape: np.ndarray, size: int,
               rng: np.random.Generator, cores: int | None, positive=None):
    """``size`` t proposals (:func:`t_proposals`) with their log densities under the
    proposal and the target."""
    x, log_q = t_proposals(centre, shape, size, rng, positive)
    return x, log_q, target.log_densities(x, cores)


def adaptive_draws(target: LaplaceTarget, n_chains: int, draws: int, rng: np.random.Generator,
                   cores: int | None = None):
    """Independence Metropolis–Hastings on ``target`` with an adapted proposal: the draws
    (chains, draws, n_dim), the sample stats (an ``xarray.Dataset``) and the attributes,
    with the Pareto k̂ of the importance weights.

    A pilot of a quarter as many proposals as draws, from the Laplace fit, refits the
    proposal to the posterior's importance-weighted mean and covariance
    (:func:`refined_proposal`), with the log-SDs on their own scale; the chains then run on
    proposals from the refitted t alone. While their k̂ is above :data:`MAX_PARETO_K`, up to
    :data:`MAX_REFITS` times, the proposal is refitted to them and the chains run again on
    fresh proposals (a log-SD near zero, skewed, can take two refits); each proposal is
    fixed before its draws, so every run is exact. A k̂ still above :data:`MAX_PARETO_K`
    is the caller's to act on (NUTS instead)."""
    import xarray as xr

    total = n_chains * draws
    x, log_q, log_p = _proposals(target, target.mode, target.covariance,
                                 max(total // PILOT_FRACTION, 10 * target.n_dim), rng, cores)
    positive = target.log_sd_positions
    for refits in range(1 + MAX_REFITS):
        centre, shape = refined_proposal(x, log_p - log_q, positive)
        x, log_q, log_p = _proposals(target, centre, shape, total, rng, cores, positive)
        index, stats, attrs = run(log_p, log_q, n_chains, rng)
        if attrs["pareto_k"] <= MAX_PARETO_K:
            break
    attrs["proposal_refits"] = refits
    return x[index], xr.Dataset({k: (("chain", "draw"), v) for k, v in stats.items()}), attrs


def t_proposals(mode: np.ndarray, covariance: np.ndarray, size: int,
                rng: np.random.Generator, positive: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """``size`` draws from t_ν(mode, covariance), ν = :data:`PROPOSAL_DF`, and their log
    densities (up to one constant).

    With ``positive`` (indices), the t is over y with y_j = exp(x_j) for those coordinates,
    truncated to y_j > 0: a standard deviation proposed on its own scale, where the
    posterior is finite at 0, rather than on the log scale, where it has an exponential tail
    towards −∞ that no t follows. The draws are returned as x = log y there, with the
    density of x, q_y(y) Π_j y_j; the truncation's normaliser is the constant."""
    from scipy import stats  # seconds to import: not for a model that is only checked

    proposal = stats.multivariate_t(loc=mode, shape=covariance, df=PROPOSAL_DF)
    if positive is None:
        draws = np.atleast_2d(proposal.rvs(size=size, random_state=rng))
        return draws, np.atleast_1d(proposal.logpdf(draws))
    kept = np.empty((0, len(mode)))
    for _ in range(MAX_TRUNCATION_ROUNDS):
        draws = np.atleast_2d(proposal.rvs(size=2 * size, random_state=rng))
        kept = np.concatenate([kept, draws[(draws[:, positive] > 0).all(axis=1)]])
        if len(kept) >= size:
            break
    else:
        raise ValueError("the proposal puts almost no mass on positive standard deviations")
    y = kept[:size]
    x = y.copy()
    x[:, positive] = np.log(y[:, positive])
    return x, np.atleast_1d(proposal.logpdf(y)) + x[:, positive].sum(axis=1)


def chains(log_weights: np.ndarray, n_chains: int, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """Run the chains on proposals in order: chain c uses the c-th block of
    ``log_weights`` (log π − log q, up to one constant), starts at its first proposal and
    moves to the next with probability min(1, w*/w).

    Returns
    -------
    index : ndarray of int, shape (chains, draws)
        The proposal each draw is at.
    accepted : ndarray of bool, shape (chains, draws)
        Whether the draw moved to a new proposal (True for the first).
    """
    blocks = log_weights.reshape(n_chains, -1)
    draws = blocks.shape[1]
    log_u = np.log(rng.uniform(size=blocks.shape))
    index = np.empty(blocks.shape, dtype=np.int64)
    accepted = np.ones(blocks.shape, dtype=bool)
    for c in range(n_chains):
        current = 0
        for t in range(1, draws):
            accepted[c, t] = log_u[c, t] < blocks[c, t] - blocks[c, current]
            current = t if accepted[c, t] else current
            index[c, t] = c * draws + current
        index[c, 0] = c * draws
    return index, accepted


def run(log_p: np.ndarray, log_q: np.ndarray, n_chains: int, rng: np.random.Generator
        ) -> tuple[np.ndarray, dict, dict]:
    """The chains (:func:`chains`) on proposals with target and proposal log densities
    ``log_p`` and ``log_q``: the proposal each draw is at (chains, draws), the sample stats
    (``diverging``, ``accepted``, ``lp``) and the attributes of an InferenceData's
    ``sample_stats`` (the sampler, ν and the Pareto k̂ of the weights)."""
    log_weights = log_p - log_q
    index, accepted = chains(log_weights, n_chains, rng)
    stats = {"diverging": np.zeros(index.shape, dtype=bool), "accepted": accepted,
             "lp": log_p[index]}
    attrs = {"sampler": "independence Metropolis-Hastings", "proposal_df": PROPOSAL_DF,
             "pareto_k": pareto_k(log_weights)}
    return index, stats, attrs


def pareto_k(log_weights: np.ndarray) -> float:
    """The Pareto k̂ of the importance weights (``arviz.psislw``); ∞ when a weight is not
    finite."""
    import arviz as az  # seconds at import: only once there are weights

    finite = log_weights[np.isfinite(log_weights)]
    if len(finite) < len(log_weights):
        return float("inf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arviz warns on few draws; k̂ is still reported
        return float(az.psislw(log_weights - log_weights.max())[1])


def refined_proposal(draws: np.ndarray, log_weights: np.ndarray,
                     positive: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The mean and covariance of the target estimated from proposals and their
    importance weights (Pareto-smoothed, Vehtari et al. 2024): the centre and shape of a
    second proposal when the first, at the mode, misses a skewed tail (one step of adaptive
    importance sampling; Cappé et al. 2004, *J. Comput. Graph. Stat.* 13: 907–929), on the
    scale of :func:`t_proposals` with ``positive``. A chain that uses it stays exact: the
    proposal is fixed before its draws are made."""
    import arviz as az

    finite = np.isfinite(log_weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smoothed, _ = az.psislw(log_weights[finite] - log_weights[finite].max())
    weights = np.exp(smoothed - smoothed.max())
    weights /= weights.sum()
    y = draws[finite].copy()
    if positive is not None:
        y[:, positive] = np.exp(y[:, positive])
    mean = weights @ y
    centred = y - mean
    return mean, (centred * weights[:, None]).T @ centred
