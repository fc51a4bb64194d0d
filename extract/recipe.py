"""Recipes: how one model's response embeddings become per-probe DNA features.

A recipe sits between the embedder and the random projection. It maps the ``(n_probes, emb_dim)``
embeddings of ONE model (rows in probe order) to ``(n_probes, k)`` per-probe features; the
projection (:mod:`extract.projection`) then sums per-probe contributions into the DNA vector.

A recipe may use only the model itself plus statistics frozen into the recipe (e.g. reference
means computed once and shipped): a new model's DNA must be comparable with DNA already made,
without recomputing anyone else's. Its ``id`` is recorded in :attr:`phylo_llm.Provenance.recipe`
and must change whenever its output could change (version, hash of frozen statistics).

Registry
--------
``RECIPES`` maps a name to a zero-argument factory; :func:`get_recipe` looks one up.
``"concat"`` is the LLM-DNA paper's naive method: each probe's embedding is used unchanged, so the
DNA is a random projection of the concatenated embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from phylo_llm.errors import PhyloLLMError

__all__ = ["Recipe", "ConcatRecipe", "RECIPES", "get_recipe", "check_embeddings"]


@runtime_checkable
class Recipe(Protocol):
    """Per-probe feature map applied to one model's response embeddings.

    Attributes
    ----------
    id
        Recorded in the DNA's provenance; includes a version and a hash of any frozen statistics.
    metric
        Distance the resulting DNA is meant to be compared with (``"euclidean"`` or ``"cosine"``).
    """

    id: str
    metric: Literal["euclidean", "cosine"]

    def features(self, emb: NDArray[np.float32], *, probe_set: str) -> NDArray[np.float64]:
        """``(n_probes, emb_dim)`` embeddings of one model -> ``(n_probes, k)`` features."""
        ...


def check_embeddings(emb: NDArray[np.floating], *, what: str = "embeddings") -> NDArray[np.float64]:
    """Validate one model's embeddings (2-D, at least one probe, finite) and return float64.

    Examples
    --------
    >>> check_embeddings(np.zeros((3, 4), dtype=np.float32)).shape
    (3, 4)
    """
    arr = np.asarray(emb)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise PhyloLLMError(
            f"{what} must be a non-empty 2-D array (n_probes, emb_dim), got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise PhyloLLMError(
            f"{what} must be finite; {bad.size} probe(s) have NaN/inf values, e.g. rows {bad[:5].tolist()}"
        )
    return arr.astype(np.float64, copy=False)


@dataclass(frozen=True)
class ConcatRecipe:
    """The paper's naive recipe: each probe's embedding, unchanged.

    Examples
    --------
    >>> r = ConcatRecipe()
    >>> r.features(np.ones((2, 3), dtype=np.float32), probe_set="sha256:x").shape
    (2, 3)
    >>> r.id
    'concat-v1'
    """

    id: str = "concat-v1"
    metric: Literal["euclidean", "cosine"] = "euclidean"

    def features(self, emb: NDArray[np.float32], *, probe_set: str) -> NDArray[np.float64]:
        return check_embeddings(emb).copy()


RECIPES: dict[str, Callable[[], Recipe]] = {
    "concat": ConcatRecipe,
}


def get_recipe(name: str) -> Recipe:
    """The recipe registered as ``name``.

    Examples
    --------
    >>> get_recipe("concat").id
    'concat-v1'
    """
    try:
        factory = RECIPES[name]
    except KeyError:
        raise PhyloLLMError(f"recipe must be one of {sorted(RECIPES)}, got {name!r}") from None
    return factory()
