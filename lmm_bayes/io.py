"""Write a fit's record to one file and read it back, without sampling again.

A saved fit is one netCDF-4 file written by ArviZ (``fit.save("sleep.nc")``): the groups of
``fit.idata`` (``posterior`` with its coords, ``sample_stats``...) as ArviZ writes them, so
``arviz.from_netcdf`` reads the posterior of a saved fit as it is, plus one group
``lmm_bayes`` that holds

* the data the model was fitted to, one variable per column (numbers and logicals as they
  were; dates and durations as 64-bit integers of their unit, zoned dates in UTC; text and
  categorical columns as integer codes into their levels, stored in order, with ``-1`` for
  a missing value, and ``ordered`` = 1 for an ordered Categorical, such as an ordinal
  response), so that the design is rebuilt exactly: same level order, reference
  levels, codings, ``center``/``scale`` constants and date origins;
* in its attributes, as JSON: the model spec (formula and every option, prior overrides
  included), the sampler settings, the prior of every parameter and fingerprints of the
  design (response, fixed-effect matrix, level index and ``Z`` of each grouping factor; of
  each outcome's design for a multivariate model).

This module reads and writes that record (:class:`SavedFit`) and knows no model class:
:func:`lmm_bayes.load` (:mod:`lmm_bayes.models`) rebuilds the model from the record's spec
and data, checks it against the fingerprints and the posterior (:func:`check_rebuilt`) and
returns its fit, whose ``summary()``, ``random_effects()`` and the rest give the same numbers
as before saving. Anything that prevents this raises :class:`~lmm_bayes.LoadError`.

Format version 2 stores each correlation once (``corr_<g>`` over ``<g>__pair``, ``rescor``
over ``outcome__pair``, see :mod:`lmm_bayes.names`); version 1 stored the whole matrices
and is read by keeping their pairs (:func:`paired`).

A saved fit is untrusted input: :func:`read` checks every attribute and data variable it
reads for presence and type before use, passes the formula(s) and options through the same
checks as a new model's (:meth:`~lmm_bayes.spec.ModelSpec.from_formula`,
:meth:`~lmm_bayes.spec.MultivariateSpec.from_formulas`), and reads only netCDF and JSON
(nothing is unpickled or evaluated as Python).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from . import names
from .design import Design
from .errors import LMMError, LoadError
from .formula import Formula
from .names import pair_values
from .priors import Prior
from .residual_spec import ResidualSpec, SigmaSpec
from .sampling import SamplerConfig
from .spec import ModelSpec, MultivariateSpec
from .variables import level_label

if TYPE_CHECKING:  # ArviZ is imported where a fit needs it (seconds at import)
    import arviz as az

__all__ = ["SavedFit", "check_rebuilt", "fingerprints", "read", "rebuilding", "save"]

GROUP = "lmm_bayes"
FORMAT = "lmm_bayes fit"
FORMAT_VERSION = 2
#: the versions read: 1 stored correlation matrices whole
READ_VERSIONS = (1, 2)
FILE = "fit.nc"  # the saved fit in a results folder (lmm_bayes.report.write_results)


# ----------------------------------------------------------------------------- spec as JSON


def _encode(value):
    """A spec value as JSON: formulas and priors tagged, tuples as lists, residual options
    as the text they were parsed from (as the user wrote them)."""
    if isinstance(value, Formula):
        return {"__formula__": value.text}
    if isinstance(value, (ResidualSpec, SigmaSpec)):
        return value.text
    if isinstance(value, Prior):
        return {"__prior__": value.dist, **value.kwargs}
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise LMMError(f"cannot save the spec value {value!r} ({type(value).__name__})")


def _decode(value):
    """Inverse of :func:`_encode`, except that a formula comes back as its text (for
    :meth:`ModelSpec.from_formula` to check and parse, as are the residual options); lists
    come back as tuples."""
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    if "__formula__" in value:
        return value["__formula__"]
    if "__prior__" in value:
        params = dict(value)
        return Prior(params.pop("__prior__"), **params)
    return {k: _decode(v) for k, v in value.items()}


def _spec_json(spec: ModelSpec | MultivariateSpec) -> str:
    return json.dumps({f.name: _encode(getattr(spec, f.name)) for f in dataclasses.fields(spec)})


def _config_json(config: SamplerConfig) -> str:
    return json.dumps(_encode(dataclasses.asdict(config)))


# ----------------------------------------------------------------------------- data


def _plain_values(series: pd.Series) -> np.ndarray | None:
    """Numbers and logicals as stored (nullable numbers as floats with NaN); None for text,
    categorical and other columns, which are stored by codes and levels."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return series.to_numpy()
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iuf":
        return series.to_numpy(dtype=float, na_value=np.nan)
    return None


