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

import numpy as np

__all__ = ["PROPOSAL_DF", "chains", "pareto_k", "refined_proposal", "run", "t_proposals"]

PROPOSAL_DF = 8
PARETO_K_MAX = 0.7
MAX_TRUNCATION_ROUNDS = 20


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
