"""Residual correlation structures: one object per structure, holding everything the package
asks of it.

Given the random effects, a Gaussian model's residuals ε_i = σ_i u_i are correlated within
an individual (the rows sharing the ``residual`` option's grouping columns) and independent
across individuals; u has unit variance and a correlation matrix R(θ) that the structure
defines (Pinheiro & Bates 2000, §5.3). Each structure is one :class:`ResidualStructure`
subclass here, and its object carries

* its name, as written in ``residual="<name>(time | individual)"``
  (:func:`lmm_bayes.residual_spec.parse_residual` looks it up in
  :data:`lmm_bayes.residual_spec.STRUCTURES`), and whether the time must hold whole numbers;
* its parameters (:class:`~lmm_bayes.families.Parameter`: posterior name and prior key,
  default prior, term in the tidy summary's "Residual" group), which priors, the builder
  and the summary read; each lies in an interval and has a beta prior on its position in
  that interval (:meth:`ResidualStructure.check_prior`);
* the PyMC half: the likelihood of the observed y given the mean μ and each row's SD σ_i
  (:meth:`ResidualStructure.likelihood`); PyMC is imported there only;
* the numpy half, on posterior draws: the log-density and draws of u, and the conditional
  distribution of a later row's u given the individual's earlier ones (prediction).

=========  ========================  ==============  =======================
structure  Corr(u_j, u_k)            parameter       time variable
=========  ========================  ==============  =======================
ar1        φ^|t_j − t_k|             φ ∈ (−1, 1)     whole numbers (visits)
car1       φ^|t_j − t_k|             φ ∈ (0, 1)      continuous
=========  ========================  ==============  =======================

The structures read each individual's rows in time order from
:class:`lmm_bayes.residuals.SerialDesign` (previous row, time gap, position, individual).
The numpy methods take the parameters' draws in a mapping ``values`` keyed by name, arrays
that broadcast against the leading axes of u.

The structures across a fixed set of visits (unstructured, compound symmetry, Toeplitz) are
in :mod:`lmm_bayes.visit_structures`. A new structure is a subclass of
:class:`ResidualStructure` and one entry in :data:`lmm_bayes.residual_spec.STRUCTURES`,
plus the posterior name of a new parameter in :mod:`lmm_bayes.names`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
from scipy import stats

from .distributions import Prior
from .errors import PriorError
from .families import Parameter
from .names import OBS, PHI

__all__ = ["Autoregressive", "ResidualStructure", "bounded", "by_individual",
           "serial_conditional", "serial_draws", "uniform"]


class SerialDesign(Protocol):
    """The rows of each individual as a structure reads them; built by
    :func:`lmm_bayes.residuals.serial_design` (whose module builds on this one)."""

    individual: np.ndarray
    previous: np.ndarray
    gap: np.ndarray
    first: np.ndarray
    position: np.ndarray
    visit: np.ndarray
    visit_labels: tuple[str, ...]
    arm: np.ndarray
    arm_labels: tuple[str, ...]


def uniform(_: float) -> Prior:
    """Beta(1, 1): uniform over the parameter's interval (brms's default for the
    autocorrelation, Bürkner 2017)."""
    return Prior("beta", alpha=1.0, beta=1.0)


def bounded(name: str, prior: Prior, low: float, high: float = 1.0, **kwargs):
    """The PyMC parameter ``name`` in (low, high) with ``prior``, a beta, on
    (θ − low)/(high − low); sampled as ``<name>_unit`` unless the interval is (0, 1)."""
    import pymc as pm

    if (low, high) == (0.0, 1.0):
        return pm.Beta(name, **prior.kwargs, **kwargs)
    unit = pm.Beta(f"{name}_unit", **prior.kwargs, **kwargs)
    return pm.Deterministic(name, low + (high - low) * unit, dims=kwargs.get("dims"))


@dataclass(frozen=True)
class ResidualStructure(ABC):
    """A correlation structure of the residuals within an individual; one subclass per kind.

    Attributes
    ----------
    name : str
        As written in the ``residual`` option (``"ar1"``).
    whole_times : bool
        Whether the time variable must hold whole numbers (visit numbers).
    heterogeneous : bool
        Whether the structure brings one residual SD per visit (and arm), the sigma formula
        of :func:`lmm_bayes.residuals.implied_sigma`.
    parameters : tuple of Parameter
        The structure's parameters (class attribute).
    per_arm : bool
        Whether it takes ``by = arm``, one correlation per arm (class attribute).
    categorical_times : bool
        Whether the time variable may be categorical, its levels the visits in order
        (class attribute).
    """

    name: str
    whole_times: bool = False
    heterogeneous: bool = False
    parameters: ClassVar[tuple[Parameter, ...]] = ()
    per_arm: ClassVar[bool] = False
    categorical_times: ClassVar[bool] = False

    def check_prior(self, key: str, prior: object) -> Prior:
        """``prior`` for parameter ``key`` if it is a beta (of the parameter's position in
        its interval), else PriorError."""
        if not isinstance(prior, Prior) or prior.dist != "beta":
            raise PriorError(f"prior {key!r} is for a residual correlation parameter and needs "
                             "a beta prior (lb.Prior('beta', alpha=..., beta=...)), "
                             f"not {prior!r}")
        return prior

    def coords(self, design: SerialDesign) -> dict[str, list[str]]:
        """The coordinates of the dims of its parameters (none for scalars)."""
        return {}

    def check_design(self, design: SerialDesign) -> None:
        """Raise :class:`~lmm_bayes.errors.DesignError` when the data cannot inform the
        structure's parameters (none to check here)."""

    @abstractmethod
    def likelihood(self, mu, sd, design: SerialDesign, priors: Mapping[str, Prior],
                   observed) -> None:
        """The parameters with their priors and the observed ``y`` (dim ``obs``) in the
        current PyMC model.

        Parameters
        ----------
        mu, sd : pytensor variables
            The mean and the residual SD of each row.
        design : SerialDesign
        priors : mapping of parameter name to Prior
        observed : pymc.Data
            The response.
        """

    @abstractmethod
    def logpdf(self, u: np.ndarray, design: SerialDesign,
               values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-density of the unit-scale residuals u, shape (..., n), per individual:
        shape (..., number of individuals). Of y = μ + σ u it is this less Σ log σ_i over
        the individual's rows."""

    @abstractmethod
    def draw(self, design: SerialDesign, values: Mapping[str, np.ndarray],
             rng: np.random.Generator, size: tuple[int, ...] = ()) -> np.ndarray:
        """Draws of u, shape ``size`` + (n,); ``values`` broadcast against ``size``."""

    @abstractmethod
    def conditional(self, values: Mapping[str, np.ndarray], u: np.ndarray, times: np.ndarray,
                    time: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean and SD of u at ``time`` given one individual's earlier u (..., m) at
        ``times`` (m,), sorted and before ``time``: the Gaussian conditional of a
        forecast."""


def serial_conditional(phi: np.ndarray, previous_residual: np.ndarray, gap: np.ndarray,
                       sd: np.ndarray, previous_sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD of a new row's residual given the same individual's previous residual,
    under AR(1)/CAR(1).

    Parameters
    ----------
    phi : ndarray
        Draws of φ, e.g. ``posterior["phi"].values`` (chain, draw).
    previous_residual : ndarray
        e_prev = y_prev − μ_prev of the previous row, per draw (broadcasting with ``phi``).
    gap : ndarray
        Time from the previous row to the new one (> 0; whole numbers for ``ar1``).
    sd, previous_sd : ndarray
        Residual SDs σ_new and σ_prev (:func:`lmm_bayes.residuals.residual_sd_draws`), per
        draw.

    Returns
    -------
    mean, sd : ndarray
        ρ (σ_new/σ_prev) e_prev and σ_new √(1 − ρ²), with ρ = φ^gap, broadcast together.

    Notes
    -----
    With e = σ u and u a stationary AR process of unit variance,
    u_new | u_prev ~ N(ρ u_prev, 1 − ρ²) (Box, Jenkins & Reinsel 2008, §7.1), so
    e_new | e_prev ~ N(ρ σ_new e_prev / σ_prev, σ_new² (1 − ρ²)). Conditioning on the
    previous residual only is exact for a row after the individual's last observed one
    (forecasting): the process is Markov. A row between two observed ones would also be
    informed by the next one; this function does not cover that case.
    """
    rho = np.power(phi, gap)
    mean = rho * np.asarray(sd) / np.asarray(previous_sd) * previous_residual
    return mean, np.asarray(sd) * np.sqrt(1.0 - rho**2)


def serial_draws(rho: np.ndarray, serial: SerialDesign, rng: np.random.Generator,
                 size: tuple[int, ...] = ()) -> np.ndarray:
    """Draws of the unit-variance AR process u for every row (prior predictive, simulation).

    Parameters
    ----------
    rho : ndarray, shape (..., n)
        ρ_i = φ^gap_i for each row (ignored at first rows).
    serial : SerialDesign
    rng : numpy.random.Generator
    size : tuple of int
        Leading shape of independent replicates.

    Returns
    -------
    ndarray, shape size + (n,)
        u_i = ρ_i u_prev(i) + √(1 − ρ_i²) z_i with z ~ N(0, 1), u = z at first rows,
        generated one visit position at a time (:class:`Autoregressive`).
    """
    n = len(serial.previous)
    z = rng.standard_normal(size + (n,))
    rho = np.broadcast_to(np.where(serial.first, 0.0, rho), size + (n,))
    u = np.zeros(size + (n,))
    for k in range(int(serial.position.max()) + 1):
        rows = np.flatnonzero(serial.position == k)
        r = rho[..., rows]
        u[..., rows] = r * u[..., serial.previous[rows]] + np.sqrt(1.0 - r**2) * z[..., rows]
    return u


@dataclass(frozen=True)
class Autoregressive(ResidualStructure):
    """AR(1) at whole-number visits (``ar1``) or CAR(1) in continuous time (``car1``):
    Corr(u_j, u_k) = φ^|t_j − t_k|.

    Attributes
    ----------
    signed : bool
        φ ∈ (−1, 1) when true (a negative φ needs whole-number gaps), else φ ∈ (0, 1).

    Notes
    -----
    u is a stationary Markov process, so its density factorises over each individual's
    rows in time order (the innovations form; Box, Jenkins & Reinsel 2008, §7.1; Jones
    1993, ch. 3 for continuous time):

    .. math::

        u_1 \\sim N(0, 1),\\qquad u_k \\mid u_{k-1} \\sim N(\\rho_k u_{k-1},\\, 1 - \\rho_k^2),
        \\qquad \\rho_k = \\varphi^{t_k - t_{k-1}},

    which costs O(n), with no covariance matrix over the rows. Default prior: Beta(1, 1)
    on (φ + 1)/2 for ``ar1`` and on φ for ``car1``, uniform over φ's interval.
    """

    signed: bool = True
    parameters: ClassVar[tuple[Parameter, ...]] = (Parameter(PHI, "phi", uniform),)

    def _gap(self, design: SerialDesign) -> np.ndarray:
        """Each row's time gap, as integers for whole-number visits: integer powers keep
        φ^gap real for a negative φ."""
        return design.gap.astype(int) if self.whole_times else design.gap

    def _rho(self, values, design: SerialDesign) -> np.ndarray:
        """ρ_i = φ^gap_i per draw (..., n), 0 at first rows."""
        phi = np.asarray(values[PHI])[..., None]
        return np.where(design.first, 0.0, np.power(phi, self._gap(design)))

    def likelihood(self, mu, sd, design, priors, observed):
        import pymc as pm
        import pytensor.tensor as pt

        phi = bounded(PHI, priors[PHI], -1.0 if self.signed else 0.0)
        rho = pt.switch(design.first, 0.0, pt.pow(phi, self._gap(design)))
        previous = design.previous

        def logp(value, mu, sd, rho):
            u = (value - mu) / sd
            return (pm.logp(pm.Normal.dist(rho * u[previous], pt.sqrt(1.0 - rho**2)), u)
                    - pt.log(sd))

        def random(mu, sd, rho, rng=None, size=None):
            return mu + sd * serial_draws(rho, design, rng, size=tuple(size or ())[:-1])

        pm.CustomDist("y", mu, sd, rho, logp=logp, random=random, observed=observed, dims=OBS)

    def logpdf(self, u, design, values):
        rho = self._rho(values, design)
        rows = stats.norm.logpdf(u, rho * u[..., design.previous], np.sqrt(1.0 - rho**2))
        return by_individual(rows, design)

    def draw(self, design, values, rng, size=()):
        rho = self._rho(values, design)
        return serial_draws(rho, design, rng, size)

    def conditional(self, values, u, times, time):
        return serial_conditional(values[PHI], u[..., -1], time - times[-1], 1.0, 1.0)


def by_individual(rows: np.ndarray, design: SerialDesign) -> np.ndarray:
    """Sums over each individual's rows of the last axis: (..., n) → (..., individuals)."""
    out = np.zeros(rows.shape[:-1] + (int(design.individual.max()) + 1,))
    np.add.at(out, (..., design.individual), rows)
    return out
