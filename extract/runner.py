"""The extraction pipeline: models -> responses (cached, resumable) -> embeddings (cached) -> DNA.

:func:`run_extraction` processes models one at a time (a local model is loaded, used and released
before the next), writes each model's DNA as soon as it exists, then the merged set and a
summary. Output folder::

    DNA_DIR/dna.json            all models of this run (phylo_llm JSON, with provenance)
    DNA_DIR/models/<model>.json one file per model
    DNA_DIR/summary.json        per model: probes, empty responses, timings, tokens/s, exclusions

Models that answered mostly empty strings (more than ``max_empty_fraction``) get no DNA: they
are listed in the summary and in one warning, never given a DNA made of empty answers.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from phylo_llm.data import DnaSet, ProbeContributions, Provenance
from phylo_llm.errors import PhyloLLMError, PhyloLLMWarning
from phylo_llm.io import write_contributions, write_dna
from phylo_llm.util import atomic_write_text, canonical_json, check_choice, check_fraction, check_int, check_output_dir

from .backends import OPENAI_PREFIX, check_spec, redact_url_secrets, resolve_backend
from .backends.base import Backend
from .defaults import DEFAULT_DIMS, DEFAULT_RECIPE, DEFAULT_SEED
from .dna import dna_provenance, model_features
from .embed import DEFAULT_EMBEDDER, embed_texts, load_embedder
from .probes import ProbeSet, load_probes
from .progress import ProgressCallback, ProgressEvent, emit
from .projection import check_params, per_probe_contributions, project
from .recipe import Recipe, check_applicable, resolve_recipe
from .store import (
    Responses,
    collect_responses,
    default_cache_dir,
    dna_file_stem,
    settings_id,
)

__all__ = ["extract_dna", "run_extraction", "ExtractionResult", "ModelSummary", "generation_label"]

# Settings that identify the model rather than how it was asked; dropped from the generation
# label that all models of one DNA set must share (they stay in each model's cache key).
_MODEL_IDENTITY_KEYS = frozenset(
    {"model", "weights", "architecture", "eos_token_id", "pad_token", "chat_template_sha256", "responses", "endpoint"}
)


def generation_label(settings: Mapping[str, Any]) -> str:
    """The model-independent part of a backend's settings, as canonical JSON.

    Examples
    --------
    >>> generation_label({"backend": "transformers", "model": "x", "max_new_tokens": 64})
    '{"backend":"transformers","max_new_tokens":64}'
    """
    return canonical_json({k: v for k, v in settings.items() if k not in _MODEL_IDENTITY_KEYS})


@dataclass(frozen=True)
class ModelSummary:
    """What happened to one model: ``status`` ``"ok"``, ``"excluded"`` (mostly empty answers) or
    ``"failed"`` (could not be loaded or asked; only with ``on_error="skip"``), with ``reason``."""

    model: str
    status: Literal["ok", "excluded", "failed"]
    n_probes: int
    n_empty: int
    generated: int
    settings_id: str
    settings: Mapping[str, Any]
    response_seconds: float
    new_tokens: int | None
    tokens_per_second: float | None
    embed_seconds: float
    dna_file: str | None
    load_seconds: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class ExtractionResult:
    """The DNA of the models that got one, and a summary of every model."""

    dna: DnaSet
    models: tuple[ModelSummary, ...]

    @property
    def excluded(self) -> tuple[ModelSummary, ...]:
        return tuple(m for m in self.models if m.status == "excluded")

    @property
    def failed(self) -> tuple[ModelSummary, ...]:
        return tuple(m for m in self.models if m.status == "failed")


def _load_embedder(embedder: Any, batch_size: int, threads: int | None) -> Any:
    if isinstance(embedder, (str, Path)):
        return load_embedder(embedder, batch_size=batch_size, threads=threads)
    for attr in ("id", "dim", "encode"):
        if not hasattr(embedder, attr):
            raise PhyloLLMError(
                f"embedder must be a name/path or an object with id, dim and encode(); "
                f"{type(embedder).__name__} has no {attr!r}"
            )
    return embedder


def _responses(
    backend: Backend, probes: ProbeSet, cache_dir: Path, chunk_size: int, progress: ProgressCallback | None
) -> Responses:
    if not getattr(backend, "needs_cache", True):
        # Already on disk (recorded answers): no generation, so nothing to cache.
        texts = tuple(backend.generate(list(probes.prompts)))
        emit(progress, ProgressEvent(backend.model_id, "responses", done=len(texts), total=len(texts)))
        return Responses(backend.model_id, texts, settings_id(backend.settings()), 0, 0.0, None)
    # A backend that batches best over large calls (vLLM) names its own chunk size.
    size = getattr(backend, "chunk_size", None) or chunk_size
    return collect_responses(backend, probes, cache_dir=cache_dir, chunk_size=size, progress=progress)


def run_extraction(
    models: Iterable[Backend | str],
    probes: ProbeSet | str | Path,
    *,
    out_dir: str | Path,
    embedder: Any = DEFAULT_EMBEDDER,
    recipe: Recipe | str = DEFAULT_RECIPE,
    seed: int = DEFAULT_SEED,
    dims: int = DEFAULT_DIMS,
    batch_size: int = 32,
    threads: int | None = None,
    cache_dir: str | Path | None = None,
    progress: ProgressCallback | bool | None = None,
    max_empty_fraction: float = 0.5,
    probes_limit: int | None = None,
    generation: str | None = None,
    chunk_size: int = 64,
    backend_settings: Mapping[str, Any] | None = None,
    project_batch: int = 32,
    contributions: bool = False,
    on_error: Literal["raise", "skip"] = "raise",
) -> ExtractionResult:
    """Extract the DNA of ``models`` and write it (plus a summary) under ``out_dir``.

    Parameters
    ----------
    models
        Backends, or model specs for :func:`extract.backends.resolve_backend` (resolved and
        loaded one at a time). May be a lazy iterator (e.g. :func:`~extract.backends.recorded.iter_recorded`).
    probes
        A :class:`ProbeSet` or a spec for :func:`~extract.probes.load_probes`.
    out_dir
        Output folder (created).
    embedder
        Embedder name/path (default: the bundled all-MiniLM-L6-v2) or an object with ``id``,
        ``dim`` and ``encode(texts)``.
    recipe
        Recipe object or registered name (see :mod:`extract.recipe`); ``"auto"`` (default) is
        ``"whitened"`` for probe sets the bundled statistics cover, else ``"whitened-global"``.
    seed, dims
        Projection seed and DNA dimension.
    batch_size
        Embedding batch size.
    threads
        CPU threads for the embedder (and for local models, unless ``backend_settings`` says).
    cache_dir
        Cache root for responses and embeddings (default ``$PHYLO_LLM_CACHE`` or
        ``~/.cache/phylo_llm``).
    progress
        Callback receiving :class:`~extract.progress.ProgressEvent` values (the CLI passes
        :class:`~extract.progress.TqdmProgress`); ``True`` means tqdm bars on stderr;
        ``None``/``False`` is silent.
    max_empty_fraction
        A model with more than this fraction of empty responses gets no DNA.
    probes_limit
        Use only the first N probes (a different probe set, with its own id).
    generation
        Label of the generation settings in the provenance. Default: the model-independent part
        of the backends' settings (:func:`generation_label`), which must agree across models.
    chunk_size
        Prompts per generation call and durable write.
    backend_settings
        Keyword arguments for :func:`~extract.backends.resolve_backend` (string specs only).
    project_batch
        Models projected together (the projection matrix is generated once per batch).
    contributions
        Also write ``contributions.npz``: each model's per-probe share of its DNA
        (``n_models x n_probes x dims``), the input of probe-resampling bootstrap support
        (``phylo-llm bootstrap``). Off by default: it is ``n_probes`` times the DNA's size.
    on_error
        ``"raise"``: a model that cannot be loaded or fails while answering stops the run
        (everything done so far is cached). ``"skip"``: it is recorded as ``"failed"`` in the
        summary, named in a warning, and the run goes on.

    Raises
    ------
    PhyloLLMError
        On invalid arguments, a repeated model id, models whose generation settings disagree
        (without ``generation``), or when no model is left with DNA.

    Examples
    --------
    >>> import tempfile
    >>> class Echo:
    ...     model_id = "echo"
    ...     def settings(self): return {"backend": "echo"}
    ...     def generate(self, prompts): return [p[::-1] for p in prompts]
    >>> class Lengths:
    ...     id, dim = "lengths", 2
    ...     def encode(self, texts): return np.array([[len(t), 1] for t in texts], dtype=np.float32)
    >>> tmp = tempfile.mkdtemp()
    >>> res = run_extraction([Echo()], "random:4", out_dir=tmp, embedder=Lengths(), cache_dir=tmp, dims=8,
    ...                      recipe="concat")
    >>> res.dna.labels, res.dna.provenance.generation
    (('echo',), '{"backend":"echo"}')
    """
    plan = _plan(
        models,
        probes,
        out_dir=out_dir,
        embedder=embedder,
        recipe=recipe,
        seed=seed,
        dims=dims,
        batch_size=batch_size,
        threads=threads,
        cache_dir=cache_dir,
        progress=progress,
        max_empty_fraction=max_empty_fraction,
        probes_limit=probes_limit,
        generation=generation,
        chunk_size=chunk_size,
        backend_settings=backend_settings,
        project_batch=project_batch,
        contributions=contributions,
        on_error=on_error,
    )
    run = _Run()
    for item in models:
        backend = _backend_for(item, plan, run)
        if backend is not None:
            _extract_one(backend, plan, run)
        del backend  # release a local model's weights before loading the next
    _flush(plan, run)
    return _finish(plan, run)


@dataclass(frozen=True)
class _Plan:
    """A run's checked arguments: everything fixed before the first model is loaded."""

    probes: ProbeSet
    recipe: Recipe
    embedder: Any
    out: Path
    cache: Path
    seed: int
    dims: int
    threads: int | None
    progress: ProgressCallback | None
    max_empty_fraction: float
    generation: str | None
    chunk_size: int
    backend_settings: Mapping[str, Any]
    project_batch: int
    contributions: bool
    on_error: Literal["raise", "skip"]


