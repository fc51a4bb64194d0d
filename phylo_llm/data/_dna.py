"""DNA sets: labelled DNA vectors plus the provenance that makes them comparable.

Two DNA vectors can only be compared when they were extracted with the same probes, the same
embedder, the same generation settings and the same random projection. :class:`Provenance` records
exactly that, and every operation that combines DNA sets checks it. File formats live in
:mod:`phylo_llm.io`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import PhyloLLMError, ProvenanceError
from ..util import check_unique, labelled_rows, missing_label_message, readonly

__all__ = ["Provenance", "DnaSet", "merge_dna"]


@dataclass(frozen=True)
class Provenance:
    """How a set of DNA vectors was made. Equal provenance is required to compare DNA.

    ``None`` means "not recorded". Two provenances are compatible only when every field is equal
    (``None`` equals only ``None``): an unknown is never silently assumed to match a known value.

    Parameters
    ----------
    probe_set
        Content hash of the probe prompts (e.g. ``"sha256:3fa1..."``), or a published set's name.
    n_probes
        Number of probe prompts.
    embedder
        Sentence-embedding model used on the responses.
    generation
        Identifier of the generation settings (decoding, ``max_new_tokens``, chat template...).
    recipe
        How embeddings become DNA, including the version of any frozen reference statistics.
    projection
        Random-projection family, e.g. ``"gaussian-jl"``.
    seed
        Seed of the random projection.
    dims
        DNA dimension (length of every vector).

    Examples
    --------
    >>> a = Provenance(embedder="all-MiniLM-L6-v2", seed=0, dims=128)
    >>> b = Provenance(embedder="all-MiniLM-L6-v2", seed=1, dims=128)
    >>> a.differences(b)
    [('seed', 0, 1)]
    """

    probe_set: str | None = None
    n_probes: int | None = None
    embedder: str | None = None
    generation: str | None = None
    recipe: str | None = None
    projection: str | None = None
    seed: int | None = None
    dims: int | None = None

    def differences(self, other: Provenance) -> list[tuple[str, Any, Any]]:
        """Fields whose values differ, as ``(field, self_value, other_value)``."""
        return [
            (f.name, getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]

    def check_compatible(self, other: Provenance, *, what: str = "DNA sets") -> None:
        """Raise :class:`ProvenanceError` naming the first differing field, if any."""
        diff = self.differences(other)
        if diff:
            desc = "; ".join(f"{name}: {a!r} != {b!r}" for name, a, b in diff)
            raise ProvenanceError(f"cannot combine {what} extracted differently: provenance differs in {desc}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PhyloLLMError(f"unknown provenance field(s) {unknown}; expected a subset of {sorted(known)}")
        return cls(**dict(data))


@dataclass(frozen=True)
class DnaSet:
    """Labelled DNA vectors (one row per model) with their provenance.

    Parameters
    ----------
    labels
        Model ids, unique.
    vectors
        ``(n_models, dims)`` finite float array; stored read-only as float64.
    provenance
        How the vectors were made; ``provenance.dims`` must equal ``vectors.shape[1]`` when set.

    Examples
    --------
    >>> dna = DnaSet(("a", "b"), [[0.0, 1.0], [1.0, 1.0]])
    >>> dna.vector("b").tolist()
    [1.0, 1.0]
    >>> len(dna), dna.dims
    (2, 2)
    """

    labels: tuple[str, ...]
    vectors: NDArray[np.float64] = field(repr=False)
    provenance: Provenance = field(default_factory=Provenance)

    def __post_init__(self) -> None:
        labels, vectors = labelled_rows(
            self.labels, self.vectors, ndim=2, what="DNA", array="DNA vectors", axes="models x dims", rows="DNA vectors"
        )
        check_unique(labels, what="DNA labels")
        bad = ~np.isfinite(vectors).all(axis=1)
        if bad.any():
            names = [labels[i] for i in np.flatnonzero(bad)[:5]]
            raise PhyloLLMError(
                f"DNA vectors must be finite; {int(bad.sum())} model(s) have NaN/inf values, e.g. {names}"
            )
        dims = self.provenance.dims
        if dims is not None and vectors.shape[0] and dims != vectors.shape[1]:
            raise PhyloLLMError(f"provenance.dims ({dims}) must match the vectors' width ({vectors.shape[1]})")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "vectors", readonly(vectors))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])

    def index(self, label: str) -> int:
        """Row of ``label``; raises naming the label (and near matches) when absent."""
        try:
            return self._index[label]
        except KeyError:
            raise PhyloLLMError(missing_label_message(label, self.labels)) from None

    @property
    def _index(self) -> dict[str, int]:
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {lab: i for i, lab in enumerate(self.labels)}
            object.__setattr__(self, "_index_cache", cached)
        return cached

    def vector(self, label: str) -> NDArray[np.float64]:
        return self.vectors[self.index(label)]

    def subset(self, labels: Iterable[str]) -> DnaSet:
        """A new set with only ``labels``, in that order."""
        labels = tuple(labels)
        rows = [self.index(lab) for lab in labels]
        return DnaSet(labels, self.vectors[rows], self.provenance)

    def drop(self, labels: Iterable[str]) -> DnaSet:
        """A new set without ``labels`` (each must be present)."""
        gone = set(labels)
        for lab in gone:
            self.index(lab)
        return self.subset(lab for lab in self.labels if lab not in gone)


def merge_dna(sets: Sequence[DnaSet]) -> DnaSet:
    """Concatenate DNA sets that share a provenance; labels must not repeat across sets.

    Raises
    ------
    ProvenanceError
        When any set's provenance differs from the first's; the message names the field.

    Examples
    --------
    >>> p = Provenance(seed=1, dims=2)
    >>> merged = merge_dna([DnaSet(("a",), [[0, 1]], p), DnaSet(("b",), [[1, 1]], p)])
    >>> merged.labels
    ('a', 'b')
    """
    if not sets:
        raise PhyloLLMError("merge_dna needs at least one DNA set, got none")
    first = sets[0]
    for other in sets[1:]:
        first.provenance.check_compatible(other.provenance)
    labels = tuple(lab for s in sets for lab in s.labels)
    dims = {s.dims for s in sets if len(s)}
    if len(dims) > 1:
        raise ProvenanceError(f"cannot merge DNA sets of different widths {sorted(dims)}")
    vectors = np.concatenate([s.vectors for s in sets], axis=0) if labels else first.vectors
    return DnaSet(labels, vectors, first.provenance)