def _ordered(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.CategoricalDtype) and bool(series.cat.ordered)


def _levels(series: pd.Series, known: tuple[str, ...]) -> list[str]:
    """The column's labels: the design's levels (reference first) and then any others (rows
    dropped for missing values) in order of appearance; an ordered Categorical's in its
    order (an ordinal response's categories)."""
    values = series.cat.categories if _ordered(series) else series.dropna().unique()
    labels = [level_label(v) for v in values]
    return list(known) + [lab for lab in dict.fromkeys(labels) if lab not in known]


def _temporal_variable(series: pd.Series, name: str) -> xr.Variable:
    """Dates or durations as the integers behind them (NaT included), with their dtype to
    view them back; zoned dates in UTC, which keeps the days since the origin that the
    design counts (:mod:`lmm_bayes.variables`)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert(None)
    values = series.to_numpy()
    return xr.Variable("row", values.view(np.int64), {"column": name,
                                                      "temporal": str(values.dtype)})


def _data_variable(series: pd.Series, levels: Mapping[str, tuple[str, ...]]) -> xr.Variable:
    name = str(series.name)
    if series.dtype.kind in "mM":
        return _temporal_variable(series, name)
    values = _plain_values(series)
    if values is not None:
        return xr.Variable("row", values, {"column": name})
    categories = _levels(series, tuple(levels.get(name, ())))
    position = {lab: k for k, lab in enumerate(categories)}
    codes = np.array([position[level_label(v)] if pd.notna(v) else -1 for v in series],
                     dtype=np.int32)
    attrs = {"column": name, "levels": json.dumps(categories)}
    if _ordered(series):
        attrs["ordered"] = 1
    return xr.Variable("row", codes, attrs)


def _codes(var: xr.DataArray, stored: _Stored) -> pd.Categorical:
    """A text or categorical column from its codes and its JSON list of levels."""
    what = f"attribute 'levels' of {var.name!r}"
    levels = stored.json(stored.text(var.attrs, "levels", what), what, list)
    codes = var.values
    if (not all(isinstance(level, str) for level in levels) or codes.dtype.kind not in "iu"
            or (codes.size and not -1 <= codes.min() <= codes.max() < len(levels))):
        raise stored.error(f"data variable {var.name!r} must hold whole-number codes into "
                           "its list of text levels")
    ordered = var.attrs.get("ordered", 0)
    if not _is_flag(ordered):
        raise stored.error(f"attribute 'ordered' of {var.name!r} must be 0 or 1")
    return pd.Categorical.from_codes(codes, levels, ordered=bool(ordered))


_TEMPORAL = re.compile(r"(datetime64|timedelta64)\[(ns|us|ms|s)\]")


def _temporal(var: xr.DataArray, stored: _Stored) -> np.ndarray:
    """A date or duration column from the integers behind it and its type's name."""
    kind = stored.text(var.attrs, "temporal", f"attribute 'temporal' of {var.name!r}")
    if not _TEMPORAL.fullmatch(kind) or var.dtype != np.int64:
        raise stored.error(f"data variable {var.name!r} must hold 64-bit integers of a date "
                           f"or duration type, not {var.dtype} as {kind!r}")
    return var.values.view(kind)


def _data_frame(stored: _Stored) -> pd.DataFrame:
    """The saved data: variables ``col0``, ``col1``... along ``row``, in column order."""
    dataset = stored.group
    variables = [f"col{k}" for k in range(len(dataset.data_vars))]
    if set(dataset.data_vars) != set(variables):
        raise stored.error(f"the data variables of the {GROUP!r} group must be named "
                           f"col0, col1..., found {sorted(map(str, dataset.data_vars))}")
    columns = {}
    for name in variables:
        var = dataset[name]
        column = stored.text(var.attrs, "column", f"attribute 'column' of {name!r}")
        if column in columns:
            raise stored.error(f"the saved data have two columns named {column!r}")
        if var.dims != ("row",):
            raise stored.error(f"data variable {name!r} must have the one dimension 'row', "
                               f"not {var.dims}")
        if "levels" in var.attrs:
            columns[column] = _codes(var, stored)
        elif "temporal" in var.attrs:
            columns[column] = _temporal(var, stored)
        elif var.dtype.kind in "biuf":
            columns[column] = var.values
        else:
            raise stored.error(f"data variable {name!r} must hold numbers or logicals, "
                               f"not {var.dtype}")
    return pd.DataFrame(columns)


