"""Save a fit to one file and load it back, without sampling again.

A saved fit is one netCDF-4 file written by ArviZ (``fit.save("sleep.nc")``): the groups of
``fit.idata`` (``posterior`` with its coords, ``sample_stats``...) as ArviZ writes them, so
``arviz.from_netcdf`` reads the posterior of a saved fit as it is, plus one group
``lmm_bayes`` that holds

* the data the model was fitted to, one variable per column (numbers and logicals as they
  were; dates and durations as 64-bit integers of their unit, zoned dates in UTC; text and
  categorical columns as integer codes into their levels, stored in order, with ``-1`` for
  a missing value), so that the design is rebuilt exactly: same level order, reference
  levels, codings, ``center``/``scale`` constants and date origins;
* in its attributes, as JSON: the model spec (formula and every option, prior overrides
  included), the sampler settings, the prior of every parameter and fingerprints of the
  design (response, fixed-effect matrix, level index and ``Z`` of each grouping factor).

:func:`load` rebuilds the :class:`~lmm_bayes.LMM` from the spec and the data, checks that the
rebuilt design and priors match the fingerprints, and returns a :class:`~lmm_bayes.Fit` on the
saved posterior: ``summary()``, ``random_effects()``, ``icc()`` and the rest give the same
numbers as before saving. Anything that prevents this raises :class:`~lmm_bayes.LoadError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .api import LMM, Fit
from .design import Design
from .errors import LMMError, LoadError
from .formula import Formula, parse_formula
from .priors import Prior
from .sampling import SamplerConfig
from .spec import ModelSpec
from .variables import level_label

__all__ = ["load", "save"]

GROUP = "lmm_bayes"
FORMAT = "lmm_bayes fit"
FORMAT_VERSION = 1


# ----------------------------------------------------------------------------- spec as JSON


def _encode(value):
    """A spec value as JSON: formulas and priors tagged, tuples as lists."""
    if isinstance(value, Formula):
        return {"__formula__": value.text}
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
    """Inverse of :func:`_encode` (lists come back as tuples)."""
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    if "__formula__" in value:
        return parse_formula(value["__formula__"])
    if "__prior__" in value:
        params = dict(value)
        return Prior(params.pop("__prior__"), **params)
    return {k: _decode(v) for k, v in value.items()}


def _spec_json(spec: ModelSpec) -> str:
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


def _levels(series: pd.Series, known: tuple[str, ...]) -> list[str]:
    """The column's labels: the design's levels (reference first) and then any others (rows
    dropped for missing values) in order of appearance."""
    labels = [level_label(v) for v in series.dropna().unique()]
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
    return xr.Variable("row", codes, {"column": name, "levels": json.dumps(categories)})


def _data_frame(dataset: xr.Dataset) -> pd.DataFrame:
    columns = {}
    for key in sorted(dataset.data_vars, key=lambda k: int(k[3:])):
        var = dataset[key]
        values = var.values
        if "levels" in var.attrs:
            values = pd.Categorical.from_codes(values, json.loads(var.attrs["levels"]))
        elif "temporal" in var.attrs:
            values = values.view(var.attrs["temporal"])
        columns[var.attrs["column"]] = values
    return pd.DataFrame(columns)


# ----------------------------------------------------------------------------- fingerprints


def _digest(*arrays) -> str:
    sha = hashlib.sha256()
    for array in arrays:
        sha.update(np.ascontiguousarray(array).tobytes())
    return sha.hexdigest()


def _fingerprints(model: LMM) -> dict[str, str]:
    """What the rebuilt model must reproduce: design arrays, level labels and priors."""
    design: Design = model.design
    prints = {"response": _digest(design.y), "fixed effects": _digest(design.X),
              "fixed-effect names": json.dumps(design.fixed_names),
              "priors": model.priors.table().to_json(orient="values")}
    for group in design.groups:
        prints[f"grouping factor {group.name}"] = json.dumps(
            [group.levels, group.terms, _digest(group.index.astype(np.int64), group.Z)])
    return prints


# ----------------------------------------------------------------------------- save / load


def save(fit: Fit, path: str | Path) -> Path:
    """Write ``fit`` to one netCDF file at ``path`` (see the module notes); returns the path.

    Examples
    --------
    >>> fit.save("sleepstudy_fit.nc")  # doctest: +SKIP
    >>> again = lb.load("sleepstudy_fit.nc")  # doctest: +SKIP
    """
    path = Path(path)
    model = fit.model
    variables = {f"col{k}": _data_variable(model.data[name].rename(name),
                                           model.design.schema.levels)
                 for k, name in enumerate(model.data.columns)}
    attrs = {"format": FORMAT, "format_version": FORMAT_VERSION,
             "spec": _spec_json(model.spec), "sampler": _config_json(fit.config),
             "fingerprints": json.dumps(_fingerprints(model))}
    saved = az.InferenceData(**{g: fit.idata[g] for g in fit.idata.groups()})
    saved.add_groups({GROUP: xr.Dataset(variables, attrs=attrs)})
    saved.to_netcdf(str(path))
    return path


def _read(path: Path) -> az.InferenceData:
    if not path.is_file():
        raise LoadError(f"no saved fit at {str(path)!r} (file does not exist)")
    try:
        with az.rc_context({"data.load": "eager"}):
            idata = az.from_netcdf(str(path))
    except Exception as err:  # noqa: BLE001 - any failure to read the file means the same
        raise LoadError(f"{str(path)!r} is not a readable netCDF file: "
                        f"{type(err).__name__}: {err}") from None
    if GROUP not in idata.groups() or idata[GROUP].attrs.get("format") != FORMAT:
        raise LoadError(f"{str(path)!r} is not a fit saved by lmm_bayes (no {GROUP!r} group); "
                        "write one with fit.save(path)")
    version = int(idata[GROUP].attrs.get("format_version", 0))
    if version != FORMAT_VERSION:
        raise LoadError(f"{str(path)!r} was saved in format version {version}; this lmm_bayes "
                        f"reads version {FORMAT_VERSION}")
    return idata


def load(path: str | Path) -> Fit:
    """Load a fit written by :meth:`lmm_bayes.Fit.save`; no sampling.

    The model is rebuilt from the saved spec and data and checked against the saved design
    and prior fingerprints, so every summary of the loaded fit equals the original's.

    Raises
    ------
    LoadError
        The file is missing, is not a readable netCDF file, was not written by ``Fit.save``,
        or its data no longer rebuild the saved design.
    """
    path = Path(path)
    idata = _read(path)
    stored = idata[GROUP]
    try:
        spec = ModelSpec(**_decode(json.loads(stored.attrs["spec"])))
        config = SamplerConfig(**json.loads(stored.attrs["sampler"]))
        model = LMM.from_spec(spec, _data_frame(stored))
    except (LMMError, KeyError, TypeError, ValueError) as err:
        raise LoadError(f"{str(path)!r}: cannot rebuild the saved model: "
                        f"{type(err).__name__}: {err}") from None
    saved_prints = json.loads(stored.attrs["fingerprints"])
    differ = [k for k, v in _fingerprints(model).items() if saved_prints.get(k) != v]
    if differ:
        raise LoadError(f"{str(path)!r}: the saved data do not rebuild the saved model "
                        f"({', '.join(differ)} differ)")
    groups = {g: idata[g] for g in idata.groups() if g != GROUP}
    return Fit(model, az.InferenceData(**groups), config)
