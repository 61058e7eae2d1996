"""The values an engine reads and returns, and the interface it implements (see
:mod:`lmm_bayes.engines`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from ..design import Design
from ..priors import PriorSet
from ..residuals import ResidualDesign
from ..sampling import SamplerConfig

if TYPE_CHECKING:
    import arviz as az

__all__ = ["Assessment", "Choice", "Engine", "Likelihood", "Problem"]

Likelihood = Literal["conditional", "marginal"]


@dataclass(frozen=True)
class Problem:
    """What an engine computes: a model's stages and the options that bear on them."""

    design: Design
    priors: PriorSet
    family: str = "gaussian"
    link: str | None = None
    parametrization: Literal["auto", "centered", "non-centered"] = "auto"
    likelihood: Literal["auto", "conditional", "marginal"] = "auto"
    residuals: ResidualDesign | None = None


@dataclass(frozen=True)
class Assessment:
    """An engine's view of a problem.

    Attributes
    ----------
    case : str
        What the engine does with the problem, e.g. ``"marginal: one grouping factor
        (Subject, 2 varying terms), effects integrated out"``; empty if it cannot fit it.
    objection : str
        Why it cannot fit the problem (``case`` empty), or why it should not be the
        automatic choice although it can (given the ``likelihood`` option and the shape of
        the posterior); empty if it is the right choice.
    """

    case: str
    objection: str = ""

    @property
    def applies(self) -> bool:
        return bool(self.case)

    @property
    def preferred(self) -> bool:
        return self.applies and not self.objection


@dataclass(frozen=True)
class Choice:
    """The engine and sampler a fit runs with, the likelihood the engine samples, and why."""

    engine: str
    sampler: str
    likelihood: Likelihood
    reason: str


class Engine(Protocol):
    """The interface every engine implements (see the module docstring)."""

    name: str
    samplers: tuple[str, ...]

    def assess(self, problem: Problem) -> Assessment: ...

    def default_sampler(self, problem: Problem) -> str: ...

    def likelihood(self, problem: Problem) -> Likelihood: ...

    def build(self, problem: Problem) -> object: ...

    def response_data(self, problem: Problem) -> dict | None: ...

    def sample(self, target, problem: Problem, config: SamplerConfig,
               data: dict | None = None) -> az.InferenceData: ...

    def diagnostics(self, idata: az.InferenceData) -> list[str]: ...
