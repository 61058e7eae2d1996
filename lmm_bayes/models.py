"""Which model a spec makes, and a saved fit loaded back as its model's fit.

The top layer over both model classes: :func:`model_from_spec` builds an
:class:`~lmm_bayes.LMM` from a :class:`~lmm_bayes.spec.ModelSpec` and a
:class:`~lmm_bayes.MultivariateLMM` from a :class:`~lmm_bayes.spec.MultivariateSpec` (the
command line runs either); :func:`load` reads a saved fit (:mod:`lmm_bayes.io`), rebuilds
its model and checks it against what was saved.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import io, names
from .api import LMM, Fit
from .errors import SpecError
from .jm.api import JointModel
from .jm.spec import JointSpec
from .multivariate_api import MultivariateFit, MultivariateLMM
from .spec import ModelSpec, MultivariateSpec

__all__ = ["load", "model_from_spec"]

_MODELS = {ModelSpec: (LMM, Fit), MultivariateSpec: (MultivariateLMM, MultivariateFit)}


def model_from_spec(spec: ModelSpec | MultivariateSpec | JointSpec, data: pd.DataFrame,
                    event_data: pd.DataFrame | None = None
                    ) -> LMM | MultivariateLMM | JointModel:
    """The model of ``spec`` on ``data``: an LMM, a MultivariateLMM for a multivariate
    spec, or a JointModel of a joint spec with its ``event_data``."""
    if isinstance(spec, JointSpec):
        if event_data is None:
            raise SpecError("a joint model needs its event data (one row per individual)")
        return JointModel.from_spec(spec, data, event_data)
    return _MODELS[type(spec)][0].from_spec(spec, data)


def _layout(fixed_names, factors, required=(), labels=None
            ) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """The posterior variables a model must have (``required`` besides ``beta`` and each
    factor's ``sd_`` and ``b_``), and its labelled coords (``labels`` besides the fixed
    effects' and each factor's)."""
    needed = ([names.BETA] if fixed_names else []) + list(required) + [
        kind(f.name) for f in factors for kind in (names.sd, names.effects)]
    coords = {names.FIXED: fixed_names, **(labels or {})}
    for f in factors:
        coords.update(names.coords(f.name, f.levels, f.terms))
    return needed, coords


_LAYOUTS = {
    LMM: lambda design: _layout(design.fixed_names, design.groups),
    MultivariateLMM: lambda design: _layout(design.fixed_names, design.blocks, [names.SIGMA],
                                            {names.OUTCOME: design.responses}),
}


def load(path: str | Path) -> Fit | MultivariateFit:
    """Load a fit written by ``fit.save(path)``, or the ``fit.nc`` in the folder ``path``
    (the output folder of ``lmm-bayes fit``); no sampling.

    The model is rebuilt from the saved spec and data and checked against the saved design
    and prior fingerprints and the posterior's variables and labels, so every summary of the
    loaded fit equals the original's. A multivariate model's file gives a
    :class:`~lmm_bayes.MultivariateFit`.

    Raises
    ------
    LoadError
        The file (or the folder's ``fit.nc``) is missing, is not a readable netCDF file,
        was not written by ``save``, has an attribute or data variable that is missing or
        of the wrong type (naming it), or its data no longer rebuild the saved design.
    """
    saved = io.read(path)
    with io.rebuilding(saved):
        model = model_from_spec(saved.spec, saved.data)
    io.check_rebuilt(saved, model.fingerprints(), *_LAYOUTS[type(model)](model.design))
    return _MODELS[type(saved.spec)][1](model, saved.idata, saved.config)
