"""Default priors of a joint model's survival part, and overrides.

The marker's priors are the LMM's (:mod:`lmm_bayes.priors`, scaled to sd(y)); the survival
part's follow the same autoscaling (rstanarm's, Gabry & Goodrich 2020, which ``stan_jm``
uses too; Brilleman et al. 2018, "Joint longitudinal and time-to-event models via Stan"):

==================================  ==============================================
parameter                           default prior
==================================  ==============================================
survival coefficient of w            Normal(0, 2.5/sd(w)); indicator columns Normal(0, 2.5)
log scale of the Weibull baseline    Normal(log(d/ΣT), 2.5), d events, ΣT the total
(``(Intercept)``, covariates and     follow-up: the exponential model's log rate
marker centred)
association with the value           Normal(0, 2.5/sd(y))
association with the slope           Normal(0, 2.5·sd(t)/sd(y)), t the visit times
association with random effect k     Normal(0, 2.5/s_k), s_k the scale of its SD's prior
(``shared``)                         (sd(y)/sd(z_k))
Weibull shape κ                      log κ ~ Normal(0, 1) (log-normal: κ within
                                     (0.14, 7.1) with 95% probability)
piecewise log hazard, first interval Normal(log(d/ΣT), 2.5) (covariates and marker centred)
its random walk λ_k − λ_(k−1)        Normal(0, τ), τ ~ HalfNormal(1)
==================================  ==============================================

Each coefficient prior is weakly informative on the log hazard: a change of one SD in a
covariate (or of the marker) multiplies the hazard by e^{±5} at the prior's 95% bounds.
The random walk on the log baseline hazards is a first-order smoothness prior
(Fahrmeir & Lang 2001, *Appl. Statist.* 50): τ small makes neighbouring intervals alike.

Override keys (in the same ``priors=`` mapping as the marker's): ``"event_<column>"``
(``"event_(Intercept)"``, ``"event_age"``), ``"event_b"`` (every survival coefficient but
the intercept), ``"association"`` (every association parameter) or
``"association_<term>"`` (``"association_value"``, ``"association_slope"``,
``"association_(Intercept)"``), ``"log_weibull_shape"``, ``"log_baseline_hazard"`` (its
first interval's level) and ``"baseline_smoothness"`` (τ, a positive family).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import names
from ..design import Design
from ..distributions import Prior
from ..errors import PriorError
from ..priors import INTERCEPT, PriorSet
from .design import JointDesign

__all__ = ["SURVIVAL_PREFIXES", "JointPriors", "association_terms", "build_survival_priors",
           "split_overrides", "standardised"]

SCALE = 2.5
#: the key prefixes of the survival part's priors
SURVIVAL_PREFIXES = ("event_", "association", "log_weibull_shape", "log_baseline_hazard",
                     names.BASELINE_SMOOTHNESS)


@dataclass(frozen=True)
class JointPriors:
    """The priors of a joint model: the marker's :class:`~lmm_bayes.priors.PriorSet` and
    the survival part's (None where the baseline has no such parameter)."""

    longitudinal: PriorSet
    event: Mapping[str, Prior]
    association: Mapping[str, Prior]
    log_weibull_shape: Prior | None = None
    log_baseline_hazard: Prior | None = None
    baseline_smoothness: Prior | None = None
    scales: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """The typical size of each covariate (``"event"``: sd(w), 1 for indicators and the
    intercept) and association term (``"association"``: sd(y), its slope's, or a random
    effect's prior scale) that the model divides by (:mod:`lmm_bayes.jm.model`)."""

    def table(self) -> pd.DataFrame:
        """One row per parameter: its key and prior, the marker's first."""
        rows = [(f"event_{k}", str(p)) for k, p in self.event.items()]
        rows += [(f"association_{k}", str(p)) for k, p in self.association.items()]
        rows += [(k, str(p)) for k in ("log_weibull_shape", "log_baseline_hazard",
                                       names.BASELINE_SMOOTHNESS)
                 if (p := getattr(self, k)) is not None]
        survival = pd.DataFrame(rows, columns=["parameter", "prior"])
        return pd.concat([self.longitudinal.table(), survival], ignore_index=True)


def split_overrides(overrides: Mapping[str, object] | None
                    ) -> tuple[dict[str, object], dict[str, object]]:
    """The marker's and the survival part's overrides, by key prefix."""
    overrides = dict(overrides or {})
    survival = {k: v for k, v in overrides.items() if k.startswith(SURVIVAL_PREFIXES)}
    return {k: v for k, v in overrides.items() if k not in survival}, survival


