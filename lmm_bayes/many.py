"""Many fits of one model: one per gene (per outcome), run on a Dask cluster.

Each gene's response is standardised, y' = (y − m)/s (m = 0 without an intercept), so that
every gene with the same design has exactly the same model — the default priors scale with
the response's mean and SD, so they become identical — and one compiled model per worker
serves them all, with only the response data swapped (:func:`lmm_bayes.builder.response_data`).
The draws are mapped back, β₀ = m + sβ'₀, β = sβ', sd = s·sd', b = s·b', σ = sσ'
(correlations unchanged), which is the posterior of the model fitted to y itself because the
default priors are affine-equivariant (:mod:`lmm_bayes.priors`). With prior overrides or a
non-Gaussian family the response is left as it is (and models are reused only where the
priors and design coincide).

The engine is Dask's distributed scheduler (Rocklin 2015, *Proc. SciPy*): a local cluster
sized to the machine by default, or any ``dask.distributed.Client`` / scheduler address.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import xarray as xr

from . import names
from .api import LMM, Fit
from .errors import DesignError, LMMError
from .priors import INTERCEPT, build_priors
from .sampling import SamplerConfig
from .spec import MODEL_OPTIONS, ModelSpec

__all__ = ["ManyFits", "fit_many", "fit_one", "lfsr_table"]

logger = logging.getLogger("lmm_bayes")

_TEMPLATES: OrderedDict[str, object] = OrderedDict()   # compiled structures, per process
MAX_TEMPLATES = 4


# ----------------------------------------------------------------------------- one gene


def _gene_seed(random_seed: int, name: str) -> int:
    """A seed per gene from the run's seed and the gene's name: the same whatever the order,
    the partition over workers or a resumed run."""
    digest = hashlib.sha256(f"{random_seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _standardisation(spec: ModelSpec, y: np.ndarray) -> tuple[float, float]:
    """(m, s) for the response, or (0, 1) where standardising would change the model."""
    if spec.priors or spec.family != "gaussian" or spec.residual or spec.sigma:
        return 0.0, 1.0
    y = y[np.isfinite(y)]
    scale = float(np.std(y, ddof=1)) if len(y) > 1 else 0.0
    if not scale > 0:
        return 0.0, 1.0
    return (float(np.mean(y)) if spec.formula.has_intercept else 0.0), scale


def rescale(posterior: xr.Dataset, location: float, scale: float) -> xr.Dataset:
    """Map draws fitted to (y − m)/s back to y's scale (see the module docstring)."""
    out = posterior.copy()
    for name in out.data_vars:
        if name in (names.BETA, names.SIGMA) or names.group_variable(name) in ("sd", "b"):
            out[name] = out[name] * scale
    if names.FIXED in out.coords and INTERCEPT in out[names.FIXED].values:
        out[names.BETA].loc[{names.FIXED: INTERCEPT}] += location
    return out


def _canonical_priors(design):
    """The default priors of a standardised response, the same for every gene of a design:
    computed from one fixed standardised vector (of the ranks 0..n−1) rather than from the
    gene's own y, whose mean and SD are 0 and 1 only up to rounding error. So one compiled
    model serves every gene and the draws do not depend on which gene compiled it."""
    ranks = np.arange(design.n_obs, dtype=float)
    return build_priors(replace(design, y=(ranks - ranks.mean()) / ranks.std(ddof=1)), {})


def _structure_key(model: LMM) -> str:
    """What a compiled model depends on besides the response: design, priors, options."""
    from .builder import centring

    design, spec = model.design, model.spec
    digest = hashlib.sha256()
    for array in (design.X, *(a for g in design.groups for a in (g.Z, g.index))):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(repr((spec.formula.text, spec.family, model.likelihood, str(model.priors.table()),
                        [(g.name, g.levels, g.terms) for g in design.groups],
                        centring(design, spec.parametrization))).encode())
    return digest.hexdigest()


def _template(model: LMM):
    """The process's compiled model for ``model``'s structure (built from it if new) and
    whether it was reused."""
    key = _structure_key(model)
    if key in _TEMPLATES:
        _TEMPLATES.move_to_end(key)
        return _TEMPLATES[key], True
    _TEMPLATES[key] = model.pymc_model
    if len(_TEMPLATES) > MAX_TEMPLATES:
        _TEMPLATES.popitem(last=False)
    return _TEMPLATES[key], False


