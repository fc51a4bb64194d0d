"""``place``: run models on an atlas's probes with the atlas's settings and place their DNA in it.

:func:`place_models` reads like its steps:

1. :func:`atlas_pipeline` — the atlas, its probes, its recipe (rebuilt from the statistics it
   stores, checked against its recorded id) and its embedder;
2. per model, :func:`model_answers` — a backend made with the atlas's generation settings
   (raw prompt and greedy decoding for ``rand-zh``), checked against them field by field, asked
   through the resumable response cache; or recorded answers with declared settings;
3. :func:`atlas_dna` — embeddings (cached) -> the atlas recipe's features = DNA, exactly as the
   atlas members' DNA was made;
4. :func:`phylo_llm.atlas.place` — nearest atlas models, inferred family, calibrated confidence;
5. :func:`write_placement` — ``placement.json``, ``placement.md``, ``dna.json`` and one
   neighbourhood figure per model.

Generation length: the embedder reads only the start of an answer (its ``window_pieces``: 256
normalised characters for the rand-zh atlas's n-gram embedder, 512 for paper's, 254 word pieces
for MiniLM), so answers are generated only as long as that window needs
(:data:`WINDOW_TOKENS`; measured in docs/atlas.md), not to the population's 1,024 tokens, and
a local model stops each answer as soon as that window is full (:func:`embedder_window_stop`;
the DNA is the same, measured in ``benchmarks/bench_window_stop.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from phylo_llm.atlas import Atlas, Placement, atlas_parts, check_settings, load_atlas, place
from phylo_llm.data import DnaSet, Provenance
from phylo_llm.errors import PhyloLLMError
from phylo_llm.io import write_dna
from phylo_llm.util import atomic_write_text

from ..backends import OPENAI_PREFIX, VLLM_PREFIX, check_spec, resolve_backend
from ..backends.hf import WindowStop
from ..backends.recorded import RecordedBackend
from ..embed import embed_texts, load_embedder
from ..probes import ProbeSet
from ..progress import ProgressCallback, ProgressEvent, emit
from ..recipe import WhitenedRecipe
from ..runner import generation_label
from ..store import collect_responses, default_cache_dir
from .build import atlas_recipe, atlas_vectors

__all__ = [
    "WINDOW_TOKENS",
    "AtlasPipeline",
    "embedder_window_stop",
    "atlas_pipeline",
    "model_answers",
    "atlas_dna",
    "place_models",
    "parent_note",
    "write_placement",
]

#: New tokens generated per probe for placement: enough to fill a window of ~256 Chinese characters
#: (the rand-zh n-gram window; MiniLM's 256 pieces are about as many). Measured for MiniLM on
#: 1,500 recorded rand-zh answers (docs/atlas.md, "generation length"): the window of
#: the first 512 tokens equals the full answer's for 94% of answers with SmolLM2's tokenizer
#: (Chinese characters cost it ~1.7 tokens each) and 99% with Gemma-3's.
WINDOW_TOKENS = 512


@dataclass(frozen=True)
class AtlasPipeline:
    """What making DNA comparable with an atlas takes."""

    atlas: Atlas
    probes: ProbeSet
    recipe: WhitenedRecipe
    embedder: Any


def atlas_pipeline(atlas: Atlas | str, *, embedder: Any = None, threads: int | None = None) -> AtlasPipeline:
    """The atlas with its probes, recipe and embedder, each checked against the atlas provenance."""
    a = load_atlas(atlas) if isinstance(atlas, (str, Path)) else atlas
    probes = ProbeSet(a.prompts, name=a.name)
    if probes.id != a.provenance.probe_set:
        raise PhyloLLMError(f"atlas {a.name!r}: its prompts hash to {probes.id}, not {a.provenance.probe_set}")
    recipe = atlas_recipe(a.stats_meta, a.stats)
    if recipe.id != a.provenance.recipe:
        raise PhyloLLMError(
            f"atlas {a.name!r}: its statistics give recipe {recipe.id!r}, but its DNA was made with "
            f"{a.provenance.recipe!r}; the file is inconsistent: rebuild it"
        )
    emb = embedder or load_embedder(a.provenance.embedder, batch_size=32, threads=threads)
    if emb.id != a.provenance.embedder:
        raise PhyloLLMError(f"atlas {a.name!r} was made with embedder {a.provenance.embedder!r}, not {emb.id!r}")
    return AtlasPipeline(a, probes, recipe, emb)


def embedder_window_stop(embedder: Any, *, margin: int = 16) -> WindowStop:
    """Stop each response once ``embedder`` has its window full (``window_pieces`` word pieces,
    plus ``margin`` so the boundary word lies outside it): the answer's embedding is then the same
    as the full answer's, for fewer decoding steps (measured in docs/atlas.md)."""
    needed = int(embedder.window_pieces)
    limit = needed + margin
    count = embedder.piece_counter(limit=limit)  # holds the tokenizer only: a worker process can take it
    return WindowStop(count=count, needed=needed, margin=margin, id=f"{embedder.id} window {needed}+{margin}")


