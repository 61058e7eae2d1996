"""Default priors scaled to the data, and user overrides.

Defaults (weakly informative, in the manner of rstanarm's autoscaling, Gabry & Goodrich 2020,
"Prior distributions for rstanarm models", and brms's half-Student-t scale priors, Bürkner 2017):

=============================  ===================================================
parameter                      default prior
=============================  ===================================================
intercept (predictors centred)  Normal(mean(y), 2.5·sd(y))
fixed coefficient of x          Normal(0, 2.5·sd(y)/sd(x))
SD of a random intercept        HalfStudentT(ν=3, sd(y))
SD of a random slope of x       HalfStudentT(ν=3, sd(y)/sd(x)); indicator (0/1) columns as intercepts
LKJ correlation                 LKJ(η=2)
residual SD (sigma)             HalfStudentT(ν=3, sd(y))
AR(1) coefficient φ (``ar1``)   Beta(1, 1) on (φ + 1)/2, i.e. uniform on (−1, 1)
CAR(1) coefficient φ (``car1``) Beta(1, 1), i.e. uniform on (0, 1)
log-σ intercept (sigma model)   Normal(log sd(y), 2) (other sigma columns centred)
log-σ coefficient of x          Normal(0, 1/sd(x)); indicator (0/1) columns Normal(0, 1)
=============================  ===================================================

The Student-t family (``family="student"``, identity link) takes these defaults and its
degrees of freedom ν ~ Gamma(2, rate 0.1), brms's default. The defaults of a family's
extra parameters (σ here, α below, ν) are the family's own
(:mod:`lmm_bayes.families`), those of a residual structure's parameters (φ) the
structure's own (:mod:`lmm_bayes.structures`). The AR(1) and CAR(1) defaults are brms's
uniform prior on the autocorrelation (Bürkner 2017); on the log-σ scale a coefficient of 1
multiplies the SD by e ≈ 2.7, so Normal(0, 1) per unit of an indicator (or per SD of a
covariate) is weakly informative.

For the other families (:mod:`lmm_bayes.families`) the priors live on the link scale, with
s = 1 in place of sd(y) (so a coefficient prior is Normal(0, 2.5/sd(x)), 2.5 for an indicator,
as rstanarm's defaults for generalized linear models):

=============================  ===================================================
parameter                      default prior (bernoulli, binomial, poisson, negbinomial)
=============================  ===================================================
intercept (predictors centred)  Normal(g(ȳ), 2.5), ȳ = (Σy + 0.5)/(Σn + 1): the
                                proportion of successes (n trials) or the mean count
                                (n = 1 per row), g the link
fixed coefficient of x          Normal(0, 2.5/sd(x)); indicator columns Normal(0, 2.5)
SD of a random intercept        HalfStudentT(ν=3, 1)
SD of a random slope of x       HalfStudentT(ν=3, 1/sd(x)); indicator columns as intercepts
negative binomial α             Exponential(1) (rstanarm's ``reciprocal_dispersion``)
cumulative cutpoints c_k        Student-t(3, 0, 2.5) each, c_1 < … < c_(K−1) (brms)
=============================  ===================================================

The cumulative family (ordinal outcomes) has no intercept: its cutpoints take its place.

On the logit scale an SD of 1 spreads the levels' odds over a factor of e ≈ 2.7 either side
(one SD), and the half-t's tail leaves room for far more; there is no ``sigma``. The
negative binomial's variance is μ + μ²/α, so α → ∞ is the Poisson.

As in brms and rstanarm, the intercept prior applies to the intercept with every other
fixed-effect column centred at its mean (the model is sampled that way and the reported
``(Intercept)`` is transformed back). With an ``offset()`` its centre is less the mean
offset, since the offset carries that much of η (log exposure, for a rate).

Overrides are a mapping from a key to a :class:`Prior` (or, for LKJ, a number):

* ``"(Intercept)"`` (or ``"Intercept"``), or a fixed-effect name (``"Days"``); ``"b"`` for all
  fixed coefficients;
* ``"sd"`` (every SD), ``"sd_<group>"`` (every SD of one grouping factor),
  ``"sd_<group>__<term>"`` (one SD, e.g. ``"sd_Subject__Days"``);
* ``"eta"`` or ``"eta_<group>"`` for the LKJ shape;
* the name of a family's extra parameter (:attr:`lmm_bayes.families.Family.extra`):
  ``"sigma"`` for the residual SD (Gaussian and Student-t families, without a sigma
  formula), ``"nu"`` for the Student-t's degrees of freedom, ``"alpha"`` for the negative
  binomial's dispersion, ``"cutpoints"`` for every cutpoint of the cumulative family (normal
  or Student-t; the ordering is kept);
* the name of a residual structure's parameter (:mod:`lmm_bayes.structures`): ``"phi"``
  for the AR(1)/CAR(1) coefficient (a ``beta`` prior, on (φ + 1)/2 for ``ar1``);
* ``"sigma_(Intercept)"`` and ``"sigma_<column>"`` (e.g. ``"sigma_armB"``) for the
  coefficients of log σ, ``"sigma_b"`` for all but the intercept.

More specific keys win over class-wide ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from . import names
from .design import Design
from .distributions import Prior
from .errors import PriorError
from .families import Family, get_family
from .names import SIGMA
from .residuals import ResidualDesign
from .sums import Moments

__all__ = ["ColumnScale", "DesignMoments", "FactorMoments", "Prior", "PriorSet", "build_priors",
           "default_priors"]

DEFAULT_ETA = 2.0
INTERCEPT = "(Intercept)"


@dataclass(frozen=True)
class PriorSet:
    """The priors of every parameter of a model.

    Attributes
    ----------
    intercept : Prior or None
        Prior of the intercept with the other fixed-effect columns centred; None without one.
    fixed : mapping of fixed-effect name to Prior
        Every fixed coefficient except the intercept.
    sd : mapping of grouping factor to a mapping of term to Prior
    eta : mapping of grouping factor to the LKJ shape (correlated blocks with 2+ terms only)
    auxiliary : mapping of name to Prior
        The family's extra parameters (:attr:`lmm_bayes.families.Family.extra`): ``sigma``
        (Gaussian, unless a sigma formula models it), ``alpha`` (negative binomial); empty
        for the other families.
    residual_correlation : mapping of name to Prior
        The residual structure's parameters (:mod:`lmm_bayes.structures`): ``phi`` of
        AR(1)/CAR(1), a beta prior (of (φ + 1)/2 for ``ar1``); empty without a structure.
    sigma_intercept : Prior or None
        Intercept of log σ (other sigma columns centred); None without one.
    sigma_fixed : mapping of sigma-design column to Prior
        The other coefficients of log σ; empty without a sigma formula.
    """

    intercept: Prior | None
    fixed: Mapping[str, Prior]
    sd: Mapping[str, Mapping[str, Prior]]
    eta: Mapping[str, float]
    auxiliary: Mapping[str, Prior] = field(default_factory=dict)
    residual_correlation: Mapping[str, Prior] = field(default_factory=dict)
    sigma_intercept: Prior | None = None
    sigma_fixed: Mapping[str, Prior] = field(default_factory=dict)

    @property
    def sigma(self) -> Prior | None:
        """The residual SD's prior (Gaussian family without a sigma formula), else None."""
        return self.auxiliary.get(SIGMA)

    @property
    def phi(self) -> Prior | None:
        """The AR(1)/CAR(1) coefficient's prior, else None."""
        return self.residual_correlation.get(names.PHI)

    @property
    def has_sigma_model(self) -> bool:
        """Whether log σ has a linear model (a ``sigma`` formula) instead of one σ."""
        return self.sigma_intercept is not None or bool(self.sigma_fixed)

    def table(self) -> pd.DataFrame:
        """One row per parameter: its name and prior, for reports."""
        rows = [(INTERCEPT, str(self.intercept))] if self.intercept is not None else []
        rows += [(name, str(p)) for name, p in self.fixed.items()]
        for group, terms in self.sd.items():
            rows += [(names.sd_key(group, term), str(p)) for term, p in terms.items()]
        rows += [(names.correlation(group), f"lkj(eta={eta:g})")
                 for group, eta in self.eta.items()]
        rows += [(name, str(p)) for name, p in self.auxiliary.items()]
        if self.sigma_intercept is not None:
            rows.append((f"sigma_{INTERCEPT}", str(self.sigma_intercept)))
        rows += [(f"sigma_{name}", str(p)) for name, p in self.sigma_fixed.items()]
        rows += [(name, str(p)) for name, p in self.residual_correlation.items()]
        return pd.DataFrame(rows, columns=["parameter", "prior"])


