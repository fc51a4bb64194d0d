"""From response embeddings to DNA: recipe features, then the seeded JL projection of ALL probes.

Each model's DNA depends only on its own embeddings, the recipe (plus its frozen statistics) and
the projection seed, so a model added later gets DNA comparable with DNA made earlier — the
provenance, recorded in full, says exactly when that holds.

Unlike the reference extractor's 128-d DNA (which keeps only the first two probes' worth of the
concatenated embedding), every probe contributes here: the DNA is the sum over probes of
``features[i] @ R_i`` (see :mod:`extract.projection`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from phylo_llm.data import DnaSet, Provenance
from phylo_llm.errors import PhyloLLMError

from .defaults import DEFAULT_SEED, PAPER_DIMS, PAPER_RECIPE
from .probes import ProbeSet
from .projection import PROJECTION, per_probe_contributions, project
from .recipe import Recipe, get_recipe

__all__ = ["embeddings_to_dna", "model_dna", "model_features", "model_contributions", "dna_provenance"]


def _recipe(recipe: Recipe | str) -> Recipe:
    return get_recipe(recipe) if isinstance(recipe, str) else recipe


def _features(emb: NDArray[np.floating], probes: ProbeSet, recipe: Recipe, model: str) -> NDArray[np.float64]:
    arr = np.asarray(emb)
    if arr.ndim != 2 or arr.shape[0] != len(probes):
        raise PhyloLLMError(
            f"embeddings of model {model!r} must have shape (n_probes={len(probes)}, emb_dim), got {arr.shape}"
        )
    feats = np.asarray(recipe.features(arr.astype(np.float32, copy=False), probe_set=probes.id))
    if feats.ndim != 2 or feats.shape[0] != len(probes):
        raise PhyloLLMError(
            f"recipe {recipe.id!r} returned features of shape {feats.shape} for model {model!r}; "
            f"expected ({len(probes)}, k)"
        )
    return feats.astype(np.float64, copy=False)


def model_features(
    emb: NDArray[np.floating],
    *,
    probes: ProbeSet,
    recipe: Recipe | str = PAPER_RECIPE,
    model: str = "model",
) -> NDArray[np.float64]:
    """The recipe's ``(n_probes, k)`` per-probe features of one model (shapes checked).

    Examples
    --------
    >>> model_features(np.ones((2, 3)), probes=ProbeSet(("a?", "b?"))).shape
    (2, 3)
    """
    return _features(emb, probes, _recipe(recipe), model)


def model_contributions(
    emb: NDArray[np.floating],
    *,
    probes: ProbeSet,
    recipe: Recipe | str = PAPER_RECIPE,
    seed: int = DEFAULT_SEED,
    dims: int = PAPER_DIMS,
    model: str = "model",
) -> NDArray[np.float64]:
    """Per-probe DNA contributions of one model: ``(n_probes, dims)``, summing to its DNA.

    Useful to bootstrap over probes: the DNA of a resample is the sum of its rows.

    Examples
    --------
    >>> p = ProbeSet(("a?", "b?", "c?"))
    >>> emb = np.eye(3, 4, dtype=np.float32)
    >>> c = model_contributions(emb, probes=p, dims=8)
    >>> c.shape, bool(np.allclose(c.sum(0), model_dna(emb, probes=p, dims=8)))
    ((3, 8), True)
    """
    return per_probe_contributions(_features(emb, probes, _recipe(recipe), model), seed=seed, dims=dims)


def model_dna(
    emb: NDArray[np.floating],
    *,
    probes: ProbeSet,
    recipe: Recipe | str = PAPER_RECIPE,
    seed: int = DEFAULT_SEED,
    dims: int = PAPER_DIMS,
    model: str = "model",
) -> NDArray[np.float64]:
    """The ``(dims,)`` DNA vector of one model from its ``(n_probes, emb_dim)`` embeddings."""
    return project(_features(emb, probes, _recipe(recipe), model), seed=seed, dims=dims)


def dna_provenance(
    *, probes: ProbeSet, embedder: str, generation: str, recipe: Recipe | str, seed: int, dims: int
) -> Provenance:
    """The provenance every DNA made with these settings carries."""
    return Provenance(
        probe_set=probes.id,
        n_probes=len(probes),
        embedder=embedder,
        generation=generation,
        recipe=_recipe(recipe).id,
        projection=PROJECTION,
        seed=seed,
        dims=dims,
    )


def embeddings_to_dna(
    embeddings: Mapping[str, NDArray[np.floating]],
    *,
    probes: ProbeSet,
    embedder: str,
    generation: str,
    recipe: Recipe | str = PAPER_RECIPE,
    seed: int = DEFAULT_SEED,
    dims: int = PAPER_DIMS,
) -> DnaSet:
    """DNA of several models from their response embeddings, with full provenance.

    Parameters
    ----------
    embeddings
        ``{model id: (n_probes, emb_dim) array}``, rows in probe order; all the same width.
    probes
        The probe set answered (its id and size go into the provenance).
    embedder
        Embedder id (e.g. ``SentenceEmbedder.id``).
    generation
        Identifier of the generation settings shared by these models.
    recipe
        A :class:`~extract.recipe.Recipe` or a registered name.
    seed, dims
        Projection seed and DNA dimension.

    Examples
    --------
    >>> p = ProbeSet(("a?", "b?"))
    >>> rng = np.random.default_rng(0)
    >>> embs = {"m1": rng.random((2, 5)), "m2": rng.random((2, 5))}
    >>> dna = embeddings_to_dna(embs, probes=p, embedder="toy", generation="greedy", dims=4)
    >>> dna.labels, dna.provenance.recipe, dna.provenance.projection
    (('m1', 'm2'), 'concat-v1', 'gaussian-jl')
    """
    if not embeddings:
        raise PhyloLLMError("embeddings must hold at least one model, got none")
    rec = _recipe(recipe)
    widths = {m: np.shape(e)[-1] if np.ndim(e) == 2 else None for m, e in embeddings.items()}
    if len(set(widths.values())) > 1:
        raise PhyloLLMError(f"all models' embeddings must have the same width, got {widths}")
    labels = tuple(embeddings)
    feats = np.stack([_features(embeddings[m], probes, rec, m) for m in labels])
    vectors = project(feats, seed=seed, dims=dims)
    prov = dna_provenance(probes=probes, embedder=embedder, generation=generation, recipe=rec, seed=seed, dims=dims)
    return DnaSet(labels, vectors, prov)
