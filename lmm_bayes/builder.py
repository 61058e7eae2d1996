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
unless the data inform every level strongly (then centred, see :func:`level_information`),
and indexed by level rather than multiplied through a dense Z.

Residual structures and sigma models (:mod:`lmm_bayes.residuals`) replace
ε_i ~ N(0, σ²) by log σ_i = x_{σ,i}ᵀ β_σ and/or correlated residuals within each individual,
e.g. an AR(1)/CAR(1) process; each structure writes its own likelihood
(:meth:`lmm_bayes.structures.ResidualStructure.likelihood`).

For the other families (Breslow & Clayton 1993) the same linear predictor η is the link g of
the response's mean, g(E[y_i | b]) = η_i, with a Bernoulli, binomial (trials from the data),
Poisson or negative binomial (Var = μ + μ²/α) response; there is then no ε and no ``sigma``.
An ordinal response (the cumulative family) has ordered cutpoints c in place of the
intercept, P(y ≤ k) = F(c_k − η), sampled under PyMC's ``ordered`` transform.
Each family writes its own likelihood (:meth:`lmm_bayes.families.Family.likelihood`); the
builder gives it η, the response and its extra parameters with their priors.

A censored response (``y | cens(...)``, :mod:`lmm_bayes.censoring`) replaces each censored
row's normal density by the probability of its interval (Tobit), one PyMC ``CustomDist``
``y`` (:func:`censored_normal_logp`) whose draws are the latent value censored as the row was.

An ``offset()`` in the formula (:attr:`lmm_bayes.design.Design.offset`) is added to η with
coefficient 1, for every family: a Poisson rate per unit of exposure is
log μ_i = log t_i + x_iᵀβ + ….

Observation weights (:attr:`lmm_bayes.design.Design.weights`, :mod:`lmm_bayes.weights`)
are precision weights for the Gaussian family, each row's residual SD σ_i/√w_i, and prior
weights for the others: the family's likelihood ``y`` plus a potential ``y_weights`` of
Σ_i (w_i − 1) log p(y_i | η_i), so that row i counts w_i times and ``y`` stays the
response's distribution for prior predictive draws.

Posterior names: ``beta`` (dim ``fixed``), ``sigma`` (Gaussian, Student-t), ``nu``
(Student-t), ``alpha`` (negative binomial), ``cutpoints`` (dim ``cutpoint``, cumulative),
``sd_<g>`` (dim ``<g>__term``), ``corr_<g>`` (dim ``<g>__pair``, each correlation once),
``b_<g>`` (dims ``<g>__level``, ``<g>__term``); with a residual structure its parameters
(``phi``, ``rho``, ``rho_lag``, ``residual_corr``); with a sigma formula ``sigma_beta`` (dim ``sigma_fixed``) instead
of ``sigma``. Internal: ``intercept_c`` (intercept with centred predictors),
``beta_slopes``, ``z_<g>``, ``chol_<g>``, ``sigma_intercept_c``, ``sigma_beta_slopes``,
``<parameter>_unit`` of a structure's parameter on a rescaled interval (``phi_unit``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from . import names
from .censoring import INTERVAL, LEFT, NONE, RIGHT, interval_bounds
from .design import Design, GroupingFactor
from .families import Family, Parameter, get_family, residual_obstacle
from .marginal import LevelStatistics, can_marginalize, level_statistics
from .multivariate import MissingPattern, MultivariateDesign, MultivariatePriors
from .names import SIGMA
from .priors import INTERCEPT, Prior, PriorSet
from .residuals import ResidualDesign
from .weights import residual_scale

__all__ = ["build_model", "build_multivariate_model", "censored_normal_logp", "centring",
           "gaussian_mixed_part", "level_information", "model_coords", "response_data",
           "scalar_parameter", "vector_parameter"]

Parametrization = Literal["auto", "centered", "non-centered"]