def _sd(x: np.ndarray) -> float:
    """The SD (divisor n − 1) of :class:`~lmm_bayes.sums.Moments`: the same whether the
    rows are held in memory or summed by partition."""
    return float(Moments.of(np.asarray(x, dtype=float)[:, None]).sd[0])


def _is_indicator(z: np.ndarray) -> bool:
    return bool(np.isin(z, (0.0, 1.0)).all())


@dataclass(frozen=True)
class ColumnScale:
    """What a default prior reads of one design column: its SD (divisor n − 1) and whether
    it is an indicator (every value 0 or 1)."""

    sd: float
    indicator: bool

    @classmethod
    def of(cls, x: np.ndarray) -> ColumnScale:
        return cls(_sd(x), _is_indicator(x))


@dataclass(frozen=True)
class FactorMoments:
    """What the default priors read of a grouping factor: its name, terms, whether they
    are correlated and the scale of each term's column of ``Z``."""

    name: str
    terms: tuple[str, ...]
    correlated: bool
    Z: tuple[ColumnScale, ...]


@dataclass(frozen=True)
class DesignMoments:
    """Everything the default priors read of a design (:func:`default_priors`): sums and
    spreads, not rows, so that a design never held in memory (a distributed data set's,
    :mod:`lmm_bayes.distributed`) gets the same priors from its moments.

    Attributes
    ----------
    fixed_names : tuple of str
    y_mean, y_sd : float
        The response's mean and SD (divisor n − 1).
    link_mean : float
        ȳ = (Σy + 0.5)/(Σn + 1), n the trials (1 per row when there are none).
    offset_mean : float or None
    X : tuple of ColumnScale
        One per fixed-effect column.
    groups : tuple of FactorMoments
    """

    fixed_names: tuple[str, ...]
    y_mean: float
    y_sd: float
    link_mean: float
    offset_mean: float | None
    X: tuple[ColumnScale, ...]
    groups: tuple[FactorMoments, ...]

    @classmethod
    def of(cls, design: Design) -> DesignMoments:
        """The moments of a design held in memory."""
        y = design.y
        trials = design.trials if design.trials is not None else np.ones_like(y)
        return cls(design.fixed_names, float(Moments.of(y[:, None]).mean[0]), _sd(y),
                   (y.sum() + 0.5) / (trials.sum() + 1.0),
                   None if design.offset is None else float(np.mean(design.offset)),
                   tuple(ColumnScale.of(x) for x in design.X.T),
                   tuple(FactorMoments(g.name, g.terms, g.correlated,
                                       tuple(ColumnScale.of(z) for z in g.Z.T))
                         for g in design.groups))


