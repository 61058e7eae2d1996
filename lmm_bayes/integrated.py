"""The posterior of a Gaussian mixed model's variance parameters with every effect integrated
out, its mode and Laplace approximation, and the effects drawn back exactly.

θ = (x_1, …, x_K, ρ): each grouping factor's covariance coordinates
(:mod:`lmm_bayes.covariance`) and the residual coordinates of an *algebra*, the object that
integrates the effects out (:mod:`lmm_bayes.effects_system` for independent residuals and
any factors, :mod:`lmm_bayes.individual_blocks` for residual structures and sigma formulas).
An algebra gives log p(y | Σ_1, …, Σ_K, ρ) with its gradients ∂/∂Σ_k and ∂/∂ρ, the residual
prior, and exact draws of (β, b) given θ, so that

.. math::

    \\log p(\\theta \\mid y) = \\log p(y \\mid \\Sigma(\\theta), \\rho)
    + \\sum_k \\log p(x_k) + \\log p(\\rho) + \\text{const},

and each draw of θ is completed by one draw of (β, b) from p(β, b | θ, y): a draw from the
joint posterior (the "collapsed" Gibbs completion; Liu 1994, *JASA* 89: 958–966).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy import optimize

from . import names
from .covariance import FactorCovariance
from .design import GroupingFactor
from .imh import laplace_covariance
from .sampling import in_threads, values_in_threads

__all__ = ["Algebra", "IntegratedPosterior"]


class Algebra(Protocol):
    """What integrates the effects out (module docstring): the contract's likelihood and
    draws given Σ and ρ (tested against dense algebra), and the same compiled end to end over
    θ, which the samplers use."""

    factors: tuple[GroupingFactor, ...]
    fixed_names: tuple[str, ...]
    n_residual: int
    n_normals: int
    logp_cfunc: object   # nutpie's C log density in the whitened coordinates of buffer()

    def log_likelihood(self, sigmas: list[np.ndarray], rho: np.ndarray
                       ) -> tuple[float, list[np.ndarray], np.ndarray]: ...

    def residual_prior(self, rho: np.ndarray) -> tuple[float, np.ndarray]: ...

    def residual_start(self) -> np.ndarray: ...

    def draw(self, sigmas: list[np.ndarray], rho: np.ndarray, normals: np.ndarray
             ) -> tuple[np.ndarray, list[np.ndarray]]: ...

    def residual_variables(self, rho: np.ndarray) -> tuple[dict, dict]: ...

    def log_posterior(self, x: np.ndarray, gradient: bool = True
                      ) -> tuple[float, np.ndarray]: ...

    # inputs: one row per θ, from IntegratedPosterior.random_inputs (standard normals here;
    # a seed per row for the GLMM quadrature's importance resampling)
    def effect_draws(self, thetas: np.ndarray, inputs: np.ndarray
                     ) -> tuple[np.ndarray, list[np.ndarray]]: ...

    def buffer(self, mode: np.ndarray | None = None, factor: np.ndarray | None = None
               ) -> np.ndarray: ...


class IntegratedPosterior:
    """log p(θ | y) and its gradient, the posterior mode and Laplace covariance, and the
    public posterior variables at draws of θ (module docstring)."""

    def __init__(self, algebra: Algebra, covariances: tuple[FactorCovariance, ...]):
        self.algebra = algebra
        self.covariances = covariances
        ends = np.cumsum([c.n_dim for c in covariances])
        self._slices = [slice(int(a), int(b)) for a, b in zip([0, *ends[:-1]], ends)]
        self.n_dim = int(ends[-1]) + algebra.n_residual
        self.mode, self.covariance = self._laplace()

    @property
    def log_sd_positions(self) -> np.ndarray:
        """The coordinates of θ that are log random-effect SDs."""
        return np.concatenate([np.arange(where.start, where.start + c.q)
                               for c, where in zip(self.covariances, self._slices)])

    def split(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Each factor's coordinates and ρ."""
        return [x[where] for where in self._slices], x[self._slices[-1].stop:]

    def sigmas(self, x: np.ndarray) -> list[np.ndarray]:
        parts, _ = self.split(x)
        return [c.covariance(part) for c, part in zip(self.covariances, parts)]

    def log_density(self, x: np.ndarray) -> float:
        """log p(θ | y) up to a constant, without the gradient (cheaper)."""
        return self.algebra.log_posterior(x, gradient=False)[0]

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """log p(θ | y) up to a constant and its gradient."""
        return self.algebra.log_posterior(x)

    def start(self) -> np.ndarray:
        """Every random-effect SD at half the residual SD's start, no correlation."""
        rho = self.algebra.residual_start()
        sd = float(np.exp(rho[0])) / 2.0 if len(rho) else 1.0
        return np.concatenate([*(c.start(sd) for c in self.covariances), rho])

    def bounds(self) -> list[tuple[float | None, float | None]] | None:
        """Bounds of the search for the mode (None: unbounded BFGS)."""
        return None

    def _laplace(self) -> tuple[np.ndarray, np.ndarray]:
        """The posterior mode (BFGS with the exact gradient) and the inverse Hessian of
        −log p(θ | y) there (:func:`lmm_bayes.imh.laplace_covariance`)."""
        def objective(x):
            value, gradient = self.value_and_gradient(x)
            if not np.isfinite(value):
                return 1e300, np.zeros_like(x)
            return -value, -gradient

        bounds = self.bounds()
        mode = optimize.minimize(objective, self.start(), jac=True,
                                 method="BFGS" if bounds is None else "L-BFGS-B",
                                 bounds=bounds).x
        return mode, laplace_covariance(lambda x: self.value_and_gradient(x)[1], mode)

    def random_inputs(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """What the algebra's effect draws consume, one row per draw of θ: standard
        normals, from which each draw is made exactly."""
        return rng.standard_normal((m, self.algebra.n_normals))

    def effects(self, draws: np.ndarray, rng: np.random.Generator, cores: int | None
                ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One draw of (β, [b_k]) given each θ in ``draws`` (m, n_dim), in threads; the
        draws do not depend on the number of threads (each row has its own inputs)."""
        inputs = self.random_inputs(len(draws), rng)
        chunks = in_threads(lambda rows: self.algebra.effect_draws(draws[rows], inputs[rows]),
                            len(draws), cores)
        return (np.concatenate([beta for beta, _ in chunks]),
                [np.concatenate(parts) for parts in zip(*(b for _, b in chunks))])

    def log_densities(self, draws: np.ndarray, cores: int | None) -> np.ndarray:
        """:meth:`log_density` at each row of ``draws``, in threads."""
        return values_in_threads(self.log_density, draws, cores)

    def posterior(self, draws: np.ndarray, rng: np.random.Generator, cores: int | None
                  ) -> tuple[dict, dict, dict]:
        """The public posterior variables at ``draws`` of θ (chains, draws, n_dim), each
        completed by a draw of the effects; with their dims and coords."""
        shape = draws.shape[:2]
        flat = draws.reshape(-1, self.n_dim)
        beta, random = self.effects(flat, rng, cores)
        posterior = {names.BETA: beta.reshape(shape + beta.shape[1:])}
        dims = {names.BETA: [names.FIXED]}
        coords = {names.FIXED: list(self.algebra.fixed_names)}
        residual, residual_coords = self.algebra.residual_variables(
            draws[..., self._slices[-1].stop:])
        for name, (values, value_dims) in residual.items():
            posterior[name] = values
            dims[name] = list(value_dims)
        coords.update(residual_coords)
        for c, g, b, where in zip(self.covariances, self.algebra.factors, random,
                                  self._slices):
            for name, values in c.public(draws[..., where]).items():
                posterior[name] = values
                kind = names.group_variable(name)
                dims[name] = [names.term_dim(g.name) if kind == "sd" else names.pair_dim(g.name)]
            posterior[names.effects(g.name)] = b.reshape(shape + b.shape[1:])
            dims[names.effects(g.name)] = [names.level_dim(g.name), names.term_dim(g.name)]
            coords.update(names.coords(g.name, g.levels, g.terms))
        return posterior, dims, coords
