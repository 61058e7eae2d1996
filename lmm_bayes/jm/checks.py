"""Each individual's log-likelihood of a joint model per posterior draw, for PSIS-LOO by
individual (:meth:`lmm_bayes.JointFit.loo`): given the individual's random effects b_i,

.. math::

    \\log p(y_i, T_i, \\delta_i \\mid b_i, \\theta) = \\sum_j \\log N(y_{ij}; m_i(t_{ij}), \\sigma^2)
    + \\delta_i \\log h_i(T_i) - \\int_0^{T_i} h_i(u)\\, du,

the marker's rows (:func:`lmm_bayes.ppc.pointwise_loglik`) and the survival part
(:func:`lmm_bayes.jm.hazard.survival_loglik` by the model's quadrature) summed per
individual. Conditional on b_i, LOO predicts a left-out individual's data given their own
effects, so Pareto k̂ is often high (as for LOO by observation of an LMM).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .. import names
from ..ppc import pointwise_loglik
from .hazard import survival_loglik
from .predict import CHUNK, log_hazard_draws, posterior_draws

if TYPE_CHECKING:
    from .api import JointModel

__all__ = ["individual_loglik"]


def _effects(posterior: xr.Dataset, group: str) -> np.ndarray:
    b = posterior[names.effects(group)].transpose("chain", "draw", names.level_dim(group),
                                                  names.term_dim(group)).values
    return b.reshape(-1, *b.shape[2:])


def individual_loglik(posterior: xr.Dataset, model: JointModel) -> xr.DataArray:
    """log p(y_i, T_i, δ_i | b_i, θ) per draw and individual (dims chain, draw,
    ``individual``, labelled by the levels of ``id``)."""
    design, joint, spec = model.design, model.joint, model.spec
    group = design.groups[0]
    rows = pointwise_loglik(posterior, design, model.lmm.family)
    rows = rows.transpose("chain", "draw", names.OBS).values
    chains, n_draws = rows.shape[:2]
    marker = np.zeros((chains * n_draws, joint.n))
    for level in range(joint.n):
        marker[:, level] = rows.reshape(chains * n_draws, -1)[:, group.index == level].sum(axis=1)
    draws, b = posterior_draws(posterior, group.name), _effects(posterior, group.name)
    interval = np.searchsorted(np.asarray(joint.cuts), joint.event_time, side="right")
    survival = []
    for start in range(0, draws.n, CHUNK):
        part, chunk = draws.take(slice(start, start + CHUNK)), slice(start, start + CHUNK)
        w_gamma = part.gamma @ joint.W.T                                        # (S, n)
        at_nodes = log_hazard_draws(spec, joint.at_nodes, w_gamma, part, b[chunk],
                                    joint.nodes.times, joint.nodes.interval)
        at_event = log_hazard_draws(spec, joint.at_event, w_gamma, part, b[chunk],
                                    joint.event_time[:, None], interval[:, None])[..., 0]
        survival.append(survival_loglik(np, joint.event, at_event, at_nodes,
                                        joint.nodes.weights))
    total = (marker + np.concatenate(survival)).reshape(chains, n_draws, joint.n)
    return xr.DataArray(total, dims=("chain", "draw", names.INDIVIDUAL),
                        coords={names.INDIVIDUAL: list(joint.individuals)})
