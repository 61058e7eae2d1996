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

from . import io
from .api import LMM, Fit
from .design import Design
from .multivariate import MultivariateDesign
from .multivariate_api import MultivariateFit, MultivariateLMM
from .spec import ModelSpec, MultivariateSpec

__all__ = ["load", "model_from_spec"]

_MODELS = {ModelSpec: (LMM, Fit), MultivariateSpec: (MultivariateLMM, MultivariateFit)}


def model_from_spec(spec: ModelSpec | MultivariateSpec,
                    data: pd.DataFrame) -> LMM | MultivariateLMM:
    """The model of ``spec`` on ``data``: an LMM, or a MultivariateLMM for a multivariate
    spec."""
    return _MODELS[type(spec)][0].from_spec(spec, data)


def _layout(design: Design) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """The posterior variables of a model with one outcome, and its labelled coords."""
    needed = (["beta"] if design.fixed_names else []) + [
        f"{kind}_{g.name}" for g in design.groups for kind in ("sd", "b")]
    labels = {"fixed": design.fixed_names}
    for g in design.groups:
        labels.update({f"{g.name}__level": g.levels, f"{g.name}__term": g.terms})
    return needed, labels


def _multivariate_layout(design: MultivariateDesign
                         ) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """The posterior variables of a multivariate model, and its labelled coords."""
    needed = ["beta", "sigma"] + [f"{kind}_{b.name}" for b in design.blocks
                                  for kind in ("sd", "b")]
    labels = {"fixed": design.fixed_names, "outcome": design.responses}
    for b in design.blocks:
        labels.update({f"{b.name}__level": b.levels, f"{b.name}__term": b.terms})
    return needed, labels


_LAYOUTS = {LMM: _layout, MultivariateLMM: _multivariate_layout}


def load(path: str | Path) -> Fit | MultivariateFit:
    """Load a fit written by ``fit.save(path)``; no sampling.

    The model is rebuilt from the saved spec and data and checked against the saved design
    and prior fingerprints and the posterior's variables and labels, so every summary of the
    loaded fit equals the original's. A multivariate model's file gives a
    :class:`~lmm_bayes.MultivariateFit`.

    Raises
    ------
    LoadError
        The file is missing, is not a readable netCDF file, was not written by ``save``,
        has an attribute or data variable that is missing or of the wrong type (naming it),
        or its data no longer rebuild the saved design.
    """
    saved = io.read(path)
    with io.rebuilding(saved):
        model = model_from_spec(saved.spec, saved.data)
    io.check_rebuilt(saved, model.fingerprints(), *_LAYOUTS[type(model)](model.design))
    return _MODELS[type(saved.spec)][1](model, saved.idata, saved.config)
