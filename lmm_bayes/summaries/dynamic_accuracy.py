"""Accuracy of dynamic predictions at a landmark: a calibration table and the time-dependent
AUC (numpy and pandas only).

Both judge predicted probabilities π_i = P(s < T_i ≤ s + Δt | T_i > s, history up to s) of
the individuals still event-free at the landmark s (those with an event or censoring at or
before s are left out) against their observed follow-up (T_i, d_i): d_i = 1 for an event at
T_i, 0 for censoring.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DesignError
from .draws import check_number

__all__ = ["calibration_table", "time_dependent_auc"]


def _at_risk(probability, event_time, event, landmark, horizon):
    """The inputs as arrays restricted to those event-free at ``landmark``, checked."""
    probability, event_time, event = (np.asarray(v, dtype=float).ravel()
                                      for v in (probability, event_time, event))
    if not len(probability) == len(event_time) == len(event):
        raise DesignError(f"probability, event_time and event must have one value per "
                          f"individual; got lengths {len(probability)}, {len(event_time)}, "
                          f"{len(event)}")
    landmark, horizon = check_number("landmark", landmark), check_number("horizon", horizon)
    if horizon <= 0:
        raise DesignError(f"horizon must be positive (a window after the landmark), got {horizon}")
    for name, values in (("probability", probability), ("event_time", event_time)):
        if not np.isfinite(values).all():
            raise DesignError(f"{name} has missing or infinite values at positions "
                              f"{np.flatnonzero(~np.isfinite(values))[:5].tolist()}")
    if ((probability < 0) | (probability > 1)).any():
        raise DesignError("probability must lie in [0, 1]")
    if not np.isin(event, (0, 1)).all():
        raise DesignError("event must be 1 (event) or 0 (censored)")
    keep = event_time > landmark
    if not keep.any():
        raise DesignError(f"no individual is event-free at the landmark {landmark}")
    return probability[keep], event_time[keep], event[keep], landmark + horizon


def _kaplan_meier(time, event, at, *, before=False):
    """Kaplan–Meier product Π_{u ≤ at} (1 − d_u / n_u) over the distinct event times u
    (u < at with ``before``), n_u = #{time ≥ u} (Kaplan & Meier 1958)."""
    times = np.unique(time[(event == 1) & ((time < at) if before else (time <= at))])
    at_risk = (time[None, :] >= times[:, None]).sum(axis=1)
    events = ((time[None, :] == times[:, None]) & (event[None, :] == 1)).sum(axis=1)
    return float(np.prod(1 - events / at_risk))


def calibration_table(probability, event_time, event, landmark: float, horizon: float, *,
                      bins: int = 5) -> pd.DataFrame:
    """Predicted against observed risk in the window (s, s + Δt], by groups of prediction.

    Parameters
    ----------
    probability : array-like (n,)
        π_i, each individual's predicted probability of the event in (s, s + Δt].
    event_time : array-like (n,)
        T_i, the time of the event or censoring.
    event : array-like (n,)
        d_i: 1 for an event, 0 for censoring.
    landmark, horizon : float
        s and Δt.
    bins : int
        Groups of (nearly) equal size by rank of π among those event-free at s.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``bin`` (1 = lowest predictions), ``n``, ``events`` and
        ``censored`` in the window, ``predicted`` (mean π) and ``observed``.

    Notes
    -----
    ``observed`` is 1 − Ŝ_g(s + Δt | s), the Kaplan–Meier estimate within group g from the
    landmark on, which equals the share with an event in the window when nobody is censored
    in it (the landmark calibration of van Houwelingen & Putter 2012, *Dynamic Prediction in
    Clinical Survival Analysis*, ch. 3; Rizopoulos 2012, sec. 7.4). Groups are split by
    rank (``numpy.array_split`` of the stable sort of π), so tied predictions may fall in
    neighbouring groups.
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise DesignError(f"bins must be a positive whole number, got {bins!r}")
    probability, event_time, event, end = _at_risk(probability, event_time, event,
                                                   landmark, horizon)
    if bins > len(probability):
        raise DesignError(f"{bins} bins for {len(probability)} individuals at risk at the "
                          "landmark: use fewer bins")
    rows = []
    for number, group in enumerate(np.array_split(np.argsort(probability, kind="stable"),
                                                  bins), start=1):
        t, d = event_time[group], event[group]
        in_window = t <= end
        rows.append({"bin": number, "n": len(group), "events": int((in_window & (d == 1)).sum()),
                     "censored": int((in_window & (d == 0)).sum()),
                     "predicted": float(probability[group].mean()),
                     "observed": 1 - _kaplan_meier(t, d, end)})
    return pd.DataFrame(rows)


def time_dependent_auc(probability, event_time, event, landmark: float,
                       horizon: float) -> float:
    """Cumulative/dynamic AUC of dynamic predictions at the landmark s for the window Δt.

    Parameters
    ----------
    probability, event_time, event, landmark, horizon
        As in :func:`calibration_table`.

    Returns
    -------
    float
        The probability that a case's prediction exceeds a control's (ties count one half).

    Notes
    -----
    Among those event-free at s, cases have an event in (s, s + Δt] and controls are still
    event-free at s + Δt (Heagerty & Zheng 2005, *Biometrics* 61: 92–105, the
    cumulative/dynamic definition):

    .. math::

        \\mathrm{AUC}(s, \\Delta t) = \\frac{\\sum_i \\sum_j w_i\\, 1[T_i \\le s + \\Delta t,
        d_i = 1]\\, 1[T_j > s + \\Delta t]\\, c(\\pi_i, \\pi_j)}
        {\\sum_i \\sum_j w_i\\, 1[T_i \\le s + \\Delta t, d_i = 1]\\, 1[T_j > s + \\Delta t]},

    c = 1 if π_i > π_j, ½ if equal, 0 otherwise. Individuals censored in the window are
    neither; the cases are weighted by the inverse probability of remaining uncensored,
    w_i = 1 / Ĝ(T_i− | s), Ĝ the Kaplan–Meier estimate of the censoring distribution from
    the landmark on (censorings strictly before T_i), which corrects for those censored in
    the window under independent censoring (IPCW; Blanche, Dartigues & Jacqmin-Gadda 2013,
    *Stat. Med.* 32: 5381–5397, for landmark predictions). The controls' common weight
    1/Ĝ(s + Δt | s) cancels. Without censoring in the window all weights are 1.
    """
    probability, event_time, event, end = _at_risk(probability, event_time, event,
                                                   landmark, horizon)
    case = (event_time <= end) & (event == 1)
    control = event_time > end
    if not case.any() or not control.any():
        raise DesignError(f"the AUC needs cases (events in the window) and controls "
                          f"(event-free at its end); got {int(case.sum())} and "
                          f"{int(control.sum())}")
    censoring = 1 - event
    weight = np.array([1 / _kaplan_meier(event_time, censoring, t, before=True)
                       for t in event_time[case]])
    p_case, p_control = probability[case][:, None], probability[control][None, :]
    concordance = (p_case > p_control) + 0.5 * (p_case == p_control)
    return float((weight @ concordance).sum() / (weight.sum() * control.sum()))
