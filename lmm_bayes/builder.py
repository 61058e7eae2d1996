"""Build the PyMC model of a linear mixed model from its design and priors.

The model (Laird & Ware 1982; Gelman & Hill 2007, ch. 13) is

.. math::

    y_i = x_i^\\top \\beta + \\sum_g z_{gi}^\\top b_{g,\\ell_g(i)} + \\varepsilon_i,\\quad
    b_{g\\ell} \\sim N(0, \\Sigma_g),\\quad \\varepsilon_i \\sim N(0, \\sigma^2),

with :math:`\\ell_g(i)` the level of row *i* in grouping factor *g*. Each correlated block
has :math:`\\Sigma_g = \\mathrm{diag}(s_g) R_g \\mathrm{diag}(s_g)` with an LKJ prior on the
correlation :math:`R_g` through :func:`pymc.LKJCholeskyCov`; independent blocks (``||``)
have diagonal :math:`\\Sigma_g`. Random effects are non-centred,
:math:`b_{g\\ell} = L_g z_{g\\ell}` with :math:`z \\sim N(0, I)` (Papaspiliopoulos et al. 2007),
and indexed by level rather than multiplied through a dense Z.

Posterior names: ``beta`` (dim ``fixed``), ``sigma``, ``sd_<g>`` (dim ``<g>__term``),
``corr_<g>`` (dims ``<g>__term``, ``<g>__term_``), ``b_<g>`` (dims ``<g>__level``,
``<g>__term``). Internal: ``intercept_c`` (intercept with centred predictors),
``beta_slopes``, ``z_<g>``, ``chol_<g>``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .design import Design, GroupingFactor
from .priors import INTERCEPT, Prior, PriorSet

__all__ = ["build_model"]

_DISTRIBUTIONS = {
    "normal": pm.Normal,
    "student_t": pm.StudentT,
    "halfnormal": pm.HalfNormal,
    "halfstudentt": pm.HalfStudentT,
    "halfcauchy": pm.HalfCauchy,
    "exponential": pm.Exponential,
}


def _stacked(priors: Sequence[Prior]) -> dict[str, np.ndarray]:
    """Parameters of same-family priors stacked into vectors."""
    return {k: np.array([p.kwargs[k] for p in priors]) for k in priors[0].kwargs}


def _vector_rv(name: str, priors: Sequence[Prior], dims: str):
    """A vector of independent parameters, one prior each; one PyMC variable per family."""
    by_family: dict[str, list[int]] = defaultdict(list)
    for k, prior in enumerate(priors):
        by_family[prior.dist].append(k)
    if len(by_family) == 1:
        dist = _DISTRIBUTIONS[priors[0].dist]
        return dist(name, **_stacked(priors), dims=dims)
    pieces, order = [], []
    for family, idx in by_family.items():
        dist = _DISTRIBUTIONS[family]
        pieces.append(dist(f"{name}_{family}", **_stacked([priors[k] for k in idx]),
                           shape=len(idx)))
        order.extend(idx)
    return pm.Deterministic(name, pt.concatenate(pieces)[np.argsort(order)], dims=dims)


def _fixed_part(design: Design, priors: PriorSet):
    """X β, sampled with the non-intercept columns centred when there is an intercept."""
    names = list(design.fixed_names)
    if INTERCEPT not in names:
        beta = _vector_rv("beta", [priors.fixed[n] for n in names], dims="fixed")
        return pt.dot(design.X, beta)
    slopes = names[1:]
    alpha = _DISTRIBUTIONS[priors.intercept.dist]("intercept_c", **priors.intercept.kwargs)
    if not slopes:
        pm.Deterministic("beta", alpha[None], dims="fixed")
        return alpha
    X = design.X[:, 1:]
    means = X.mean(axis=0)
    beta_slopes = _vector_rv("beta_slopes", [priors.fixed[n] for n in slopes], dims="slope")
    intercept = alpha - pt.dot(means, beta_slopes)
    pm.Deterministic("beta", pt.concatenate([intercept[None], beta_slopes]), dims="fixed")
    return alpha + pt.dot(X - means, beta_slopes)


def _random_part(group: GroupingFactor, priors: PriorSet):
    """Σ_k Z[:, k] · b[level, k] for one grouping factor, with non-centred b."""
    g = group.name
    level_dim, term_dim = f"{g}__level", f"{g}__term"
    sd_priors = [priors.sd[g][t] for t in group.terms]
    z = pm.Normal(f"z_{g}", 0.0, 1.0, dims=(level_dim, term_dim))
    if g in priors.eta:
        dist = _DISTRIBUTIONS[sd_priors[0].dist]
        chol, corr, sds = pm.LKJCholeskyCov(
            f"chol_{g}", n=len(group.terms), eta=priors.eta[g],
            sd_dist=dist.dist(**_stacked(sd_priors), shape=len(group.terms)),
            compute_corr=True,
        )
        pm.Deterministic(f"sd_{g}", sds, dims=term_dim)
        pm.Deterministic(f"corr_{g}", corr, dims=(term_dim, f"{term_dim}_"))
        b = pm.Deterministic(f"b_{g}", pt.dot(z, chol.T), dims=(level_dim, term_dim))
    else:
        sd = _vector_rv(f"sd_{g}", sd_priors, dims=term_dim)
        b = pm.Deterministic(f"b_{g}", z * sd, dims=(level_dim, term_dim))
    return (group.Z * b[group.index]).sum(axis=1)


def _coords(design: Design) -> dict[str, Sequence]:
    names = list(design.fixed_names)
    coords: dict[str, Sequence] = {"fixed": names, "obs": np.arange(design.n_obs)}
    if INTERCEPT in names and len(names) > 1:
        coords["slope"] = names[1:]
    for group in design.groups:
        coords[f"{group.name}__level"] = list(group.levels)
        coords[f"{group.name}__term"] = list(group.terms)
        coords[f"{group.name}__term_"] = list(group.terms)
    return coords


def _gaussian(mu, design: Design, priors: PriorSet) -> None:
    sigma = _DISTRIBUTIONS[priors.sigma.dist]("sigma", **priors.sigma.kwargs)
    pm.Normal("y", mu=mu, sigma=sigma, observed=design.y, dims="obs")


FAMILIES = {"gaussian": _gaussian}


def build_model(design: Design, priors: PriorSet, family: str = "gaussian") -> pm.Model:
    """The PyMC model for ``design`` under ``priors`` (see the module docstring).

    Parameters
    ----------
    design : Design
    priors : PriorSet
    family : {"gaussian"}
        The response distribution; the place where other families plug in.

    Returns
    -------
    pymc.Model
        With coords carrying the real fixed-effect names, level labels and term names.
    """
    with pm.Model(coords=_coords(design)) as model:
        mu = _fixed_part(design, priors)
        for group in design.groups:
            mu = mu + _random_part(group, priors)
        FAMILIES[family](mu, design, priors)
    return model
