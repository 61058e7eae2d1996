"""The public entry point for joint models: :class:`JointModel` and :class:`JointFit`.

Orchestration only: spec (:mod:`.spec`) → the marker's LMM (design and priors, as
:class:`lmm_bayes.LMM` builds them) and the joint design (:mod:`.design`) → survival priors
(:mod:`.priors`) → PyMC model (:mod:`.model`) → NUTS by nutpie (:mod:`lmm_bayes.sampling`)
→ summaries and dynamic prediction (:mod:`.predict`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .. import names
from ..api import LMM, Fit
from ..errors import DesignError, LoadError, SingularFitWarning
from ..priors import INTERCEPT
from ..sampling import SamplerConfig, default_target_accept, diagnose, warn_on_problems
from ..summaries import singular_components
from ..summaries.draws import check_prob, interval_columns, summarise
from .design import JointDesign, build_joint_design
from .predict import (
    dynamic_probabilities,
    individuals_from_history,
    marker_band,
    posterior_draws,
)
from .priors import JointPriors, build_survival_priors, split_overrides
from .spec import JointSpec

if TYPE_CHECKING:
    import arviz as az

__all__ = ["JointFit", "JointModel"]

ENGINE_REASON = ("graph: the PyMC joint model (every random effect sampled: the hazard "
                 "depends on them through exp(α m_i(t)), so they do not integrate out)")
GRID = 100
#: the piecewise baseline's random walk has a funnel (its SD against the steps), where the
#: default 0.8 left divergent transitions (11 of 4,000 on the SBP cohort)
PIECEWISE_TARGET_ACCEPT = 0.95


def _horizons(horizon) -> np.ndarray:
    """``horizon`` as a vector of numbers Δt ≥ 0; DesignError otherwise."""
    try:
        horizons = np.atleast_1d(np.asarray(horizon, float))
    except (TypeError, ValueError):
        horizons = np.array([np.nan])
    if horizons.ndim != 1 or not (np.isfinite(horizons).all() and (horizons >= 0).all()):
        raise DesignError(f"horizon must be one or more numbers ≥ 0, not {horizon!r}")
    return horizons


class JointModel:
    """A Bayesian joint model of a longitudinal marker and the time to an event
    (Henderson, Diggle & Dobson 2000, *Biostatistics* 1: 465–480; Rizopoulos 2012,
    *Joint Models for Longitudinal and Time-to-Event Data*, ch. 4).

    The marker follows a linear mixed model, y_ij = m_i(t_ij) + ε_ij with
    m_i(t) = x_i(t)ᵀβ + z_i(t)ᵀb_i; the event a proportional-hazards model whose hazard
    depends on the individual's current true marker value,
    h_i(t) = h_0(t) exp(w_iᵀγ + α m_i(t)), or its slope m_i'(t), or both, or on the random
    effects themselves (αᵀb_i). Both are fitted together, so that individuals who leave
    through the event (informative dropout) do not bias the trajectory.

    Parameters
    ----------
    longitudinal : str
        The marker's lme4-style formula with one random term whose grouping factor is
        ``id``, e.g. ``"sbp ~ time * arm + (1 + time | id)"``; Gaussian, no residual
        structures.
    survival : str
        ``"Surv(years, event) ~ arm + age"``: the event (or censoring) time and event
        indicator (1/0) columns of ``data_event`` and the covariates of the hazard.
    data_long : pandas.DataFrame
        One row per visit, with the ``id`` and ``time`` columns. Visits must not come after
        the individual's event or censoring time. Covariates other than ``time`` must be
        constant within an individual (the marker between visits is evaluated from the
        first visit's row with only time changing).
    data_event : pandas.DataFrame
        One row per individual with visits, with ``id``, the Surv() columns and the
        survival covariates.
    id : str
        The individual column: the longitudinal formula's grouping factor.
    time : str
        The marker's time column (on the scale of the event times).
    association : {"value", "slope", "value+slope", "shared"}
        What of the marker enters the hazard: m_i(t), its derivative in time m_i'(t)
        (the formula's terms in time are differentiated through its design), both, or the
        random effects b_i (one α per random-effect term).
    baseline : {"weibull", "piecewise"}
        h_0(t) = κ t^{κ−1} exp(γ_0), or a piecewise-constant log hazard on ``knots``
        intervals with a random-walk smoothness prior (:mod:`lmm_bayes.jm.priors`).
    knots : int or sequence of float, optional
        The piecewise baseline's number of intervals (default 7, cut at quantiles of the
        observed event times, as JM) or its interior cut points.
    priors : mapping, optional
        Overrides: the marker's keys as for :class:`lmm_bayes.LMM`, the survival part's as
        :mod:`lmm_bayes.jm.priors` lists (``"event_age"``, ``"association_value"``...).
    quadrature_points : int
        Gauss–Legendre nodes of the cumulative hazard per individual (per baseline
        interval for the piecewise baseline).
    parametrization : {"auto", "centered", "non-centered"}
        Of the random effects, as for :class:`lmm_bayes.LMM`.

    Notes
    -----
    The Gaussian engines' integration of the random effects (:mod:`lmm_bayes.marginal`)
    does not apply: the hazard is not linear in b_i, so the model is the PyMC graph with
    every b_i sampled by NUTS (nutpie). The Weibull baseline's log scale γ_0 is
    ``event_coef["(Intercept)"]``, as JM reports it; its hazard ratios are per unit of
    each covariate and of the marker (:meth:`JointFit.hazard_ratios`).

    Examples
    --------
    >>> import lmm_bayes as lb
    >>> visits, events = lb.load_dataset("sbp_visits"), lb.load_dataset("sbp_events")
    >>> jm = lb.JointModel("sbp ~ years * arm + (1 + years | id)",
    ...                    "Surv(time, event) ~ arm + age", visits, events,
    ...                    id="id", time="years")  # doctest: +SKIP
    """

    def __init__(self, longitudinal: str, survival: str, data_long: pd.DataFrame,
                 data_event: pd.DataFrame, *, id: str, time: str,
                 association: Literal["value", "slope", "value+slope", "shared"] = "value",
                 baseline: Literal["weibull", "piecewise"] = "weibull",
                 knots: int | Sequence[float] | None = None,
                 priors: Mapping[str, Any] | None = None, quadrature_points: int = 15,
                 parametrization: Literal["auto", "centered", "non-centered"] = "auto"):
        spec = JointSpec.from_formulas(longitudinal, survival, id=id, time=time,
                                       association=association, baseline=baseline,
                                       knots=knots, priors=priors,
                                       quadrature_points=quadrature_points,
                                       parametrization=parametrization)
        self._init(spec, data_long, data_event)

    @classmethod
    def from_spec(cls, spec: JointSpec, data_long: pd.DataFrame,
                  data_event: pd.DataFrame) -> JointModel:
        """A model from a :class:`~lmm_bayes.jm.spec.JointSpec` (e.g. read from a TOML
        file, :mod:`lmm_bayes.specfile`)."""
        model = cls.__new__(cls)
        model._init(spec, data_long, data_event)
        return model

    def _init(self, spec: JointSpec, data_long: pd.DataFrame,
              data_event: pd.DataFrame) -> None:
        self.spec = spec
        marker_priors, survival_priors = split_overrides(spec.priors)
        #: the marker's model: its design, priors and (over the joint posterior) summaries
        self.lmm = LMM(spec.longitudinal.text, data_long, priors=marker_priors,
                       likelihood="conditional", parametrization=spec.parametrization)
        self.data_long, self.data_event = data_long, data_event
        self.joint: JointDesign = build_joint_design(spec, self.design, data_long, data_event)
        visit_times = pd.to_numeric(data_long[spec.time].iloc[self.design.rows]).to_numpy(float)
        self.priors: JointPriors = build_survival_priors(
            self.lmm.priors, self.design, self.joint, spec.association, spec.baseline,
            visit_times, survival_priors)

    @property
    def design(self):
        """The marker's :class:`~lmm_bayes.design.Design`."""
        return self.lmm.design

    def __repr__(self) -> str:
        return (f"JointModel({self.spec.longitudinal.text!r}, {self.spec.survival.text!r}, "
                f"association={self.spec.association!r}, baseline={self.spec.baseline!r}, "
                f"{self.joint.n} individuals, {int(self.joint.event.sum())} events, "
                f"{self.design.n_obs} visits)")

    @cached_property
    def pymc_model(self):
        """The PyMC model (:func:`lmm_bayes.jm.model.build_joint_model`; built once)."""
        from .model import build_joint_model

        return build_joint_model(self.design, self.joint, self.priors, self.spec.association,
                                 self.spec.baseline, self.spec.parametrization)

    def fit(self, draws: int = 1000, tune: int = 1000, chains: int = 4, *,
            random_seed: int | None = None, target_accept: float | None = None,
            cores: int | None = None, progressbar: bool = False) -> JointFit:
        """Sample the joint posterior with nutpie's NUTS and check the diagnostics
        (:class:`~lmm_bayes.SamplingWarning` on divergences, R-hat > 1.01 or ESS < 400 of
        the parameters other than the random effects). ``target_accept=None``: as for
        :meth:`lmm_bayes.LMM.fit`, and 0.95 with the piecewise baseline (its random walk's
        funnel)."""
        from ..engines import SAMPLING_TIME
        from ..engines.graph import sample_model

        if target_accept is None:
            target_accept = (PIECEWISE_TARGET_ACCEPT if self.spec.baseline == "piecewise"
                             else default_target_accept([self.joint.n]))
        config = SamplerConfig(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                               sampler="nutpie", target_accept=target_accept, cores=cores,
                               progressbar=progressbar)
        model = self.pymc_model
        start = time.perf_counter()
        idata = sample_model(model, config)
        elapsed = time.perf_counter() - start
        group = self.design.groups[0].name
        keep = names.public([group], idata.posterior.data_vars) + [
            n for n in names.SURVIVAL if n in idata.posterior]
        idata.posterior = idata.posterior[keep]
        idata.sample_stats.attrs.update({"engine": "graph", "engine_reason": ENGINE_REASON,
                                         SAMPLING_TIME: elapsed})
        result = JointFit(self, idata, config)
        warn_on_problems(result.diagnostics())
        for message in singular_components(idata.posterior, result.longitudinal._groups):
            warnings.warn(message, SingularFitWarning, stacklevel=2)
        return result


class JointFit:
    """A fitted joint model.

    Attributes
    ----------
    model : JointModel
    idata : arviz.InferenceData
        ``posterior`` with the marker's ``beta``, ``sigma``, ``sd_<id>``, ``corr_<id>``,
        ``b_<id>`` and the survival part's ``event_coef``, ``association``,
        ``weibull_shape`` or ``log_baseline_hazard`` and ``baseline_smoothness``
        (:mod:`lmm_bayes.names`).
    config : SamplerConfig
    """

    def __init__(self, model: JointModel, idata: az.InferenceData, config: SamplerConfig):
        self.model = model
        self.idata = idata
        self.config = config

    def __repr__(self) -> str:
        post = self.idata.posterior
        return (f"JointFit({self.model.spec.longitudinal.text!r}, "
                f"{self.model.spec.survival.text!r}, {post.sizes['chain']} chains × "
                f"{post.sizes['draw']} draws)")

    def __str__(self) -> str:
        from .. import display

        tables = [("Longitudinal and survival parameters", self.summary()),
                  ("Hazard ratios", self.hazard_ratios())]
        return display.summary_text([repr(self.model), repr(self)], tables)

    @cached_property
    def longitudinal(self) -> Fit:
        """The marker's model over the joint posterior: an :class:`lmm_bayes.Fit` whose
        ``summary()``, ``icc()``, ``shrinkage()``, ``trajectories()``, ``fixef()`` and
        ``variance_components()`` work as for a fitted LMM."""
        import arviz as az

        post = self.idata.posterior
        marker = [n for n in post.data_vars if n not in names.SURVIVAL]
        return Fit(self.model.lmm, az.InferenceData(posterior=post[marker],
                                                    sample_stats=self.idata.sample_stats),
                   self.config)

    @property
    def parameter_names(self) -> list[str]:
        """Posterior variables other than the random effects."""
        return [n for n in self.idata.posterior.data_vars if names.group_variable(n) != "b"]

    def diagnostics(self) -> list[str]:
        """Sampling problems (divergences, R-hat, ESS) of every parameter but the random
        effects, each with what to try; empty if none."""
        return diagnose(self.idata, self.parameter_names)

    # ------------------------------------------------------------------ summaries

    def _survival_rows(self):
        """(effect, group, term, draws) of the survival part."""
        post = self.idata.posterior
        variables = ((names.EVENT_COEF, names.EVENT_FIXED, "survival"),
                     (names.ASSOCIATION, names.ASSOCIATION_TERM, "association"),
                     (names.LOG_BASELINE_HAZARD, names.BASELINE_INTERVAL, "baseline"))
        for name, dim, effect in variables:
            if name in post:
                for label in post[dim].values:
                    yield effect, "", str(label), post[name].sel({dim: label})
        for name in (names.WEIBULL_SHAPE, names.BASELINE_SMOOTHNESS):
            if name in post:
                yield "baseline", "", name, post[name]

    def summary(self, prob: float = 0.95) -> pd.DataFrame:
        """The marker's rows as :meth:`lmm_bayes.Fit.summary` gives them, then the survival
        part's: effect ``"survival"`` (the survival formula's coefficients on the log
        hazard, ``(Intercept)`` the Weibull's log scale γ_0), ``"association"`` (terms
        ``value``, ``slope`` or the random-effect terms) and ``"baseline"``
        (``weibull_shape``, or each interval's log hazard and ``baseline_smoothness``)."""
        rows = [{"effect": e, "group": g, "term": t,
                 **summarise(d.transpose("chain", "draw").values, prob)}
                for e, g, t, d in self._survival_rows()]
        survival = pd.DataFrame.from_records(rows)
        return pd.concat([self.longitudinal.summary(prob), survival], ignore_index=True)

    def hazard_ratios(self, prob: float = 0.95) -> pd.DataFrame:
        """exp(coefficient) of the association and the survival covariates: the hazard's
        multiplication per unit of the marker (``value``), per unit of its slope (marker
        units per time unit, ``slope``), per unit of a random effect (``shared``), per unit
        of a covariate. Columns ``effect``, ``term``, ``per`` (the unit in words),
        ``estimate`` (posterior mean of exp(·)), ``std_error``, ``conf_low``, ``conf_high``
        (central ``prob`` interval) and ``median``."""
        check_prob(prob)
        response, time = self.model.spec.longitudinal.response, self.model.spec.time
        per = {"value": f"1 unit of {response}",
               "slope": f"1 unit of {response} per unit of {time}"}
        rows = []
        for effect, _, term, draws in self._survival_rows():
            if effect == "baseline" or term == INTERCEPT:
                continue
            values = np.exp(draws.transpose("chain", "draw").values)
            unit = (per.get(term, f"1 unit of the random effect {term}")
                    if effect == "association" else f"1 unit of {term}")
            stats = {k: float(v) for k, v in interval_columns(values, prob).items()}
            rows.append({"effect": effect, "term": term, "per": unit, **stats,
                         "median": float(np.median(values))})
        return pd.DataFrame.from_records(rows)

    def baseline_hazard(self, times: Sequence[float] | None = None,
                        prob: float = 0.95) -> pd.DataFrame:
        """The baseline hazard h_0(t) and cumulative hazard H_0(t) (covariates and marker
        at 0, the scale of the reported coefficients) on ``times`` (default: 100 points up
        to the longest follow-up): columns ``time``, ``hazard``, ``hazard_low``,
        ``hazard_high``, ``cumulative``, ``cumulative_low``, ``cumulative_high`` (posterior
        mean and central ``prob`` interval).

        Notes
        -----
        Weibull: h_0(t) = κ t^{κ−1} e^{γ_0}, H_0(t) = t^κ e^{γ_0}. Piecewise constant:
        h_0(t) = e^{λ_k} on the k-th interval [c_(k−1), c_k), H_0(t) = Σ_k e^{λ_k}
        |[c_(k−1), c_k) ∩ [0, t)|.
        """
        check_prob(prob)
        if times is None:
            times = np.linspace(0, self.model.joint.event_time.max(), GRID + 1)[1:]
        times = np.asarray(times, float)
        if times.ndim != 1 or not (np.isfinite(times).all() and (times > 0).all()):
            raise DesignError("times must be a sequence of positive numbers")
        draws = posterior_draws(self.idata.posterior, self.model.design.groups[0].name)
        if draws.shape is not None:
            scale = np.exp(draws.gamma[:, list(self.model.joint.survival_names).index(INTERCEPT)])
            kappa = draws.shape[:, None]
            hazard = kappa * times ** (kappa - 1) * scale[:, None]
            cumulative = times ** kappa * scale[:, None]
        else:
            edges = np.array([0.0, *self.model.joint.cuts, np.inf])
            rates = np.exp(draws.log_hazards)                                 # (S, K)
            hazard = rates[:, np.searchsorted(edges, times, side="right") - 1]
            overlap = np.clip(times[:, None], edges[:-1], edges[1:]) - edges[:-1]
            cumulative = rates @ overlap.T
        out = {"time": times}
        for label, values in (("hazard", hazard), ("cumulative", cumulative)):
            stats = interval_columns(values, prob, axis=0)
            out.update({label: stats["estimate"], f"{label}_low": stats["conf_low"],
                        f"{label}_high": stats["conf_high"]})
        return pd.DataFrame(out)

    # ------------------------------------------------------------------ prediction

    def predict_survival(self, history_long: pd.DataFrame, history_event: pd.DataFrame, *,
                         horizon: float | Sequence[float] = (1.0,), prob: float = 0.95,
                         samples: int = 100, random_seed: int | None = None
                         ) -> pd.DataFrame:
        """Dynamic prediction: for each individual of ``history_event`` (new or known), with
        the visits of ``history_long`` up to the landmark s (``history_event``'s survival
        time column where given, else their last visit) and alive at s, P(event by s + Δt |
        T > s, marker history) for each Δt of ``horizon`` (JMbayes2's
        ``predict(..., process = "event")``; :mod:`lmm_bayes.jm.predict`).

        Parameters
        ----------
        history_long : pandas.DataFrame
            Visits (marker, time, covariates, id); visits after s are not used.
        history_event : pandas.DataFrame
            One row per individual: id and the survival covariates, optionally the landmark
            in the survival time column.
        horizon : float or sequence of float
            Δt ≥ 0.
        prob : float
            Mass of the interval.
        samples : int
            Importance samples of b per posterior draw.
        random_seed : int, optional

        Returns
        -------
        pandas.DataFrame
            ``id`` (as ``history_event`` has it), ``landmark`` (s), ``horizon`` (Δt),
            ``time`` (s + Δt), ``probability``
            (posterior mean), ``lower``, ``upper`` (central ``prob`` interval over joint
            draws of parameters and random effects).
        """
        tail = (1 - check_prob(prob)) / 2
        horizons = _horizons(horizon)
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise DesignError(f"samples must be a positive whole number, not {samples!r}")
        rng = np.random.default_rng(random_seed)
        model = self.model
        draws = posterior_draws(self.idata.posterior, model.design.groups[0].name)
        frames = []
        people = individuals_from_history(model.spec, model.design, model.joint,
                                          history_long, history_event)
        for person, identifier in zip(people, history_event[model.spec.id]):
            mean_draws, joint_draws = dynamic_probabilities(
                model.spec, model.design, model.joint, person, draws, horizons,
                samples=samples, rng=rng)
            low, high = np.quantile(joint_draws, [tail, 1 - tail], axis=0)
            frames.append(pd.DataFrame({
                "id": identifier, "landmark": person.landmark, "horizon": horizons,
                "time": person.landmark + horizons, "probability": mean_draws.mean(axis=0),
                "lower": low, "upper": high}))
        return pd.concat(frames, ignore_index=True)

    def plot_dynamic(self, individual_id, history_long: pd.DataFrame,
                     history_event: pd.DataFrame, *, horizon: float | None = None,
                     prob: float = 0.95, samples: int = 100, random_seed: int | None = None):
        """The individual's visits and true marker trajectory with its band up to the
        landmark (left), and their event-free probability from the landmark to
        landmark + ``horizon`` (default: half the longest follow-up) with its band
        (right); a matplotlib Figure (:func:`lmm_bayes.plots.plot_dynamic`)."""
        from ..plots import plot_dynamic
        from ..variables import level_label

        model = self.model
        label = level_label(individual_id)
        chosen = history_event[history_event[model.spec.id].map(level_label) == label]
        if chosen.empty:
            raise DesignError(f"{model.spec.id} {label!r} is not in history_event")
        person = individuals_from_history(model.spec, model.design, model.joint,
                                          history_long, chosen)[0]
        rng = np.random.default_rng(random_seed)
        draws = posterior_draws(self.idata.posterior, model.design.groups[0].name)
        horizon = horizon if horizon is not None else model.joint.event_time.max() / 2
        grid = np.linspace(0.0, person.landmark, GRID)
        band = marker_band(model.spec, model.design, person, draws, grid, samples=samples,
                           rng=rng, joint=model.joint)
        steps = np.linspace(0.0, horizon, GRID // 2)
        mean_draws, joint_draws = dynamic_probabilities(model.spec, model.design, model.joint,
                                                        person, draws, steps, samples=samples,
                                                        rng=rng)
        tail = (1 - check_prob(prob)) / 2
        visits = history_long[history_long[model.spec.id].map(level_label) == label]
        visits = visits[visits[model.spec.time] <= person.landmark]
        return plot_dynamic(
            visits[model.spec.time].to_numpy(float),
            visits[model.spec.longitudinal.response].to_numpy(float), grid,
            band.mean(axis=0), *np.quantile(band, [tail, 1 - tail], axis=0),
            person.landmark + steps, 1 - mean_draws.mean(axis=0),
            *(1 - np.quantile(joint_draws, [1 - tail, tail], axis=0)),
            label=f"{model.spec.id} {label}", response=model.spec.longitudinal.response,
            time=model.spec.time, prob=prob)

    def loo(self, **kwargs):
        """PSIS-LOO by individual (``arviz.loo``; Vehtari, Gelman & Gabry 2017): each
        individual's visits and event together, given their random effects
        (:func:`lmm_bayes.jm.checks.individual_loglik`). ``kwargs`` go to ``arviz.loo``."""
        import arviz as az
        import xarray as xr

        from .checks import individual_loglik

        loglik = individual_loglik(self.idata.posterior, self.model)
        data = az.InferenceData(posterior=self.idata.posterior,
                                log_likelihood=xr.Dataset({names.observed(): loglik}))
        return az.loo(data, **kwargs)

    def save(self, path):
        """Not available: a saved fit (:mod:`lmm_bayes.io`) holds one data frame, and a
        joint model has two (visits and events). Raises :class:`~lmm_bayes.LoadError`."""
        raise LoadError(f"cannot save a joint model's fit to {str(path)!r}: the saved-fit "
                        "format (lmm_bayes.io) holds one data frame and a joint model has two "
                        "(data_long and data_event); keep fit.idata with "
                        "fit.idata.to_netcdf(path) and refit from the spec to rebuild it")
