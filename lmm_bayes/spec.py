"""Model specifications: formulas and their options, parsed and checked, with no data.

The bottom stage of the pipeline (spec → design → priors → engine): a spec is a frozen value
that says which model to fit and nothing about the data. :class:`ModelSpec` is a model with
one outcome (:class:`lmm_bayes.LMM`), :class:`MultivariateSpec` one with several
(:class:`lmm_bayes.MultivariateLMM`). :mod:`lmm_bayes.specfile` reads either from a TOML
file, with its data and sampler settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from numbers import Real
from typing import Any, Literal

from .errors import PriorError, Setting, SpecError
from .families import get_family, residual_obstacle
from .formula import Formula, parse_formula
from .residual_spec import ResidualSpec, SigmaSpec, parse_residual, parse_sigma

__all__ = ["MODEL_OPTIONS", "MULTIVARIATE_OPTIONS", "ModelSpec", "MultivariateSpec",
           "parse_formulas"]

_CHOICES = {"na_action": ("raise", "drop"),
            "parametrization": ("auto", "centered", "non-centered"),
            "likelihood": ("auto", "conditional", "marginal")}


@dataclass(frozen=True)
class ModelSpec:
    """A model with no data: formula, family and link, prior overrides, data-coding options
    and residual structure. ``link=None`` means the family's default
    (:mod:`lmm_bayes.families`); ``residual`` and ``sigma`` are parsed, and keep their text;
    ``weights`` names the column of observation weights (:mod:`lmm_bayes.weights`)."""

    formula: Formula
    family: str = "gaussian"
    link: str | None = None
    priors: Mapping[str, Any] = field(default_factory=dict)
    factors: tuple[str, ...] = ()
    reference: Mapping[str, Any] = field(default_factory=dict)
    na_action: Literal["raise", "drop"] = "raise"
    parametrization: Literal["auto", "centered", "non-centered"] = "auto"
    likelihood: Literal["auto", "conditional", "marginal"] = "auto"
    residual: ResidualSpec | None = None
    sigma: SigmaSpec | None = None
    contrasts: Mapping[str, str] = field(default_factory=dict)
    weights: str | None = None

    @classmethod
    def from_formula(cls, formula: str | Formula, **options) -> ModelSpec:
        """The spec of ``formula`` with ``options`` (the fields of this class), each checked.

        ``factors`` may be one column name or a list of them; ``priors`` and ``reference``
        may be None (none); ``residual`` and ``sigma`` are text (e.g.
        ``"ar1(visit | subject)"``, ``"~ arm"``) or already parsed; ``contrasts`` maps
        columns to ``"poly"`` or ``"treatment"`` (R's names ``"contr.poly"``,
        ``"contr.treatment"`` too), stored as the short names.

        Raises
        ------
        SpecError
            An unknown option, or one of the wrong type or value; a residual structure
            or sigma formula the family cannot take
            (:func:`lmm_bayes.families.residual_obstacle`).
        PriorError
            ``priors`` that are not a mapping.
        """
        _check_names(options, MODEL_OPTIONS)
        parsed = _formula(formula)
        if not isinstance(options.get("family", "gaussian"), str):
            raise SpecError(f"family must be text, not {options['family']!r}")
        family = get_family(options.get("family", "gaussian"), options.get("link"))
        options.update(_coding(options, _CHOICES))
        options["residual"] = _parsed(options.get("residual"), parse_residual, ResidualSpec)
        options["sigma"] = _parsed(options.get("sigma"), parse_sigma, SigmaSpec)
        _check_heterogeneous(options["residual"], options["sigma"])
        options["contrasts"] = _contrasts(options.get("contrasts"))
        found = residual_obstacle(family, structure=options["residual"] is not None,
                                  sigma=options["sigma"] is not None)
        if found:
            raise SpecError(found)
        _check_censoring(parsed, options)
        _check_weights(options.get("weights"))
        return cls(parsed, **options)

    @property
    def residual_columns(self) -> tuple[str, ...]:
        """Variable labels used by the residual options (their missing values count as the
        formula's do)."""
        used = [*(self.residual.columns if self.residual else ()),
                *(self.sigma.columns if self.sigma else ())]
        return tuple(dict.fromkeys(used))


#: the options of a model besides its formula: keywords of ``LMM``, ``lb.fit`` and
#: ``fit_many``, and (all but ``priors``, a table of its own) keys of a spec's ``[model]``
MODEL_OPTIONS = tuple(f.name for f in fields(ModelSpec) if f.name != "formula")


@dataclass(frozen=True)
class MultivariateSpec:
    """A multivariate model with no data: one formula per Gaussian outcome, whether the
    residuals are correlated (``rescor``), prior overrides per outcome (and ``eta_<block>``,
    ``eta_rescor``), data-coding options and the random effects' parametrization (see
    :class:`lmm_bayes.MultivariateLMM`)."""

    formulas: tuple[Formula, ...]
    rescor: bool = True
    priors: Mapping[str, Any] = field(default_factory=dict)
    factors: tuple[str, ...] = ()
    reference: Mapping[str, Any] = field(default_factory=dict)
    na_action: Literal["raise", "drop"] = "raise"
    parametrization: Literal["centered", "non-centered"] = "centered"

    @classmethod
    def from_formulas(cls, formulas: Sequence[str | Formula], **options) -> MultivariateSpec:
        """The spec of ``formulas`` (:func:`parse_formulas`) with ``options`` (the fields of
        this class), each checked as :meth:`ModelSpec.from_formula` checks its own.

        Raises
        ------
        SpecError
            Fewer than two formulas, or formulas :func:`parse_formulas` refuses; an unknown
            option, or one of the wrong type or value.
        PriorError
            ``priors`` that are not a mapping.
        """
        _check_names(options, MULTIVARIATE_OPTIONS)
        parsed = parse_formulas(formulas)
        if not isinstance(options.get("rescor", True), bool):
            raise SpecError(f"rescor must be true or false, not {options['rescor']!r}")
        options.update(_coding(options, {"na_action": _CHOICES["na_action"],
                                         "parametrization": ("centered", "non-centered")}))
        return cls(parsed, **options)

    @property
    def responses(self) -> tuple[str, ...]:
        """The outcomes, in the order of the formulas."""
        return tuple(f.response for f in self.formulas)


#: the options of a multivariate model besides its formulas: keywords of
#: ``MultivariateLMM`` and keys of a multivariate spec's ``[model]`` (but ``priors``)
MULTIVARIATE_OPTIONS = tuple(f.name for f in fields(MultivariateSpec) if f.name != "formulas")


def parse_formulas(formulas: Sequence[str | Formula]) -> tuple[Formula, ...]:
    """Parse the formulas of a multivariate model: two or more, distinct responses that are
    column names, no ``gr(g, by = ...)`` terms."""
    if isinstance(formulas, str) or not isinstance(formulas, Sequence) or len(formulas) < 2:
        raise SpecError("a multivariate model needs a list of two or more formulas, one per "
                        "outcome; for one outcome use lb.LMM")
    parsed = tuple(_formula(text) for text in formulas)
    responses = [f.response for f in parsed]
    repeated = sorted({r for r in responses if responses.count(r) > 1})
    if repeated:
        raise SpecError(f"outcome(s) {repeated} have more than one formula")
    for formula in parsed:
        if formula.censoring is not None:
            raise SpecError(f"censored responses (cens()) are not supported in multivariate "
                            f"models (formula {formula.text!r})")
        by = [r.group for r in formula.random if r.by is not None]
        if by:
            raise SpecError(f"gr(g, by = ...) is not supported in multivariate models yet "
                            f"(formula {formula.text!r}, factor {by[0]!r})")
    return parsed


# ----------------------------------------------------------------------------- checks


def _check_heterogeneous(residual: ResidualSpec | None, sigma: SigmaSpec | None) -> None:
    """A structure with one SD per visit takes no sigma formula: it is its own."""
    if residual is not None and sigma is not None and residual.structure.heterogeneous:
        name = residual.structure.name
        raise SpecError(Setting("residual", residual.text),
                        f": {name} has one residual SD per visit already (its sigma formula "
                        f"is '~ 0 + C({residual.time})'), so it takes no ",
                        Setting("sigma", sigma.text),
                        "; for another variance model use cs or toep with a sigma formula")


def _check_names(options: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise SpecError(f"unknown model option(s) {unknown}")


def _check_weights(value) -> None:
    """``weights`` is None or one column name."""
    if value is not None and not isinstance(value, str):
        raise SpecError(f"weights must be the name of a column of the data (text), not "
                        f"{value!r}")


def _formula(formula) -> Formula:
    """``formula`` parsed (text) or as it is (already a Formula)."""
    if isinstance(formula, Formula):
        return formula
    if not isinstance(formula, str):
        raise SpecError(f"the formula must be text, not {type(formula).__name__} "
                        f"({formula!r})")
    return parse_formula(formula)


def _check_censoring(formula: Formula, options: Mapping[str, Any]) -> None:
    """A censored response (``y | cens(...)``) is Gaussian, with independent residuals."""
    if formula.censoring is None:
        return
    family = options.get("family", "gaussian")
    if family != "gaussian":
        raise SpecError(f"a censored response (cens()) needs the Gaussian family, not "
                        f"{family!r}")
    if options.get("residual") is not None:
        raise SpecError(f"a censored response (cens()) cannot take the residual structure "
                        f"{options['residual'].text!r}: its rows' likelihood would not "
                        "factor; leave out one or the other")


def _parsed(value, parse, kind):
    """An optional option as its parsed value: None, already parsed, or text to parse."""
    return value if value is None or isinstance(value, kind) else parse(value)


def _coding(options: Mapping[str, Any], choices: Mapping[str, tuple]) -> dict[str, Any]:
    """The options both kinds of spec share, checked: ``factors``, ``reference`` and
    ``priors`` in their stored form; the choices (``na_action``...) validated."""
    stored = {"factors": _column_names(options.get("factors", ())),
              "reference": _reference(options.get("reference")),
              "priors": _prior_overrides(options.get("priors"))}
    for name, allowed in choices.items():
        if name in options and options[name] not in allowed:
            raise SpecError(f"{name} must be one of {list(allowed)}, not {options[name]!r}")
    return stored


def _column_names(value) -> tuple[str, ...]:
    """``factors`` as a tuple of names; one string is one column name (not its letters)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable) or isinstance(value, (Mapping, bytes)):
        raise SpecError(f"factors must be a column name or a list of them, not {value!r}")
    names = tuple(value)
    wrong = [name for name in names if not isinstance(name, str)]
    if wrong:
        raise SpecError(f"factors must be column names (text); {wrong!r} are not")
    return names


def _reference(value) -> dict[str, Any]:
    """``reference`` as a dict of column name to level (a number, text or logical)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"reference must map column names to their reference level, e.g. "
                        f"{{'arm': 'placebo'}}, not {value!r}")
    wrong = {k: v for k, v in value.items()
             if not isinstance(k, str) or not isinstance(v, (str, Real))}
    if wrong:
        raise SpecError(f"reference must map column names (text) to levels (text or "
                        f"numbers); {wrong!r} do not")
    return dict(value)


CONTRASTS = {"poly": "poly", "contr.poly": "poly", "treatment": "treatment",
             "contr.treatment": "treatment"}
"""The codings ``contrasts`` may ask for, by the names accepted (R's among them)."""


def _contrasts(value) -> dict[str, str]:
    """``contrasts`` as a dict of column name to ``"poly"`` or ``"treatment"``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"contrasts must map column names to a coding, e.g. {{'dose': "
                        f"'poly'}}, not {value!r}")
    wrong = {k: v for k, v in value.items() if not isinstance(k, str) or v not in CONTRASTS}
    if wrong:
        raise SpecError(f"contrasts must map column names to one of {list(CONTRASTS)}; "
                        f"{wrong!r} do not")
    return {k: CONTRASTS[v] for k, v in value.items()}


def _prior_overrides(value) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PriorError(f"priors must map keys to priors, e.g. {{'sigma': "
                         f"lb.Prior('halfnormal', sigma=10)}}, not {value!r}")
    return dict(value)