@dataclass
class _Pending:
    """A model's features waiting for the next batched projection."""

    model: str
    features: np.ndarray
    message: str


@dataclass
class _Run:
    """What a run has gathered so far, model by model."""

    summaries: list[ModelSummary] = field(default_factory=list)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    shares: dict[str, np.ndarray] = field(default_factory=dict)
    pending: list[_Pending] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # model ids of every backend loaded
    first_label: tuple[str, str] | None = None  # (model, generation label) of the first model
    prov: Provenance | None = None
    batch_started: float = field(default_factory=time.perf_counter)


def _plan(
    models: Iterable[Backend | str],
    probes: ProbeSet | str | Path,
    *,
    out_dir: str | Path,
    embedder: Any,
    recipe: Recipe | str,
    seed: int,
    dims: int,
    batch_size: int,
    threads: int | None,
    cache_dir: str | Path | None,
    progress: ProgressCallback | bool | None,
    max_empty_fraction: float,
    probes_limit: int | None,
    generation: str | None,
    chunk_size: int,
    backend_settings: Mapping[str, Any] | None,
    project_batch: int,
    contributions: bool,
    on_error: Literal["raise", "skip"],
) -> _Plan:
    """Check every argument, then load the embedder: a mistake fails before any model runs."""
    check_fraction("max_empty_fraction", max_empty_fraction)
    check_int("batch_size", batch_size, min=1)
    probe_set = load_probes(probes)
    if probes_limit is not None:
        probe_set = probe_set.head(probes_limit)
    rec = resolve_recipe(recipe, probe_set=probe_set.id) if isinstance(recipe, str) else recipe
    check_params(1, dims, seed)
    callback = _progress_callback(progress)
    check_choice("on_error", on_error, ["raise", "skip"])
    check_int("project_batch", project_batch, min=1)
    if isinstance(models, (list, tuple)):
        for item in models:
            if isinstance(item, str):
                check_spec(item)
    out = check_output_dir(out_dir)  # before any model or embedder is loaded
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    emb = _load_embedder(embedder, batch_size, threads)
    # Refuse a recipe that cannot apply now, not after every model has been run.
    check_applicable(rec, embedder=emb.id, probe_set=probe_set.id, n_probes=len(probe_set))
    return _Plan(
        probes=probe_set,
        recipe=rec,
        embedder=emb,
        out=out,
        cache=cache,
        seed=seed,
        dims=dims,
        threads=threads,
        progress=callback,
        max_empty_fraction=max_empty_fraction,
        generation=generation,
        chunk_size=chunk_size,
        backend_settings=dict(backend_settings or {}),
        project_batch=project_batch,
        contributions=contributions,
        on_error=on_error,
    )