def fit_one(spec: ModelSpec, data: pd.DataFrame, config: SamplerConfig) -> Fit:
    """Fit ``spec`` to one gene's ``data`` as :func:`fit_many` does (standardised response,
    compiled model reused within the process), returning the fit on the original scale."""
    model = LMM.from_spec(spec, data)
    location, scale = _standardisation(spec, model.design.y)
    response = spec.formula.response
    standard = data.assign(**{response: (data[response] - location) / scale})
    working = LMM.from_spec(spec, standard)
    if scale != 1.0:   # the priors, and so the engine's choice, of the standardised response
        working = LMM.from_spec(spec, standard, priors=_canonical_priors(working.design))
    template = None
    # the graph engine's compiled model is reused across genes; the other engines compile
    # nothing, and other families are not standardised
    if spec.family == "gaussian" and working.engine(sampler=config.sampler).engine == "graph":
        template, reused = _template(working)
        template = template if reused else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # diagnostics are reported per gene, not warned
        fitted = working.fit_with(config, target=template)
    fitted.idata.posterior = rescale(fitted.idata.posterior, location, scale)
    return Fit(model, fitted.idata, fitted.config)


def _probabilities(posterior: xr.Dataset) -> pd.DataFrame:
    """P(β > 0) and the local false sign rate min(P(β ≥ 0), P(β ≤ 0)) of each fixed effect
    (Stephens 2017, *Biostatistics* 18(2), eq. 3)."""
    beta = posterior[names.BETA].transpose("chain", "draw", names.FIXED).values
    beta = beta.reshape(-1, beta.shape[-1])
    above, below = (beta > 0).mean(axis=0), (beta < 0).mean(axis=0)
    return pd.DataFrame({"term": posterior[names.FIXED].values.astype(str),
                         "prob_positive": above,
                         "lfsr": np.minimum(1 - below, 1 - above)})


def gene_summary(fit: Fit) -> pd.DataFrame:
    """The fit's summary with its divergences, and P(β > 0) and lfsr on fixed-effect rows."""
    table = fit.summary()
    table["divergences"] = int(fit.idata.sample_stats["diverging"].sum())
    probs = _probabilities(fit.idata.posterior).assign(effect="fixed")
    return table.merge(probs, on=["effect", "term"], how="left")


# ----------------------------------------------------------------------------- storage


@dataclass(frozen=True)
class Store:
    """Results of a run on disk, a file per gene: ``summary/<gene>.parquet``,
    ``posterior/<gene>.nc`` and ``failed/<gene>.json`` (names percent-encoded)."""

    root: Path

    def path(self, kind: str, name: str) -> Path:
        suffix = {"summary": ".parquet", "posterior": ".nc", "failed": ".json"}[kind]
        return self.root / kind / (quote(str(name), safe="") + suffix)

    def done(self) -> set[str]:
        found = set()
        for kind in ("summary", "failed"):
            folder = self.root / kind
            if folder.is_dir():
                found |= {unquote(p.name.rsplit(".", 1)[0]) for p in folder.iterdir()}
        return found

    def write(self, name: str, result: Mapping) -> None:
        for kind in ("summary", "posterior", "failed"):
            self.path(kind, name).parent.mkdir(parents=True, exist_ok=True)
        if result["reason"] is not None and result["summary"] is None:
            self.path("failed", name).write_text(json.dumps({"reason": result["reason"]}))
            return
        result["idata"].to_netcdf(str(self.path("posterior", name)))
        if result["reason"] is not None:
            self.path("failed", name).write_text(json.dumps({"reason": result["reason"]}))
        # the summary last: its presence marks the gene done
        result["summary"].to_parquet(self.path("summary", name))


def run_gene(spec: ModelSpec, name: str, data: pd.DataFrame, config: SamplerConfig,
             out: str | None) -> dict:
    """One task: fit one gene; a failure (bad data, sampling error, divergences) is recorded
    with its reason instead of raised. Writes to ``out`` when given and returns only the
    reason then; otherwise returns the summary and the posterior."""
    try:
        fit = fit_one(spec, data, config)
    except (LMMError, ValueError, np.linalg.LinAlgError) as err:
        result = {"summary": None, "idata": None, "reason": f"{type(err).__name__}: {err}"}
    else:
        summary = gene_summary(fit)
        divergences = int(summary["divergences"].iloc[0])
        reason = f"{divergences} divergent transitions" if divergences else None
        result = {"summary": summary, "idata": fit.idata, "reason": reason}
    if out is None:
        return result
    Store(Path(out)).write(name, result)
    return {"summary": None, "idata": None, "reason": result["reason"]}


