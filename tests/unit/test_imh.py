"""The independence Metropolis–Hastings pieces on targets with known answers."""

import numpy as np
import pytest
from scipy import stats

from lmm_bayes import imh


def test_chains_accept_every_proposal_of_equal_weight():
    index, accepted = imh.chains(np.zeros(10), 2, np.random.default_rng(0))
    np.testing.assert_array_equal(index, np.arange(10).reshape(2, 5))
    assert accepted.all()


def test_chains_stay_at_a_proposal_of_overwhelming_weight():
    log_weights = np.array([0.0, 50.0, 0.0, 0.0, 1.0, -np.inf])
    index, accepted = imh.chains(log_weights, 1, np.random.default_rng(0))
    np.testing.assert_array_equal(index, [[0, 1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(accepted, [[True, True, False, False, False, False]])


def test_the_chains_sample_a_known_normal_target():
    """Target N(μ, Σ); proposal t₈ centred off μ with a wider scale. The chains' means and
    covariance match the target within Monte Carlo error."""
    mu = np.array([1.0, -2.0])
    cov = np.array([[1.0, 0.6], [0.6, 2.0]])
    rng = np.random.default_rng(1)
    x, log_q = imh.t_proposals(mu + 0.3, 1.5 * cov, 40_000, rng)
    log_p = stats.multivariate_normal(mu, cov).logpdf(x)
    index, accepted = imh.chains(log_p - log_q, 4, rng)
    draws = x[index].reshape(-1, 2)
    assert 0.5 < accepted.mean() < 0.95
    np.testing.assert_allclose(draws.mean(axis=0), mu, atol=0.04)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.06)


def test_pareto_k_flags_a_proposal_narrower_than_the_target():
    rng = np.random.default_rng(2)
    wide = rng.standard_t(imh.PROPOSAL_DF, size=4000) * 1.2
    narrow = rng.standard_normal(4000) * 0.4
    target = stats.norm()                # lighter tails than the t, heavier than N(0, 0.4²)
    k_wide = imh.pareto_k(target.logpdf(wide) - stats.t(imh.PROPOSAL_DF, 0, 1.2).logpdf(wide))
    k_narrow = imh.pareto_k(target.logpdf(narrow) - stats.norm(0, 0.4).logpdf(narrow))
    assert k_wide < 0.5 < imh.PARETO_K_MAX < k_narrow


@pytest.mark.parametrize("spread", [0.3, 0.6])
def test_proposals_of_an_sd_on_its_own_scale_sample_a_log_scale_target(spread):
    """Target: x = log s ~ N(0.5, spread²) and z ~ N(0, 1); proposals of s on its own scale
    (truncated at 0) with the Jacobian e^x in their density, from moments refitted to a
    pilot. With a relative SD of 30% the chains recover the target's mean and SD of x with
    k̂ below 0.7; at 60% s's log-normal right tail outruns the t and k̂ says so (the blocked
    engine then samples with NUTS)."""
    target = stats.multivariate_normal([0.5, 0.0], np.diag([spread ** 2, 1.0]))
    rng = np.random.default_rng(3)
    pilot, log_q = imh.t_proposals(np.array([0.3, 0.2]), np.diag([0.2, 1.5]), 4000, rng)
    centre, shape = imh.refined_proposal(pilot, target.logpdf(pilot) - log_q, np.array([0]))
    np.testing.assert_allclose(centre, [np.exp(0.5 + spread ** 2 / 2), 0.0], atol=0.08)
    x, log_q = imh.t_proposals(centre, shape, 40_000, rng, positive=np.array([0]))
    assert np.isfinite(x).all()
    log_weights = target.logpdf(x) - log_q
    if spread > 0.5:
        assert imh.pareto_k(log_weights) > imh.PARETO_K_MAX
        return
    assert imh.pareto_k(log_weights) < imh.PARETO_K_MAX
    index, _ = imh.chains(log_weights, 4, rng)
    draws = x[index].reshape(-1, 2)
    np.testing.assert_allclose(draws.mean(axis=0), [0.5, 0.0], atol=0.03)
    np.testing.assert_allclose(draws.std(axis=0), [spread, 1.0], rtol=0.05)


def test_laplace_covariance_inverts_a_gaussians_precision_and_floors_flat_directions():
    """log p = −½ xᵀPx, with one direction that the data do not fix (zero curvature): the
    covariance is P⁻¹ on the others and LARGEST_LOG_SD² on it."""
    precision = np.array([[4.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    covariance = imh.laplace_covariance(lambda x: -precision @ x, np.array([0.3, -1.0, 2.0]))
    np.testing.assert_allclose(covariance[:2, :2], np.linalg.inv(precision[:2, :2]),
                               rtol=1e-8)
    np.testing.assert_allclose(covariance[2], [0.0, 0.0, imh.LARGEST_LOG_SD ** 2], atol=1e-8)


class _GaussianTarget:
    """N(μ, Σ) behind the :class:`imh.LaplaceTarget` protocol, with a Laplace fit that is
    off (shifted, too narrow) so that the pilot's refit has work to do."""

    def __init__(self, mu, cov):
        self.mu, self.cov = mu, cov
        self.mode, self.covariance = mu - 0.5, 0.5 * cov
        self.n_dim = len(mu)
        self.log_sd_positions = np.array([], dtype=int)

    def log_densities(self, draws, cores):
        return stats.multivariate_normal(self.mu, self.cov).logpdf(draws)


def test_adaptive_draws_sample_a_known_normal_from_a_poor_laplace_fit():
    mu, cov = np.array([2.0, -1.0]), np.array([[1.0, -0.4], [-0.4, 0.5]])
    draws, sample_stats, attrs = imh.adaptive_draws(_GaussianTarget(mu, cov), 4, 4000,
                                                    np.random.default_rng(3))
    assert draws.shape == (4, 4000, 2) and sample_stats.accepted.shape == (4, 4000)
    assert attrs["pareto_k"] <= imh.MAX_PARETO_K
    flat = draws.reshape(-1, 2)
    np.testing.assert_allclose(flat.mean(axis=0), mu, atol=0.05)
    np.testing.assert_allclose(np.cov(flat.T), cov, atol=0.05)