def _progress_callback(progress: ProgressCallback | bool | None) -> ProgressCallback | None:
    """``True``: tqdm bars on stderr; ``False``/``None``: silent; else the callback itself."""
    if progress is True:
        from .progress import TqdmProgress

        return TqdmProgress()
    return None if progress is False else progress


def _backend_for(item: Backend | str, plan: _Plan, run: _Run) -> Backend | None:
    """The backend of one item (a spec is resolved and loaded); ``None`` when it failed and
    ``on_error="skip"``."""
    if not isinstance(item, str):
        return item
    try:
        return resolve_backend(item, **_settings_for(item, plan.backend_settings, plan.threads))
    except Exception as exc:
        if plan.on_error == "raise":
            raise
        _record_failure(plan, run, redact_url_secrets(item), exc)  # a spec may hold a URL with a secret
        return None


def _record_failure(plan: _Plan, run: _Run, model: str, exc: Exception) -> None:
    run.summaries.append(
        ModelSummary(
            model=model,
            status="failed",
            n_probes=len(plan.probes),
            n_empty=0,
            generated=0,
            settings_id="",
            settings={},
            response_seconds=0.0,
            new_tokens=None,
            tokens_per_second=None,
            embed_seconds=0.0,
            dna_file=None,
            reason=redact_url_secrets(f"{type(exc).__name__}: {exc}"),
        )
    )
    emit(plan.progress, ProgressEvent(model, "model-skipped", message=redact_url_secrets(f"failed: {exc}")))


