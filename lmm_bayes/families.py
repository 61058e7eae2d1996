"""Response families: one object per family, holding everything the package asks of it.

A family maps the linear predictor η = Xβ + Σ Z b to the mean μ = g⁻¹(η) of the response
and says how the response varies around it. Each family is one :class:`Family` subclass
here, and its object carries

* its name, link g and the links it accepts (the default first);
* the numpy half: log-density and draws of y given μ and the extra parameters, used on
  posterior draws by prediction, predictive checks and pointwise log-likelihoods (LOO);
* the PyMC half: the likelihood of the observed y given η (:meth:`Family.likelihood`),
  which the builder asks for; PyMC is imported there only, so summaries and prediction use
  families with numpy alone;
* its extra parameters (:class:`Parameter`: posterior name and prior key, default prior,
  term in the tidy summary), which priors, the builder, prediction and the summary read;
* its latent-scale residual variance, the ICC's σ²_ε
  (:func:`lmm_bayes.summaries.latent_residual_variance`).

=============  ==============  ==================  =============================  =========
family         default link    other links         mean μ                         extra
=============  ==============  ==================  =============================  =========
gaussian       identity                            E[y]                           sigma
student        identity                            E[y] (ν > 1), the median       sigma, nu
bernoulli      logit           probit, cloglog     P(y = 1)                       (none)
binomial       logit           probit, cloglog     P(success) in each trial       (none)
poisson        log                                 E[y]                           (none)
negbinomial    log                                 E[y]; Var y = μ + μ²/α         alpha
cumulative     logit           probit              the location η (see below)     cutpoints
=============  ==============  ==================  =============================  =========

The cumulative family (ordinal outcomes, McCullagh 1980) models K ordered categories
through K − 1 ordered cutpoints c, P(y ≤ k | η) = F(c_k − η), F the link's distribution
function; its "mean" passed around is the location η, and
:meth:`Family.expected_value` turns it into the expected category score E[y]
(categories scored 1, …, K).

The numpy methods take the extra parameters in a mapping ``aux`` keyed by name, arrays that
broadcast against the mean; for the binomial ``aux["trials"]`` is each row's number of
trials, which comes from the data (``cbind(successes, failures)``), not from the
posterior, so it is not an extra parameter. The binomial's mean is the success
probability, not the expected count (lme4's ``fitted()`` on the response scale).

A new family is a subclass here and one entry in :data:`FAMILIES`, plus the posterior name
of a new extra parameter in :mod:`lmm_bayes.names`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from scipy import special  # scipy.stats (seconds to import) is imported by each logpdf

from .distributions import Prior
from .errors import SpecError
from .names import ALPHA, CUTPOINT, CUTPOINTS, NU, SIGMA

__all__ = ["FAMILIES", "Family", "Parameter", "ResidualVariance", "extra_parameters", "get_family",
           "residual_obstacle"]

#: σ²_ε as a function of the random-effect variance Σ_k v_k, both per draw (chain, draw)
ResidualVariance = Callable[[np.ndarray], np.ndarray]


def _identity(eta: np.ndarray) -> np.ndarray:
    return eta


def _cloglog_inverse(eta: np.ndarray) -> np.ndarray:
    """1 − exp(−exp(η)), the complementary log-log's inverse."""
    return -np.expm1(-np.exp(eta))


INVERSE_LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": _identity,
    "logit": special.expit,
    "probit": special.ndtr,
    "cloglog": _cloglog_inverse,
    "log": np.exp,
}

LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": _identity,
    "logit": special.logit,
    "probit": special.ndtri,
    "cloglog": lambda mu: np.log(-np.log1p(-mu)),
    "log": np.log,
}


@dataclass(frozen=True)
class Parameter:
    """A family's parameter besides the mean.

    Attributes
    ----------
    name : str
        Its posterior variable and the key of its prior override (``"sigma"``).
    term : str
        Its row in the tidy summary, effect "ran_pars", group "Residual" (broom.mixed's
        ``sd__Observation`` for a residual SD). A name means one parameter in every family,
        with one term.
    default_prior : callable (scale) -> Prior
        Its default prior given the response scale s: sd(y) under the identity link, 1 on
        a link scale (:mod:`lmm_bayes.priors`).
    dim : str or None
        For a vector parameter (the cumulative family's ``cutpoints``), its dimension; its
        rows in the tidy summary then have ``term`` as their effect and each coordinate as
        their term. None for a scalar.
    positive : bool
        Whether the parameter is positive (an SD, a shape) or on the whole real line, which
        decides the prior families an override may take.
    ordered : bool
        Whether a vector parameter is increasing (PyMC's ``ordered`` transform).
    """

    name: str
    term: str
    default_prior: Callable[[float], Prior]
    dim: str | None = None
    positive: bool = True
    ordered: bool = False


