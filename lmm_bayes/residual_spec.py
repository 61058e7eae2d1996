"""The residual options of a model spec, parsed into frozen values (no data).

``residual="ar1(visit | subject)"`` names a residual correlation structure
(:data:`lmm_bayes.structures.STRUCTURES`), its time variable and the columns that identify
an individual; ``sigma="~ arm"`` is a one-sided formula for the log residual SD. Both are
parsed once, when the spec is made (:meth:`lmm_bayes.spec.ModelSpec.from_formula`);
:mod:`lmm_bayes.residuals` builds their per-row designs from the parsed values. Each value
keeps the text it was parsed from, which is what a saved fit stores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import Setting, SpecError
from .formula import Term, parse_formula
from .structures import STRUCTURES, ResidualStructure

__all__ = ["ResidualSpec", "SigmaSpec", "parse_residual", "parse_sigma"]


@dataclass(frozen=True)
class ResidualSpec:
    """A parsed ``residual`` option: structure (:mod:`lmm_bayes.structures`), time variable
    and the individual's columns."""

    structure: ResidualStructure
    time: str
    group: tuple[str, ...]
    text: str

    @property
    def columns(self) -> tuple[str, ...]:
        """The variables it uses: the time, then the individual's columns."""
        return (self.time, *self.group)


@dataclass(frozen=True)
class SigmaSpec:
    """A parsed ``sigma`` option: the fixed terms of the log residual SD's formula."""

    terms: tuple[Term, ...]
    text: str

    @property
    def columns(self) -> tuple[str, ...]:
        """The variables its terms use, each once, in order of appearance."""
        return tuple(dict.fromkeys(f for term in self.terms for f in term.factors))


_SERIAL_SYNTAX = re.compile(r"^\s*(\w+)\s*\(\s*([\w.]+)\s*\|\s*([\w.]+(?:\s*:\s*[\w.]+)*)\s*\)\s*$")


def parse_residual(text: str) -> ResidualSpec:
    """Parse ``"ar1(visit | subject)"`` or ``"car1(time | centre:patient)"``.

    Raises
    ------
    SpecError
        On bad syntax or an unknown structure (the message lists the known ones).
    """
    match = _SERIAL_SYNTAX.match(text) if isinstance(text, str) else None
    if match is None:
        raise SpecError(Setting("residual", text),
                        ": expected 'structure(time | individual)', e.g. 'ar1(visit | subject)'; "
                        f"structures: {sorted(STRUCTURES)}")
    name, time, group = match.groups()
    if name not in STRUCTURES:
        raise SpecError(Setting("residual", text), f": unknown structure {name!r}; "
                        f"choose one of {sorted(STRUCTURES)}")
    columns = tuple(part.strip() for part in group.split(":"))
    return ResidualSpec(STRUCTURES[name], time, columns, text)


def parse_sigma(text: str) -> SigmaSpec:
    """Parse a sigma formula such as ``"~ arm"`` or ``"~ time"`` into its fixed terms.

    Raises
    ------
    SpecError
        On a syntax error (with the position), a left-hand side or a random term.
    """
    if not isinstance(text, str) or not text.strip().startswith("~"):
        raise SpecError(Setting("sigma", text), ": expected a one-sided formula such as '~ arm'")
    formula = parse_formula(f"sigma {text}")
    if formula.random:
        raise SpecError(Setting("sigma", text), ": a sigma formula has no random terms")
    if not formula.fixed:
        raise SpecError(Setting("sigma", text), ": the formula has no terms")
    return SigmaSpec(formula.fixed, text)
