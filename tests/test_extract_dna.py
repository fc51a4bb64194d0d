"""extract.dna: every probe counts, provenance is complete, a model's DNA depends on it alone."""

from __future__ import annotations

import numpy as np
import pytest

from extract.dna import (
    dna_provenance,
    embeddings_to_dna,
    model_contributions,
    model_dna,
)
from extract.probes import ProbeSet, random_english
from extract.projection import project
from phylo_llm.data import Provenance
from phylo_llm.errors import PhyloLLMError

PROBES = ProbeSet(random_english(12, seed=0), name="r12")


def _emb(seed: int, n: int = 12, d: int = 16) -> np.ndarray:
    e = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def test_provenance_is_complete() -> None:
    dna = embeddings_to_dna(
        {"a": _emb(1), "b": _emb(2)},
        probes=PROBES,
        embedder="toy-emb",
        generation="greedy;max_new_tokens=8",
        seed=3,
        dims=32,
    )
    assert dna.provenance == Provenance(
        probe_set=PROBES.id,
        n_probes=12,
        embedder="toy-emb",
        generation="greedy;max_new_tokens=8",
        recipe="concat-v1",
        projection="gaussian-jl",
        seed=3,
        dims=32,
    )
    assert dna.vectors.shape == (2, 32) and dna.labels == ("a", "b")


@pytest.mark.parametrize("probe", [0, 5, 11])
def test_every_probe_changes_the_dna(probe: int) -> None:
    # The reference package's 128-d DNA keeps only the first ~2 probes; here the last counts too.
    e = _emb(1)
    f = e.copy()
    f[probe] = _emb(9)[probe]
    a, b = model_dna(e, probes=PROBES), model_dna(f, probes=PROBES)
    assert np.linalg.norm(a - b) > 0.05 * np.linalg.norm(a)


def test_dna_is_the_projection_of_the_concatenated_embeddings() -> None:
    e = _emb(4)
    assert np.allclose(model_dna(e, probes=PROBES, seed=1, dims=8), project(e.astype(np.float64), seed=1, dims=8))


def test_a_models_dna_does_not_depend_on_the_other_models() -> None:
    alone = embeddings_to_dna({"a": _emb(1)}, probes=PROBES, embedder="e", generation="g")
    group = embeddings_to_dna({"z": _emb(7), "a": _emb(1), "b": _emb(2)}, probes=PROBES, embedder="e", generation="g")
    assert np.allclose(alone.vector("a"), group.vector("a"), rtol=0, atol=1e-12)


def test_contributions_sum_to_the_dna() -> None:
    c = model_contributions(_emb(5), probes=PROBES, dims=16)
    assert c.shape == (12, 16) and np.allclose(c.sum(axis=0), model_dna(_emb(5), probes=PROBES, dims=16))


def test_distances_roughly_preserved() -> None:
    embs = {f"m{i}": _emb(i) for i in range(6)}
    dna = embeddings_to_dna(embs, probes=PROBES, embedder="e", generation="g", dims=512)
    from scipy.spatial.distance import pdist

    full = pdist(np.stack([embs[m].reshape(-1) for m in dna.labels]))
    ratio = pdist(dna.vectors) / full
    assert 0.8 < ratio.min() and ratio.max() < 1.2


@pytest.mark.parametrize(
    ("embeddings", "match"),
    [
        ({}, "at least one model"),
        ({"a": np.zeros((11, 16))}, r"model 'a' must have shape \(n_probes=12"),
        ({"a": _emb(1), "b": _emb(2, d=8)}, "same width"),
        ({"a": np.full((12, 4), np.nan)}, "finite"),
    ],
)
def test_bad_embeddings(embeddings: dict, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        embeddings_to_dna(embeddings, probes=PROBES, embedder="e", generation="g")


def test_unknown_recipe_lists_the_names() -> None:
    with pytest.raises(PhyloLLMError, match=r"recipe must be one of \[.*'concat'.*\], got 'nope'"):
        dna_provenance(probes=PROBES, embedder="e", generation="g", recipe="nope", seed=0, dims=4)
