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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from phylo_llm.data import DnaSet, ProbeContributions
from phylo_llm.errors import PhyloLLMError, PhyloLLMWarning
from phylo_llm.io import write_contributions, write_dna
from phylo_llm.util import atomic_write_text, canonical_json, check_choice, check_fraction, check_int, check_output_dir

from .backends import OPENAI_PREFIX, check_spec, redact_url_secrets, resolve_backend
from .backends.base import Backend
from .backends.recorded import RecordedBackend
from .dna import dna_provenance, model_features
from .embed import DEFAULT_EMBEDDER, SentenceEmbedder, embed_texts
from .probes import ProbeSet, load_probes
from .progress import ProgressCallback, ProgressEvent, emit
from .projection import check_params, per_probe_contributions, project
from .recipe import Recipe, check_applicable, resolve_recipe
from .store import (
    Responses,
    collect_responses,
    default_cache_dir,
    dna_file_stem,
)

__all__ = ["extract_dna", "run_extraction", "ExtractionResult", "ModelSummary", "generation_label"]

# Settings that identify the model rather than how it was asked; dropped from the generation
# label that all models of one DNA set must share (they stay in each model's cache key).
_MODEL_IDENTITY_KEYS = frozenset(
    {"model", "weights", "architecture", "eos_token_id", "pad_token", "chat_template_sha256",
     "responses", "endpoint"}
)



