"""Model specifications: the formula and its options, with no data; TOML spec files.

A spec file (``models/*.toml``) names the model, its data and sampler settings::

    [model]
    formula = "Reaction ~ Days + (Days | Subject)"
    family = "gaussian"          # or bernoulli, binomial, poisson, negbinomial (optional)
    link = "logit"               # optional; the family's default when left out
    factors = []                 # numeric columns to treat as categorical (optional)
    reference = {}               # reference level per categorical column (optional)
    na_action = "raise"          # or "drop" (optional)
    parametrization = "auto"     # or "centered" / "non-centered" random effects (optional)
    likelihood = "auto"          # or "marginal" / "conditional" (optional)
    residual = "ar1(visit | subject)"   # or "car1(time | subject)" (optional)
    sigma = "~ arm"              # log-linear model of the residual SD (optional)

    [data]
    dataset = "sleepstudy"       # a data set shipped with lmm_bayes, or
    # path = "study.csv"         # a CSV file in the spec file's folder (or below it)

    [priors]                     # optional overrides, keys as in lmm_bayes.priors
    sigma = { dist = "halfstudentt", nu = 3, sigma = 50 }
    eta_Subject = 2

    [sampler]                    # optional, keywords of LMM.fit
    draws = 1000
    tune = 1000
    chains = 4
    random_seed = 1
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from numbers import Real
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .datasets import load_dataset
from .errors import LMMError, PriorError, SamplingError, SpecError
from .families import get_family
from .formula import Formula, parse_formula
from .priors import Prior
from .residuals import parse_residual, parse_sigma
from .sampling import SamplerConfig

__all__ = ["MODEL_OPTIONS", "ModelSpec", "SpecFile", "read_data_file", "read_spec"]

_CHOICES = {"na_action": ("raise", "drop"),
            "parametrization": ("auto", "centered", "non-centered"),
            "likelihood": ("auto", "conditional", "marginal")}


@dataclass(frozen=True)
class ModelSpec:
    """A model with no data: formula, family and link, prior overrides and data-coding
    options. ``link=None`` means the family's default (:mod:`lmm_bayes.families`)."""

    formula: Formula
    family: str = "gaussian"
    link: str | None = None
    priors: Mapping[str, Any] = field(default_factory=dict)
    factors: tuple[str, ...] = ()
    reference: Mapping[str, Any] = field(default_factory=dict)
    na_action: Literal["raise", "drop"] = "raise"
    parametrization: Literal["auto", "centered", "non-centered"] = "auto"
    likelihood: Literal["auto", "conditional", "marginal"] = "auto"
    residual: str | None = None
    sigma: str | None = None

    @classmethod
    def from_formula(cls, formula: str | Formula, **options) -> ModelSpec:
        """The spec of ``formula`` with ``options`` (the fields of this class), each checked.

        ``factors`` may be one column name or a list of them; ``priors`` and ``reference``
        may be None (none).

        Raises
        ------
        SpecError
            An unknown option, or one of the wrong type or value.
        PriorError
            ``priors`` that are not a mapping.
        """
        unknown = sorted(set(options) - {f.name for f in fields(cls)} - {"formula"})
        if unknown:
            raise SpecError(f"unknown model option(s) {unknown}")
        if not isinstance(formula, (str, Formula)):
            raise SpecError(f"the formula must be text, not {type(formula).__name__} "
                            f"({formula!r})")
        parsed = formula if isinstance(formula, Formula) else parse_formula(formula)
        if not isinstance(options.get("family", "gaussian"), str):
            raise SpecError(f"family must be text, not {options['family']!r}")
        get_family(options.get("family", "gaussian"), options.get("link"))
        options["factors"] = _column_names(options.get("factors", ()))
        options["reference"] = _reference(options.get("reference"))
        options["priors"] = _prior_overrides(options.get("priors"))
        for name, choices in _CHOICES.items():
            if options.get(name, choices[0]) not in choices:
                raise SpecError(f"{name} must be one of {list(choices)}, "
                                f"not {options[name]!r}")
        if options.get("residual") is not None:
            parse_residual(options["residual"])
        if options.get("sigma") is not None:
            parse_sigma(options["sigma"])
        return cls(parsed, **options)


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


def _prior_overrides(value) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PriorError(f"priors must map keys to priors, e.g. {{'sigma': "
                         f"lb.Prior('halfnormal', sigma=10)}}, not {value!r}")
    return dict(value)


#: the options of a model besides its formula: keywords of ``LMM``, ``lb.fit`` and
#: ``fit_many``, and (all but ``priors``, a table of its own) keys of a spec's ``[model]``
MODEL_OPTIONS = tuple(f.name for f in fields(ModelSpec) if f.name != "formula")


@dataclass(frozen=True)
class SpecFile:
    """A spec file read from disk: the model, its data and its sampler settings."""

    path: Path
    spec: ModelSpec
    data: pd.DataFrame
    sampler: Mapping[str, Any]


