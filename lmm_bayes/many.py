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
Dask and pyarrow (the parquet summaries) are the ``many`` extra, ``pip install
"lmm_bayes[many]"``: only this module uses them, and a plain install does without.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import xarray as xr

from . import names
from .api import LMM, Fit
from .cluster import dask_client
from .errors import DesignError, LMMError, OutputError, SamplingError
from .priors import INTERCEPT, build_priors
from .sampling import SamplerConfig
from .spec import MODEL_OPTIONS, ModelSpec
from .version import __version__

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
    if (spec.priors or spec.family != "gaussian" or spec.residual or spec.sigma
            or spec.formula.offsets  # y = offset + ...: the offset would need rescaling
            or spec.formula.censoring):  # and cens()'s upper bounds
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
    # the priors (and so the engine's choice) of the standardised response; they depend on
    # the design's columns and rows only, which the gene's own model already has
    priors = _canonical_priors(model.design) if scale != 1.0 else None
    working = LMM.from_spec(spec, standard, priors=priors)
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

KINDS = {"done": ".json", "summary": ".parquet", "posterior": ".nc", "failed": ".json"}
PARTIAL = ".partial"        # the suffix of a file being written or a probe; no result's
MANIFEST = "manifest.json"
LOCK = ".lock"


def _write_whole(path: Path, write: Callable[[Path], object]) -> int:
    """Write ``path`` whole or not at all and return its size: ``write`` fills a temporary
    file in the same folder, which is synced, then renamed over ``path`` (atomic on POSIX)."""
    partial = path.with_name(f"{path.name}.{secrets.token_hex(4)}{PARTIAL}")
    try:
        write(partial)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())       # the data reach the disk before the name does
        size = partial.stat().st_size
        os.replace(partial, path)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err}") from err
    finally:
        partial.unlink(missing_ok=True)     # still there only where writing failed
    return size


def _write_json(path: Path, content: Mapping) -> int:
    return _write_whole(path, lambda partial: partial.write_text(json.dumps(content, indent=1)))


def _read(path: Path, reader: Callable[[Path], Any]) -> Any:
    """``reader(path)``, a failure to read raised as an :class:`OutputError` naming the file."""
    try:
        return reader(path)
    except (OSError, ValueError) as err:    # what h5py, pyarrow and json raise on a bad file
        raise OutputError(f"cannot read {path}: {err}") from err