@dataclass(frozen=True)
class Family(ABC):
    """A response distribution and its link; one subclass per family.

    Attributes
    ----------
    name : str
    link : str
        Name of the link g, with μ = g⁻¹(η).
    links : tuple of str
        The links the family accepts, the default first (class attribute).
    extra : tuple of Parameter
        The family's parameters besides the mean (class attribute).
    """

    name: str
    link: str
    links: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[tuple[Parameter, ...]] = ()

    @property
    def parameters(self) -> tuple[str, ...]:
        """Names of the extra parameters: the keys of ``aux`` besides ``trials``."""
        return tuple(p.name for p in self.extra)

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        """μ = g⁻¹(η)."""
        return INVERSE_LINKS[self.link](eta)

    def link_function(self, mu: np.ndarray) -> np.ndarray:
        """η = g(μ)."""
        return LINKS[self.link](mu)

    def expected_value(self, mean: np.ndarray, aux: Mapping) -> np.ndarray:
        """E[y] given the mean μ = g⁻¹(η) and the extra parameters: μ itself, except for a
        family whose μ is a location rather than the response's mean (the cumulative)."""
        return mean

    def initial_values(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """Starting values of vector parameters that need one (ordered cutpoints), by name."""
        return {}

    @abstractmethod
    def logpdf(self, y: np.ndarray, mean: np.ndarray, aux: Mapping) -> np.ndarray:
        """Log-density (or log-mass) of y given the mean, elementwise with broadcasting."""

    @abstractmethod
    def draw(self, mean: np.ndarray, aux: Mapping, rng: np.random.Generator) -> np.ndarray:
        """Draws of the response given the mean."""

    @abstractmethod
    def likelihood(self, eta, observed, parameters: Mapping, trials: np.ndarray | None) -> None:
        """The observed response ``y`` (dim ``obs``) in the current PyMC model.

        Parameters
        ----------
        eta : pytensor variable
            The linear predictor, one entry per row.
        observed : pymc.Data
            The response.
        parameters : mapping of name to PyMC variable
            The extra parameters, by the names of :attr:`extra`.
        trials : ndarray or None
            Each row's number of trials (binomial).
        """

    @abstractmethod
    def latent_residual_variance(self, parameters: Mapping[str, np.ndarray],
                                 fixed_mean: np.ndarray | None = None) -> ResidualVariance:
        """The observation-level variance σ²_ε in the ICC's denominator.

        Parameters
        ----------
        parameters : mapping of name to ndarray (chain, draw)
            The extra parameters' draws.
        fixed_mean : ndarray (chain, draw), optional
            The fixed part of the linear predictor at which a count family's variance is
            taken.

        Returns
        -------
        callable
            From the random-effect variance Σ_k v_k, shape (chain, draw), to σ²_ε.
        """


#: the residual scale σ of the identity-link families, its default prior HalfStudentT(3, sd(y))
_SIGMA = Parameter(SIGMA, "sd__Observation", lambda s: Prior("halfstudentt", nu=3.0, sigma=s))


@dataclass(frozen=True)
class Gaussian(Family):
    """y ~ N(μ, σ²), μ = η.

    Notes
    -----
    Default prior σ ~ HalfStudentT(3, sd(y)) (Bürkner 2017). The ICC's σ²_ε is σ².
    """

    name: str = "gaussian"
    link: str = "identity"
    links: ClassVar[tuple[str, ...]] = ("identity",)
    extra: ClassVar[tuple[Parameter, ...]] = (_SIGMA,)

    def logpdf(self, y, mean, aux):
        from scipy import stats

        return stats.norm.logpdf(y, loc=mean, scale=aux[SIGMA])

    def draw(self, mean, aux, rng):
        return rng.normal(mean, aux[SIGMA])

    def likelihood(self, eta, observed, parameters, trials):
        import pymc as pm

        pm.Normal("y", mu=eta, sigma=parameters[SIGMA], observed=observed, dims="obs")

    def latent_residual_variance(self, parameters, fixed_mean=None):
        return lambda _: parameters[SIGMA] ** 2


@dataclass(frozen=True)
class StudentT(Family):
    """y ~ Student-t(ν, μ, σ), μ = η: residuals with heavier tails than the normal's, so that
    a few outlying rows pull the fit less (Lange, Little & Taylor 1989, *JASA* 84, 881–896).

    Notes
    -----
    The density is Γ((ν+1)/2) / (Γ(ν/2) √(νπ) σ) · (1 + ((y − μ)/σ)²/ν)^(−(ν+1)/2), a
    normal scale mixture: y | w ~ N(μ, σ²/w) with w ~ Gamma(ν/2, rate ν/2). μ is the
    median, and the mean when ν > 1; σ is a scale, not the SD: Var y = σ² ν/(ν − 2) for
    ν > 2, infinite for 1 < ν ≤ 2. ν → ∞ is the Gaussian.

    Default priors: σ as the Gaussian's, HalfStudentT(3, sd(y)); ν ~ Gamma(2, rate 0.1),
    brms's default (Juárez & Steel 2010, *JASA* 105, 180–193): mean 20, with 5% of its
    mass below 3.6 and 5% above 47. brms bounds ν below by 1; here it is not bounded
    (its prior mass below 1 is 0.5%), so a fit whose ν draws reach below 1 has no mean
    there, and ``predict(kind="mean")`` reports the location μ, the median.

    The ICC's σ²_ε is the residual variance σ² ν/(ν − 2) per draw (Var y given the
    random effects), infinite for draws with ν ≤ 2, whose ICC is then 0, the limit of
    v/(v + σ²_ε): the ICC is a share of variance, and such residuals have no finite one.
    """

    name: str = "student"
    link: str = "identity"
    links: ClassVar[tuple[str, ...]] = ("identity",)
    extra: ClassVar[tuple[Parameter, ...]] = (
        _SIGMA, Parameter(NU, "nu", lambda _: Prior("gamma", alpha=2.0, beta=0.1)),
    )

    def logpdf(self, y, mean, aux):
        from scipy import stats

        return stats.t.logpdf(y, aux[NU], loc=mean, scale=aux[SIGMA])

    def draw(self, mean, aux, rng):
        """μ + σ t with t a standard Student-t draw of ν degrees of freedom."""
        shape = np.broadcast_shapes(np.shape(mean), np.shape(aux[SIGMA]), np.shape(aux[NU]))
        return mean + aux[SIGMA] * rng.standard_t(np.broadcast_to(aux[NU], shape))

    def likelihood(self, eta, observed, parameters, trials):
        import pymc as pm

        pm.StudentT("y", nu=parameters[NU], mu=eta, sigma=parameters[SIGMA],
                    observed=observed, dims="obs")

    def latent_residual_variance(self, parameters, fixed_mean=None):
        nu = np.asarray(parameters[NU], dtype=float)
        ratio = np.divide(nu, nu - 2, out=np.full(nu.shape, np.inf), where=nu > 2)
        return lambda _: parameters[SIGMA] ** 2 * ratio


#: σ²_ε of a binary response on its link's latent scale, y = 1 when η + ε > 0: ε logistic
#: (logit), standard normal (probit) or extreme-value (cloglog)
_LATENT_VARIANCE = {"logit": np.pi**2 / 3, "probit": 1.0, "cloglog": np.pi**2 / 6}


@dataclass(frozen=True)
class _Binary(Family):
    """What the Bernoulli and the binomial share: a probability μ and its links.

    Notes
    -----
    The ICC's σ²_ε is the latent-scale variance of the link: π²/3 (logit), 1 (probit),
    π²/6 (cloglog) (Snijders & Bosker 2012, §17.3; Nakagawa, Johnson & Schielzeth 2017,
    *J. R. Soc. Interface* 14: 20170213, Table 1).
    """

    link: str = "logit"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit", "cloglog")

    def latent_residual_variance(self, parameters, fixed_mean=None):
        variance = _LATENT_VARIANCE[self.link]
        return lambda v: np.full(np.shape(v), variance)

    def _probability(self, eta) -> dict:
        """PyMC's probability argument: ``logit_p`` = η under the logit link (stabler than
        p = expit(η) in the tails), else ``p`` = g⁻¹(η)."""
        if self.link == "logit":
            return {"logit_p": eta}
        if self.link == "probit":
            import pymc as pm

            return {"p": pm.math.invprobit(eta)}
        import pytensor.tensor as pt

        return {"p": -pt.expm1(-pt.exp(eta))}  # cloglog: 1 − exp(−exp η)


@dataclass(frozen=True)
class Bernoulli(_Binary):
    """y ∈ {0, 1} with P(y = 1) = μ."""

    name: str = "bernoulli"

    def logpdf(self, y, mean, aux):
        from scipy import stats

        return stats.bernoulli.logpmf(y, mean)

    def draw(self, mean, aux, rng):
        return (rng.random(np.shape(mean)) < mean).astype(float)

    def likelihood(self, eta, observed, parameters, trials):
        import pymc as pm

        pm.Bernoulli("y", **self._probability(eta), observed=observed, dims="obs")


@dataclass(frozen=True)
class Binomial(_Binary):
    """y successes in n trials, y ~ Binomial(n, μ)."""

    name: str = "binomial"

    def logpdf(self, y, mean, aux):
        from scipy import stats

        return stats.binom.logpmf(y, aux["trials"], mean)

    def draw(self, mean, aux, rng):
        trials = np.broadcast_to(aux["trials"], np.shape(mean)).astype(np.int64)
        return rng.binomial(trials, mean).astype(float)

    def likelihood(self, eta, observed, parameters, trials):
        import pymc as pm

        pm.Binomial("y", n=trials.astype("int64"), **self._probability(eta),
                    observed=observed, dims="obs")


@dataclass(frozen=True)
class _Count(Family):
    """What the count families share: the log link and the ICC's log-normal approximation.

    Notes
    -----
    σ²_ε = ln(1 + 1/λ + d), with λ = exp(β̄₀ + Σ_k v_k / 2) the mean count at the fixed
    part β̄₀ (``fixed_mean``) of the linear predictor and d the squared coefficient of
    variation that the family adds beyond the Poisson's (Nakagawa & Schielzeth 2010,
    *Biol. Rev.* 85, 935–956; Nakagawa, Johnson & Schielzeth 2017, Table 1).
    """

    link: str = "log"
    links: ClassVar[tuple[str, ...]] = ("log",)

    def latent_residual_variance(self, parameters, fixed_mean=None):
        if fixed_mean is None:
            raise ValueError(f"the {self.name} family's latent ICC needs the fixed part of the "
                             "linear predictor (fixed_mean)")
        extra = self._extra_dispersion(parameters)
        return lambda v: np.log1p(1 / np.exp(fixed_mean + v / 2) + extra)

    def _extra_dispersion(self, parameters: Mapping[str, np.ndarray]) -> np.ndarray | float:
        """d in ln(1 + 1/λ + d): 0 for the Poisson."""
        return 0.0


@dataclass(frozen=True)
class Poisson(_Count):
    """y ~ Poisson(μ)."""

    name: str = "poisson"

    def logpdf(self, y, mean, aux):
        from scipy import stats

        return stats.poisson.logpmf(y, mean)

    def draw(self, mean, aux, rng):
        return rng.poisson(mean).astype(float)

    def likelihood(self, eta, observed, parameters, trials):
        import pymc as pm

        pm.Poisson("y", mu=pm.math.exp(eta), observed=observed, dims="obs")


@dataclass(frozen=True)
class NegativeBinomial(_Count):
    """y ~ NB(μ, α), Var y = μ + μ²/α (α → ∞ is the Poisson).

    Notes
    -----
    Default prior α ~ Exponential(1), rstanarm's ``reciprocal_dispersion``. In the ICC's
    log-normal approximation α adds d = 1/α.
    """

    name: str = "negbinomial"
    extra: ClassVar[tuple[Parameter, ...]] = (
        Parameter(ALPHA, "alpha", lambda _: Prior("exponential", lam=1.0)),
    )

    def logpdf(self, y, mean, aux):
        """scipy's NB(n, p) with n = α, p = α/(α + μ)."""
        from scipy import stats

        alpha = aux[ALPHA]
        return stats.nbinom.logpmf(y, alpha, alpha / (alpha + mean))

    def draw(self, mean, aux, rng):
        """Gamma–Poisson mixture: λ ~ Gamma(α, scale μ/α), y ~ Poisson(λ)."""
        alpha = aux[ALPHA]
        return rng.poisson(rng.gamma(alpha, np.asarray(mean) / alpha)).astype(float)

    def likelihood(self, eta, observed, parameters, trials):
        import pymc as pm

        pm.NegativeBinomial("y", mu=pm.math.exp(eta), alpha=parameters[ALPHA],
                            observed=observed, dims="obs")

    def _extra_dispersion(self, parameters):
        return 1 / parameters[ALPHA]


#: the distribution function F of the latent residual of a cumulative link, and log F
_CDF = {"logit": special.expit, "probit": special.ndtr}
_LOG_CDF = {"logit": special.log_expit, "probit": special.log_ndtr}


def _log_difference(log_a: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    """log(a − b) from log a ≥ log b, as log a + log(1 − e^(log b − log a))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return log_a + np.log1p(-np.exp(log_b - log_a))


@dataclass(frozen=True)
class Cumulative(Family):
    """Ordered categories y ∈ {1, …, K}: P(y ≤ k | η) = F(c_k − η), k = 1, …, K − 1.

    A latent y* = η + ε, ε with distribution function F (logistic for the logit link,
    standard normal for the probit), falls in category k when c_(k−1) < y* ≤ c_k, with
    c_0 = −∞ < c_1 < … < c_(K−1) < c_K = ∞ (McCullagh 1980, *JRSS B* 42; Agresti 2010,
    *Analysis of Ordinal Categorical Data*, ch. 3–5; ordinal::clmm's parametrisation,
    Christensen 2019). The cutpoints take the place of the intercept, which the design
    drops; a larger η moves the rows to higher categories.

    The numpy methods' "mean" is the location η (:meth:`inverse_link` is the identity) and
    ``aux["cutpoints"]`` the cutpoints, (S, 1, K − 1) against a location (S, m); y holds
    each row's category position 1, …, K.

    Notes
    -----
    Default prior c_k ~ Student-t(3, 0, 2.5) under the ordering constraint, brms's default
    for the cumulative family's intercepts (Bürkner & Vuorre 2019, *AMPPS* 2(1)). The
    ICC's σ²_ε is the latent residual's variance, π²/3 (logit) or 1 (probit), as for a
    binary response.
    """

    name: str = "cumulative"
    link: str = "logit"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit")
    extra: ClassVar[tuple[Parameter, ...]] = (
        Parameter(CUTPOINTS, "cutpoint",
                  lambda _: Prior("student_t", nu=3.0, mu=0.0, sigma=2.5),
                  dim=CUTPOINT, positive=False, ordered=True),
    )

    def inverse_link(self, eta):
        """The location η itself: the categories' probabilities need the cutpoints too
        (:meth:`category_probabilities`)."""
        return eta

    def link_function(self, mu):
        return mu

    def cumulative_probabilities(self, location, cutpoints) -> np.ndarray:
        """P(y ≤ k) = F(c_k − η), k = 1, …, K − 1, along a new last axis."""
        return _CDF[self.link](cutpoints - np.asarray(location)[..., None])

    def category_probabilities(self, location, cutpoints) -> np.ndarray:
        """P(y = k) = F(c_k − η) − F(c_(k−1) − η), k = 1, …, K, along a new last axis."""
        below = self.cumulative_probabilities(location, cutpoints)
        shape = below.shape[:-1] + (1,)
        return np.diff(np.concatenate([np.zeros(shape), below, np.ones(shape)], axis=-1))

    def expected_value(self, mean, aux):
        """E[y] = Σ_k k P(y = k) = 1 + Σ_(k<K) P(y > k) = 1 + Σ_k F(η − c_k)."""
        return 1.0 + (1.0 - self.cumulative_probabilities(mean, aux[CUTPOINTS])).sum(axis=-1)

    def logpdf(self, y, mean, aux):
        """log P(y = k) = log(F(c_k − η) − F(c_(k−1) − η)), taken on the survival side,
        log(F(η − c_(k−1)) − F(η − c_k)) (F symmetric), where the lower cutpoint exceeds η,
        so neither tail loses precision."""
        cutpoints = np.asarray(aux[CUTPOINTS])
        edge = np.full(cutpoints.shape[:-1] + (1,), np.inf)
        padded = np.concatenate([-edge, cutpoints, edge], axis=-1)   # c_0, …, c_K
        k = np.asarray(y, dtype=np.int64)
        padded = padded.reshape((1,) * max(0, k.ndim + 1 - padded.ndim) + padded.shape)
        index = k.reshape((1,) * (padded.ndim - 1 - k.ndim) + k.shape + (1,))
        upper = np.take_along_axis(padded, index, axis=-1)[..., 0] - mean
        lower = np.take_along_axis(padded, index - 1, axis=-1)[..., 0] - mean
        log_cdf = _LOG_CDF[self.link]
        return np.where(lower > 0, _log_difference(log_cdf(-lower), log_cdf(-upper)),
                        _log_difference(log_cdf(upper), log_cdf(lower)))

    def draw(self, mean, aux, rng):
        """y = 1 + #{k : P(y ≤ k) < u}, u ~ U(0, 1) (inverse distribution function)."""
        below = self.cumulative_probabilities(mean, aux[CUTPOINTS])
        u = rng.random(below.shape[:-1])
        return 1.0 + (below < u[..., None]).sum(axis=-1)

    def likelihood(self, eta, observed, parameters, trials):
        """PyMC's ordered logistic or probit on the categories' positions less one."""
        import pymc as pm
        import pytensor.tensor as pt

        ordered = pm.OrderedLogistic if self.link == "logit" else pm.OrderedProbit
        ordered("y", eta=eta, cutpoints=parameters[CUTPOINTS],
                observed=pt.cast(observed, "int64") - 1, compute_p=False, dims="obs")

    def latent_residual_variance(self, parameters, fixed_mean=None):
        variance = _LATENT_VARIANCE[self.link]
        return lambda v: np.full(np.shape(v), variance)

    def initial_values(self, y):
        """The cutpoints at the link of the observed cumulative proportions,
        c_k = F⁻¹((n_(≤k) + ½)/(n + 1)): where the data put them with η = 0."""
        counts = np.bincount(np.asarray(y, dtype=np.int64))[1:]
        below = (np.cumsum(counts)[:-1] + 0.5) / (counts.sum() + 1.0)
        return {CUTPOINTS: LINKS[self.link](below)}


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (Gaussian(), Bernoulli(), Binomial(), Poisson(), NegativeBinomial(),
                   StudentT(), Cumulative())
}


def extra_parameters() -> dict[str, Parameter]:
    """Every family's extra parameters by name, in the order of :data:`FAMILIES`: what a
    posterior may hold besides the mean model, whichever family it came from."""
    return {p.name: p for family in FAMILIES.values() for p in family.extra}


def get_family(name: str, link: str | None = None) -> Family:
    """The family called ``name`` with ``link`` (its default link when None).

    Raises
    ------
    SpecError
        For an unknown family (listing the choices) or a link the family does not take.
    """
    if name not in FAMILIES:
        raise SpecError(f"unknown family {name!r}; available: {list(FAMILIES)}")
    family = FAMILIES[name]
    if link is None or link == family.link:
        return family
    if link not in family.links:
        raise SpecError(f"the {name} family takes the link(s) {list(family.links)}, "
                        f"not {link!r}")
    return replace(family, link=link)


def residual_obstacle(family: Family, *, structure: bool, sigma: bool) -> str | None:
    """What keeps ``family`` from a residual correlation structure (``structure``, e.g.
    ``residual="ar1(visit | subject)"``) or a sigma formula (``sigma``), or None.

    A structure writes a multivariate normal likelihood for each individual's residuals
    (:mod:`lmm_bayes.structures`), so it needs the Gaussian family; a sigma formula models
    the residual scale σ, so it needs a family that has one (Gaussian, Student-t).
    """
    if structure and family.name != "gaussian":
        return (f"a residual correlation structure needs the gaussian family (its likelihood "
                f"is multivariate normal), not the {family.name} family")
    if sigma and SIGMA not in family.parameters:
        with_sigma = [name for name, f in FAMILIES.items() if SIGMA in f.parameters]
        return (f"a sigma formula models the residual scale sigma, which the {family.name} "
                f"family does not have; families with one: {with_sigma}")
    return None