# ----------------------------------------------------------------------------- fingerprints


def _digest(*arrays) -> str:
    sha = hashlib.sha256()
    for array in arrays:
        sha.update(np.ascontiguousarray(array).tobytes())
    return sha.hexdigest()


def fingerprints(designs: Mapping[str, Design], priors: pd.DataFrame) -> dict[str, str]:
    """What a rebuilt model must reproduce: design arrays, level labels and priors.

    Parameters
    ----------
    designs : mapping of str to Design
        ``{"": design}`` for a model with one outcome; each outcome's design by its name
        for a multivariate model (the keys then name the outcome).
    priors : pandas.DataFrame
        The model's table of priors (``PriorSet.table()``).
    """
    prints = {}
    for outcome, design in designs.items():
        prefix = f"{outcome}: " if outcome else ""
        prints.update({f"{prefix}response": _digest(design.y),
                       f"{prefix}fixed effects": _digest(design.X),
                       f"{prefix}fixed-effect names": json.dumps(design.fixed_names)})
        if design.offset is not None:  # only then: earlier saved fits keep their prints
            prints[f"{prefix}offset"] = _digest(design.offset)
        if design.censoring is not None:
            prints[f"{prefix}censoring"] = _digest(design.censoring.kind.astype(np.int64),
                                                   design.censoring.upper)
        if design.weights is not None:
            prints[f"{prefix}weights"] = _digest(design.weights)
        for group in design.groups:
            prints[f"{prefix}grouping factor {group.name}"] = json.dumps(
                [group.levels, group.terms, _digest(group.index.astype(np.int64), group.Z)])
    return {**prints, "priors": priors.to_json(orient="values")}


@dataclass(frozen=True)
class SavedFit:
    """What a saved fit holds.

    Attributes
    ----------
    spec : ModelSpec or MultivariateSpec
    data : pandas.DataFrame
        The data the model was fitted to, every column.
    config : SamplerConfig
    idata : arviz.InferenceData
        The fit's groups (posterior, sample_stats...), without the ``lmm_bayes`` group.
    fingerprints : mapping of str to str
        From :func:`fingerprints` on the model that was fitted.
    path : Path, optional
        The file it was read from (named in the errors of :func:`check_rebuilt`).
    """

    spec: ModelSpec | MultivariateSpec
    data: pd.DataFrame
    config: SamplerConfig
    idata: az.InferenceData
    fingerprints: Mapping[str, str]
    path: Path | None = None


# ----------------------------------------------------------------------------- save / read


def save(saved: SavedFit, path: str | Path, levels: Mapping[str, Sequence[str]]) -> Path:
    """Write ``saved`` to one netCDF file at ``path`` (see the module notes); returns the path.

    ``levels`` are the design's levels of each categorical column (reference first), stored
    in that order so that the rebuilt design codes them alike. Missing parent folders are
    created, as most tools that write files do.

    Raises
    ------
    LoadError
        The file cannot be written (a parent is a file, no permission...), naming the path.

    Examples
    --------
    >>> fit.save("sleepstudy_fit.nc")  # doctest: +SKIP
    >>> again = lb.load("sleepstudy_fit.nc")  # doctest: +SKIP
    """
    import arviz as az

    path = Path(path)
    variables = {f"col{k}": _data_variable(saved.data[name].rename(name), levels)
                 for k, name in enumerate(saved.data.columns)}
    attrs = {"format": FORMAT, "format_version": FORMAT_VERSION,
             "spec": _spec_json(saved.spec), "sampler": _config_json(saved.config),
             "fingerprints": json.dumps(dict(saved.fingerprints))}
    written = az.InferenceData(**{g: saved.idata[g] for g in saved.idata.groups()})
    written.add_groups({GROUP: xr.Dataset(variables, attrs=attrs)})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LoadError(f"cannot create the folder {str(path.parent)!r} for the fit: "
                        f"{err}") from None
    try:
        written.to_netcdf(str(path))
    except OSError as err:
        raise LoadError(f"cannot write the fit to {str(path)!r}: {err}") from None
    return path