def _read_json(path: Path) -> dict:
    return _read(path, lambda p: json.loads(p.read_text()))


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock file for one run. The kernel drops an flock when its process
    ends, however it ends, so a killed run never leaves the folder locked."""
    import fcntl  # POSIX only: imported here so that the package still imports elsewhere

    with open(folder / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "holder unknown"
            raise OutputError(f"the output folder {folder} is in use by another fit_many run "
                              f"({holder}); wait for it to end or choose another out=") from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield


def _manifest(spec: ModelSpec, data: pd.DataFrame, by: str | None,
              frames: Mapping[str, pd.DataFrame], config: SamplerConfig) -> dict:
    """What a run's results depend on, as ``manifest.json`` holds it: the package version,
    the model, the sampler settings, ``by``, the genes and a fingerprint of the data."""
    model = {f.name: getattr(spec, f.name) for f in fields(spec)}
    model["formula"] = spec.formula.text
    sampler = {key: getattr(config, key)
               for key in ("sampler", "draws", "tune", "chains", "target_accept", "random_seed")}
    data_digest = hashlib.sha256(repr(list(data.columns)).encode())
    data_digest.update(pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes())
    manifest = {"lmm_bayes": __version__, **model, **sampler, "by": by, "genes": sorted(frames),
                "data": data_digest.hexdigest()[:16]}
    # as it reads back from disk (tuples as lists, priors as their repr), to compare with that
    return json.loads(json.dumps(manifest, default=repr))


def _first(items: Sequence, n: int = 5) -> str:
    return f"{list(items[:n])}{'…' if len(items) > n else ''}"


def _change(key: str, old, new) -> str:
    """One line on how a manifest entry changed."""
    if isinstance(old, list) and isinstance(new, list):
        added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
        return (f"{key}: {len(old)} in the folder, {len(new)} now (added {_first(added)}, "
                f"removed {_first(removed)})")
    return f"{key}: {old!r} in the folder, {new!r} now"


@dataclass(frozen=True)
class Store:
    """A run's results on disk, files per gene (names percent-encoded):
    ``summary/<gene>.parquet`` and ``posterior/<gene>.nc`` for a fit, ``failed/<gene>.json``
    (the reason) for a gene that could not be fitted, and ``done/<gene>.json``, the gene's
    marker, written last: whether it was fitted, the reason of its failure or divergences,
    and the size of each of its files. A gene is done when its marker exists and its files
    have those sizes; ``manifest.json`` says what model, settings and data the folder is for.
    """

    root: Path

    def path(self, kind: str, name: str) -> Path:
        return self.root / kind / (quote(str(name), safe="") + KINDS[kind])

    @property
    def folders(self) -> tuple[Path, ...]:
        return (self.root, *(self.root / kind for kind in KINDS))

    @contextmanager
    def session(self, manifest: Mapping) -> Iterator[None]:
        """Hold the folder for one run: checked writable, then locked against other runs,
        its manifest checked against ``manifest`` (or written, in a new folder), and the
        partial files of interrupted writes removed."""
        self._prepare()
        with _exclusive(self.root):
            self._adopt(manifest)
            for folder in self.folders:
                for partial in folder.glob(f"*{PARTIAL}"):
                    partial.unlink(missing_ok=True)
            yield

    def _prepare(self) -> None:
        """Create the folders and write and remove a file in each, before anything is fitted."""
        try:
            for folder in self.folders:
                folder.mkdir(parents=True, exist_ok=True)
                probe = folder / f".probe-{secrets.token_hex(4)}{PARTIAL}"
                probe.write_bytes(b"")
                probe.unlink(missing_ok=True)   # a run holding the folder may have swept it
        except OSError as err:
            raise OutputError(f"cannot write to the output folder {self.root}: {err}") from err

    def _adopt(self, manifest: Mapping) -> None:
        """Refuse a folder written for another model, settings or data, naming each change."""
        path = self.root / MANIFEST
        if path.is_file():
            old = _read_json(path)
            changes = [_change(key, old.get(key), manifest.get(key))
                       for key in sorted(old.keys() | manifest.keys())
                       if old.get(key) != manifest.get(key)]
            if changes:
                raise OutputError(f"the output folder {self.root} holds the results of a "
                                  f"different run ({'; '.join(changes)}); choose another out= "
                                  "for this run, or delete the folder")
        elif any(any((self.root / kind).glob(f"*{suffix}")) for kind, suffix in KINDS.items()):
            raise OutputError(f"the output folder {self.root} holds results but no {MANIFEST} "
                              "(an older lmm_bayes wrote them?), so what they are the results "
                              "of is unknown; choose another out=, or delete the folder")
        else:
            _write_json(path, manifest)

    def record(self, name: str) -> dict | None:
        """The gene's marker, or None where the gene is not done."""
        try:
            record = json.loads(self.path("done", name).read_text())
        except (OSError, ValueError):   # no marker (or, against the odds, a broken one)
            return None
        whole = all(_size(self.path(kind, name)) == size for kind, size in record["files"].items())
        return record if whole else None

    def unfinished(self, names: Iterable[str]) -> list[str]:
        """The genes of ``names`` that are not done, with whatever files they left removed:
        an interrupted gene is refitted whole, and never left both fitted and failed."""
        todo = [name for name in names if self.record(name) is None]
        for name in todo:
            for kind in KINDS:
                self.path(kind, name).unlink(missing_ok=True)
        return todo

    def write(self, name: str, result: Mapping) -> None:
        """Store one gene's result (see :func:`run_gene`), its marker last."""
        fitted = result["summary"] is not None
        if fitted:
            files = {"posterior": _write_whole(self.path("posterior", name),
                                               result["idata"].to_netcdf),
                     "summary": _write_whole(self.path("summary", name),
                                             result["summary"].to_parquet)}
        else:
            files = {"failed": _write_json(self.path("failed", name), {"reason": result["reason"]})}
        _write_json(self.path("done", name),
                    {"fitted": fitted, "reason": result["reason"], "files": files})

    def summary(self, name: str) -> pd.DataFrame | None:
        record = self.record(name)
        if record is None or not record["fitted"]:
            return None
        return _read(self.path("summary", name), pd.read_parquet)

    def posterior(self, name: str):
        import arviz as az

        return _read(self.path("posterior", name), az.from_netcdf)


