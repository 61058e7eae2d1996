"""Spec files: a model spec in TOML with its data and sampler settings.

A spec file (``models/*.toml``) names the model, its data and sampler settings::

    [model]
    formula = "Reaction ~ Days + (Days | Subject)"
    family = "gaussian"          # or student, bernoulli, binomial, poisson, negbinomial (optional)
    link = "logit"               # optional; the family's default when left out
    factors = []                 # numeric columns to treat as categorical (optional)
    reference = {}               # reference level per categorical column (optional)
    contrasts = {}               # e.g. { dose = "poly" }: R's contr.poly (optional)
    na_action = "raise"          # or "drop" (optional)
    parametrization = "auto"     # or "centered" / "non-centered" random effects (optional)
    likelihood = "auto"          # or "marginal" / "conditional" (optional)
    residual = "ar1(visit | subject)"   # or "car1(time | subject)" (optional)
    sigma = "~ arm"              # log-linear model of the residual SD (optional)
    weights = "w"                # column of observation weights, lme4's weights (optional)

    [data]
    dataset = "sleepstudy"       # a data set shipped with lmm_bayes, or
    # path = "study.csv"         # a CSV file in the spec file's folder (or below it), or
    # path = "visits/*.parquet"  # Parquet files there (a glob or a folder of them): a
    #                            # distributed data set (lmm_bayes.distributed)

    [priors]                     # optional overrides, keys as in lmm_bayes.priors
    sigma = { dist = "halfstudentt", nu = 3, sigma = 50 }
    eta_Subject = 2

    [sampler]                    # optional, keywords of LMM.fit
    draws = 1000
    tune = 1000
    chains = 4
    random_seed = 1

A multivariate model (:class:`lmm_bayes.MultivariateLMM`) has ``formulas``, one per outcome,
instead of ``formula``; its ``[model]`` keys are those of
:data:`lmm_bayes.spec.MULTIVARIATE_OPTIONS`, its priors are tables per outcome, and its
``[sampler]`` has no ``engine`` (it is sampled by NUTS on the PyMC model)::

    [model]
    formulas = ["depression ~ months + (1 + months |p| id)",
                "il6 ~ months + (1 + months |p| id)"]
    rescor = true                # correlated residuals (optional)
    parametrization = "centered" # or "non-centered" (optional)

    [priors]
    eta_rescor = 2
    [priors.depression]
    months = { dist = "normal", mu = 0, sigma = 1 }

A joint model of a marker and an event (:class:`lmm_bayes.JointModel`) has a ``[joint]``
table, with the event data in ``[joint.data]`` (``dataset`` or ``path``, as ``[data]``);
``[model]`` holds the marker's formula (and optionally ``parametrization``), ``[data]`` the
visits, ``[priors]`` the overrides of both parts (:mod:`lmm_bayes.jm.priors`), and its
``[sampler]`` has no ``engine`` or ``sampler`` (nutpie on the PyMC model)::

    [model]
    formula = "sbp ~ time * arm + (1 + time | id)"

    [joint]
    survival = "Surv(years, event) ~ arm + age"
    id = "id"
    time = "time"
    association = "value"        # or "slope", "value+slope", "shared" (optional)
    baseline = "weibull"         # or "piecewise", with knots = 7 (optional)

    [joint.data]
    dataset = "sbp_events"       # or path = "events.csv"

The spec itself (:mod:`lmm_bayes.spec`) holds no data; reading the data is this module's job.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .datasets import load_dataset
from .errors import LMMError, PriorError, SamplingError, SpecError
from .jm.spec import JOINT_OPTIONS, JointSpec
from .priors import Prior
from .sampling import SamplerConfig
from .spec import MODEL_OPTIONS, MULTIVARIATE_OPTIONS, ModelSpec, MultivariateSpec

__all__ = ["SpecFile", "read_data_file", "read_spec"]


@dataclass(frozen=True)
class SpecFile:
    """A spec file read from disk: the model, its data and its sampler settings."""

    path: Path
    spec: ModelSpec | MultivariateSpec | JointSpec
    data: pd.DataFrame | str
    sampler: Mapping[str, Any]
    event_data: pd.DataFrame | None = None
    """A joint model's event data (``[joint.data]``); None for the other models."""


_WHOLE = ((int,), "a whole number")
_SAMPLER_TYPES = {"draws": _WHOLE, "tune": _WHOLE, "chains": _WHOLE, "cores": _WHOLE,
                  "random_seed": _WHOLE, "sampler": ((str,), "text"),
                  "engine": ((str,), "text"), "target_accept": ((int, float), "a number")}
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


def _multivariate_priors(table: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """Each outcome's table of priors (``[priors.<outcome>]``); the LKJ shapes as they are."""
    return {key: _priors(value, path) if isinstance(value, Mapping) else value
            for key, value in table.items()}


@dataclass(frozen=True)
class _Kind:
    """What a ``[model]`` table holds for one kind of model: the key of its formula(s),
    its other keys, the keys of its ``[sampler]``, how its priors are read and how its
    spec is made."""

    formula: str
    keys: frozenset[str]
    sampler: frozenset[str]
    priors: Callable[[Mapping[str, Any], Path], dict[str, Any]]
    make: Callable[..., ModelSpec | MultivariateSpec]


_UNIVARIATE = _Kind("formula", frozenset(MODEL_OPTIONS) - {"priors"}, frozenset(_SAMPLER_TYPES),
                    _priors, ModelSpec.from_formula)
_MULTIVARIATE = _Kind("formulas", frozenset(MULTIVARIATE_OPTIONS) - {"priors"},
                      frozenset(_SAMPLER_TYPES) - {"engine"}, _multivariate_priors,
                      MultivariateSpec.from_formulas)


def read_data_file(path: str | Path) -> pd.DataFrame:
    """Read a CSV file; :class:`SpecError` naming it when it cannot be read."""
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError,
            UnicodeDecodeError) as err:
        raise SpecError(f"cannot read the data file {str(path)!r}: {err}".replace("\n", " ")
                        ) from None


