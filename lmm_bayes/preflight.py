"""Identifiability preflight: can the data separate the effects the formula asks for?

Run by :class:`lmm_bayes.LMM` right after the design is built, before any sampling. What
:mod:`lmm_bayes.design` already refuses is not checked again here (a missing column,
collinear fixed effects, a grouping factor with one level or with as many levels as rows, a
random slope constant within every level or varying within fewer than three levels). This
module adds the checks that need both the fixed and the random part:

* **random slopes measured twice**: a level's slope is informed only by a level observed at
  two or more distinct values of the slope covariate. When fewer than half the levels are,
  the slope variance rests on a minority of them (warning).
* **time × treatment interactions**: a fixed interaction of a random-slope covariate with
  other variables (``time:trtB``) is the difference between the mean slopes of the arms; it
  is separated from the random slopes only by levels that are themselves observed at two or
  more values of the covariate inside that arm. With none the interaction is confounded with
  the random effects (:class:`~lmm_bayes.DesignError`); with fewer than three it rests on
  a few individuals' slopes (warning).

The rule that a variance needs several groups with within-group variation follows Gelman &
Hill (2007, sec. 11.5 and 12.9) and the identifiability conditions of Laird & Ware (1982);
lme4 (Bates et al. 2015, sec. 3.1) checks the same rank conditions on the random-effects
design. numpy and pandas only.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .design import MIN_LEVELS_FOR_SLOPE, Design, GroupingFactor
from .errors import DesignError, IdentifiabilityWarning
from .formula import Term

__all__ = ["check_identifiability", "levels_with_variation"]

MIN_SHARE_MEASURED_TWICE = 0.5


def levels_with_variation(group: GroupingFactor, values: np.ndarray) -> int:
    """How many levels of ``group`` have two or more distinct ``values`` among their rows."""
    frame = pd.DataFrame({"level": group.index, "x": values})
    return int((frame.groupby("level")["x"].nunique() > 1).sum())


def term_columns(design: Design, term: Term) -> list[int]:
    """Positions in ``design.fixed_names`` of the columns of a fixed ``term``.

    A column of a term is named by its variables in the term's order, each followed by a
    level label when categorical (``time:trtB``), joined by ``:``.
    """
    found = []
    for j, name in enumerate(design.fixed_names):
        parts = name.split(":")
        if len(parts) == len(term.factors) and all(
                part.startswith(factor) for part, factor in zip(parts, term.factors)):
            found.append(j)
    return found


def _slope_messages(group: GroupingFactor) -> list[str]:
    """Warnings for random slopes that most levels cannot inform."""
    messages = []
    for k, term in enumerate(group.terms):
        if term == "(Intercept)":
            continue
        varying = levels_with_variation(group, group.Z[:, k])
        if varying < MIN_SHARE_MEASURED_TWICE * group.n_levels:
            messages.append(
                f"random slope of {term!r} by {group.name!r}: only {varying} of "
                f"{group.n_levels} levels are observed at two or more values of {term!r}, so "
                "the slope variance rests on a minority of levels; measure each level at least "
                "twice or drop the slope"
            )
    return messages


def _interaction_problems(design: Design, group: GroupingFactor, slope: Term):
    """(errors, warnings) for fixed interactions of ``slope`` with other variables."""
    errors, weak = [], []
    for term in design.formula.fixed:
        if not set(slope.factors) < set(term.factors):
            continue
        for j in term_columns(design, term):
            name = design.fixed_names[j]
            varying = levels_with_variation(group, design.X[:, j])
            where = (f"fixed interaction {name!r}: {varying} level(s) of {group.name!r} are "
                     f"observed at two or more values of {slope.label!r} where {name!r} is "
                     "non-zero")
            if varying == 0:
                errors.append(f"{where}, so it cannot be separated from the random slopes of "
                              f"{slope.label!r}; measure some levels of that arm twice or drop "
                              "the interaction")
            elif varying < MIN_LEVELS_FOR_SLOPE:
                weak.append(f"{where}, so the difference in slopes rests on very few "
                            f"individuals; at least {MIN_LEVELS_FOR_SLOPE} are needed")
    return errors, weak


def _random_term(design: Design, name: str):
    """The random term of grouping factor ``name`` (``subject:armA`` comes from
    ``gr(subject, by = arm)``)."""
    for rterm in design.formula.random:
        if rterm.group == name or (rterm.by and name.startswith(f"{rterm.group}:")):
            return rterm
    raise KeyError(name)


def check_identifiability(design: Design) -> None:
    """Raise or warn, in one line each, where the data cannot separate the model's effects.

    Parameters
    ----------
    design : Design

    Raises
    ------
    DesignError
        When a fixed interaction of a random-slope covariate cannot be told apart from the
        random slopes (no level observed at two values of the covariate in that arm).

    Warns
    -----
    IdentifiabilityWarning
        When fewer than half the levels of a grouping factor inform a random slope, or fewer
        than three levels inform an interaction with a random-slope covariate.
    """
    errors, weak = [], []
    for group in design.groups:
        weak += _slope_messages(group)
        for slope in _random_term(design, group.name).terms:
            if slope.is_intercept:
                continue
            more_errors, more_weak = _interaction_problems(design, group, slope)
            errors += more_errors
            weak += more_weak
    if errors:
        raise DesignError("; ".join(errors) if len(errors) == 1 else
                          f"{len(errors)} identifiability problems: " + "; ".join(errors))
    for message in weak:
        warnings.warn(message, IdentifiabilityWarning, stacklevel=4)