# ----------------------------------------------------------------------------- results


def lfsr_table(summary: pd.DataFrame, by: str, term: str) -> pd.DataFrame:
    """Per gene, one fixed effect's estimate, interval, P(β > 0) and lfsr, by lfsr."""
    rows = summary[(summary["effect"] == "fixed") & (summary["term"] == term)]
    if rows.empty:
        raise DesignError(f"no fixed effect {term!r}; terms: "
                          f"{sorted(summary.loc[summary['effect'] == 'fixed', 'term'].unique())}")
    columns = [by, "estimate", "conf_low", "conf_high", "prob_positive", "lfsr"]
    return rows[columns].sort_values("lfsr").reset_index(drop=True)


class ManyFits:
    """The fits of :func:`fit_many`.

    ``summary()`` is one tidy table over genes, ``failures()`` the genes that failed with
    their reason, ``fits[gene]`` one gene's :class:`~lmm_bayes.Fit`, ``lfsr(term)`` and
    ``plot_volcano(term)`` the evidence on one fixed effect across genes.
    """

    def __init__(self, spec: ModelSpec, by: str, frames: Mapping[str, pd.DataFrame],
                 results: Mapping[str, dict], config: SamplerConfig, out: Path | None):
        self.spec, self.by, self.config, self.out = spec, by, config, out
        self._frames, self._results = frames, results

    @property
    def names(self) -> list[str]:
        return list(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def __repr__(self) -> str:
        return (f"ManyFits({self.spec.formula.text!r}, {len(self)} {self.by} values, "
                f"{len(self.failures())} failed)")

    def _summary_of(self, name: str) -> pd.DataFrame | None:
        if self.out is None:
            return self._results[name]["summary"]
        path = Store(self.out).path("summary", name)
        return pd.read_parquet(path) if path.is_file() else None

    def summary(self) -> pd.DataFrame:
        """A column named after ``by``, then each gene's summary rows (effect, group, term,
        estimate, std_error, conf_low, conf_high, ess_bulk, ess_tail, r_hat, divergences, and
        prob_positive and lfsr on fixed effects)."""
        parts = [table.assign(**{self.by: name}) for name in self.names
                 if (table := self._summary_of(name)) is not None]
        table = pd.concat(parts, ignore_index=True)
        return table[[self.by] + [c for c in table.columns if c != self.by]]

    def failures(self) -> pd.DataFrame:
        """The genes whose fit failed or diverged, with the reason."""
        rows = []
        for name in self.names:
            if self.out is None:
                reason = self._results[name]["reason"]
            else:
                path = Store(self.out).path("failed", name)
                reason = json.loads(path.read_text())["reason"] if path.is_file() else None
            if reason is not None:
                rows.append({self.by: name, "reason": reason})
        return pd.DataFrame(rows, columns=[self.by, "reason"])

    def __getitem__(self, name: str) -> Fit:
        if name not in self._frames:
            raise KeyError(f"no {self.by} {name!r}")
        if self.out is None:
            idata = self._results[name]["idata"]
        else:
            import arviz as az
            path = Store(self.out).path("posterior", name)
            idata = az.from_netcdf(str(path)) if path.is_file() else None
        if idata is None:
            raise LMMError(f"{self.by} {name!r} has no fit: "
                           f"{self.failures().set_index(self.by)['reason'].get(name)}")
        return Fit(LMM.from_spec(self.spec, self._frames[name]), idata, self.config)

    def lfsr(self, term: str) -> pd.DataFrame:
        """Per gene: ``term``'s estimate, interval, ``prob_positive`` = P(β > 0) and the local
        false sign rate ``lfsr`` = min(P(β ≥ 0), P(β ≤ 0)) (Stephens 2017), sorted by lfsr."""
        return lfsr_table(self.summary(), self.by, term)

    def n_discoveries(self, term: str, threshold: float = 0.05) -> int:
        """Number of genes with lfsr below ``threshold`` for ``term``."""
        return int((self.lfsr(term)["lfsr"] < threshold).sum())

    def plot_volcano(self, term: str, threshold: float = 0.05):
        """Estimate against −log₁₀ lfsr per gene, genes below ``threshold`` highlighted."""
        from .plots import plot_volcano

        draws = self.config.draws * self.config.chains
        return plot_volcano(self.lfsr(term), term=term, threshold=threshold, n_draws=draws)


# ----------------------------------------------------------------------------- the run


def _split(data: pd.DataFrame, spec: ModelSpec, by: str | None,
           responses: Sequence[str] | None) -> dict[str, pd.DataFrame]:
    """One data frame per gene: rows of each ``by`` value, or the response column replaced
    by each of ``responses``."""
    if (by is None) == (responses is None):
        raise DesignError("give exactly one of by= (long data) or responses= (wide data)")
    if by is not None:
        if by not in data.columns:
            raise DesignError(f"by={by!r} is not a column of the data")
        return {str(k): g.reset_index(drop=True) for k, g in data.groupby(by, sort=True)}
    missing = [r for r in responses if r not in data.columns]
    if missing:
        raise DesignError(f"responses {missing} are not columns of the data")
    shared = data.drop(columns=list(responses))
    return {str(r): shared.assign(**{spec.formula.response: data[r].to_numpy()})
            for r in responses}


def _client(client):
    """A ``distributed.Client``: the one given, one connected to an address, or a local
    cluster of one single-threaded worker process per core."""
    from distributed import Client, LocalCluster

    if client is None:
        cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster), True
    if isinstance(client, str):
        return Client(client), True
    return client, False