def _data_file(name, path: Path) -> Path:
    """The file that ``[data] path`` names: a relative path that stays inside the spec
    file's folder once symbolic links are resolved, so that a spec from elsewhere can read
    no other file of the user's (``--data`` on the command line may name any file)."""
    folder = path.parent.resolve()
    if not isinstance(name, str):
        raise SpecError(f"{path}: [data] path must be text, not {name!r}")
    found = (folder / name).resolve()
    if Path(name).is_absolute() or not found.is_relative_to(folder):
        raise SpecError(f"{path}: [data] path {name!r} leaves the spec file's folder; it must "
                        f"be a relative path to a file in {str(folder)!r} or below (give "
                        "other data with --data)")
    if not found.exists() and not _is_parquet(name):
        raise SpecError(f"{path}: data file {str(found)!r} does not exist")
    return found


def _is_parquet(name: str) -> bool:
    """Whether ``[data] path`` names Parquet files (``*.parquet``, a glob of them, or a
    folder): a distributed data set, read lazily by :mod:`lmm_bayes.distributed`."""
    return name.endswith((".parquet", "/")) or any(c in name for c in "*?[")


def _data(table: Mapping[str, Any], path: Path) -> pd.DataFrame | str:
    if ("dataset" in table) == ("path" in table):
        raise SpecError(f"{path}: [data] needs exactly one of 'dataset' (shipped) or 'path' "
                        "(CSV, or Parquet files)")
    if "path" in table:
        found = _data_file(table["path"], path)
        if _is_parquet(table["path"]) or found.is_dir():
            return str(found)
        return read_data_file(found)
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


_JOINT_MODEL_KEYS = frozenset({"formula", "parametrization"})
_JOINT_SAMPLER = frozenset(_SAMPLER_TYPES) - {"engine", "sampler"}


def _joint_spec(raw: Mapping[str, Any], path: Path, data: pd.DataFrame | None) -> SpecFile:
    """A joint model's spec file (module docstring)."""
    model, table, sampler, joint = (_table(raw, name, path)
                                    for name in ("model", "data", "sampler", "joint"))
    events = _table(joint, "data", path)
    joint.pop("data", None)
    bad = sorted((set(raw) - {"model", "data", "priors", "sampler", "joint"})
                 | (set(model) - _JOINT_MODEL_KEYS) | (set(joint) - set(JOINT_OPTIONS))
                 | (set(table) - _DATA_KEYS) | (set(events) - _DATA_KEYS)
                 | (set(sampler) - _JOINT_SAMPLER))
    if bad:
        raise SpecError(f"{path}: unknown key(s) {bad}; a joint model's sections are [model] "
                        f"{sorted(_JOINT_MODEL_KEYS)}, [data] and [joint.data] "
                        f"{sorted(_DATA_KEYS)}, [joint] {list(JOINT_OPTIONS)}, [priors], "
                        f"[sampler] {sorted(_JOINT_SAMPLER)}")
    for key, where in (("formula", "[model]"), ("survival", "[joint]"), ("id", "[joint]"),
                       ("time", "[joint]")):
        if key not in (model if where == "[model]" else joint):
            raise SpecError(f"{path}: {where} needs {key!r}")
    if not events:
        raise SpecError(f"{path}: [joint.data] needs the event data: dataset or path")
    _check_sampler(sampler, path)
    priors = _priors(_table(raw, "priors", path), path)
    try:
        spec = JointSpec.from_formulas(model.pop("formula"), joint.pop("survival"),
                                       priors=priors, **joint, **model)
    except (LMMError, TypeError) as err:
        raise SpecError(f"{path}: {err}") from None
    frame = data if data is not None else _data(table, path)
    return SpecFile(path, spec, frame, sampler, _data(events, path))


def read_spec(path: str | Path, data: pd.DataFrame | None = None) -> SpecFile:
    """Read a TOML spec file; ``data`` replaces the data it names.

    ``[model]`` with ``formulas`` (a list) is a :class:`~lmm_bayes.spec.MultivariateSpec`,
    with ``formula`` a :class:`~lmm_bayes.spec.ModelSpec`; a file with a ``[joint]`` table
    a :class:`~lmm_bayes.jm.spec.JointSpec`, its event data in ``event_data``.

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
    if "joint" in raw:
        return _joint_spec(raw, path, data)
    model, table, sampler = (_table(raw, name, path) for name in ("model", "data", "sampler"))
    kind = _MULTIVARIATE if "formulas" in model else _UNIVARIATE
    unknown = set(raw) - {"model", "data", "priors", "sampler"}
    model_keys = kind.keys | {kind.formula}
    bad = sorted(unknown | (set(model) - model_keys) | (set(table) - _DATA_KEYS)
                 | (set(sampler) - kind.sampler))
    if bad:
        raise SpecError(f"{path}: unknown key(s) {bad}; the sections are [model] "
                        f"{sorted(model_keys)}, [data] {sorted(_DATA_KEYS)}, [priors], "
                        f"[sampler] {sorted(kind.sampler)}")
    if kind.formula not in model:
        raise SpecError(f"{path}: [model] needs a formula")
    _check_sampler(sampler, path)
    priors = kind.priors(_table(raw, "priors", path), path)
    try:
        spec = kind.make(model.pop(kind.formula), priors=priors, **model)
    except LMMError as err:
        raise type(err)(f"{path}: {err}") from None
    frame = data if data is not None else _data(table, path)
    return SpecFile(path, spec, frame, sampler)