_JSON_NAMES = {dict: "object", list: "array"}


@dataclass(frozen=True)
class _Stored:
    """The ``lmm_bayes`` group of a saved file, read as untrusted input: each attribute is
    checked for presence and type before use, and every failure is a :class:`LoadError`
    naming the file and what in it is wrong."""

    path: Path
    group: xr.Dataset

    def error(self, message: str) -> LoadError:
        return LoadError(f"{str(self.path)!r}: {message}")

    def text(self, attrs: Mapping, name: str, what: str | None = None) -> str:
        """The text attribute ``name`` of ``attrs``."""
        value = attrs.get(name)
        if not isinstance(value, str):
            found = "nothing" if value is None else type(value).__name__
            raise self.error(f"{what or f'attribute {name!r}'} must be text, found {found}")
        return value

    def json(self, text: str, what: str, kind: type = dict):
        """``text`` parsed as JSON, which must give a ``kind``."""
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as err:
            raise self.error(f"{what} is not valid JSON: {err}") from None
        if not isinstance(value, kind):
            raise self.error(f"{what} must hold a JSON {_JSON_NAMES[kind]}, "
                             f"not {type(value).__name__}")
        return value

    def json_attribute(self, name: str) -> dict:
        """The attribute ``name`` of the group: a JSON object."""
        return self.json(self.text(self.group.attrs, name), f"attribute {name!r}")

    def reading(self, failure: str):
        """Report the failure of a constructor fed from the file (:func:`_failing_as`)."""
        return _failing_as(self.path, failure)


@contextmanager
def _failing_as(path: Path, failure: str) -> Iterator[None]:
    """Report the failure of a constructor fed from the file at ``path`` (a spec, the
    sampler settings, the model) as a LoadError saying ``failure`` and why."""
    try:
        yield
    except LoadError:
        raise
    except (LMMError, KeyError, TypeError, ValueError) as err:
        raise LoadError(f"{str(path)!r}: {failure}: {type(err).__name__}: {err}") from None


def rebuilding(saved: SavedFit):
    """Context in which the model is rebuilt from ``saved``: its errors become a LoadError
    ("cannot rebuild the saved model") naming the file."""
    return _failing_as(saved.path, "cannot rebuild the saved model")


def _is_flag(value) -> bool:
    """Whether an attribute read back is the flag 0 or 1 (netCDF keeps it as an integer)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
        and int(value) in (0, 1)


def _is_text(value, text: str) -> bool:
    return isinstance(value, str) and value == text


def _saved_file(path: Path) -> Path:
    """``path``, or the ``fit.nc`` in it when it is a folder (``lmm-bayes fit``'s output)."""
    if not path.is_dir():
        return path
    if not (path / FILE).is_file():
        raise LoadError(f"no {FILE} in {str(path)!r}")
    return path / FILE


def _read(path: Path) -> az.InferenceData:
    import arviz as az

    if not path.is_file():
        raise LoadError(f"no saved fit at {str(path)!r} (file does not exist)")
    try:
        with az.rc_context({"data.load": "eager"}):
            idata = az.from_netcdf(str(path))
    except Exception as err:  # noqa: BLE001 - any failure to read the file means the same
        raise LoadError(f"{str(path)!r} is not a readable netCDF file: "
                        f"{type(err).__name__}: {err}") from None
    if GROUP not in idata.groups() or not _is_text(idata[GROUP].attrs.get("format"), FORMAT):
        raise LoadError(f"{str(path)!r} is not a fit saved by lmm_bayes (no {GROUP!r} group "
                        f"of format {FORMAT!r}); write one with fit.save(path)")
    return idata


def _check_version(stored: _Stored) -> int:
    version = stored.group.attrs.get("format_version")
    if isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer)):
        raise stored.error(f"attribute 'format_version' must be a whole number, found "
                           f"{version!r}")
    if version not in READ_VERSIONS:
        raise stored.error(f"saved in format version {version}; this lmm_bayes reads versions "
                           f"{', '.join(map(str, READ_VERSIONS))}")
    return int(version)