def _check_comparable(plan: _Plan, run: _Run, model: str, settings: Mapping[str, Any]) -> None:
    """Refuse a repeated model id, or generation settings that differ from the first model's;
    the first model fixes the run's provenance."""
    if model in run.seen:
        raise PhyloLLMError(f"model id {model!r} appears twice; give each model its own id")
    run.seen.add(model)
    gen = plan.generation if plan.generation is not None else generation_label(settings)
    if run.first_label is None:
        run.first_label = (model, gen)
        run.prov = dna_provenance(
            probes=plan.probes,
            embedder=plan.embedder.id,
            generation=gen,
            recipe=plan.recipe,
            seed=plan.seed,
            dims=plan.dims,
        )
    elif gen != run.first_label[1]:
        first, first_gen = run.first_label
        raise PhyloLLMError(
            f"models were generated with different settings, so their DNA is not comparable: "
            f"{first!r} {first_gen} vs {model!r} {gen}; pass generation= "
            "to label them as one set on purpose"
        )


def _extract_one(backend: Backend, plan: _Plan, run: _Run) -> None:
    """One model: its responses (cached), then exclusion or its embeddings and features."""
    model = backend.model_id
    settings = dict(backend.settings())
    _check_comparable(plan, run, model, settings)
    try:
        resp = _responses(backend, plan.probes, plan.cache, plan.chunk_size, plan.progress)
    except Exception as exc:
        if plan.on_error == "raise":
            raise
        _record_failure(plan, run, model, exc)
        return
    n = len(resp.texts)
    common = dict(
        model=model,
        n_probes=n,
        n_empty=resp.n_empty,
        generated=resp.generated,
        settings_id=resp.settings_id,
        settings=settings,
        response_seconds=round(resp.seconds, 3),
        new_tokens=resp.new_tokens,
        tokens_per_second=None if resp.tokens_per_second is None else round(resp.tokens_per_second, 2),
        load_seconds=getattr(backend, "load_seconds", None),
    )
    if resp.n_empty > plan.max_empty_fraction * n:
        reason = f"{resp.n_empty}/{n} responses are empty (more than {plan.max_empty_fraction:.0%})"
        run.summaries.append(ModelSummary(status="excluded", embed_seconds=0.0, dna_file=None, reason=reason, **common))
        emit(plan.progress, ProgressEvent(model, "model-skipped", message=f"excluded: {reason}"))
        return
    started = time.perf_counter()
    e = embed_texts(plan.embedder, resp.texts, cache_dir=plan.cache, label=model, progress=plan.progress)
    embed_seconds = time.perf_counter() - started
    rel = f"models/{dna_file_stem(model)}.json"
    run.summaries.append(ModelSummary(status="ok", embed_seconds=round(embed_seconds, 3), dna_file=rel, **common))
    tps = f", {resp.tokens_per_second:.1f} tok/s" if resp.tokens_per_second else ""
    run.pending.append(
        _Pending(
            model,
            model_features(e, probes=plan.probes, recipe=plan.recipe, model=model),
            f"{n} probes ({resp.generated} generated, {n - resp.generated} cached{tps}), "
            f"{resp.n_empty} empty; DNA -> {plan.out / rel}",
        )
    )
    # Models are projected in batches (one pass over the projection matrix per batch), but
    # never held back long: slow models still get their DNA file as soon as they finish.
    if len(run.pending) >= plan.project_batch or time.perf_counter() - run.batch_started > 30:
        _flush(plan, run)
        run.batch_started = time.perf_counter()


