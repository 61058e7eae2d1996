"""Data sets shipped with the package, so examples run on a fresh machine: real studies as
CSV files in ``lmm_bayes/data``, and simulated studies from the generators of
:mod:`lmm_bayes.simulate`, run with their fixed default seed."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from .errors import SpecError

__all__ = ["DATASETS", "load_dataset"]

DATASETS = {
    "sleepstudy": "Reaction times (ms) of 18 subjects over 10 days of sleep deprivation "
                  "(Belenky et al. 2003; lme4's sleepstudy).",
    "dyestuff": "Yield of dyestuff from 6 batches of an intermediate, 5 preparations each "
                "(Davies 1947; lme4's Dyestuff).",
    "penicillin": "Diameter (mm) of growth-inhibition zones of 6 penicillin samples on each of "
                  "24 plates, crossed (Davies & Goldsmith 1972; lme4's Penicillin).",
    "pastes": "Strength of paste from 3 casks in each of 10 delivery batches, 2 tests per cask, "
              "nested (Davies & Goldsmith 1972; lme4's Pastes).",
    "oats": "Yield of 3 oat varieties (whole plots) at 4 nitrogen levels (subplots) in 6 blocks, "
            "a split plot (Yates 1935; nlme's Oats).",
    "machines": "Productivity score of 6 workers on each of 3 machines, 3 replicates each "
                "(Milliken & Johnson 1992; nlme's Machines).",
    "pixel": "Mean pixel intensity of CT scans of the left and right lymph nodes of 10 dogs over "
             "21 days (Pinheiro & Bates 2000; nlme's Pixel).",
    "bodyweight": "Body weight (g) of 16 rats on 3 diets, weighed over 64 days (Crowder & Hand "
                  "1990; nlme's BodyWeight).",
    "ovary": "Number of large ovarian follicles of 11 mares over their oestrus cycles, Time in "
             "cycles (Pierpaoli 1991; nlme's Ovary).",
    "contraception": "Contraceptive use (use, 0/1) of 1,934 women in 60 districts of "
                     "Bangladesh, with age (centred), number of living children (livch) and "
                     "urban residence (Huq & Cleland 1990, 1988 Bangladesh Fertility Survey; "
                     "mlmRev's Contraception).",
    "verbagg": "Verbal aggression: whether each of 316 persons would react aggressively (r2, "
               "0/1) in 24 situations (items), crossed, with trait anger, gender and the "
               "item's behaviour type, situation and mode (De Boeck & Wilson 2004; lme4's "
               "VerbAgg).",
    "arabidopsis": "Total fruits of 625 Arabidopsis plants of 24 genotypes (gen) from 9 "
                   "populations (popu) in 3 regions, under 2 nutrient levels and simulated "
                   "herbivory (amd), on 2 racks; count data (Banta et al. 2010; lme4's "
                   "Arabidopsis, total.fruits renamed total_fruits).",
    "fev_trial": "An artificial two-arm trial: FEV1 of 200 patients at 4 visits (AVISIT), 263 "
                 "of 800 visits missing, with arm (ARMCD), race, sex and baseline FEV1_BL; the "
                 "example of R's mmrm package (fev_data, mmrm 0.3.18, Apache License 2.0).",
    "wine": "Bitterness rating (rating, 1 < 2 < ... < 5, ordinal) of wines by 9 judges, 2 "
            "bottles each in 4 treatment combinations of temperature (temp) and contact "
            "with skins (contact) (Randall 1989; Christensen's ordinal package, wine).",
    "grouseticks": "Ticks (TICKS) counted on the heads of 403 red grouse chicks (INDEX) in 118 "
                   "broods (BROOD) at 63 locations, in 3 years, with altitude (HEIGHT, and "
                   "cHEIGHT centred); overdispersed counts (Elston et al. 2001; lme4's "
                   "grouseticks).",
    "aids_visits": "Square root of the CD4 cell count (CD4) of 467 patients with advanced HIV "
                   "at visits 0, 2, 6, 12 and 18 months (obstime) in a trial of didanosine "
                   "(drug ddI) against zalcitabine (ddC), 1,405 visits, with gender, previous "
                   "opportunistic infection (prevOI) and AZT intolerance or failure (Abrams et "
                   "al. 1994, NEJM 330: 657-662; JM's aids, GPL (>= 2)).",
    "aids_patients": "The same 467 patients, one row each: follow-up in months (Time) to death "
                     "(death = 1, 188 deaths) or censoring, drug, gender, prevOI and AZT "
                     "(Abrams et al. 1994; JM's aids.id, GPL (>= 2)).",
    "sbp_visits": "Systolic blood pressure (sbp, mmHg) of a simulated cohort of 300 adults "
                  "(id) at visits every 6 months (time, years) until a cardiovascular event "
                  "or censoring, with treatment arm and age; one row per visit "
                  "(scripts/simulate_sbp_cohort.py, seed 2026; the joint model's example "
                  "with sbp_events).",
    "sbp_events": "The same cohort's cardiovascular events: one row per individual (id) with "
                  "the event or censoring time (years), event (1/0), arm and age; simulated "
                  "with a Weibull hazard rising by e^0.04 per mmHg of the current true "
                  "pressure (scripts/simulate_sbp_cohort.py).",
}

#: columns whose values are labels written as numbers, read as strings ("1", "2"...)
_LABELS = {
    "machines": ("Worker",),
    "pixel": ("Dog",),
    "bodyweight": ("Rat", "Diet"),
    "ovary": ("Mare",),
    "contraception": ("woman", "district", "livch"),
    "verbagg": ("id",),
    "arabidopsis": ("gen", "rack", "nutrient"),
    "wine": ("bottle", "judge"),
    "grouseticks": ("INDEX", "BROOD", "YEAR", "LOCATION"),
    "aids_visits": ("patient",),
    "aids_patients": ("patient",),
}

#: simulated studies whose generator returns more than one table (not one data set)
_SEVERAL_TABLES = {"joint_cohort"}


def load_dataset(name: str) -> pd.DataFrame:
    """Load a shipped data set by name (see ``DATASETS``), or simulate one: ``name`` runs the
    generator ``lmm_bayes.simulate.simulate_<name>`` (e.g. ``"multicentre_trial"``) with its
    default, fixed seed."""
    from . import simulate

    generators = {n.removeprefix("simulate_"): getattr(simulate, n) for n in simulate.__all__
                  if n.startswith("simulate_") and n.removeprefix("simulate_")
                  not in _SEVERAL_TABLES}
    if name in _SEVERAL_TABLES:
        raise SpecError(f"{name!r} is a joint model's cohort, two tables and its truth: "
                        f"visits, events, truth = lmm_bayes.simulate.simulate_{name}()")
    if name in generators:
        return generators[name]()
    if name not in DATASETS:
        raise SpecError(f"no shipped data set {name!r} (nor a simulated one); shipped: "
                        f"{sorted(DATASETS)}, simulated: {sorted(generators)}")
    with resources.files("lmm_bayes").joinpath(f"data/{name}.csv").open("r") as handle:
        return pd.read_csv(handle, dtype=dict.fromkeys(_LABELS.get(name, ()), str))