def paired(posterior: xr.Dataset) -> xr.Dataset:
    """``posterior`` with each correlation matrix (``corr_<g>`` over ``<g>__term`` and
    ``<g>__term_``, ``rescor`` over ``outcome`` and ``outcome_``, as format version 1 saved
    them) replaced by its pairs over the pair dimension of :mod:`lmm_bayes.names`; the
    rows' dimension stays, that of ``sd_<g>`` and ``b_<g>`` (of ``sigma``)."""
    for name, pair_dim in names.pair_variables(posterior.data_vars).items():
        rows, columns = (d for d in posterior[name].dims if d not in ("chain", "draw"))
        matrices = posterior[name].transpose("chain", "draw", rows, columns).values
        labels = [str(label) for label in posterior[rows].values]
        posterior = posterior.drop_vars([name, columns]).assign(
            {name: (("chain", "draw", pair_dim), pair_values(matrices))})
        posterior = posterior.assign_coords({pair_dim: names.pair_labels(labels)})
    return posterior


def _spec(stored: _Stored) -> ModelSpec | MultivariateSpec:
    """The saved spec: multivariate when it has ``formulas``, else of one formula."""
    with stored.reading("cannot read attribute 'spec'"):
        options = _decode(stored.json_attribute("spec"))
        if not isinstance(options, dict):  # a tagged formula or prior rather than options
            raise TypeError(f"it holds a {type(options).__name__}, not the model's options")
        if "formulas" in options:
            return MultivariateSpec.from_formulas(options.pop("formulas"), **options)
        return ModelSpec.from_formula(options.pop("formula", None), **options)


def _fingerprints(stored: _Stored) -> dict[str, str]:
    prints = stored.json_attribute("fingerprints")
    if not all(isinstance(v, str) for v in prints.values()):
        raise stored.error("attribute 'fingerprints' must map names to text")
    return prints


def check_rebuilt(saved: SavedFit, prints: Mapping[str, str], needed: Sequence[str],
                  labels: Mapping[str, Sequence[str]]) -> None:
    """Check the model rebuilt from ``saved`` against it.

    Parameters
    ----------
    saved : SavedFit
    prints : mapping of str to str
        :func:`fingerprints` of the rebuilt model: each must equal the saved one.
    needed : sequence of str
        Posterior variables the model has (``beta``, ``sd_<g>``, ``b_<g>``...).
    labels : mapping of str to sequence of str
        Coordinates of the posterior and the model's terms or levels they must equal.

    Raises
    ------
    LoadError
        Naming the fingerprints that differ, or the variables or coordinates of the
        posterior that do not match the model.
    """
    def error(message: str) -> LoadError:
        return LoadError(f"{str(saved.path)!r}: {message}")

    differ = [k for k, v in prints.items() if saved.fingerprints.get(k) != v]
    if differ:
        raise error(f"the saved data do not rebuild the saved model ({', '.join(differ)} "
                    "differ)")
    idata = saved.idata
    if "posterior" not in idata.groups() or not {"chain", "draw"} <= set(idata.posterior.dims):
        raise error("no posterior with 'chain' and 'draw' dimensions")
    post = idata.posterior
    missing = [name for name in needed if name not in post.data_vars]
    differ = [name for name, values in labels.items()
              if name in post.coords and post.coords[name].values.tolist() != list(values)]
    problems = ([f"it lacks the variables {missing}"] if missing else []) + (
        [f"its coords {differ} differ from the model's terms or levels"] if differ else [])
    if problems:
        raise error(f"the posterior does not match the model: {'; '.join(problems)}")


def read(path: str | Path) -> SavedFit:
    """Read a fit written by :func:`save`, from its file or a folder holding it as
    :data:`FILE`; no model is rebuilt (see :func:`lmm_bayes.load`).

    Raises
    ------
    LoadError
        The file is missing, is not a readable netCDF file, was not written by ``save``, or
        has an attribute or data variable that is missing or of the wrong type (naming it).
    """
    import arviz as az

    path = _saved_file(Path(path))
    idata = _read(path)
    stored = _Stored(path, idata[GROUP])
    version = _check_version(stored)
    spec = _spec(stored)
    with stored.reading("cannot read attribute 'sampler'"):
        config = SamplerConfig(**stored.json_attribute("sampler"))
    data = _data_frame(stored)
    groups = {g: idata[g] for g in idata.groups() if g != GROUP}
    if version == 1 and "posterior" in groups:
        with stored.reading("cannot read its correlation matrices"):
            groups["posterior"] = paired(groups["posterior"])
    return SavedFit(spec, data, config, az.InferenceData(**groups), _fingerprints(stored), path)