class MemoryResults:
    """The results of a run without ``out=``, read as from a :class:`Store`."""

    def __init__(self, results: Mapping[str, dict]):
        self._results = results

    def record(self, name: str) -> dict:
        result = self._results[name]
        return {"fitted": result["summary"] is not None, "reason": result["reason"]}

    def summary(self, name: str) -> pd.DataFrame | None:
        return self._results[name]["summary"]

    def posterior(self, name: str):
        return self._results[name]["idata"]


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
                 results: Store | MemoryResults, config: SamplerConfig, out: Path | None):
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

    def summary(self) -> pd.DataFrame:
        """A column named after ``by``, then each gene's summary rows (effect, group, term,
        estimate, std_error, conf_low, conf_high, ess_bulk, ess_tail, r_hat, divergences, and
        prob_positive and lfsr on fixed effects)."""
        parts = [table.assign(**{self.by: name}) for name in self.names
                 if (table := self._results.summary(name)) is not None]
        table = pd.concat(parts, ignore_index=True)
        return table[[self.by] + [c for c in table.columns if c != self.by]]

    def failures(self) -> pd.DataFrame:
        """The genes whose fit failed or diverged, with the reason."""
        rows = [{self.by: name, "reason": record["reason"]} for name in self.names
                if (record := self._results.record(name)) and record["reason"] is not None]
        return pd.DataFrame(rows, columns=[self.by, "reason"])

    def __getitem__(self, name: str) -> Fit:
        if name not in self._frames:
            raise OutputError(f"no {self.by} {name!r} among the {len(self)} of this run "
                              f"({_first(self.names)})")
        record = self._results.record(name)
        if record is None:
            raise OutputError(f"{self.by} {name!r} has no complete result in {self.out}; "
                              "run fit_many on the folder again to refit it")
        if not record["fitted"]:
            raise OutputError(f"{self.by} {name!r} has no fit: {record['reason']}")
        return Fit(LMM.from_spec(self.spec, self._frames[name]), self._results.posterior(name),
                   self.config)

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


def _require_extra() -> None:
    """Raise :class:`SamplingError` naming the ``many`` extra where Dask's distributed
    scheduler or pyarrow is missing (a plain install has neither)."""
    try:
        import distributed  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as err:
        raise SamplingError(f"fit_many needs Dask's distributed scheduler and pyarrow ({err.name} "
                            "is not installed): pip install 'lmm_bayes[many]'") from None


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


def _fit_all(spec: ModelSpec, frames: Mapping[str, pd.DataFrame], names: Sequence[str],
             config: SamplerConfig, client, out: str | None, progressbar: bool) -> dict:
    """Run :func:`run_gene` on each gene of ``names`` on the cluster; the results by gene."""
    results: dict[str, dict] = {}
    if not names:
        return results
    run = secrets.token_hex(4)   # keys of this run only: a shared cluster may run others
    with dask_client(client, os.cpu_count() or 1) as cluster_client:
        futures = {}
        for name in names:
            gene_config = replace(config, random_seed=_gene_seed(config.random_seed, name))
            future = cluster_client.submit(run_gene, spec, name, frames[name], gene_config,
                                           out, key=f"lmm-{quote(name, safe='')}-{run}",
                                           pure=False)
            futures[future] = name
        for future in _progress(futures, len(futures), progressbar):
            results[futures[future]] = future.result()
    return results


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
        Folder to stream results to (a parquet summary and a NetCDF posterior, or the reason
        of a failure, per gene; see :class:`Store`). A run given the same folder again fits
        only the genes not done there (resume), and only if the model, the settings and the
        data are those in its ``manifest.json``. The folder is locked for the run. It must be
        shared storage for a remote cluster. Without it results stay in memory.
    draws, tune, chains, random_seed, target_accept
        As :meth:`LMM.fit`; each gene's seed derives from ``random_seed`` and its name.
    progressbar : bool
    **model_options
        Keywords of :class:`LMM` (``priors``, ``factors``, ``reference``...).

    Returns
    -------
    ManyFits

    Raises
    ------
    SamplingError
        Where Dask's distributed scheduler or pyarrow is not installed (the ``many`` extra).
    OutputError
        Before anything is fitted, where ``out`` cannot be written, is in use by another run,
        or holds the results of another model, settings or data.
    """
    _require_extra()
    unknown = set(model_options) - set(MODEL_OPTIONS)
    if unknown:
        raise DesignError(f"unknown option(s) {sorted(unknown)} for fit_many")
    spec = ModelSpec.from_formula(formula, **model_options)
    # checked here, before any gene's seed is derived from random_seed
    config = SamplerConfig(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                           target_accept=target_accept)
    frames = _split(data, spec, by, responses)
    per_gene = replace(config, cores=1)
    if out is None:
        todo = list(frames)
        results = MemoryResults(_fit_all(spec, frames, todo, per_gene, client, None,
                                         progressbar))
    else:
        results = Store(Path(out))
        with results.session(_manifest(spec, data, by, frames, per_gene)):
            todo = results.unfinished(frames)
            _fit_all(spec, frames, todo, per_gene, client, out, progressbar)
    logger.info("fit_many: %d fitted, %d already done", len(todo), len(frames) - len(todo))
    return ManyFits(spec, by or "response", frames, results, config,
                    None if out is None else Path(out))
