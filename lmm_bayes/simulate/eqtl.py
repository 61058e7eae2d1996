"""A simulated dynamic eQTL study: expression of many genes measured repeatedly in the same
subjects, some genes with a genotype × time effect, for :func:`lmm_bayes.fit_many`.

For gene k, subject i with genotype g_i ∈ {0, 1, 2} (minor-allele count) and time t,

.. math::

    y_{kit} = \\mu_k + \\beta_k t + \\gamma_k g_i + \\delta_k g_i t + b_{0ki} + b_{1ki} t
    + \\varepsilon_{kit},

with (b₀, b₁) ~ N(0, diag(τ₀², τ₁²)) and ε ~ N(0, σ_k²); δ_k ≠ 0 for the first
``n_effects`` genes (the dynamic eQTLs), 0 for the rest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["EQTL_FORMULA", "simulate_eqtl"]

EQTL_FORMULA = "expression ~ genotype * time + (1 + time | subject)"


def simulate_eqtl(n_genes: int = 20, n_subjects: int = 30, times: int = 5, *,
                  n_effects: int = 5, effect: float = 0.4, seed: int = 1) -> pd.DataFrame:
    """Long data: ``gene`` ("G01"...), ``subject``, ``genotype`` (0/1/2), ``time``,
    ``expression``; ``attrs["effects"]`` maps each gene to its true δ_k (the
    ``genotype:time`` coefficient) and ``attrs["formula"]`` is :data:`EQTL_FORMULA`."""
    rng = np.random.default_rng(seed)
    genotype = rng.binomial(2, 0.4, n_subjects).astype(float)
    subject = np.repeat(np.arange(n_subjects), times)
    time = np.tile(np.arange(times, dtype=float), n_subjects)
    frames, effects = [], {}
    width = len(str(n_genes))
    for k in range(n_genes):
        name = f"G{k + 1:0{width}d}"
        delta = effect if k < n_effects else 0.0
        level, sigma = rng.normal(8, 2), rng.uniform(0.3, 0.6)
        b = rng.normal(0, [0.8, 0.2], size=(n_subjects, 2))
        g = genotype[subject]
        y = (level + 0.1 * time + 0.3 * g + delta * g * time
             + b[subject, 0] + b[subject, 1] * time + rng.normal(0, sigma, len(time)))
        frames.append(pd.DataFrame({"gene": name, "subject": [f"S{i + 1:02d}" for i in subject],
                                    "genotype": g, "time": time, "expression": y}))
        effects[name] = delta
    data = pd.concat(frames, ignore_index=True)
    data.attrs.update(effects=effects, formula=EQTL_FORMULA)
    return data
