"""Engines: how a model is computed and sampled, behind one interface.

An engine takes a :class:`Problem` (the model's frozen stages: design, priors, family,
residual structure, options), says whether it applies and whether it is the right choice
(:meth:`Engine.assess`, with a reason), builds its sampling target once
(:meth:`Engine.build`), samples it into an ``InferenceData`` with every public posterior
variable, random effects completed where it integrated them out (:meth:`Engine.sample`),
and reports problems of its own (:meth:`Engine.diagnostics`).

:func:`choose` picks the engine and sampler and states why; :func:`sample` runs a choice and
keeps the public names (:mod:`lmm_bayes.names`). A new engine is a module with an object of
this interface and one line in :data:`_MODULES`; :data:`ENGINES` maps each engine's name to
it.

The engines, in order of preference:

* ``"collapsed"`` (:mod:`.collapsed`): Gaussian random intercepts on several crossed or
  nested factors, every effect integrated out, independence Metropolis–Hastings;
* ``"marginal"`` (:mod:`.marginal`): a Gaussian model with one grouping factor, the random
  effects integrated out, NUTS on a compiled density (numba for nutpie, JAX for numpyro);
* ``"blocked"`` (:mod:`.blocked`): every other Gaussian model whose effects integrate out
  (any factors and terms, residual structures, sigma formulas), by a blocked Cholesky;
* ``"glmm"`` (:mod:`.glmm`): Bernoulli, binomial, Poisson and negative binomial models,
  the effects of one grouping factor integrated out by adaptive quadrature, or the full
  model of several factors compiled once;
* ``"graph"`` (:mod:`.graph`): the PyMC model, every model; the reference of the others.
"""

from __future__ import annotations

import importlib
import logging
import time
from functools import cache
from typing import TYPE_CHECKING

from .. import names
from ..errors import SamplingError, Setting
from ..sampling import SamplerConfig
from .base import Assessment, Choice, Engine, Problem

if TYPE_CHECKING:
    import arviz as az

    ENGINES: dict[str, Engine]  # for type checkers; made by __getattr__ on first use

__all__ = ["ENGINES", "SAMPLING_TIME", "Assessment", "Choice", "Engine", "Problem", "choose",
           "sample"]

# The engine modules, in order of preference. They import numba and scipy's optimisers
# (and PyMC when sampling), so they are imported when an engine is first chosen or used,
# not when a model's design and priors are built (:class:`Problem` is all that needs).
_MODULES = ("collapsed", "marginal", "blocked", "glmm", "graph")
logger = logging.getLogger("lmm_bayes")


@cache
def _engines() -> dict[str, Engine]:
    modules = [importlib.import_module(f".{name}", __name__) for name in _MODULES]
    return {module.ENGINE.name: module.ENGINE for module in modules}


def __getattr__(name: str):
    """``ENGINES``, each engine by name in order of preference, built on first use."""
    if name == "ENGINES":
        return _engines()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _named(engine: str) -> Engine:
    registry = _engines()
    if engine not in registry:
        raise SamplingError(f"unknown engine {engine!r}; choose 'auto' or one of "
                            f"{list(registry)}")
    return registry[engine]


def _forced(problem: Problem, engine: Engine, sampler: str) -> Choice:
    """``engine``, named by the user, if it can fit the problem with ``sampler``."""
    option = Setting("engine", engine.name)
    assessment = engine.assess(problem)
    if not assessment.applies:
        raise SamplingError(option, f" cannot fit this model with the {engine.name} engine: "
                            f"{assessment.objection}")
    if sampler != "auto" and sampler not in engine.samplers:
        raise SamplingError(f"the {engine.name} engine samples with {list(engine.samplers)}, "
                            "not ", Setting("sampler", sampler))
    note = f"; chosen by {option}" + (f" although {assessment.objection}"
                                      if assessment.objection else "")
    return Choice(engine.name, engine.default_sampler(problem) if sampler == "auto" else sampler,
                  engine.likelihood(problem), assessment.case + note)


def choose(problem: Problem, engine: str = "auto", sampler: str = "auto") -> Choice:
    """The engine and sampler to fit ``problem`` with, and the reason.

    With ``engine="auto"`` the first engine of :data:`ENGINES` that applies and is preferred
    (and has ``sampler``, when one is named) is taken, and the reason lists why each engine
    before it was passed over. A named ``engine`` is taken whenever it can fit the model
    (``engine="collapsed"`` on crossed intercepts with few levels).
    """
    if engine != "auto":
        return _forced(problem, _named(engine), sampler)
    candidates = [e for e in _engines().values() if sampler == "auto" or sampler in e.samplers]
    assessed = [(e, e.assess(problem)) for e in candidates]
    passed_over = []
    for candidate, assessment in assessed:
        if assessment.preferred:
            return Choice(candidate.name, candidate.default_sampler(problem)
                          if sampler == "auto" else sampler, candidate.likelihood(problem),
                          "; ".join([assessment.case, *passed_over]))
        passed_over.append(f"not {candidate.name}: {assessment.objection}")
    forcible = [part for c, a in assessed if a.applies
                for part in ("; ", Setting("engine", c.name), " forces it")]
    raise SamplingError(Setting("sampler", sampler), " does not suit this model: ",
                        "; ".join(passed_over), *forcible)


#: ``sample_stats.attrs`` key of the wall time of :meth:`Engine.sample` in seconds: warm-up
#: and draws, and for the graph engine the compilation that ``pm.sample`` does first
SAMPLING_TIME = "sampling_time_s"


def sample(choice: Choice, target, problem: Problem, config: SamplerConfig, *,
           reuse: bool = False) -> az.InferenceData:
    """Run ``choice``'s engine on ``target`` (built by :meth:`Engine.build` for
    ``problem``, or with ``reuse=True`` for another response on the same design, whose
    response inputs are then replaced by ``problem``'s) and keep the public posterior
    variables; the engine, its reason and the wall time of sampling in seconds
    (:data:`SAMPLING_TIME`: neither nutpie nor this package's other samplers store one) are
    recorded in ``sample_stats.attrs``."""
    engine = _engines()[choice.engine]
    data = None
    if reuse:
        data = engine.response_data(problem)
        if data is None:
            raise SamplingError(f"the {engine.name} engine's target holds its own response "
                                "and cannot take another; build this model's own")
    logger.info("sampling %d chains × (%d tune + %d draws): %s engine, %s", config.chains,
                config.tune, config.draws, engine.name, config.sampler)
    start = time.perf_counter()
    idata = engine.sample(target, problem, config, data)
    elapsed = time.perf_counter() - start
    groups = [g.name for g in problem.design.groups]
    idata.posterior = idata.posterior[names.public(groups, idata.posterior.data_vars)]
    idata.sample_stats.attrs.update(engine=choice.engine, engine_reason=choice.reason,
                                    **{SAMPLING_TIME: elapsed})
    return idata


def diagnostics(idata: az.InferenceData) -> list[str]:
    """The problems that the engine which produced ``idata`` checks for itself (e.g. the
    independence sampler's Pareto k̂); none for a fit that names no engine."""
    engine, registry = idata.sample_stats.attrs.get("engine"), _engines()
    return registry[engine].diagnostics(idata) if engine in registry else []