def _slope_scale(z: ColumnScale, sd_y: float) -> float:
    """sd(y)/sd(z) for a covariate; sd(y) for intercept and indicator columns."""
    if z.indicator or z.sd == 0:
        return sd_y
    return sd_y / z.sd


def _group_sd_priors(group: FactorMoments, sd_y: float) -> dict[str, Prior]:
    return {term: Prior("halfstudentt", nu=3.0, sigma=_slope_scale(z, sd_y))
            for term, z in zip(group.terms, group.Z)}


def _log_sd_prior(column: np.ndarray, intercept: bool, sd_y: float) -> Prior:
    """A log-σ coefficient's default: a contrast or slope N(0, 1/sd(x)); without an intercept
    an indicator (``~ 0 + C(visit)``, one log σ per visit) is a log σ itself, N(log sd(y), 2)
    as the intercept's."""
    if not intercept and np.isin(column, (0.0, 1.0)).all():
        return Prior("normal", mu=float(np.log(sd_y)), sigma=2.0)
    return Prior("normal", mu=0.0, sigma=_slope_scale(ColumnScale.of(column), 1.0))


def _residual_defaults(residuals: ResidualDesign | None, sd_y: float) -> dict:
    """Defaults of the residual structure's parameters (the structure's own) and of the
    log-σ coefficients (see the module docstring)."""
    if residuals is None:
        return {}
    parameters = residuals.serial.spec.structure.parameters if residuals.serial else ()
    out: dict = {"residual_correlation": {p.name: p.default_prior(sd_y) for p in parameters}}
    if residuals.sigma is not None:
        names, X = residuals.sigma.names, residuals.sigma.X
        out["sigma_intercept"] = (Prior("normal", mu=float(np.log(sd_y)), sigma=2.0)
                                  if INTERCEPT in names else None)
        out["sigma_fixed"] = {n: _log_sd_prior(X[:, j], INTERCEPT in names, sd_y)
                              for j, n in enumerate(names) if n != INTERCEPT}
    return out


