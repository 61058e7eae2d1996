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
    # path = "study.csv"         # a CSV file, relative to the spec file

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
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .datasets import load_dataset
from .errors import LMMError, SpecError
from .families import get_family
from .formula import Formula, parse_formula
from .priors import Prior
from .residuals import parse_residual, parse_sigma

__all__ = ["MODEL_OPTIONS", "ModelSpec", "SpecFile", "read_spec"]

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
        parsed = formula if isinstance(formula, Formula) else parse_formula(formula)
        get_family(options.get("family", "gaussian"), options.get("link"))
        options["factors"] = tuple(options.get("factors", ()))
        if options.get("likelihood", "auto") not in ("auto", "conditional", "marginal"):
            raise SpecError(f"likelihood must be 'auto', 'conditional' or 'marginal', "
                            f"not {options['likelihood']!r}")
        if options.get("residual") is not None:
            parse_residual(options["residual"])
        if options.get("sigma") is not None:
            parse_sigma(options["sigma"])
        parametrization = options.get("parametrization", "auto")
        if parametrization not in ("auto", "centered", "non-centered"):
            raise SpecError(f"parametrization must be 'auto', 'centered' or 'non-centered', "
                            f"not {parametrization!r}")
        return cls(parsed, **options)


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


_SAMPLER_KEYS = {"draws", "tune", "chains", "random_seed", "sampler", "engine",
                 "target_accept", "cores"}
_MODEL_KEYS = {"formula", *MODEL_OPTIONS} - {"priors"}


def _priors(table: Mapping[str, Any], path: Path) -> dict[str, Any]:
    out = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            params = dict(value)
            if "dist" not in params:
                raise SpecError(f"{path}: prior {key!r} needs a 'dist' (e.g. dist = \"normal\")")
            out[key] = Prior(params.pop("dist"), **params)
        else:
            out[key] = value
    return out


def _data(table: Mapping[str, Any], path: Path) -> pd.DataFrame:
    if ("dataset" in table) == ("path" in table):
        raise SpecError(f"{path}: [data] needs exactly one of 'dataset' (shipped) or 'path' (CSV)")
    if "dataset" in table:
        return load_dataset(table["dataset"])
    csv = (path.parent / table["path"]).resolve()
    if not csv.is_file():
        raise SpecError(f"{path}: data file {str(csv)!r} does not exist")
    return pd.read_csv(csv)


def read_spec(path: str | Path, data: pd.DataFrame | None = None) -> SpecFile:
    """Read a TOML spec file; ``data`` replaces the data it names."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path} is not valid TOML: {err}") from None
    unknown = set(raw) - {"model", "data", "priors", "sampler"}
    model = raw.get("model", {})
    sampler = raw.get("sampler", {})
    bad = sorted(unknown | (set(model) - _MODEL_KEYS) | (set(sampler) - _SAMPLER_KEYS))
    if bad:
        raise SpecError(f"{path}: unknown key(s) {bad}; the sections are [model] "
                        f"{sorted(_MODEL_KEYS)}, [data], [priors], [sampler] {sorted(_SAMPLER_KEYS)}")
    if "formula" not in model:
        raise SpecError(f"{path}: [model] needs a formula")
    try:
        spec = ModelSpec.from_formula(model.pop("formula"), priors=_priors(raw.get("priors", {}), path),
                                      **model)
    except LMMError as err:
        raise type(err)(f"{path}: {err}") from None
    frame = data if data is not None else _data(raw.get("data", {}), path)
    return SpecFile(path, spec, frame, dict(sampler))