def _flush(plan: _Plan, run: _Run) -> None:
    """Project the pending models together and write each one's DNA file."""
    if not run.pending:
        return
    assert run.prov is not None
    feats = np.stack([p.features for p in run.pending])
    vecs = project(feats, seed=plan.seed, dims=plan.dims)
    if plan.contributions:
        per_probe = per_probe_contributions(feats, seed=plan.seed, dims=plan.dims)
        run.shares.update((p.model, c.astype(np.float32)) for p, c in zip(run.pending, per_probe))
    for p, vec in zip(run.pending, vecs):
        write_dna(DnaSet((p.model,), vec[None, :], run.prov), plan.out / f"models/{dna_file_stem(p.model)}.json")
        run.vectors[p.model] = vec
        emit(plan.progress, ProgressEvent(p.model, "model-done", message=p.message))
    run.pending.clear()


def _finish(plan: _Plan, run: _Run) -> ExtractionResult:
    """Summary, stale files removed, warnings, then the merged DNA set (and contributions)."""
    out, summaries = plan.out, run.summaries
    _write_summary(out / "summary.json", plan.probes, run.prov, summaries)
    stale = _remove_stale(out, {s.dna_file for s in summaries if s.dna_file}, contributions=plan.contributions)
    _warn_about(out, stale, summaries)
    if not run.vectors:
        if not summaries:
            raise PhyloLLMError("no models given")
        raise PhyloLLMError(
            f"no DNA: all {len(summaries)} model(s) failed or were excluded for empty responses; "
            f"see {out / 'summary.json'}"
        )
    labels = [s.model for s in summaries if s.status == "ok"]
    dna = DnaSet(tuple(labels), np.stack([run.vectors[m] for m in labels]), run.prov)
    write_dna(dna, out / "dna.json")
    if plan.contributions:
        write_contributions(
            ProbeContributions(dna.labels, np.stack([run.shares[m] for m in dna.labels]), run.prov),
            out / "contributions.npz",
        )
    return ExtractionResult(dna, tuple(summaries))