_DISTRIBUTIONS = {
    "normal": pm.Normal,
    "student_t": pm.StudentT,
    "halfnormal": pm.HalfNormal,
    "halfstudentt": pm.HalfStudentT,
    "halfcauchy": pm.HalfCauchy,
    "exponential": pm.Exponential,
    "beta": pm.Beta,
    "gamma": pm.Gamma,
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


def _coefficients(prefix: str, X: np.ndarray, columns: Sequence[str], intercept: Prior | None,
                  priors: dict[str, Prior]):
    """Coefficients ``<prefix>beta`` (dim ``<prefix>fixed``), sampled with the non-intercept
    columns centred when there is an intercept (the reported intercept is α − x̄ᵀβ_slopes,
    with α the intercept at the column means)."""
    # the prefix "sigma_" gives the sigma formula's names.SIGMA_BETA and names.SIGMA_FIXED
    name, dim = prefix + names.BETA, prefix + names.FIXED
    if INTERCEPT not in columns:
        return _vector_rv(name, [priors[n] for n in columns], dims=dim)
    alpha = _DISTRIBUTIONS[intercept.dist](f"{prefix}intercept_c", **intercept.kwargs)
    if len(columns) == 1:
        return pm.Deterministic(name, alpha[None], dims=dim)
    means = X[:, 1:].mean(axis=0)
    slopes = _vector_rv(f"{prefix}beta_slopes", [priors[n] for n in columns[1:]],
                        dims=f"{prefix}slope")
    return pm.Deterministic(name, pt.concatenate([(alpha - pt.dot(means, slopes))[None],
                                                  slopes]), dims=dim)


def _fixed_effects(design: Design, priors: PriorSet):
    """β (see :func:`_coefficients`)."""
    return _coefficients("", design.X, design.fixed_names, priors.intercept, priors.fixed)


def level_information(design: Design, group: GroupingFactor) -> float:
    """How strongly the data inform each level's intercept: n̄·τ̂²/σ̂².

    Moment estimates from a one-way analysis of variance of the fixed-effect least-squares
    residuals by level: σ̂² the pooled within-level variance, τ̂² the variance of the level
    means less σ̂²/n̄ (floored at 0), n̄ the mean number of rows per level. Large values mean
    the likelihood pins each level down and the centred parametrisation samples better;
    small values favour the non-centred one (Papaspiliopoulos et al. 2007; Betancourt &
    Girolami 2015, "Hamiltonian Monte Carlo for hierarchical models").
    """
    residual = design.least_squares()[1]
    if group.member is not None:  # one arm of gr(g, by = arm): its own rows only
        residual, group = residual[group.member], replace(group, index=group.index[group.member])
    counts = np.bincount(group.index, minlength=group.n_levels)
    sums = np.bincount(group.index, weights=residual, minlength=group.n_levels)
    means = sums / counts
    squares = np.bincount(group.index, weights=(residual - means[group.index]) ** 2)
    dof = (counts - 1).sum()
    if dof == 0:
        return 0.0
    within = squares.sum() / dof
    tau2 = max(np.var(means, ddof=1) - within / counts.mean(), 0.0)
    return float(counts.mean() * tau2 / within) if within > 0 else np.inf


CENTRED_ABOVE = 10.0
CENTRED_MIN_ROWS = 10


def _centred(design: Design, group: GroupingFactor, parametrization: str) -> bool:
    """Centre an independent-effects factor whose levels have 10+ rows on average and level
    information > 10; correlated blocks stay non-centred under ``"auto"`` (a centred
    multivariate normal costs far more to compile and rarely pays for it)."""
    if parametrization != "auto":
        return parametrization == "centered"
    correlated = group.correlated and len(group.terms) > 1
    rows = design.n_obs if group.member is None else int(group.member.sum())
    return (not correlated and "(Intercept)" in group.terms
            and rows / group.n_levels >= CENTRED_MIN_ROWS
            and level_information(design, group) > CENTRED_ABOVE)


def centring(design: Design, parametrization: Parametrization) -> tuple[bool, ...]:
    """Whether each grouping factor's effects are sampled centred (see :func:`build_model`)."""
    return tuple(_centred(design, g, parametrization) for g in design.groups)


def _prior_scale(prior: Prior) -> float:
    """A typical value of a positive prior: its scale (1/λ for the exponential)."""
    kwargs = prior.kwargs
    return kwargs.get("sigma", kwargs.get("beta", 1.0 / kwargs.get("lam", 1.0)))


def _covariance_factor(group: GroupingFactor, priors: PriorSet):
    """``sd_<g>`` (and ``corr_<g>`` with the LKJ prior); returns the lower Cholesky factor
    L of Σ_g for a correlated block, else the vector of SDs (Σ_g diagonal)."""
    g = group.name
    term_dim = names.term_dim(g)
    sd_priors = [priors.sd[g][t] for t in group.terms]
    if g not in priors.eta:
        return _vector_rv(names.sd(g), sd_priors, dims=term_dim)
    dist = _DISTRIBUTIONS[sd_priors[0].dist]
    n = len(group.terms)
    # start at L = diag(prior scales): without an explicit initial value nutpie's initial
    # point draws from the HalfStudentT sd_dist, which fails (read-only constant in scipy's
    # t.rvs) when the model has a second grouping factor
    start = np.diag([_prior_scale(p) for p in sd_priors])[np.tril_indices(n)]
    chol, corr, sds = pm.LKJCholeskyCov(
        f"chol_{g}", n=n, eta=priors.eta[g],
        sd_dist=dist.dist(**_stacked(sd_priors), shape=n), compute_corr=True, initval=start,
    )
    pm.Deterministic(names.sd(g), sds, dims=term_dim)
    pm.Deterministic(names.correlation(g), _pairs(corr, n), dims=names.pair_dim(g))
    return chol


def _pairs(corr, n: int):
    """The correlations of an n × n matrix, each pair once (:func:`names.pair_positions`)."""
    rows, columns = names.pair_positions(n)
    return corr[rows, columns]


def _level_effects(group: GroupingFactor, priors: PriorSet, centred: bool):
    """``b_<g>`` (levels × terms), centred or non-centred, and whether its terms are
    correlated (a Cholesky factor) rather than independent. ``group`` needs only ``name``
    and ``terms``, ``priors`` only ``sd`` and ``eta``."""
    g, name = group.name, names.effects(group.name)
    dims = (names.level_dim(g), names.term_dim(g))
    q = len(group.terms)
    z = None if centred else pm.Normal(f"z_{g}", 0.0, 1.0, dims=dims)
    factor = _covariance_factor(group, priors)
    if factor.ndim == 2:
        b = (pm.MvNormal(name, mu=np.zeros(q), chol=factor, dims=dims) if centred
             else pm.Deterministic(name, pt.dot(z, factor.T), dims=dims))
        return b, True
    if centred:
        return pm.Normal(name, 0.0, factor, dims=dims), False
    return pm.Deterministic(name, z * factor, dims=dims), False


def _random_part(group: GroupingFactor, priors: PriorSet, centred: bool):
    """Σ_k Z[:, k] · b[level, k] for one grouping factor, b centred or non-centred."""
    b, correlated = _level_effects(group, priors, centred)
    if correlated:
        # a 2-d gather (per-term 1-d gathers of correlated b break nutpie's
        # initial-point function in nutpie 0.16)
        return (group.Z * b[group.index]).sum(axis=1)
    return _indexed_effects(group, [b[:, k] for k in range(len(group.terms))])


def _marginal_loglik(stats: LevelStatistics, beta, factor, sigma):
    """log p(y | β, Σ, σ) with the random effects of one grouping factor integrated out
    (formula in :mod:`lmm_bayes.marginal`); closed-form 1×1 and 2×2 determinants. (Written
    entry by entry instead, the graph took half as long again to compile.)"""
    theta = (factor if factor.ndim == 2 else pt.diag(factor)) / sigma
    w = stats.Zty - (stats.ZtX * beta[None, None, :]).sum(axis=-1)          # Zᵀ(y − Xβ)
    u = pt.dot(w, theta)                                                       # θᵀ w, (L, q)
    S_theta = (stats.ZtZ[:, :, :, None] * theta[None, None, :, :]).sum(axis=2)
    A = np.eye(stats.ZtZ.shape[-1]) + (
        theta[None, :, :, None] * S_theta[:, :, None, :]).sum(axis=1)          # I + θᵀSθ
    if stats.ZtZ.shape[-1] == 1:
        det, quad = A[:, 0, 0], u[:, 0] ** 2 / A[:, 0, 0]
    else:
        det = A[:, 0, 0] * A[:, 1, 1] - A[:, 0, 1] * A[:, 1, 0]
        quad = (A[:, 1, 1] * u[:, 0] ** 2 - (A[:, 0, 1] + A[:, 1, 0]) * u[:, 0] * u[:, 1]
                + A[:, 0, 0] * u[:, 1] ** 2) / det
    rss = stats.yty - 2 * pt.dot(beta, stats.Xty) + pt.dot(beta, pt.dot(stats.XtX, beta))
    return (-0.5 * stats.n * np.log(2 * np.pi) - stats.n * pt.log(sigma)
            - 0.5 * pt.log(det).sum() - (rss - quad.sum()) / (2 * sigma**2))


def _indexed_effects(group: GroupingFactor, columns):
    """Σ_k Z[:, k] · b_k[level] from each term's vector of level effects b_k: one 1-d
    gather per term (cheap gradients), and no multiplication for columns of ones."""
    total = 0.0
    for k, level_effects in enumerate(columns):
        effect = level_effects[group.index]
        column = group.Z[:, k]
        total = total + (effect if np.all(column == 1.0) else column * effect)
    return total


def _coefficient_coords(prefix: str, columns: Sequence[str]) -> dict[str, Sequence]:
    coords: dict[str, Sequence] = {prefix + names.FIXED: list(columns)}
    if INTERCEPT in columns and len(columns) > 1:
        coords[f"{prefix}slope"] = list(columns[1:])
    return coords


def _coords(design: Design, residuals: ResidualDesign | None = None) -> dict[str, Sequence]:
    coords = {names.OBS: np.arange(design.n_obs), **_coefficient_coords("", design.fixed_names)}
    if residuals is not None and residuals.sigma is not None:
        coords.update(_coefficient_coords("sigma_", residuals.sigma.names))
    if residuals is not None and residuals.serial is not None:
        coords.update(residuals.serial.spec.structure.coords(residuals.serial))
    for group in design.groups:
        coords.update(names.coords(group.name, group.levels, group.terms))
    if design.categories is not None:
        coords[names.CUTPOINT] = names.cutpoint_labels(design.categories)
    return coords


def _scalar(name: str, prior: Prior):
    """One parameter ``name`` with its prior."""
    return _DISTRIBUTIONS[prior.dist](name, **prior.kwargs)


def _sigma(priors: PriorSet):
    return _scalar(SIGMA, priors.sigma)


def _observed(design: Design):
    """The response as the ``pm.Data`` input ``y_obs``, so that a compiled model takes
    another response of the same design (:func:`response_data`)."""
    return pm.Data("y_obs", design.y, dims="obs")


def _family_likelihood(eta, design: Design, priors: PriorSet, family: Family,
                       residuals: ResidualDesign | None = None) -> None:
    """The observed ``y`` under ``family``, its extra parameters given their priors (with a
    sigma formula, ``residuals``, σ per row exp(X_σ β_σ)), and with prior weights the
    potential that makes row i count w_i times (module docstring)."""
    observed = _observed(design)
    start = family.initial_values(design.y)
    parameters = {p.name: _family_parameter(p, priors.auxiliary[p.name], start.get(p.name))
                  for p in family.extra if p.name in priors.auxiliary}
    if residuals is not None and residuals.sigma is not None:
        parameters[SIGMA] = _residual_sd(residuals, priors, design, precision_weights=False)
    family.likelihood(eta, observed, parameters, design.trials)
    if design.weights is not None:
        y = pm.modelcontext(None)["y"]
        pm.Potential("y_weights", pt.sum((design.weights - 1.0) * pm.logp(y, observed)))


def _family_parameter(parameter: Parameter, prior: Prior, start: np.ndarray | None):
    """One extra parameter of a family with its prior: a scalar, or a vector along its
    dimension, increasing under PyMC's ``ordered`` transform where the family says so
    (the cumulative family's cutpoints), which needs an increasing ``start``."""
    if parameter.dim is None:
        return _scalar(parameter.name, prior)
    options = {"transform": pm.distributions.transforms.ordered} if parameter.ordered else {}
    return _DISTRIBUTIONS[prior.dist](parameter.name, **prior.kwargs, dims=parameter.dim,
                                      initval=start, **options)


def _censoring_inputs(design: Design) -> dict[str, np.ndarray]:
    """A censored response's codes and upper bounds by their ``pm.Data`` names; the bound
    of a row that is not interval-censored is y + 1 (never used, but finite, so that no
    gradient through the unused branch is NaN)."""
    censoring = design.censoring
    upper = np.where(censoring.kind == INTERVAL, censoring.upper, design.y + 1.0)
    return {"censoring_kind": censoring.kind.astype(np.int64), "censoring_upper": upper}


def response_data(design: Design, likelihood: Literal["conditional", "marginal"]
                  ) -> dict[str, np.ndarray]:
    """The model's inputs that depend on the response, by their ``pm.Data`` names: ``y_obs``
    (and a censored response's codes and upper bounds), or for the marginal likelihood the
    statistics Zᵀy, Xᵀy and yᵀy. A compiled model takes another response of the same
    design through these (``nutpie``'s ``with_data``)."""
    if likelihood == "conditional":
        censored = _censoring_inputs(design) if design.censoring is not None else {}
        return {"y_obs": design.y, **censored}
    return _response_statistics(level_statistics(design, design.groups[0]))


def _response_statistics(stats: LevelStatistics) -> dict[str, np.ndarray]:
    """The statistics of the marginal likelihood that depend on y, by ``pm.Data`` name."""
    return {"Zty": stats.Zty, "Xty": stats.Xty, "yty": np.asarray(stats.yty)}


def _residual_sd(residuals: ResidualDesign | None, priors: PriorSet, design: Design, *,
                 precision_weights: bool = True):
    """σ_i per row: exp(X_σ β_σ) with a sigma formula, else the one σ repeated; divided by
    √w_i with precision weights (the Gaussian's; other families' weights are prior weights
    on the log-likelihood)."""
    sig = residuals.sigma if residuals is not None else None
    if sig is None:
        sd = _sigma(priors) * pt.ones(design.n_obs)
    else:
        beta = _coefficients("sigma_", sig.X, sig.names, priors.sigma_intercept,
                             priors.sigma_fixed)
        sd = pt.exp(pt.dot(sig.X, beta))
    if design.weights is None or not precision_weights:
        return sd
    return sd * residual_scale(design.weights)


def _gaussian_residuals(mu, design: Design, priors: PriorSet,
                        residuals: ResidualDesign | None):
    """The Gaussian likelihood with a sigma model, precision weights and/or a residual
    correlation structure (which writes its own,
    :meth:`lmm_bayes.structures.ResidualStructure.likelihood`)."""
    sd = _residual_sd(residuals, priors, design)
    observed = _observed(design)
    if residuals is None or residuals.serial is None:
        pm.Normal("y", mu=mu, sigma=sd, observed=observed, dims="obs")
    else:
        residuals.serial.spec.structure.likelihood(mu, sd, residuals.serial,
                                                   priors.residual_correlation, observed)


def censored_normal_logp(value, mu, sigma, kind, upper):
    """Each row's log-likelihood of a censored normal, as PyTensor (PyMC's ``CustomDist``
    ``logp``); the formulas of :func:`lmm_bayes.censoring.censored_logpdf`.

    Each case is evaluated at z = 0 on the rows of the other cases, so that no unused
    branch puts a NaN into the gradient.
    """
    from pymc.distributions.dist_math import normal_lcdf

    z = (value - mu) / sigma
    z_upper = (upper - mu) / sigma

    def only(case, values):
        return pt.switch(pt.eq(kind, case), values, 0.0)

    a, b = interval_bounds(only(INTERVAL, z), only(INTERVAL, z_upper) + pt.neq(kind, INTERVAL))
    log_b = normal_lcdf(0.0, 1.0, b)
    interval = log_b + pt.log1mexp(normal_lcdf(0.0, 1.0, a) - log_b)
    plain = -0.5 * only(NONE, z) ** 2 - 0.5 * np.log(2 * np.pi) - pt.log(sigma)
    return pt.switch(pt.eq(kind, NONE), plain,
                     pt.switch(pt.eq(kind, LEFT), normal_lcdf(0.0, 1.0, only(LEFT, z)),
                               pt.switch(pt.eq(kind, RIGHT),
                                         normal_lcdf(0.0, 1.0, -only(RIGHT, z)), interval)))


def _censored_draws(mu, sigma, kind, upper, bound, size):
    """Draws of a censored row: the latent normal value, censored as the row was
    (:func:`lmm_bayes.censoring.censor`) with ``bound`` the recorded response."""
    latent = pm.Normal.dist(mu, sigma, size=size)
    interval = pt.eq(kind, INTERVAL) & (latent > bound) & (latent <= upper)
    censored = pt.switch(pt.eq(kind, LEFT), pt.maximum(latent, bound),
                         pt.switch(pt.eq(kind, RIGHT), pt.minimum(latent, bound), latent))
    return pt.switch(interval, bound, censored)


def _censored_gaussian(mu, design: Design, priors: PriorSet,
                       residuals: ResidualDesign | None) -> None:
    """The censored response ``y`` (:mod:`lmm_bayes.censoring`) given μ and σ (one, or per row
    from a sigma formula); codes and upper bounds are ``pm.Data`` inputs (see
    :func:`response_data`)."""
    sd = _residual_sd(residuals, priors, design)
    observed = _observed(design)
    inputs = {name: pm.Data(name, value, dims="obs")
              for name, value in _censoring_inputs(design).items()}
    kind, upper = inputs["censoring_kind"], inputs["censoring_upper"]
    pm.CustomDist("y", mu, sd, kind, upper, observed,
                  logp=lambda value, m, s, k, u, _: censored_normal_logp(value, m, s, k, u),
                  dist=_censored_draws, observed=observed, dims="obs")


def build_model(design: Design, priors: PriorSet, family: str = "gaussian", *,
                link: str | None = None, parametrization: Parametrization = "auto",
                likelihood: Literal["conditional", "marginal"] = "conditional",
                residuals: ResidualDesign | None = None) -> pm.Model:
    """The PyMC model for ``design`` under ``priors`` (see the module docstring).

    Parameters
    ----------
    design : Design
    priors : PriorSet
    family : {"gaussian", "student", "bernoulli", "binomial", "poisson", "negbinomial", \
              "cumulative"}
        The response distribution (:mod:`lmm_bayes.families`); the binomial reads its
        trials from ``design.trials``, the cumulative its categories' positions from
        ``design.y``.
    link : str, optional
        The family's link (default: identity, logit, logit, log, log, logit); ``"probit"``
        and ``"cloglog"`` for the binary families, ``"probit"`` for the cumulative.
    parametrization : {"auto", "centered", "non-centered"}
        Of the random effects. ``"auto"`` centres a grouping factor with independent effects
        (an intercept among them) when its levels have at least 10 rows on average and
        :func:`level_information` exceeds 10 (each level well informed by its data), and
        leaves the others non-centred; for families other than the Gaussian, whose
        response the moment estimates of :func:`level_information` do not fit, it leaves
        every factor non-centred.
    likelihood : {"conditional", "marginal"}
        ``"marginal"`` integrates the random effects out (:mod:`lmm_bayes.marginal`; needs
        :func:`can_marginalize`): the model then has no ``b_<g>``, which
        :func:`lmm_bayes.marginal.conditional_effects` draws after sampling.
    residuals : ResidualDesign, optional
        A sigma model and/or an AR(1)/CAR(1) structure (conditional likelihood only): a
        structure with the Gaussian family, a sigma model with a family that has ``sigma``
        (Gaussian, Student-t; :func:`lmm_bayes.families.residual_obstacle`).

    Returns
    -------
    pymc.Model
        With coords carrying the real fixed-effect names, level labels and term names.
    """
    if likelihood == "marginal" and not can_marginalize(design, family, residuals):
        raise ValueError("the marginal likelihood needs a Gaussian model with one grouping "
                         "factor of at most two varying terms and independent residuals")
    response_family = get_family(family, link)
    if residuals is not None:
        found = residual_obstacle(response_family, structure=residuals.serial is not None,
                                  sigma=residuals.sigma is not None)
        if found:
            raise ValueError(found)
    with pm.Model(coords=_coords(design, residuals)) as model:
        beta = _fixed_effects(design, priors)
        if likelihood == "marginal":
            group = design.groups[0]
            factor = _covariance_factor(group, priors)
            stats = level_statistics(design, group)
            stats = replace(stats, **{name: pm.Data(name, value)
                                      for name, value in _response_statistics(stats).items()})
            loglik = _marginal_loglik(stats, beta, factor, _sigma(priors))
            pm.Potential("y_marginal", loglik)
            return model
        if family != "gaussian" and parametrization == "auto":
            parametrization = "non-centered"
        eta = pt.dot(design.X, beta)
        if design.offset is not None:  # a constant of the design, like X
            eta = eta + design.offset
        for group in design.groups:
            eta = eta + _random_part(group, priors, _centred(design, group, parametrization))
        if design.censoring is not None:
            _censored_gaussian(eta, design, priors, residuals)
        elif family == "gaussian" and (residuals is not None or design.weights is not None):
            _gaussian_residuals(eta, design, priors, residuals)
        else:
            _family_likelihood(eta, design, priors, response_family, residuals)
    return model


def model_coords(design: Design) -> dict[str, Sequence]:
    """The coords of the model of ``design`` (rows, fixed effects, each grouping factor's
    levels, terms and pairs), for a model that holds it as one part (a joint model)."""
    return _coords(design)


def vector_parameter(name: str, priors: Sequence[Prior], dims: str):
    """A vector of independent parameters ``name`` along ``dims``, one prior each (one
    PyMC variable per prior family, concatenated)."""
    return _vector_rv(name, priors, dims)


def scalar_parameter(name: str, prior: Prior):
    """One parameter ``name`` with its prior."""
    return _scalar(name, prior)


def gaussian_mixed_part(design: Design, priors: PriorSet,
                        parametrization: Parametrization = "auto"):
    """Inside a model context: β, each grouping factor's effects and the Gaussian
    likelihood ``y`` of a linear mixed model (the module docstring's model, without
    residual structures or weights), as :func:`build_model` writes them; returns β and the
    effects ``b_<g>`` (levels × terms) by grouping factor, for a model that uses them again
    (a joint model's hazard, :mod:`lmm_bayes.jm`)."""
    beta = _fixed_effects(design, priors)
    eta, effects = pt.dot(design.X, beta), {}
    for group in design.groups:
        b, correlated = _level_effects(group, priors, _centred(design, group, parametrization))
        effects[group.name] = b
        eta = eta + ((group.Z * b[group.index]).sum(axis=1) if correlated else
                     _indexed_effects(group, [b[:, k] for k in range(len(group.terms))]))
    pm.Normal("y", mu=eta, sigma=_sigma(priors), observed=_observed(design), dims="obs")
    return beta, effects


# ----------------------------------------------------------------------------- multivariate


def _multivariate_coords(design: MultivariateDesign) -> dict[str, Sequence]:
    coords: dict[str, Sequence] = {names.FIXED: list(design.fixed_names),
                                   names.OUTCOME: list(design.responses),
                                   names.OUTCOME_PAIR: names.pair_labels(design.responses)}
    for y, d in zip(design.responses, design.designs):
        coords.update(_coefficient_coords(f"{y}__", d.fixed_names))
    for block in design.blocks:
        coords.update(names.coords(block.name, block.levels, block.terms))
    return coords


def _residual_cholesky(priors: MultivariatePriors, k: int):
    """``sigma`` (dim ``outcome``) and ``rescor`` (LKJ) of correlated residuals; returns the
    Cholesky factor of Σ_ε."""
    sigma_priors = [p.sigma for p in priors.outcomes]
    start = np.diag([_prior_scale(p) for p in sigma_priors])[np.tril_indices(k)]
    chol, corr, sds = pm.LKJCholeskyCov(
        "chol_residual", n=k, eta=priors.rescor_eta, compute_corr=True, initval=start,
        sd_dist=_DISTRIBUTIONS[sigma_priors[0].dist].dist(**_stacked(sigma_priors), shape=k))
    pm.Deterministic(names.SIGMA, sds, dims=names.OUTCOME)
    pm.Deterministic(names.RESCOR, _pairs(corr, k), dims=names.OUTCOME_PAIR)
    return chol


def _pattern_normal(mu, design: MultivariateDesign, pattern: MissingPattern, chol):
    """The rows of one missing pattern P: y_P ~ N(μ_P, Σ_ε[P, P]), the marginal of the
    observed outcomes (:mod:`lmm_bayes.multivariate`)."""
    which = list(pattern.outcomes)
    name = names.observed(*(design.responses[k] for k in which))
    means = pt.stack([mu[k][pos] for k, pos in zip(which, pattern.positions)], axis=1)
    values = np.column_stack([design.designs[k].y[pos]
                              for k, pos in zip(which, pattern.positions)])
    if len(which) == len(design.responses):
        return pm.MvNormal(name, mu=means, chol=chol, observed=values)
    cov = pt.dot(chol, chol.T)[which][:, which]
    if len(which) == 1:
        return pm.Normal(name, mu=means[:, 0], sigma=pt.sqrt(cov[0, 0]), observed=values[:, 0])
    return pm.MvNormal(name, mu=means, chol=pt.linalg.cholesky(cov), observed=values)


def _multivariate_likelihood(mu, design: MultivariateDesign, priors: MultivariatePriors,
                             rescor: bool) -> None:
    if rescor:
        chol = _residual_cholesky(priors, len(design.responses))
        for pattern in design.patterns:
            _pattern_normal(mu, design, pattern, chol)
        return
    sigma = _vector_rv(names.SIGMA, [p.sigma for p in priors.outcomes], dims=names.OUTCOME)
    for k, (y, d) in enumerate(zip(design.responses, design.designs)):
        pm.Normal(names.observed(y), mu=mu[k], sigma=sigma[k], observed=d.y)


def build_multivariate_model(design: MultivariateDesign, priors: MultivariatePriors, *,
                             rescor: bool = True,
                             parametrization: Literal["centered", "non-centered"] = "centered"
                             ) -> pm.Model:
    """The PyMC model of a multivariate Gaussian mixed model (:mod:`lmm_bayes.multivariate`).

    Parameters
    ----------
    design : MultivariateDesign
    priors : MultivariatePriors
    rescor : bool
        Correlated residuals (LKJ prior on their correlation) or independent ones.
    parametrization : {"centered", "non-centered"}
        Of every block's random effects. Centred by default: with several outcomes measured
        on each level, the levels are usually well informed, where the centred form samples
        better (Papaspiliopoulos et al. 2007); on the simulated depression/IL-6 study (60
        people, 7 visits, 300 + 300 draws, 2 chains) it gave 2–4 times the bulk ESS of the
        SDs and correlations at a similar sampling time.

    Returns
    -------
    pymc.Model
        Posterior names: ``beta`` (dim ``fixed``, coords ``"<outcome>:<term>"``); per block
        ``sd_<block>``, ``corr_<block>``, ``b_<block>`` as for a univariate grouping factor,
        with terms ``"<outcome>:<term>"``; ``sigma`` (dim ``outcome``); with ``rescor``
        ``rescor`` (dims ``outcome``, ``outcome_``). Internal: ``<outcome>__beta``,
        ``<outcome>__intercept_c``, ``z_<block>`` (non-centred), ``chol_<block>``,
        ``chol_residual``. The observed variables are ``y__<outcome>`` (no ``rescor``) or
        one ``y__<outcome>__<outcome>...`` per missing pattern.
    """
    with pm.Model(coords=_multivariate_coords(design)) as model:
        betas = [_coefficients(f"{y}__", d.X, d.fixed_names, p.intercept, p.fixed)
                 for y, d, p in zip(design.responses, design.designs, priors.outcomes)]
        pm.Deterministic(names.BETA, pt.concatenate(betas), dims=names.FIXED)
        mu = [pt.dot(d.X, beta) for d, beta in zip(design.designs, betas)]
        for block in design.blocks:
            b, _ = _level_effects(block, priors, centred=parametrization == "centered")
            for part in block.parts:
                first, last = part.columns[0], part.columns[-1] + 1  # contiguous
                effects = b[part.index][:, first:last]
                mu[part.outcome] = mu[part.outcome] + (part.Z * effects).sum(axis=1)
        _multivariate_likelihood(mu, design, priors, rescor)
    return model
