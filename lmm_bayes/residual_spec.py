"""The residual options of a model spec, parsed into frozen values (no data).

``residual="ar1(visit | subject)"`` names a residual correlation structure (one of
:data:`STRUCTURES`: :mod:`lmm_bayes.structures`, :mod:`lmm_bayes.visit_structures`), its
time variable and the columns that identify an individual, and for the structures across
visits optionally a column whose levels (arms) each get their own correlation,
``"us(visit | id, by = arm)"``; ``sigma="~ arm"`` is a one-sided formula for the log residual SD. Both are
parsed once, when the spec is made (:meth:`lmm_bayes.spec.ModelSpec.from_formula`);
:mod:`lmm_bayes.residuals` builds their per-row designs from the parsed values. Each value
keeps the text it was parsed from, which is what a saved fit stores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import Setting, SpecError
from .families import Parameter
from .formula import Term, parse_formula
from .structures import Autoregressive, ResidualStructure
from .visit_structures import CompoundSymmetry, Toeplitz, Unstructured

__all__ = ["STRUCTURES", "ResidualSpec", "SigmaSpec", "parse_residual", "parse_sigma",
           "structure_parameters"]

STRUCTURES: dict[str, ResidualStructure] = {
    structure.name: structure
    for structure in (Autoregressive("ar1", whole_times=True, signed=True),
                      Autoregressive("car1", whole_times=False, signed=False),
                      Unstructured("us"), CompoundSymmetry("cs"),
                      CompoundSymmetry("csh", heterogeneous=True), Toeplitz("toep"),
                      Toeplitz("toeph", heterogeneous=True))
}


def structure_parameters() -> dict[str, Parameter]:
    """Every structure's parameters by name, in the order of :data:`STRUCTURES`: what a
    posterior may hold of a residual structure, whichever one it came from."""
    return {p.name: p for structure in STRUCTURES.values() for p in structure.parameters}


@dataclass(frozen=True)
class ResidualSpec:
    """A parsed ``residual`` option: structure (:mod:`lmm_bayes.structures`), time variable
    and the individual's columns."""

    structure: ResidualStructure
    time: str
    group: tuple[str, ...]
    text: str
    by: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The variables it uses: the time, the individual's columns, then ``by``'s."""
        return (self.time, *self.group, *((self.by,) if self.by else ()))


@dataclass(frozen=True)
class SigmaSpec:
    """A parsed ``sigma`` option: the fixed terms of the log residual SD's formula."""

    terms: tuple[Term, ...]
    text: str

    @property
    def columns(self) -> tuple[str, ...]:
        """The variables its terms use, each once, in order of appearance."""
        return tuple(dict.fromkeys(f for term in self.terms for f in term.factors))


_SERIAL_SYNTAX = re.compile(r"^\s*(\w+)\s*\(\s*([\w.]+)\s*\|\s*([\w.]+(?:\s*:\s*[\w.]+)*)\s*"
                            r"(?:,\s*by\s*=\s*([\w.]+)\s*)?\)\s*$")


def parse_residual(text: str) -> ResidualSpec:
    """Parse ``"ar1(visit | subject)"``, ``"car1(time | centre:patient)"`` or
    ``"us(visit | id, by = arm)"``.

    Raises
    ------
    SpecError
        On bad syntax, an unknown structure (the message lists the known ones) or ``by``
        with a structure that has no per-arm form.
    """
    match = _SERIAL_SYNTAX.match(text) if isinstance(text, str) else None
    if match is None:
        raise SpecError(Setting("residual", text),
                        ": expected 'structure(time | individual)', e.g. 'ar1(visit | subject)', or "
                        "'structure(time | individual, by = arm)' for us, cs, toep; "
                        f"structures: {sorted(STRUCTURES)}")
    name, time, group, by = match.groups()
    if name not in STRUCTURES:
        raise SpecError(Setting("residual", text), f": unknown structure {name!r}; "
                        f"choose one of {sorted(STRUCTURES)}")
    if by is not None and not STRUCTURES[name].per_arm:
        raise SpecError(Setting("residual", text), f": {name} has no per-arm form; 'by =' "
                        f"is for {sorted(k for k, s in STRUCTURES.items() if s.per_arm)}")
    columns = tuple(part.strip() for part in group.split(":"))
    return ResidualSpec(STRUCTURES[name], time, columns, text, by)


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