def _warn_about(out: Path, stale: list[str], summaries: list[ModelSummary]) -> None:
    """One warning each for removed stale files, failed models and excluded models."""
    # stacklevel 4: _warn_about <- _finish <- run_extraction <- its caller.
    if stale:
        warnings.warn(
            f"removed {len(stale)} file(s) of an earlier run from {out}: "
            + ", ".join(stale[:10])
            + (" ..." if len(stale) > 10 else ""),
            PhyloLLMWarning,
            stacklevel=4,
        )
    for status, what in (("failed", "failed"), ("excluded", "excluded for empty responses")):
        hit = [s for s in summaries if s.status == status]
        if hit:
            warnings.warn(
                f"{len(hit)} model(s) {what} (no DNA): "
                + "; ".join(f"{s.model} ({s.reason})" for s in hit[:20])
                + (" ..." if len(hit) > 20 else ""),
                PhyloLLMWarning,
                stacklevel=4,
            )


def _settings_for(item: str, bsettings: Mapping[str, Any], threads: int | None) -> Mapping[str, Any]:
    """Backend settings for one spec: ``threads`` (the embedder's) also go to local models.

    An HTTP server's model has no torch threads to set; the embedder still uses them.
    """
    if threads is None or "threads" in bsettings or item.startswith(OPENAI_PREFIX):
        return bsettings
    return {**bsettings, "threads": threads}


def _remove_stale(out: Path, written: set[str], *, contributions: bool) -> list[str]:
    """Delete DNA files of an earlier run into the same folder, so none is mixed with this run's.

    Only names this pipeline writes are touched (``models/*.json``, ``contributions.npz``,
    ``dna.json`` when no model got DNA); returns them, relative to ``out``.
    """
    stale = (
        sorted(f"models/{p.name}" for p in (out / "models").glob("*.json") if f"models/{p.name}" not in written)
        if (out / "models").is_dir()
        else []
    )
    if not contributions and (out / "contributions.npz").is_file():
        stale.append("contributions.npz")
    if not written and (out / "dna.json").is_file():
        stale.append("dna.json")
    for rel in stale:
        (out / rel).unlink(missing_ok=True)
    return stale


def _write_summary(path: Path, probes: ProbeSet, prov: Any, summaries: list[ModelSummary]) -> None:
    doc = {
        "probes": {"name": probes.name, "id": probes.id, "n": len(probes)},
        "provenance": prov.to_dict() if prov is not None else None,
        "models": [asdict(s) for s in summaries],
        "n_ok": sum(s.status == "ok" for s in summaries),
        "n_excluded": sum(s.status == "excluded" for s in summaries),
        "n_failed": sum(s.status == "failed" for s in summaries),
    }
    atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n")


def extract_dna(models: Iterable[Backend | str], probes: ProbeSet | str | Path, **kwargs: Any) -> DnaSet:
    """The DNA of ``models`` (see :func:`run_extraction` for every option and the files written).

    Examples
    --------
    Not run by the test suite: a real model answers 50 probes (minutes on a CPU).

    >>> dna = extract_dna(["smollm2-135m"], "random:50", out_dir="dna_out")  # doctest: +SKIP
    >>> dna.provenance.embedder  # doctest: +SKIP
    'sentence-transformers/all-MiniLM-L6-v2'
    """
    return run_extraction(models, probes, **kwargs).dna
