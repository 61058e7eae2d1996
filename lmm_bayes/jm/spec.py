"""The spec of a joint model: its two formulas and options, checked, with no data.

The survival formula is R's ``Surv(time, event) ~ covariates`` (survival::Surv, right
censoring): ``time`` the column of each individual's event or censoring time, ``event`` the
column of 1 (event) or 0 (censored). Its right-hand side takes the fixed-effect syntax of
the longitudinal formula (:func:`lmm_bayes.formula.parse_formula`) without random terms or
offsets.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ..errors import PriorError, SpecError
from ..formula import NAME, Formula, Term, parse_formula

__all__ = ["ASSOCIATIONS", "BASELINES", "JOINT_OPTIONS", "JointSpec", "SurvivalFormula",
           "parse_survival"]

Association = Literal["value", "slope", "value+slope", "shared"]
Baseline = Literal["weibull", "piecewise"]
ASSOCIATIONS: tuple[str, ...] = get_args(Association)
BASELINES: tuple[str, ...] = get_args(Baseline)
#: intervals of the piecewise-constant baseline when ``knots`` is not given: JM's default
#: of six interior cut points (``lng.in.kn = 6``; Rizopoulos 2010, *J. Stat. Softw.* 35(9))
DEFAULT_INTERVALS = 7
MAX_QUADRATURE_POINTS = 100

#: the options of a joint model besides its longitudinal formula (a spec file's [joint] keys)
JOINT_OPTIONS = ("survival", "id", "time", "association", "baseline", "knots",
                 "quadrature_points")

_SURV = re.compile(rf"\s*Surv\s*\(\s*(?P<time>{NAME.pattern}|`[^`]+`)\s*,\s*"
                   rf"(?P<event>{NAME.pattern}|`[^`]+`)\s*\)\s*")


@dataclass(frozen=True)
class SurvivalFormula:
    """``Surv(time, event) ~ terms``: the columns of the times and event indicators and the
    fixed terms (the intercept first, when there is one)."""

    text: str
    time: str
    event: str
    fixed: tuple[Term, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        """The covariates the right-hand side uses, once each."""
        return tuple(dict.fromkeys(f for term in self.fixed for f in term.factors))


def _unquoted(name: str) -> str:
    return name[1:-1] if name.startswith("`") else name


def _surv_error(text: str, pos: int, message: str) -> SpecError:
    return SpecError(f"{message} at position {pos} of the survival formula\n  {text}\n  "
                     f"{' ' * pos}^")


def parse_survival(text: str) -> SurvivalFormula:
    """Parse ``"Surv(years, event) ~ arm + age"``.

    Raises
    ------
    SpecError
        Naming the position: no ``~``, a left-hand side other than ``Surv(time, event)``
        with two column names, random-effect terms or offsets on the right.
    """
    if not isinstance(text, str) or "~" not in text:
        raise SpecError(f"the survival formula must be text 'Surv(time, event) ~ covariates', "
                        f"not {text!r}")
    lhs, _, rhs = text.partition("~")
    match = _SURV.fullmatch(lhs)
    if match is None:
        start = len(lhs) - len(lhs.lstrip())
        if not lhs.strip().startswith("Surv"):
            raise _surv_error(text, start, "the left-hand side must be Surv(time, event)")
        opening = lhs.find("(")
        pos = opening + 1 if opening >= 0 else len(lhs.rstrip())
        raise _surv_error(text, pos, "Surv() takes two column names, the time and the event "
                          "indicator (0/1), e.g. Surv(years, event)")
    time, event = _unquoted(match["time"]), _unquoted(match["event"])
    parsed = parse_formula(f"{time} ~{rhs}")
    shift = len(lhs) - len(time)
    if parsed.random:
        pos = text.find("|")
        raise _surv_error(text, max(pos, 0), "the survival formula takes no random-effect "
                          "terms (the marker's random effects enter the hazard through the "
                          "association)")
    if parsed.offsets:
        raise _surv_error(text, text.find("offset(") if "offset(" in text else shift,
                          "the survival formula takes no offset()")
    if not parsed.has_intercept:
        raise _surv_error(text, len(lhs) + 1, "the survival formula needs its intercept (the "
                          "baseline hazard's scale); leave out the '0 +' or '- 1'")
    return SurvivalFormula(text, time, event, parsed.fixed)


def _choice(name: str, value, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise SpecError(f"unknown {name} {value!r}; choose one of {list(allowed)}")
    return value


def _knots(value, baseline: str) -> int | tuple[float, ...] | None:
    """The number of intervals (a whole number ≥ 2) or interior cut points (increasing,
    positive), for the piecewise baseline only."""
    if value is None:
        return DEFAULT_INTERVALS if baseline == "piecewise" else None
    if baseline != "piecewise":
        raise SpecError("knots are for baseline='piecewise'; the Weibull baseline has none")
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 2:
            raise SpecError(f"knots={value}: a piecewise baseline needs at least 2 intervals")
        return value
    try:
        cuts = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise SpecError(f"knots must be a number of intervals or a sequence of cut points, "
                        f"not {value!r}") from None
    if not cuts or any(c <= 0 for c in cuts) or any(b <= a for a, b in itertools.pairwise(cuts)):
        raise SpecError(f"knots {list(cuts)} must be positive and increasing")
    return cuts


@dataclass(frozen=True)
class JointSpec:
    """A joint model with no data (see :class:`lmm_bayes.JointModel` for the options)."""

    longitudinal: Formula
    survival: SurvivalFormula
    id: str
    time: str
    association: Association = "value"
    baseline: Baseline = "weibull"
    knots: int | tuple[float, ...] | None = None
    priors: Mapping[str, Any] = field(default_factory=dict)
    quadrature_points: int = 15
    parametrization: Literal["auto", "centered", "non-centered"] = "auto"

    @classmethod
    def from_formulas(cls, longitudinal: str | Formula, survival: str | SurvivalFormula, *,
                      id: str, time: str, association: str = "value",
                      baseline: str = "weibull", knots=None,
                      priors: Mapping[str, Any] | None = None,
                      quadrature_points: int = 15, parametrization: str = "auto") -> JointSpec:
        """The spec, each option checked (:class:`SpecError` naming it)."""
        formula = (longitudinal if isinstance(longitudinal, Formula)
                   else parse_formula(longitudinal))
        surv = survival if isinstance(survival, SurvivalFormula) else parse_survival(survival)
        for name, value in (("id", id), ("time", time)):
            if not isinstance(value, str) or not value:
                raise SpecError(f"{name} must name a column, not {value!r}")
        groups = [r.group for r in formula.random]
        if groups != [id]:
            raise SpecError(f"the longitudinal formula of a joint model needs one random term "
                            f"with the grouping factor id={id!r}, e.g. (1 + {time} | {id}); it "
                            f"has {groups or 'none'}")
        if formula.random[0].by is not None:
            raise SpecError(f"gr({id}, by = ...) is not taken in a joint model")
        if formula.offsets or formula.censoring is not None:
            raise SpecError("the longitudinal formula of a joint model takes no offset() or "
                            "cens()")
        association = _choice("association", association, ASSOCIATIONS)
        baseline = _choice("baseline", baseline, BASELINES)
        if (isinstance(quadrature_points, bool) or not isinstance(quadrature_points, int)
                or not 1 <= quadrature_points <= MAX_QUADRATURE_POINTS):
            raise SpecError(f"quadrature_points must be a whole number from 1 to "
                            f"{MAX_QUADRATURE_POINTS}, not {quadrature_points!r}")
        if priors is not None and not isinstance(priors, Mapping):
            raise PriorError(f"priors must be a mapping of keys to lmm_bayes.Prior, not "
                             f"{type(priors).__name__}")
        parametrization = _choice("parametrization", parametrization,
                                  ("auto", "centered", "non-centered"))
        return cls(formula, surv, id, time, association, baseline,
                   _knots(knots, baseline), dict(priors or {}), quadrature_points,
                   parametrization)