def association_terms(association: str, design: Design) -> tuple[str, ...]:
    """The coordinates of ``association_term``."""
    if association == "shared":
        return design.groups[0].terms
    return tuple(association.split("+"))


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if len(x) > 1 else 0.0


def _covariate_scale(column: np.ndarray) -> float:
    """sd(w); 1 for an indicator (0/1) or constant column."""
    spread = _sd(column)
    return 1.0 if np.isin(column, (0.0, 1.0)).all() or spread == 0 else spread


def _association_scales(association: str, design: Design, times: np.ndarray,
                        longitudinal: PriorSet) -> dict[str, float]:
    sd_y = _sd(design.y)
    scales = {"value": sd_y, "slope": sd_y / max(_sd(times), 1e-12)}
    if association == "shared":
        group = design.groups[0]
        priors = longitudinal.sd[group.name]
        scales = {t: priors[t].kwargs.get("sigma", sd_y) for t in group.terms}
    return {t: scales[t] for t in association_terms(association, design)}


def standardised(prior: Prior, scale: float) -> Prior:
    """The prior of s·θ for θ ~ ``prior`` (normal or Student-t): location and scale times
    s, which the model samples (module :mod:`lmm_bayes.jm.model`)."""
    kwargs = dict(prior.kwargs)
    kwargs.update(mu=kwargs["mu"] * scale, sigma=kwargs["sigma"] * scale)
    return Prior(prior.dist, **kwargs)


def _valid_keys(base: JointPriors) -> list[str]:
    keys = [f"event_{k}" for k in base.event] + ["event_b", "association"]
    keys += [f"association_{k}" for k in base.association]
    return keys + [k for k in ("log_weibull_shape", "log_baseline_hazard",
                               names.BASELINE_SMOOTHNESS) if getattr(base, k) is not None]


def _checked(key: str, value, positive: bool) -> Prior:
    if not isinstance(value, Prior):
        raise PriorError(f"prior {key!r} must be a lmm_bayes.Prior, not {type(value).__name__}")
    if positive and not value.is_positive:
        raise PriorError(f"prior {key!r} is for a standard deviation and needs a positive "
                         f"family, not {value.dist}")
    if not positive and not value.is_real:
        raise PriorError(f"prior {key!r} is for a parameter on the whole real line and needs "
                         f"normal or student_t, not {value.dist}")
    return value


def build_survival_priors(longitudinal: PriorSet, design: Design, joint: JointDesign,
                          association: str, baseline: str, visit_times: np.ndarray,
                          overrides: Mapping[str, object] | None = None) -> JointPriors:
    """The joint model's priors: the defaults of the module docstring with ``overrides``
    (survival keys only; the marker's go to :func:`lmm_bayes.priors.build_priors`).

    Raises
    ------
    PriorError
        An unknown key (listing the valid ones) or a family that does not fit the parameter.
    """
    rate = np.log(joint.event.sum() / joint.event_time.sum())
    level = Prior("normal", mu=float(rate), sigma=SCALE)
    scales = {"event": {name: 1.0 if name == INTERCEPT else _covariate_scale(joint.W[:, j])
                        for j, name in enumerate(joint.survival_names)},
              "association": _association_scales(association, design, visit_times,
                                                 longitudinal)}
    event = {name: (level if name == INTERCEPT else
                    Prior("normal", mu=0.0, sigma=SCALE / scales["event"][name]))
             for name in joint.survival_names}
    weibull = baseline == "weibull"
    base = JointPriors(
        longitudinal, event,
        {t: Prior("normal", mu=0.0, sigma=SCALE / s) for t, s in scales["association"].items()},
        log_weibull_shape=Prior("normal", mu=0.0, sigma=1.0) if weibull else None,
        log_baseline_hazard=None if weibull else level,
        baseline_smoothness=None if weibull else Prior("halfnormal", sigma=1.0))
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if k not in _valid_keys(base)]
    if unknown:
        raise PriorError(f"unknown prior key(s) {unknown}; the survival part's valid keys: "
                         f"{_valid_keys(base)}")

    def pick(keys, default, positive=False):
        for key in keys:
            if key in overrides:
                return _checked(key, overrides[key], positive)
        return default

    return JointPriors(
        longitudinal,
        {k: pick([f"event_{k}"] + ([] if k == INTERCEPT else ["event_b"]), p)
         for k, p in base.event.items()},
        {k: pick([f"association_{k}", "association"], p) for k, p in base.association.items()},
        log_weibull_shape=pick(["log_weibull_shape"], base.log_weibull_shape),
        log_baseline_hazard=pick(["log_baseline_hazard"], base.log_baseline_hazard),
        baseline_smoothness=pick([names.BASELINE_SMOOTHNESS], base.baseline_smoothness, True),
        scales=scales)