def _intercept_centre(moments: DesignMoments, family: Family) -> float:
    """The intercept prior's centre: mean(y) under the identity link, else g(ȳ) with
    ȳ = (Σy + 0.5)/(Σn + 1), n the trials (1 per row for counts and 0/1 data; the ½ keeps
    g finite when every response is 0, or every trial a success); less the mean offset."""
    identity = family.link == "identity"
    centre = moments.y_mean if identity else float(family.link_function(moments.link_mean))
    if moments.offset_mean is not None:
        centre -= moments.offset_mean
    return centre


def _auxiliary_defaults(family: Family, scale: float,
                        residuals: ResidualDesign | None) -> dict[str, Prior]:
    """The family's extra parameters' default priors; a sigma formula models σ instead."""
    modelled = {SIGMA} if residuals is not None and residuals.sigma is not None else set()
    return {p.name: p.default_prior(scale) for p in family.extra if p.name not in modelled}


def default_priors(design: Design | DesignMoments, family: str = "gaussian",
                   link: str | None = None,
                   residuals: ResidualDesign | None = None) -> PriorSet:
    """The default priors for ``design`` (or its :class:`DesignMoments`) under ``family``
    and ``link`` and of its residual model (see the module docstring): scaled to the data
    under the identity link (the Gaussian), on the link scale otherwise."""
    moments = design if isinstance(design, DesignMoments) else DesignMoments.of(design)
    response_family = get_family(family, link)
    # under the identity link η is on the response's scale, so the priors scale with sd(y)
    identity = response_family.link == "identity"
    scale = moments.y_sd if identity else 1.0
    if identity and not scale > 0:
        raise PriorError("the response is constant; there is nothing to model")
    names = moments.fixed_names
    intercept = (Prior("normal", mu=_intercept_centre(moments, response_family),
                       sigma=2.5 * scale)
                 if INTERCEPT in names else None)
    fixed = {name: Prior("normal", mu=0.0, sigma=2.5 * _slope_scale(x, scale))
             for name, x in zip(names, moments.X) if name != INTERCEPT}
    sd = {g.name: _group_sd_priors(g, scale) for g in moments.groups}
    eta = {g.name: DEFAULT_ETA for g in moments.groups if g.correlated and len(g.terms) > 1}
    auxiliary = _auxiliary_defaults(response_family, scale, residuals)
    return PriorSet(intercept, fixed, sd, eta, auxiliary,
                    **_residual_defaults(residuals, scale))


def _valid_keys(priors: PriorSet) -> list[str]:
    keys = ["b", "sd", "eta", *priors.auxiliary] + ([INTERCEPT] if priors.intercept else [])
    keys += list(priors.residual_correlation)
    if priors.has_sigma_model:
        keys += [f"sigma_{INTERCEPT}"] if priors.sigma_intercept is not None else []
        keys += [f"sigma_{n}" for n in priors.sigma_fixed] + ["sigma_b"]
    keys += list(priors.fixed)
    for group, terms in priors.sd.items():
        keys += [names.sd(group)] + [names.sd_key(group, t) for t in terms]
    keys += [f"eta_{g}" for g in priors.eta]
    return keys