def _backend_kwargs(
    atlas: Atlas, max_new_tokens: int | None, threads: int | None, batch_size: int | None
) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "max_new_tokens": max_new_tokens or WINDOW_TOKENS,
        "threads": threads,
        "batch_size": batch_size,
    }
    if "chat_template" in atlas.match:
        kw["chat_template"] = atlas.match["chat_template"]
    if atlas.match.get("decoding") == "sampling":
        kw["temperature"] = atlas.match["temperature"]
        kw["top_p"] = atlas.match["top_p"]
    return kw


def model_answers(
    pipe: AtlasPipeline,
    model: str | RecordedBackend,
    *,
    settings: Mapping[str, Any] | None = None,
    max_new_tokens: int | None = None,
    threads: int | None = None,
    batch_size: int | None = None,
    cache_dir: Path,
    progress: ProgressCallback | None = None,
) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """``(model id, answers, generation settings)`` of one model on the atlas probes.

    A model spec is run with the atlas's settings; recorded answers (``RecordedBackend``) must
    come with ``settings`` that match the atlas's (the caller declares them).
    """
    atlas = pipe.atlas
    if isinstance(model, RecordedBackend):
        declared = dict(settings or {})
        check_settings(atlas, declared, what=f"recorded model {model.model_id!r}")
        return model.model_id, tuple(model.generate(list(pipe.probes.prompts))), declared
    kwargs = _spec_settings(pipe, model, max_new_tokens=max_new_tokens, threads=threads, batch_size=batch_size)
    return _run_spec(pipe.atlas, pipe.probes, model, kwargs, cache_dir=cache_dir, progress=progress)


def _spec_settings(
    pipe: AtlasPipeline, model: str, *, max_new_tokens: int | None, threads: int | None, batch_size: int | None
) -> dict[str, Any]:
    """The backend settings that run ``model`` with the atlas's generation settings."""
    atlas = pipe.atlas
    check_spec(model)
    if model.startswith("openai:"):
        # A chat API answers through its own chat template: never the raw-prompt population.
        check_settings(
            atlas,
            {"chat_template": True, "decoding": "greedy", "temperature": 0},
            what=f"model {model!r} (an OpenAI-compatible chat API)",
        )
    kwargs = {k: v for k, v in _backend_kwargs(atlas, max_new_tokens, threads, batch_size).items() if v is not None}
    if not model.startswith((OPENAI_PREFIX, VLLM_PREFIX)) and hasattr(pipe.embedder, "piece_counter"):
        kwargs["window_stop"] = embedder_window_stop(pipe.embedder)  # local transformers models
    return kwargs


def _run_spec(
    atlas: Atlas,
    probes: ProbeSet,
    model: str,
    kwargs: Mapping[str, Any],
    *,
    cache_dir: Path,
    progress: ProgressCallback | None = None,
) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    backend = resolve_backend(model, **kwargs)
    gen = dict(backend.settings())
    check_settings(atlas, gen, what=f"model {backend.model_id!r}")
    res = collect_responses(backend, probes, cache_dir=cache_dir, chunk_size=len(probes), progress=progress)
    return backend.model_id, res.texts, gen


