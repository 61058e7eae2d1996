"""Make docs/glmm_population_averaged.png: subject-specific vs population-averaged curves.

Run from the repository root: ``python docs/make_glmm_figure.py``. A logistic model with a
random intercept, logit P(y = 1 | x, b) = β0 + β1 x + b with β0 = 0, β1 = 1.5 and
b ~ N(0, 2²), evaluated at those values (a one-draw "posterior", no fitting): thin lines
are 40 simulated subjects, the thick line the subject with b = 0 (the fixed effects'
curve), the dashed line the population-averaged probability, the mean over subjects,
computed by :func:`lmm_bayes.summaries.population_means`.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from scipy import special

from lmm_bayes.families import get_family
from lmm_bayes.summaries import marginal_effects, population_means

BETA, TAU = np.array([0.0, 1.5]), 2.0
OUT = Path(__file__).with_name("glmm_population_averaged.png")


def one_draw_posterior() -> xr.Dataset:
    return xr.Dataset(
        {"beta": (("chain", "draw", "fixed"), np.tile(BETA, (1, 2, 1))),
         "sd_subject": (("chain", "draw", "subject__term"), np.full((1, 2, 1), TAU))},
        coords={"fixed": ["(Intercept)", "x"], "subject__term": ["(Intercept)"]})


def main(out: Path = OUT) -> None:
    x = np.linspace(-4, 4, 201)
    X = np.column_stack([np.ones_like(x), x])
    family = get_family("bernoulli")
    post = one_draw_posterior()
    averaged = population_means(post, X, {"subject": X[:, :1]}, family, samples=20_000)[0, 0]
    pa = marginal_effects(post, X, {"subject": X[:, :1]}, family, samples=20_000)
    slope_pa = pa.set_index(["effect", "term"]).loc[("population_averaged", "x"), "estimate"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for b in np.random.default_rng(1).normal(0, TAU, 40):
        ax.plot(x, special.expit(X @ BETA + b), color="0.8", lw=0.8)
    ax.plot(x, special.expit(X @ BETA), color="C0", lw=2.5,
            label=f"subject-specific (b = 0): slope β₁ = {BETA[1]:.2f}")
    ax.plot(x, averaged, color="C3", lw=2.5, ls="--",
            label=f"population-averaged: slope ≈ {slope_pa:.2f}")
    ax.set(xlabel="x", ylabel="P(y = 1)",
           title=f"Logistic random intercept, SD {TAU:g}: grey = 40 subjects")
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
