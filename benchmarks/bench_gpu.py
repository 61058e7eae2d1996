"""The marginal model of a large longitudinal trial on a GPU (numpyro) and on the CPU (nutpie).

``y ~ visit * arm + (visit | patient)`` on the simulated trial of ``trial_data.py`` with
10 visits per patient, for each size given; prints a markdown table of wall times (model
build: design, sufficient statistics and posterior mode; fit: sampling and the draws of
every patient's random effects), the minimum bulk ESS over the fixed effects and variance
parameters, and ESS per second of the whole. Run on a machine with JAX (CUDA for the GPU)
and numpyro::

    python benchmarks/bench_gpu.py --patients 100000,1000000 --samplers numpyro,nutpie
"""

import argparse
import platform
import time

import arviz as az
import jax
from trial_data import simulate_trial

import lmm_bayes as lb

FORMULA = "y ~ visit * arm + (visit | patient)"


def run(n_patients, sampler, chains, draws, tune, seed):
    """Build and fit one model; returns (build s, fit s, min bulk ESS, fit)."""
    data = simulate_trial(n_patients=n_patients, seed=seed)
    start = time.perf_counter()
    model = lb.LMM(FORMULA, data, factors=["arm"], reference={"arm": "control"})
    model.target("marginal")  # pack the statistics, find the mode
    built = time.perf_counter()
    fit = model.fit(draws=draws, tune=tune, chains=chains, random_seed=seed, sampler=sampler)
    done = time.perf_counter()
    ess = az.ess(fit.idata, var_names=fit.parameter_names, method="bulk")
    return built - start, done - built, min(float(v.min()) for v in ess.data_vars.values()), fit


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", default="100000")
    parser.add_argument("--samplers", default="numpyro,nutpie")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"JAX devices: {jax.devices()}; {platform.processor() or platform.machine()}")
    print("| rows | patients | sampler | chains x draws/tune | build s | fit s | min bulk ESS "
          "| ESS/s |")
    print("|---:|---:|---|---|---:|---:|---:|---:|")
    for n in map(int, args.patients.split(",")):
        for sampler in args.samplers.split(","):
            build, fit_s, ess, fit = run(n, sampler, args.chains, args.draws, args.tune,
                                         args.seed)
            print(f"| {10 * n:,} | {n:,} | {sampler} | {args.chains} x {args.draws}/{args.tune}"
                  f" | {build:.1f} | {fit_s:.1f} | {ess:.0f} | {ess / (build + fit_s):.1f} |",
                  flush=True)
            print(fit.summary()[["term", "estimate", "std_error", "r_hat"]].to_string(),
                  flush=True)


if __name__ == "__main__":
    main()