def atlas_dna(
    pipe: AtlasPipeline,
    answers: Sequence[str],
    *,
    cache_dir: Path,
    label: str = "",
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """The DNA of one model's answers, made exactly as the atlas members' was."""
    emb = embed_texts(pipe.embedder, list(answers), cache_dir=cache_dir, label=label, progress=progress)
    prov = pipe.atlas.provenance
    return atlas_vectors(
        pipe.recipe,
        emb[None],
        probe_set=pipe.probes.id,
        projection=prov.projection,
        seed=prov.seed,
        dims=int(prov.dims or 0),
    )[0]


def place_models(
    models: Sequence[str | RecordedBackend],
    *,
    atlas: Atlas | str,
    out_dir: str | Path | None = None,
    k: int = 10,
    settings: Mapping[str, Any] | None = None,
    max_new_tokens: int | None = None,
    threads: int | None = None,
    batch_size: int | None = None,
    cache_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
    figures: bool = True,
    embedder: Any = None,
    jobs: int = 1,
) -> tuple[DnaSet, tuple[Placement, ...]]:
    """Place ``models`` (specs, or recorded answers with declared ``settings``) in ``atlas``.

    In a composite atlas (one with ``parts``) each model answers every part's probes with that
    part's settings; its DNA is the parts' DNA, weighted and concatenated as the members' was.

    ``jobs`` > 1 generates the answers of that many model specs at once, each in its own process
    (started by spawn: a script calling this needs an ``if __name__ == "__main__":`` guard) with
    ``threads // jobs`` CPU threads; the answers, DNA and placements are the same as with
    ``jobs=1``. On a small CPU this pays because one model's decoding does not use all cores
    (docs/atlas.md); each process holds its own model in memory.
    """
    if not models:
        raise PhyloLLMError("give at least one model to place")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = load_atlas(atlas) if isinstance(atlas, (str, Path)) else atlas
    folder = Path(atlas).parent if isinstance(atlas, (str, Path)) and Path(atlas).is_file() else None
    parts = list(atlas_parts(target, folder=folder)) or [target]
    weights = [p.weight for p in target.parts] or [1.0]
    pipes = [atlas_pipeline(a, embedder=embedder, threads=threads) for a in parts]
    gen_kw = {"max_new_tokens": max_new_tokens, "batch_size": batch_size, "cache_dir": cache}
    ready = _answers_in_processes(pipes, models, jobs=jobs, threads=threads, progress=progress, **gen_kw)
    labels, vectors, gens = [], [], []
    for i, m in enumerate(models):
        blocks, part_gens, mid = [], {}, ""
        for j, (pipe, weight) in enumerate(zip(pipes, weights)):
            # A composite's recorded answers declare settings per part: {part name: settings}.
            declared = (settings or {}).get(pipe.atlas.name) if target.parts else settings
            mid, answers, gen = ready.get((i, j)) or model_answers(
                pipe, m, settings=declared, threads=threads, progress=progress, **gen_kw
            )
            blocks.append(weight * atlas_dna(pipe, answers, cache_dir=cache, label=mid, progress=progress))
            part_gens[pipe.atlas.name] = json.loads(generation_label(gen))
        if mid in labels:
            raise PhyloLLMError(f"model {mid!r} is given twice")
        labels.append(mid)
        vectors.append(np.concatenate(blocks))
        gens.append(generation_label(part_gens if target.parts else part_gens[target.name]))
    prov = Provenance(**{**target.provenance.to_dict(), "generation": gens[0]})
    if len(set(gens)) > 1:
        # One DNA set holds one generation label; each model's settings were checked already.
        prov = Provenance(
            **{**prov.to_dict(), "generation": json.dumps(dict(target.match), sort_keys=True, separators=(",", ":"))}
        )
    dna = DnaSet(tuple(labels), np.stack(vectors), prov)
    placements = place(target, dna, k=k)
    if out_dir is not None:
        write_placement(target, dna, placements, out_dir, figures=figures)
    return dna, placements


def _answers_in_processes(
    pipes: Sequence[AtlasPipeline],
    models: Sequence[str | RecordedBackend],
    *,
    jobs: int,
    threads: int | None,
    max_new_tokens: int | None,
    batch_size: int | None,
    cache_dir: Path,
    progress: ProgressCallback | None,
) -> dict[tuple[int, int], tuple[str, tuple[str, ...], dict[str, Any]]]:
    """The answers of every (model spec, atlas part), ``jobs`` at a time in spawned processes.

    Keyed by (model index, part index); empty when there is nothing to run side by side. Each
    worker fills the shared response cache as a serial run would, so an interrupted run resumes.
    """
    tasks = [(i, j) for i, m in enumerate(models) if isinstance(m, str) for j in range(len(pipes))]
    if jobs < 1:
        raise PhyloLLMError(f"jobs must be a positive integer, got {jobs!r}")
    if jobs == 1 or len(tasks) < 2:
        return {}
    import multiprocessing

    jobs = min(jobs, len(tasks))
    per_job = max(1, (threads or len(os.sched_getaffinity(0))) // jobs)
    spec_kw = {"max_new_tokens": max_new_tokens, "threads": per_job, "batch_size": batch_size}
    # Checked here, so a bad spec fails in one line before any process starts; a worker gets
    # the atlas's settings without its DNA, and the backend settings (a window stop holds only
    # the embedder's tokenizer).
    work = [
        (
            (i, j),
            _settings_only(pipes[j].atlas),
            pipes[j].probes,
            models[i],
            _spec_settings(pipes[j], models[i], **spec_kw),
        )
        for i, j in tasks
    ]
    for i in dict.fromkeys(i for i, _ in tasks):
        message = f"answering in a worker process ({per_job} thread{'s' if per_job > 1 else ''})"
        emit(progress, ProgressEvent(str(models[i]), "note", message=message))
    t0, out = time.perf_counter(), {}
    # One model per process (maxtasksperchild=1 frees its memory); leaving the block on an error
    # terminates the other workers at once.
    with multiprocessing.get_context("spawn").Pool(jobs, maxtasksperchild=1) as pool:
        for key, result in pool.imap_unordered(partial(_answer_task, cache_dir=cache_dir), work):
            mid, answers, _ = out[key] = result
            where = pipes[key[1]].atlas.name
            message = f"{len(answers)} answers on {where}'s probes after {time.perf_counter() - t0:.0f} s"
            emit(progress, ProgressEvent(mid, "note", message=message))
    return out


def _answer_task(
    task: tuple, *, cache_dir: Path
) -> tuple[tuple[int, int], tuple[str, tuple[str, ...], dict[str, Any]]]:
    """One worker's job. Its transformers progress bars are off: side by side, the workers'
    "Loading weights" bars would overwrite each other on one terminal (the parent reports
    each model's start and end instead)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    key, atlas, probes, model, kwargs = task
    return key, _run_spec(atlas, probes, model, kwargs, cache_dir=cache_dir)


def _settings_only(atlas: Atlas) -> Atlas:
    """``atlas`` without its members and statistics: what checking a model's settings needs."""
    return dataclasses.replace(
        atlas, members=(), dna=np.zeros((0, atlas.dna.shape[1]), np.float32), newick="", stats={}, calibration={}
    )


def parent_note(atlas: Atlas, *, short: bool = False, k: int | None = None) -> str | None:
    """How often the parent candidates held the parent for the atlas's own members, placed as if
    new when the calibration was fitted (``calibration["parents"]``); ``None`` when not recorded.
    With ``k`` (the neighbours of this placement) other than the calibration's, the note says
    with which ``k`` the rates were measured."""
    rec = atlas.calibration.get("parents") if atlas.calibration else None
    if not rec or not rec.get("n"):
        return None
    cal_k = atlas.calibration.get("k")
    other_k = f", measured with k={cal_k}" if k is not None and cal_k is not None and k != cal_k else ""
    if short:
        return f"for the atlas's own models: parent first {rec['first']:.0%}, among them {rec['among']:.0%}{other_k}"
    return (
        f"for the atlas's own models with a documented parent in it, placed as if new ({rec['n']} placements"
        f"{other_k}), the parent was the first candidate {rec['first']:.0%} and among them {rec['among']:.0%} "
        "of the time"
    )


def _markdown(atlas: Atlas, placements: Sequence[Placement]) -> str:
    lines = [
        f"# Placement in atlas `{atlas.name}`",
        "",
        f"{atlas.description}; {len(atlas)} models, {len(atlas.prompts)} probes, "
        f"embedder `{atlas.provenance.embedder}`, recipe `{atlas.provenance.recipe}`.",
        "",
    ]
    for p in placements:
        verdict = (
            f"**{p.family}** (confidence {p.confidence:.2f})"
            if p.sure
            else f"unsure (best guess {p.family!r}, confidence {p.confidence:.2f})"
        )
        lines += [f"## {p.model}", "", f"Family: {verdict}.", ""]
        if p.parent_candidates:
            note = parent_note(atlas, k=len(p.neighbours))
            lines += [
                "Nearest models of that family (parent candidates): "
                + ", ".join(f"`{c}`" for c in p.parent_candidates)
                + "."
                + (f" {note[0].upper()}{note[1:]}." if note else ""),
                "",
            ]
        lines += ["| rank | atlas model | distance | family | relation | parent |", "|---|---|---|---|---|---|"]
        for n in p.neighbours:
            fam = n.family or ""
            if n.family_source == "name":
                fam += f" (from name: is or extends `{n.family_from}`)" if n.family_from else " (from name)"
            lines.append(
                f"| {n.rank} | `{n.model}` | {n.distance:.4f} | {fam} | {n.relation or ''} | {n.base_model or ''} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_placement(
    atlas: Atlas, dna: DnaSet, placements: Sequence[Placement], out_dir: str | Path, *, figures: bool = True
) -> Path:
    """Write ``placement.json``, ``placement.md``, ``dna.json`` and neighbourhood figures."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "atlas": {"name": atlas.name, "sha256": atlas.sha, "models": len(atlas)},
        "placements": [asdict(p) for p in placements],
    }
    atomic_write_text(out / "placement.json", json.dumps(doc, indent=2, default=str) + "\n")
    atomic_write_text(out / "placement.md", _markdown(atlas, placements))
    write_dna(dna, out / "dna.json")
    if figures:
        from phylo_llm.plot.atlas import save_placement

        for p in placements:
            save_placement(atlas, p, dna.vector(p.model), out / f"{_file_stem(p.model)}-neighbourhood.png")
    return out


def _file_stem(model: str) -> str:
    from ..store import safe_name

    return safe_name(model)