#: Defaults for user-facing extraction, from measurements (docs/recipe.md, BENCHMARKS.md):
#: whitening on frozen MiniLM statistics beats the paper's plain concatenation on any probe set
#: (parent-child AUC 0.72 vs 0.66), and 1024 dimensions keep the random projection's distortion
#: from erasing that gain (at 128 it did, and it flipped splits of a simulated lineage).
#: "auto" is "whitened" (0.83) for the paper's prompts, which the bundled statistics cover, and
#: "whitened-global" for any other probe set.
DEFAULT_RECIPE = "auto"
DEFAULT_DIMS = 1024

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
        return SentenceEmbedder(embedder, batch_size=batch_size, threads=threads)
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
    if isinstance(backend, RecordedBackend):
        # Already on disk: no generation, so nothing to cache.
        texts = tuple(backend.generate(list(probes.prompts)))
        emit(progress, ProgressEvent(backend.model_id, "responses", done=len(texts), total=len(texts)))
        from .store import settings_id

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
    seed: int = 0,
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
    check_fraction("max_empty_fraction", max_empty_fraction)
    check_int("batch_size", batch_size, min=1)
    probe_set = load_probes(probes)
    if probes_limit is not None:
        probe_set = probe_set.head(probes_limit)
    rec = resolve_recipe(recipe, probe_set=probe_set.id) if isinstance(recipe, str) else recipe
    check_params(1, dims, seed)  # before any model runs
    if progress is True:
        from .progress import TqdmProgress

        progress = TqdmProgress()
    elif progress is False:
        progress = None
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
    bsettings = dict(backend_settings or {})

    summaries: list[ModelSummary] = []
    labels: list[str] = []
    vectors: list[np.ndarray] = []
    seen: set[str] = set()
    label_of_first: tuple[str, str] | None = None
    prov = None
    pending: list[tuple[str, np.ndarray, str]] = []
    shares: dict[str, np.ndarray] = {}

    def flush() -> None:
        if not pending:
            return
        assert prov is not None
        feats = np.stack([f for _, f, _ in pending])
        vecs = project(feats, seed=seed, dims=dims)
        if contributions:
            per_probe = per_probe_contributions(feats, seed=seed, dims=dims)
            shares.update((m, c.astype(np.float32)) for (m, _, _), c in zip(pending, per_probe))
        for (model, _, message), vec in zip(pending, vecs):
            write_dna(DnaSet((model,), vec[None, :], prov), out / f"models/{dna_file_stem(model)}.json")
            labels.append(model)
            vectors.append(vec)
            emit(progress, ProgressEvent(model, "model-done", message=message))
        pending.clear()

    batch_started = time.perf_counter()
    def failed(model: str, exc: Exception) -> None:
        summaries.append(
            ModelSummary(
                model=model, status="failed", n_probes=len(probe_set), n_empty=0, generated=0,
                settings_id="", settings={}, response_seconds=0.0, new_tokens=None,
                tokens_per_second=None, embed_seconds=0.0, dna_file=None,
                reason=redact_url_secrets(f"{type(exc).__name__}: {exc}"),
            )
        )
        emit(progress, ProgressEvent(model, "model-skipped", message=redact_url_secrets(f"failed: {exc}")))

    for item in models:
        try:
            backend = resolve_backend(item, **_settings_for(item, bsettings, threads)) if isinstance(item, str) else item
        except Exception as exc:
            if on_error == "raise":
                raise
            failed(redact_url_secrets(str(item)), exc)  # a spec may hold a URL with a secret
            continue
        model = backend.model_id
        if model in seen:
            raise PhyloLLMError(f"model id {model!r} appears twice; give each model its own id")
        seen.add(model)
        settings = dict(backend.settings())
        gen = generation if generation is not None else generation_label(settings)
        if label_of_first is None:
            label_of_first = (model, gen)
            prov = dna_provenance(
                probes=probe_set, embedder=emb.id, generation=gen, recipe=rec, seed=seed, dims=dims
            )
        elif gen != label_of_first[1]:
            raise PhyloLLMError(
                f"models were generated with different settings, so their DNA is not comparable: "
                f"{label_of_first[0]!r} {label_of_first[1]} vs {model!r} {gen}; pass generation= "
                "to label them as one set on purpose"
            )
        try:
            resp = _responses(backend, probe_set, cache, chunk_size, progress)
        except Exception as exc:
            if on_error == "raise":
                raise
            failed(model, exc)
            del backend
            continue
        n = len(resp.texts)
        common = dict(
            model=model, n_probes=n, n_empty=resp.n_empty, generated=resp.generated,
            settings_id=resp.settings_id, settings=settings, response_seconds=round(resp.seconds, 3),
            new_tokens=resp.new_tokens,
            tokens_per_second=None if resp.tokens_per_second is None else round(resp.tokens_per_second, 2),
            load_seconds=getattr(backend, "load_seconds", None),
        )
        if resp.n_empty > max_empty_fraction * n:
            reason = f"{resp.n_empty}/{n} responses are empty (more than {max_empty_fraction:.0%})"
            summaries.append(ModelSummary(status="excluded", embed_seconds=0.0, dna_file=None, reason=reason, **common))
            emit(progress, ProgressEvent(model, "model-skipped", message=f"excluded: {reason}"))
            del backend
            continue
        started = time.perf_counter()
        e = embed_texts(emb, resp.texts, cache_dir=cache, label=model, progress=progress)
        embed_seconds = time.perf_counter() - started
        rel = f"models/{dna_file_stem(model)}.json"
        summaries.append(ModelSummary(status="ok", embed_seconds=round(embed_seconds, 3), dna_file=rel, **common))
        tps = f", {resp.tokens_per_second:.1f} tok/s" if resp.tokens_per_second else ""
        pending.append(
            (model, model_features(e, probes=probe_set, recipe=rec, model=model),
             f"{n} probes ({resp.generated} generated, {n - resp.generated} cached{tps}), "
             f"{resp.n_empty} empty; DNA -> {out / rel}")
        )
        # Models are projected in batches (one pass over the projection matrix per batch), but
        # never held back long: slow models still get their DNA file as soon as they finish.
        if len(pending) >= project_batch or time.perf_counter() - batch_started > 30:
            flush()
            batch_started = time.perf_counter()
        del backend  # release a local model's weights before loading the next

    flush()
    excluded = [s for s in summaries if s.status == "excluded"]
    failures = [s for s in summaries if s.status == "failed"]
    _write_summary(out / "summary.json", probe_set, prov, summaries)
    stale = _remove_stale(out, {s.dna_file for s in summaries if s.dna_file}, contributions=contributions)
    if stale:
        warnings.warn(
            f"removed {len(stale)} file(s) of an earlier run from {out}: " + ", ".join(stale[:10])
            + (" ..." if len(stale) > 10 else ""),
            PhyloLLMWarning,
            stacklevel=2,
        )
    if failures:
        warnings.warn(
            f"{len(failures)} model(s) failed (no DNA): "
            + "; ".join(f"{s.model} ({s.reason})" for s in failures[:20])
            + (" ..." if len(failures) > 20 else ""),
            PhyloLLMWarning,
            stacklevel=2,
        )
    if excluded:
        warnings.warn(
            f"{len(excluded)} model(s) excluded for empty responses (no DNA): "
            + "; ".join(f"{s.model} ({s.reason})" for s in excluded[:20])
            + (" ..." if len(excluded) > 20 else ""),
            PhyloLLMWarning,
            stacklevel=2,
        )
    if not labels:
        if not summaries:
            raise PhyloLLMError("no models given")
        raise PhyloLLMError(
            f"no DNA: all {len(summaries)} model(s) failed or were excluded for empty responses; "
            f"see {out / 'summary.json'}"
        )
    order = {m: i for i, m in enumerate(labels)}
    labels_in_order = [s.model for s in summaries if s.status == "ok"]
    dna = DnaSet(tuple(labels_in_order), np.stack([vectors[order[m]] for m in labels_in_order]), prov)
    write_dna(dna, out / "dna.json")
    if contributions:
        write_contributions(
            ProbeContributions(dna.labels, np.stack([shares[m] for m in dna.labels]), prov),
            out / "contributions.npz",
        )
    return ExtractionResult(dna, tuple(summaries))


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
    stale = sorted(
        f"models/{p.name}" for p in (out / "models").glob("*.json") if f"models/{p.name}" not in written
    ) if (out / "models").is_dir() else []
    if not contributions and (out / "contributions.npz").is_file():
        stale.append("contributions.npz")
    if not written and (out / "dna.json").is_file():
        stale.append("dna.json")
    for rel in stale:
        (out / rel).unlink(missing_ok=True)
    return stale


def _write_summary(
    path: Path, probes: ProbeSet, prov: Any, summaries: list[ModelSummary]
) -> None:
    doc = {
        "probes": {"name": probes.name, "id": probes.id, "n": len(probes)},
        "provenance": prov.to_dict() if prov is not None else None,
        "models": [asdict(s) for s in summaries],
        "n_ok": sum(s.status == "ok" for s in summaries),
        "n_excluded": sum(s.status == "excluded" for s in summaries),
        "n_failed": sum(s.status == "failed" for s in summaries),
    }
    atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n")


def extract_dna(
    models: Iterable[Backend | str], probes: ProbeSet | str | Path, **kwargs: Any
) -> DnaSet:
    """The DNA of ``models`` (see :func:`run_extraction` for every option and the files written).

    Examples
    --------
    Not run by the test suite: a real model answers 50 probes (minutes on a CPU).

    >>> dna = extract_dna(["smollm2-135m"], "random:50", out_dir="dna_out")  # doctest: +SKIP
    >>> dna.provenance.embedder  # doctest: +SKIP
    'sentence-transformers/all-MiniLM-L6-v2'
    """
    return run_extraction(models, probes, **kwargs).dna
