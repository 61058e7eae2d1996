"""The marginal model's log density in JAX, sampled by numpyro's NUTS: the GPU path.

The same density as :mod:`lmm_bayes.kernel` (same coordinates, priors and marginal
likelihood; see its docstring), written with ``jax.numpy`` over all levels at once, so
that a GPU evaluates it in parallel, and differentiated by JAX. numpyro then runs every
chain in one vectorised program (``chain_method="vectorized"``), starting at the posterior
mode, with a dense mass matrix: the sampled parameters are few, and a dense matrix adapts
to their correlations (the intercept with the slopes, σ with the SDs). Needs the
``numpyro`` extra (``pip install 'lmm_bayes[numpyro]'``, or JAX with CUDA for a GPU).
"""

from __future__ import annotations

import arviz as az
import numpy as np

from .kernel import MarginalDensity, unpack

__all__ = ["log_density_function", "sample_numpyro"]


def _prior_terms(values, rows, kinds):
    """Σ log p(value) up to constants, for priors given as (kind, ν, μ, scale) rows."""
    import jax.numpy as jnp

    total = 0.0
    for value, (nu, mu, scale), kind in zip(values, rows, kinds):
        if kind == 1:                                   # exponential, scale = 1/λ
            total = total - value / scale
        elif nu == 0.0:                                 # normal, half-normal
            total = total - 0.5 * ((value - mu) / scale) ** 2
        else:                                           # Student-t, half-t, half-Cauchy
            total = total - 0.5 * (nu + 1.0) * jnp.log1p((value - mu) ** 2 / (nu * scale**2))
    return total


def log_density_function(density: MarginalDensity):
    """``f(x)``: the log posterior density of :mod:`lmm_bayes.kernel` in ``jax.numpy``.

    Notes
    -----
    Per level ℓ, with Λ = L/σ lower triangular, S = Z_ℓᵀZ_ℓ, A = I + ΛᵀSΛ (2 × 2),
    w = Z_ℓᵀ(y_ℓ − X_ℓβ) and u = Λᵀw: log|A| and uᵀA⁻¹u in closed form, summed over
    levels (Bates et al. 2015, *J. Stat. Softw.* 67(1), section 3).
    """
    import jax.numpy as jnp

    (ZtZ, ZtX, Zty, XtX, Xty, xbar, kinds, params, p, q, intercept, correlated, eta, shift,
     n, yty) = unpack(density.buffer)
    ZtZ, ZtX, Zty = jnp.asarray(ZtZ), jnp.asarray(ZtX), jnp.asarray(Zty)
    XtX, Xty, xbar_j = jnp.asarray(XtX), jnp.asarray(Xty), jnp.asarray(xbar)
    kinds, params = [int(k) for k in kinds], [tuple(row) for row in params]

    def log_density(x):
        coefficients = x[:p]
        beta = coefficients.at[0].add(-xbar_j @ coefficients) if intercept else coefficients
        s = jnp.concatenate([jnp.exp(x[p:p + q]), jnp.zeros(2 - q)])
        r = jnp.tanh(x[p + q]) if correlated else 0.0
        sigma = jnp.exp(x[-1])
        lp = _prior_terms([*coefficients, *s[:q], sigma], params, kinds)
        lp = lp + x[p:p + q].sum() + x[-1]                       # log-Jacobians
        if correlated:
            lp = lp + eta * jnp.log1p(-r * r)                    # LKJ(η) and tanh Jacobian
        beta = beta.at[0].add(-shift) if intercept else beta   # the response was centred
        l00, l10, l11 = s[0] / sigma, s[1] * r / sigma, s[1] * jnp.sqrt(1 - r * r) / sigma
        w = Zty - ZtX @ beta                                     # (L, 2)
        a, b, d = ZtZ[:, 0, 0], ZtZ[:, 0, 1], ZtZ[:, 1, 1]
        m00, m01, m10, m11 = a * l00 + b * l10, b * l11, b * l00 + d * l10, d * l11
        A00, A01, A11 = 1 + l00 * m00 + l10 * m10, l00 * m01 + l10 * m11, 1 + l11 * m11
        det = A00 * A11 - A01 * A01
        u0, u1 = l00 * w[:, 0] + l10 * w[:, 1], l11 * w[:, 1]
        quad = (A11 * u0 * u0 - 2 * A01 * u0 * u1 + A00 * u1 * u1) / det
        rss = yty - 2 * beta @ Xty + beta @ XtX @ beta
        return (lp - n * jnp.log(sigma) - 0.5 * jnp.log(det).sum()
                - (rss - quad.sum()) / (2 * sigma**2))

    return log_density


def sample_numpyro(density: MarginalDensity, config) -> az.InferenceData:
    """NUTS on :func:`log_density_function` with numpyro: chains vectorised, started at the
    posterior mode jittered by U(−0.5, 0.5), dense mass matrix; the posterior variables of
    :meth:`MarginalDensity.expand` per draw, with ``diverging`` in ``sample_stats``."""
    import jax
    import numpyro
    from numpyro.infer import MCMC, NUTS

    numpyro.enable_x64()
    log_density = log_density_function(density)
    kernel = NUTS(potential_fn=lambda x: -log_density(x), dense_mass=True,
                  target_accept_prob=config.target_accept or 0.8)
    mcmc = MCMC(kernel, num_warmup=config.tune, num_samples=config.draws,
                num_chains=config.chains, chain_method="vectorized", progress_bar=False)
    start = density.jittered_start(np.random.default_rng(config.random_seed), config.chains)
    mcmc.run(jax.random.PRNGKey(config.random_seed or 0), init_params=start,
             extra_fields=("diverging",))
    draws = np.asarray(mcmc.get_samples(group_by_chain=True))   # (chain, draw, n_dim)
    expanded = [density.expand(x) for x in draws.reshape(-1, density.n_dim)]
    posterior = {name: np.stack([e[name] for e in expanded]).reshape(
        config.chains, config.draws, *shape) for name, shape in zip(density.names,
                                                                      density.shapes)}
    diverging = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"])
    return az.from_dict(posterior=posterior, sample_stats={"diverging": diverging},
                        coords=density.coords,
                        dims={name: list(d) for name, d in density.dims.items()})

