"""Error and warning classes, one per pipeline stage.

Every error raised by lmm_bayes derives from :class:`LMMError`, so a caller can catch
them all at once; the stage classes say where the problem lies (the formula, the data,
the priors, the sampler).

A message that names an option setting as the fix (``na_action='drop'``) holds it as a
:class:`Setting`, so that each front end can spell it as its users write it: the Python API
as a keyword argument, the command line as a spec file key or a flag
(:meth:`LMMError.spelled`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """An option set to a value, as an error message suggests it (``na_action="drop"``).

    ``str()`` spells it as a keyword argument of the Python API: ``na_action='drop'``.
    """

    option: str
    value: object

    def __str__(self) -> str:
        return f"{self.option}={self.value!r}"


class LMMError(Exception):
    """Base class of every error raised by lmm_bayes.

    Parameters
    ----------
    *parts : str or Setting
        The message, in pieces: text, and the settings it names, which :meth:`spelled`
        writes as the caller's front end spells options (``str(err)``: as Python keywords).
    """

    def __str__(self) -> str:
        return self.spelled(str)

    def spelled(self, spell: Callable[[Setting], str]) -> str:
        """The message with each :class:`Setting` in it written by ``spell``."""
        return "".join(spell(part) if isinstance(part, Setting) else str(part)
                       for part in self.args)


class SpecError(LMMError, ValueError):
    """The model specification (formula or TOML spec) is malformed."""


class DesignError(LMMError, ValueError):
    """The data do not support the specified model (missing columns, NaN, rank deficiency...)."""


class PriorError(LMMError, ValueError):
    """A prior override names an unknown parameter or has invalid values."""


class SamplingError(LMMError, RuntimeError):
    """The sampler could not be run (unknown or unavailable backend, bad settings)."""


class SamplingWarning(UserWarning):
    """Sampling finished but its diagnostics (divergences, R-hat, ESS) call for caution."""


class LoadError(LMMError, ValueError):
    """A fit cannot be saved or read back: a path that cannot be written; a missing file, not
    a netCDF file written by ``Fit.save``, a malformed attribute, or data that no longer
    rebuild the saved model."""


class OutputError(LMMError, RuntimeError):
    """The results of :func:`lmm_bayes.fit_many` cannot be stored or read: its ``out=`` folder
    is not writable, is in use by another run or holds the results of a different run, or a
    gene has no readable result."""


class IdentifiabilityWarning(UserWarning):
    """The data inform an effect only weakly (few levels with the variation it needs); the
    model can be fitted but that effect rests mostly on its prior."""


class SingularFitWarning(SamplingWarning):
    """A variance component's posterior piles up at zero: lme4 would call the fit singular
    (the data cannot tell that component from zero). The fit is still returned."""