def _check_prior(key: str, value, *, positive: bool) -> Prior:
    if not isinstance(value, Prior):
        raise PriorError(f"prior {key!r} must be a lmm_bayes.Prior, not {type(value).__name__}")
    if positive and not value.is_positive:
        raise PriorError(f"prior {key!r} is for a standard deviation and needs a positive "
                         f"family (halfnormal, halfstudentt, halfcauchy, exponential, gamma), "
                         f"not {value.dist}")
    if not positive and not value.is_real:
        raise PriorError(f"prior {key!r} is for a coefficient on the whole real line and needs "
                         f"normal or student_t, not {value.dist}")
    return value


def _eta(group: str, default: float, overrides: Mapping[str, object]) -> float:
    """The LKJ shape of ``group``: ``eta_<group>``, else ``eta``, else the default."""
    for key in (f"eta_{group}", "eta"):
        if key in overrides:
            value = overrides[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise PriorError(f"{key!r} is the LKJ shape and must be a positive number, "
                                 f"got {value!r}")
            return float(value)
    return default


def _structure_priors(base: PriorSet, residuals: ResidualDesign | None,
                      overrides: Mapping[str, object]) -> dict[str, Prior]:
    """The residual structure's parameters' priors, each override checked by the structure."""
    if not base.residual_correlation:
        return {}
    structure = residuals.serial.spec.structure
    return {key: structure.check_prior(key, overrides[key]) if key in overrides else prior
            for key, prior in base.residual_correlation.items()}


def build_priors(design: Design | DesignMoments, overrides: Mapping[str, object] | None = None,
                 residuals: ResidualDesign | None = None, *, family: str = "gaussian",
                 link: str | None = None) -> PriorSet:
    """Default priors for ``design`` (and its residual model) under ``family`` and ``link``,
    with ``overrides`` applied (see the module docstring).

    Raises
    ------
    PriorError
        For an unknown key (the message lists the valid ones), a family that does not fit the
        parameter (a normal prior on an SD), or a non-positive LKJ shape.
    """
    base = default_priors(design, family, link, residuals)
    overrides = dict(overrides or {})
    if "Intercept" in overrides:
        overrides[INTERCEPT] = overrides.pop("Intercept")
    unknown = [k for k in overrides if k not in _valid_keys(base)]
    if unknown:
        raise PriorError(f"unknown prior key(s) {unknown}; valid keys: {_valid_keys(base)}")

    def pick(keys, default, positive):
        for key in keys:
            if key in overrides:
                return _check_prior(key, overrides[key], positive=positive)
        return default

    intercept = pick([INTERCEPT], base.intercept, False) if base.intercept else None
    fixed = {n: pick([n, "b"], p, False) for n, p in base.fixed.items()}
    sd = {g: {t: pick([names.sd_key(g, t), names.sd(g), "sd"], p, True)
              for t, p in terms.items()}
          for g, terms in base.sd.items()}
    eta = {g: _eta(g, v, overrides) for g, v in base.eta.items()}
    positive = {p.name: p.positive for p in get_family(family, link).extra}
    auxiliary = {name: pick([name], p, positive[name]) for name, p in base.auxiliary.items()}
    residual = {
        "residual_correlation": _structure_priors(base, residuals, overrides),
        "sigma_intercept": (pick([f"sigma_{INTERCEPT}"], base.sigma_intercept, False)
                            if base.sigma_intercept else None),
        "sigma_fixed": {n: pick([f"sigma_{n}", "sigma_b"], p, False)
                        for n, p in base.sigma_fixed.items()},
    }
    for group, terms in sd.items():
        families = {p.dist for p in terms.values()}
        if group in eta and len(families) > 1:
            raise PriorError(f"the SDs of the correlated effects of {group!r} share one LKJ "
                             f"prior and must use one family, got {sorted(families)}")
    return replace(base, intercept=intercept, fixed=fixed, sd=sd, eta=eta, auxiliary=auxiliary,
                   **residual)
