"""Embedding a whole population of recorded models, probe by probe, for an atlas build.

An atlas build embeds every recorded answer of hundreds or thousands of models to the same
probes (1,585 models x 16 probes for ``rand-zh``). The per-model path
(:func:`extract.embed.embed_texts` on one model's answers) would embed each answer in a batch of
mixed lengths and embed identical answers once per model. Here one probe's answers of *all*
models are embedded together:

1. answers are grouped by what the embedder actually reads — the first ``max_seq_length`` word
   pieces (:meth:`extract.embed.SentenceEmbedder.window_keys`): greedy answers of related models
   are often identical, or identical within the window, so each distinct window is embedded once;
2. the distinct windows are ordered by length, so a batch pads little;
3. they go through :func:`extract.embed.embed_texts`, whose chunk cache makes the build resumable
   (an interrupted build loses at most one chunk of 128 texts) and skips work already done.

The result equals embedding every answer on its own (to float32 rounding): identical windows have
identical embeddings by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phylo_llm.errors import PhyloLLMError

from ..embed import embed_texts
from ..progress import ProgressCallback, ProgressEvent, emit

__all__ = ["embed_population", "distinct_windows"]


def distinct_windows(embedder: Any, texts: Sequence[str]) -> tuple[list[str], NDArray[np.intp]]:
    """Representative texts of the distinct embedder windows, longest first, and each text's group.

    Parameters
    ----------
    embedder
        An embedder; when it has ``window_keys(texts)`` (the truncated token ids), texts that
        agree within the window share one group, else only identical texts do.
    texts
        The texts.

    Returns
    -------
    ``(representatives, index)`` with ``texts[i]`` embedding as ``representatives[index[i]]``.

    Examples
    --------
    >>> class Exact:
    ...     pass
    >>> reps, idx = distinct_windows(Exact(), ["a", "ab", "a", "cd"])
    >>> reps, idx.tolist()
    (['ab', 'cd', 'a'], [2, 0, 2, 1])
    """
    keys_of = getattr(embedder, "window_keys", None)
    keys: Sequence[Any] = keys_of(texts) if keys_of is not None else texts
    group_of: dict[Any, int] = {}
    first: list[int] = []  # index of each group's first text
    group = np.empty(len(texts), dtype=np.intp)
    for i, k in enumerate(keys):
        g = group_of.setdefault(k, len(group_of))
        if g == len(first):
            first.append(i)
        group[i] = g
    reps_idx = np.array(first, dtype=np.intp)
    length = np.array([len(keys[i]) for i in reps_idx])
    order = np.argsort(-length, kind="stable")  # longest first: batches of like lengths
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return [texts[reps_idx[j]] for j in order], rank[group]


def embed_population(
    embedder: Any,
    responses: Sequence[Sequence[str]],
    *,
    cache_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> NDArray[np.float32]:
    """``(n_models, n_probes, dim)`` embeddings of every model's answer to every probe.

    Parameters
    ----------
    embedder
        A :class:`~extract.embed.SentenceEmbedder` (or an object with ``id``, ``dim``,
        ``encode``; ``window_keys`` optional).
    responses
        ``responses[m][p]``: model ``m``'s answer to probe ``p`` (all models answer all probes).
    cache_dir
        Cache root of :func:`~extract.embed.embed_texts` (resumable).
    progress
        Receives one ``"embeddings"`` event per finished chunk, labelled ``probe i/n``, with
        counts over the distinct windows of that probe.

    Examples
    --------
    >>> import tempfile
    >>> class Lengths:
    ...     id, dim = "lengths", 1
    ...     def encode(self, texts): return np.array([[len(t)] for t in texts], dtype=np.float32)
    >>> embed_population(Lengths(), [["a", "bb"], ["a", "ccc"]], cache_dir=tempfile.mkdtemp())[:, :, 0].tolist()
    [[1.0, 2.0], [1.0, 3.0]]
    """
    n_models = len(responses)
    if n_models == 0:
        raise PhyloLLMError("responses must hold at least one model, got none")
    n_probes = len(responses[0])
    for m, r in enumerate(responses):
        if len(r) != n_probes:
            raise PhyloLLMError(f"every model must answer all {n_probes} probes; model {m} has {len(r)} answers")
    out = np.empty((n_models, n_probes, int(embedder.dim)), dtype=np.float32)
    for p in range(n_probes):
        texts = [r[p] for r in responses]
        reps, group = distinct_windows(embedder, texts)
        label = f"probe {p + 1}/{n_probes}"
        vecs = embed_texts(embedder, reps, cache_dir=cache_dir, label=label, progress=progress)
        out[:, p] = vecs[group]
    emit(progress, ProgressEvent("population", "embeddings", done=n_probes, total=n_probes))
    return out