def _progress(futures: Iterable, total: int, show: bool):
    from distributed import as_completed

    if not show:
        yield from as_completed(futures)
        return
    from rich.progress import Progress

    with Progress() as bar:
        task = bar.add_task("fitting", total=total)
        for future in as_completed(futures):
            bar.advance(task)
            yield future


def fit_many(formula: str, data: pd.DataFrame, *, by: str | None = None,
             responses: Sequence[str] | None = None, client=None, out: str | None = None,
             draws: int = 1000, tune: int = 1000, chains: int = 2,
             random_seed: int = 0, target_accept: float | None = None,
             progressbar: bool = False, **model_options) -> ManyFits:
    """Fit one model per gene on a Dask cluster.

    Parameters
    ----------
    formula : str
        The model, e.g. ``"expression ~ genotype * time + (1 + time | subject)"``.
    data : pandas.DataFrame
        Long data with a ``by`` column, or wide data with one column per gene (``responses``),
        the formula's response then standing for each of them.
    by, responses : str, sequence of str
        Exactly one of them.
    client : distributed.Client or str, optional
        A client or a scheduler address; default a local cluster, one worker per core.
    out : str, optional
        Folder to stream results to (a parquet summary, a NetCDF posterior and any failure
        per gene); a run given the same folder skips the genes already there (resume). It
        must be shared storage for a remote cluster. Without it results stay in memory.
    draws, tune, chains, random_seed, target_accept
        As :meth:`LMM.fit`; each gene's seed derives from ``random_seed`` and its name.
    progressbar : bool
    **model_options
        Keywords of :class:`LMM` (``priors``, ``factors``, ``reference``...).

    Returns
    -------
    ManyFits
    """
    unknown = set(model_options) - set(MODEL_OPTIONS)
    if unknown:
        raise DesignError(f"unknown option(s) {sorted(unknown)} for fit_many")
    spec = ModelSpec.from_formula(formula, **model_options)
    # checked here, before any gene's seed is derived from random_seed
    config = SamplerConfig(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                           target_accept=target_accept)
    frames = _split(data, spec, by, responses)
    store = Path(out) if out is not None else None
    done = Store(store).done() if store is not None else set()
    todo = [name for name in frames if name not in done]
    results: dict[str, dict] = {}
    if todo:
        dask_client, owned = _client(client)
        try:
            futures = {}
            for name in todo:
                gene = replace(config, cores=1, random_seed=_gene_seed(random_seed, name))
                future = dask_client.submit(run_gene, spec, name, frames[name], gene,
                                            None if store is None else str(store),
                                            key=f"lmm-{quote(name, safe='')}-{random_seed}",
                                            pure=False)
                futures[future] = name
            for future in _progress(futures, len(futures), progressbar):
                results[futures[future]] = future.result()
        finally:
            if owned:
                dask_client.close()
    logger.info("fit_many: %d fitted, %d already done", len(todo), len(done & set(frames)))
    return ManyFits(spec, by or "response", frames, results, config, store)