_WHOLE = ((int,), "a whole number")
_SAMPLER_TYPES = {"draws": _WHOLE, "tune": _WHOLE, "chains": _WHOLE, "cores": _WHOLE,
                  "random_seed": _WHOLE, "sampler": ((str,), "text"),
                  "engine": ((str,), "text"), "target_accept": ((int, float), "a number")}
_MODEL_KEYS = {"formula", *MODEL_OPTIONS} - {"priors"}  # priors: their own section
_DATA_KEYS = {"dataset", "path"}


def _table(raw: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    """Section ``name`` of the file (empty when absent), checked to be a table."""
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}: {name!r} must be a table ([{name}]), not {value!r}")
    return dict(value)


def _check_sampler(table: Mapping[str, Any], path: Path) -> None:
    """SpecError naming the file unless the sampler settings have their types and
    :class:`~lmm_bayes.sampling.SamplerConfig` takes their values (``engine`` is checked
    once the model is built)."""
    for key, value in table.items():
        types, what = _SAMPLER_TYPES[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise SpecError(f"{path}: [sampler] {key} must be {what}, not {value!r}")
    try:
        SamplerConfig(**{k: v for k, v in table.items() if k != "engine"})
    except SamplingError as err:
        raise SpecError(f"{path}: [sampler] {err}") from None


def _priors(table: Mapping[str, Any], path: Path) -> dict[str, Any]:
    out = {}
    for key, value in table.items():
        if not isinstance(value, Mapping):
            out[key] = value  # an LKJ shape: checked with the other overrides
            continue
        params = dict(value)
        if "dist" not in params:
            raise SpecError(f"{path}: prior {key!r} needs a 'dist' (e.g. dist = \"normal\")")
        try:
            out[key] = Prior(params.pop("dist"), **params)
        except PriorError as err:
            raise PriorError(f"{path}: prior {key!r}: {err}") from None
    return out


def read_data_file(path: str | Path) -> pd.DataFrame:
    """Read a CSV file; :class:`SpecError` naming it when it cannot be read."""
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError,
            UnicodeDecodeError) as err:
        raise SpecError(f"cannot read the data file {str(path)!r}: {err}".replace("\n", " ")
                        ) from None


def _data_file(name, path: Path) -> Path:
    """The CSV that ``[data] path`` names: a relative path that stays inside the spec
    file's folder once symbolic links are resolved, so that a spec from elsewhere can read
    no other file of the user's (``--data`` on the command line may name any file)."""
    folder = path.parent.resolve()
    if not isinstance(name, str):
        raise SpecError(f"{path}: [data] path must be text, not {name!r}")
    csv = (folder / name).resolve()
    if Path(name).is_absolute() or not csv.is_relative_to(folder):
        raise SpecError(f"{path}: [data] path {name!r} leaves the spec file's folder; it must "
                        f"be a relative path to a file in {str(folder)!r} or below (give "
                        "other data with --data)")
    if not csv.is_file():
        raise SpecError(f"{path}: data file {str(csv)!r} does not exist")
    return csv


def _data(table: Mapping[str, Any], path: Path) -> pd.DataFrame:
    if ("dataset" in table) == ("path" in table):
        raise SpecError(f"{path}: [data] needs exactly one of 'dataset' (shipped) or 'path' (CSV)")
    if "path" in table:
        return read_data_file(_data_file(table["path"], path))
    if not isinstance(table["dataset"], str):
        raise SpecError(f"{path}: [data] dataset must be text, not {table['dataset']!r}")
    return load_dataset(table["dataset"])


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SpecError(f"{path} is not valid TOML: {err}") from None


def read_spec(path: str | Path, data: pd.DataFrame | None = None) -> SpecFile:
    """Read a TOML spec file; ``data`` replaces the data it names.

    Raises
    ------
    SpecError
        The file is missing or not TOML; a section or key is unknown or of the wrong type;
        ``[data] path`` is absolute, leaves the spec file's folder or names no file.
    PriorError
        A prior with an unknown family or parameters that are not numbers.
    """
    path = Path(path)
    raw = _read_toml(path)
    model, table, sampler = (_table(raw, name, path) for name in ("model", "data", "sampler"))
    unknown = set(raw) - {"model", "data", "priors", "sampler"}
    bad = sorted(unknown | (set(model) - _MODEL_KEYS) | (set(table) - _DATA_KEYS)
                 | (set(sampler) - set(_SAMPLER_TYPES)))
    if bad:
        raise SpecError(f"{path}: unknown key(s) {bad}; the sections are [model] "
                        f"{sorted(_MODEL_KEYS)}, [data] {sorted(_DATA_KEYS)}, [priors], "
                        f"[sampler] {sorted(_SAMPLER_TYPES)}")
    if "formula" not in model:
        raise SpecError(f"{path}: [model] needs a formula")
    _check_sampler(sampler, path)
    priors = _priors(_table(raw, "priors", path), path)
    try:
        spec = ModelSpec.from_formula(model.pop("formula"), priors=priors, **model)
    except LMMError as err:
        raise type(err)(f"{path}: {err}") from None
    frame = data if data is not None else _data(table, path)
    return SpecFile(path, spec, frame, sampler)
