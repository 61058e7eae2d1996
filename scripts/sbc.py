"""Simulation-based calibration of six models: Gaussian with correlated random slopes,
Bernoulli GLMM with a random intercept, Gaussian with AR(1) residuals and a random intercept,
the mixed model for repeated measures (an unstructured residual covariance), a Gaussian
response left-censored at a detection limit with a random intercept, and a small joint model
of a marker and an event (``lb.JointModel``).

Writes the model's section of docs/sbc.md (chi-square tests of rank uniformity, between
the markers ``<!-- sbc:<model> -->`` and ``<!-- /sbc:<model> -->``), docs/sbc_<model>_ranks.png
(rank histograms with the 99% band of a uniform bin count) and docs/sbc_<model>_ranks.csv
(the raw ranks); Talts et al. (2018).

    python scripts/sbc.py --model gaussian [--replicates 100] [--seed 1]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import lmm_bayes as lb
from lmm_bayes.calibration import rank_uniformity, run_sbc


def template(n_subjects: int = 20, n_visits: int = 5) -> pd.DataFrame:
    """A longitudinal design: visits 0..n_visits-1 per subject; y is a placeholder
    (alternating 0/1, valid for a binary response too)."""
    ids = np.repeat([f"s{k:02d}" for k in range(n_subjects)], n_visits)
    time_ = np.tile(np.arange(n_visits, dtype=float), n_subjects)
    return pd.DataFrame({"id": ids, "time": time_, "y": np.arange(len(ids)) % 2 * 1.0,
                         "censored": "none"})


#: the detection limit of the censored case
LOD = -0.5


def censor_below_lod(data: pd.DataFrame) -> pd.DataFrame:
    """The simulated (latent) response censored at :data:`LOD`: y = max(y*, LOD), coded
    "left" where y* < LOD."""
    below = data["y"] < LOD
    return data.assign(y=data["y"].where(~below, LOD),
                       censored=np.where(below, "left", "none"))


@dataclass(frozen=True)
class Case:
    """One calibrated model: formula, explicit priors, design, options and sampler settings."""

    formula: str
    priors: dict
    n_subjects: int
    n_visits: int
    description: str
    options: dict = field(default_factory=dict)
    draws: int = 400
    tune: int = 400
    n_draws: int = 99
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    generator: str = ("draws the parameters and data from the model's own prior "
                      "(`LMM.prior_predictive`)")

    @property
    def title(self) -> str:
        return self.formula

    def template(self) -> pd.DataFrame:
        return template(self.n_subjects, self.n_visits)


CASES = {
    "gaussian": Case(
        "y ~ time + (time | id)",
        {"(Intercept)": lb.Prior("normal", mu=0, sigma=2), "time": lb.Prior("normal", mu=0, sigma=1),
         "sd": lb.Prior("halfnormal", sigma=1), "eta_id": 2.0,
         "sigma": lb.Prior("halfnormal", sigma=1)},
        20, 5,
        "sampled through the default marginal likelihood (random effects integrated out, drawn "
        "afterwards from their conditional), whose compiled density (lmm_bayes.kernel) nutpie "
        "runs. Priors: (Intercept) ~ Normal(0, 2) (predictors "
        "centred), time ~ Normal(0, 1), each random-effect SD ~ HalfNormal(1), LKJ(η = 2), "
        "σ ~ HalfNormal(1)"),
    "bernoulli": Case(
        "y ~ time + (1 | id)",
        {"(Intercept)": lb.Prior("normal", mu=0, sigma=1),
         "time": lb.Prior("normal", mu=0, sigma=0.5), "sd": lb.Prior("halfnormal", sigma=1)},
        30, 6,
        "`family=\"bernoulli\"` (logit link), sampled with the random effects (non-centred). "
        "Priors on the logit scale: (Intercept) ~ Normal(0, 1) (predictors centred), "
        "time ~ Normal(0, 0.5), random-intercept SD ~ HalfNormal(1)",
        {"family": "bernoulli"}, draws=300, tune=300, n_draws=59),
    "ar1": Case(
        "y ~ time + (1 | id)",
        {"(Intercept)": lb.Prior("normal", mu=0, sigma=2), "time": lb.Prior("normal", mu=0, sigma=1),
         "sd": lb.Prior("halfnormal", sigma=1), "sigma": lb.Prior("halfnormal", sigma=1),
         "phi": lb.Prior("beta", alpha=2, beta=2)},
        20, 6,
        "`residual=\"ar1(time | id)\"` (Corr(ε_t, ε_s) = φ^|t − s| within a subject), sampled "
        "with the random effects. Priors: (Intercept) ~ Normal(0, 2) (predictors centred), "
        "time ~ Normal(0, 1), random-intercept SD ~ HalfNormal(1), σ ~ HalfNormal(1), "
        "(φ + 1)/2 ~ Beta(2, 2)",
        {"residual": "ar1(time | id)"}, draws=300, tune=300, n_draws=59),
    "mmrm": Case(
        "y ~ time",
        {"(Intercept)": lb.Prior("normal", mu=0, sigma=2), "time": lb.Prior("normal", mu=0, sigma=1),
         "sigma_b": lb.Prior("normal", mu=0, sigma=0.5), "residual_corr": lb.Prior("lkj", eta=2)},
        30, 4,
        "`residual=\"us(time | id)\"`: no random effects, an unstructured residual covariance "
        "across the four visits (one log σ per visit, the implied `sigma = \"~ 0 + C(time)\"`, "
        "and an LKJ prior on the correlations), sampled by the plain PyMC model. Priors: "
        "(Intercept) ~ Normal(0, 2) (predictors centred), time ~ Normal(0, 1), each visit's "
        "log σ ~ Normal(0, 0.5), the residual correlation matrix ~ LKJ(η = 2)",
        {"residual": "us(time | id)"}, draws=300, tune=300, n_draws=59),
    "censored": Case(
        "y | cens(censored) ~ time + (1 | id)",
        {"(Intercept)": lb.Prior("normal", mu=0, sigma=1),
         "time": lb.Prior("normal", mu=0, sigma=0.3), "sd": lb.Prior("halfnormal", sigma=1),
         "sigma": lb.Prior("halfnormal", sigma=1)},
        20, 6,
        f"the response left-censored at a detection limit of {LOD} (`y | cens(censored)`: "
        "the prior predictive's latent values below it are set to it and coded \"left\", "
        "scripts/sbc.py's `censor_below_lod`), sampled with the random effects by the graph "
        "engine (Tobit likelihood). Priors: (Intercept) ~ Normal(0, 1) (predictors centred), "
        "time ~ Normal(0, 0.3), random-intercept SD ~ HalfNormal(1), σ ~ HalfNormal(1)",
        draws=300, tune=300, n_draws=59, prepare=censor_below_lod),
}



@dataclass(frozen=True)
class JointCase:
    """A calibrated joint model: marker and survival formulas, explicit priors, the cohort
    of :func:`lmm_bayes.simulate.simulate_joint_cohort` and sampler settings."""

    formula: str
    survival: str
    priors: dict
    n_subjects: int
    n_visits: int
    description: str
    censoring_rate: float = 0.05
    draws: int = 300
    tune: int = 300
    n_draws: int = 59
    generator: str = ("draws the parameters from the priors (numpy, `JointCase.prior_draw`) "
                      "and the cohort from them (`lmm_bayes.simulate.simulate_joint_cohort`)")

    @property
    def title(self) -> str:
        return f"{self.formula}; {self.survival}"

    def prior_draw(self, rng: np.random.Generator) -> dict[str, float]:
        """One draw of the parameters from the case's priors, keyed as
        :data:`lmm_bayes.simulate.JOINT_TRUTH` (the arm's effect on the marker, age and the
        slope association fixed at 0: the model has none)."""
        p = self.priors

        def normal(key):
            return rng.normal(p[key].kwargs["mu"], p[key].kwargs["sigma"])

        def half(key):
            return abs(rng.normal(0.0, p[key].kwargs["sigma"]))

        return {"beta[(Intercept)]": normal("(Intercept)"), "beta[time]": normal("time"),
                "beta[armtreated]": 0.0, "beta[time:armtreated]": 0.0,
                "sd_id[(Intercept)]": half("sd"), "sd_id[time]": half("sd"),
                "corr_id[(Intercept).time]": 2 * rng.beta(p["eta_id"], p["eta_id"]) - 1,
                "sigma": half("sigma"),
                "event_coef[(Intercept)]": normal("event_(Intercept)"),
                "event_coef[armtreated]": normal("event_armtreated"), "event_coef[age]": 0.0,
                "association[value]": normal("association_value"), "association[slope]": 0.0,
                "weibull_shape": float(np.exp(normal("log_weibull_shape")))}


#: the joint case's parameters ranked: the drawn ones and the first individual's effects
JOINT_RANKED = ["beta[(Intercept)]", "beta[time]", "sd_id[(Intercept)]", "sd_id[time]",
                "corr_id[(Intercept).time]", "sigma", "event_coef[(Intercept)]",
                "event_coef[armtreated]", "association[value]", "weibull_shape"]


def _draws(posterior, key: str) -> np.ndarray:
    name, _, label = key.partition("[")
    values = posterior[name]
    if label:
        dims = [d for d in values.dims if d not in ("chain", "draw")]
        labels = label.removesuffix("]").split(", ")
        values = values.sel(dict(zip(dims, labels)))
    return values.values.ravel()


def run_joint_sbc(case: JointCase, *, n_replicates: int, random_seed: int = 0):
    """SBC of a joint model: for replicate k, θ̃_k from the priors, a cohort from θ̃_k,
    the fit, and the rank of each θ̃_k among L thinned draws (Talts et al. 2018), as
    :func:`lmm_bayes.calibration.run_sbc` does for an LMM."""
    import warnings

    from lmm_bayes.calibration import SBCResult, _thin
    from lmm_bayes.simulate import simulate_joint_cohort

    rng = np.random.default_rng(random_seed)
    rows, divergences = [], []
    for k in range(n_replicates):
        truth = case.prior_draw(rng)
        long, event, simulated = simulate_joint_cohort(
            case.n_subjects, visits=case.n_visits, censoring_rate=case.censoring_rate,
            truth=truth, random_seed=random_seed + 1 + k)
        truth = {**truth, "b_id[S0001, (Intercept)]": simulated["random_effects"][0, 0],
                 "b_id[S0001, time]": simulated["random_effects"][0, 1]}
        model = lb.JointModel(case.formula, case.survival, long, event, id="id", time="time",
                              priors=case.priors)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lb.SamplingWarning)  # short fits; ranks judge them
            warnings.simplefilter("ignore", lb.SingularFitWarning)
            fit = model.fit(draws=case.draws, tune=case.tune, chains=2,
                            random_seed=random_seed + 1 + k)
        post = fit.idata.posterior
        rows.append({key: int((_thin(_draws(post, key), case.n_draws) < value).sum())
                     for key, value in truth.items() if key in JOINT_RANKED or key.startswith("b_")})
        divergences.append(int(fit.idata.sample_stats["diverging"].sum()))
        print(f"replicate {k + 1}/{n_replicates}: {int(event.event.sum())} events",
              file=sys.stderr, flush=True)
    return SBCResult(pd.DataFrame(rows), case.n_draws, np.asarray(divergences))


JOINT_CASES = {
    "joint": JointCase(
        "sbp ~ time + (1 + time | id)", "Surv(years, event) ~ arm",
        {"(Intercept)": lb.Prior("normal", mu=0, sigma=1),
         "time": lb.Prior("normal", mu=0, sigma=0.3), "sd": lb.Prior("halfnormal", sigma=0.5),
         "eta_id": 2.0, "sigma": lb.Prior("halfnormal", sigma=0.5),
         "event_(Intercept)": lb.Prior("normal", mu=-2, sigma=0.5),
         "event_armtreated": lb.Prior("normal", mu=0, sigma=0.5),
         "association_value": lb.Prior("normal", mu=0, sigma=0.5),
         "log_weibull_shape": lb.Prior("normal", mu=0, sigma=0.25)},
        60, 6,
        "`lb.JointModel(\"sbp ~ time + (1 + time | id)\", \"Surv(years, event) ~ arm\", "
        "association=\"value\")`: a Weibull hazard on the current value of the marker, "
        "yearly visits (years 0–5) ending at the event, administrative censoring at "
        "6 years and loss to follow-up at rate 0.05 a year; sampled by the PyMC joint model "
        "(every random effect by NUTS). Priors: (Intercept) ~ Normal(0, 1), time ~ "
        "Normal(0, 0.3), each random-effect SD ~ HalfNormal(0.5), LKJ(η = 2), σ ~ "
        "HalfNormal(0.5), the Weibull log scale ~ Normal(−2, 0.5), arm ~ Normal(0, 0.5), "
        "the association ~ Normal(0, 0.5), log κ ~ Normal(0, 0.25). The model puts the "
        "intercepts' priors on centred predictors (the marker's time, the hazard's arm and "
        "marker), whose centres vary with each replicate's dropout; the cohort draws them "
        "uncentred, so the intercepts' ranks are approximate"),
}

# the Gaussian case under its historical names (tests/validation/test_sbc.py)
FORMULA, PRIORS = CASES["gaussian"].formula, CASES["gaussian"].priors


def plot(result, path: Path, n_bins: int, title: str) -> None:
    """Rank histograms with the central 99% interval of a Binomial(N, 1/B) bin count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    names = list(result.ranks.columns)
    columns = (len(names) + 1) // 2
    fig, axes = plt.subplots(2, columns, figsize=(3 * columns, 5), squeeze=False)
    n = len(result.ranks)
    low, high = stats.binom.ppf([0.005, 0.995], n, 1 / n_bins)
    width = (result.n_draws + 1) // n_bins
    for ax, name in zip(axes.ravel(), names):
        counts = np.bincount(result.ranks[name] // width, minlength=n_bins)
        ax.axhspan(low, high, color="0.85")
        ax.bar(np.arange(n_bins), counts, width=0.9, color="C0")
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"{title}: SBC ranks, {n} replicates, L = {result.n_draws} "
                 "(band: 99% of uniform)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def section(name: str, case: Case | JointCase, result, tests: pd.DataFrame, args, minutes: float) -> str:
    """The markdown section of one model's run."""
    n = len(result.ranks)
    level = next((c[len("b_id["):].split(",")[0] for c in result.ranks.columns
                  if c.startswith("b_id[")), "s00")
    rows = "\n".join(f"| `{p}` | {r.chi2:.1f} | {r.df} | {r.p_value:.3f} | "
                     f"{' '.join(map(str, r.counts))} |" for p, r in tests.iterrows())
    return f"""<!-- sbc:{name} -->
## `{case.title}` ({name})

Generated by `scripts/sbc.py --model {name} --replicates {n} --seed {args.seed}
--bins {args.bins}` (do not edit by hand; {minutes:.0f} min on a shared 2-core machine).

{case.n_subjects} subjects × {case.n_visits} visits (time 0–{case.n_visits - 1}), {case.description}.
Each replicate {case.generator}, fits nutpie 2 chains × {case.draws} draws after {case.tune}
tuning steps, and ranks the truth among L = {result.n_draws} evenly thinned draws.
`b_id[{level}, ·]` are the first subject's random effects. Divergent transitions:
{int(result.divergences.sum())} in total, in {int((result.divergences > 0).sum())} of {n} fits.

Chi-square test of uniform ranks ({args.bins} bins; expected {n / args.bins:g} per bin):

| parameter | χ² | df | p | bin counts |
|---|---|---|---|---|
{rows}

Smallest p-value {tests.p_value.min():.3f} over {len(tests)} parameters (the smallest of
{len(tests)} uniform p-values falls below 0.01 with probability about
{1 - 0.99 ** len(tests):.2f}). Rank histograms: `sbc_{name}_ranks.png`; raw ranks:
`sbc_{name}_ranks.csv`.

![SBC rank histograms, {name}](sbc_{name}_ranks.png)
<!-- /sbc:{name} -->"""


def write_section(path: Path, name: str, text: str) -> None:
    """Replace the model's section of ``path`` (or append it)."""
    old = path.read_text() if path.exists() else "# Simulation-based calibration\n"
    pattern = re.compile(rf"<!-- sbc:{name} -->.*?<!-- /sbc:{name} -->", re.DOTALL)
    new = (pattern.sub(lambda _: text, old) if pattern.search(old)
           else old.rstrip("\n") + "\n\n" + text)
    path.write_text(new.rstrip("\n") + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(CASES | JOINT_CASES), default="gaussian")
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args(argv)
    case = (CASES | JOINT_CASES)[args.model]
    start = time.perf_counter()
    if args.model in JOINT_CASES:
        result = run_joint_sbc(case, n_replicates=args.replicates, random_seed=args.seed)
    else:
        result = run_sbc(case.formula, case.template(), case.priors,
                         n_replicates=args.replicates, n_draws=case.n_draws, draws=case.draws,
                         tune=case.tune, random_seed=args.seed, prepare=case.prepare,
                         **case.options)
    minutes = (time.perf_counter() - start) / 60
    tests = rank_uniformity(result, n_bins=args.bins)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(result, args.out / f"sbc_{args.model}_ranks.png", args.bins, args.model)
    result.ranks.assign(divergences=result.divergences).to_csv(
        args.out / f"sbc_{args.model}_ranks.csv", index=False)
    text = section(args.model, case, result, tests, args, minutes)
    write_section(args.out / "sbc.md", args.model, text)
    print(text)


if __name__ == "__main__":
    main()
