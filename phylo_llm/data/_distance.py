"""Distance matrices: the validated labelled square matrix and the metrics that make one from DNA."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import DistanceMatrixError, PhyloLLMError
from ..util import check_choice, check_int, check_unique, missing_label_message, readonly
from ._dna import DnaSet

__all__ = ["Metric", "DistanceMatrix", "pairwise_distances", "dna_distances", "check_precision"]


Metric = Literal["euclidean", "cosine", "correlation"]


# Relative tolerance for symmetry / hollowness: distances computed in floating point may differ
# from their transpose by rounding, which is not an error.
_REL_TOL = 1e-9


@dataclass(frozen=True)
class DistanceMatrix:
    """Symmetric, hollow matrix of pairwise distances between labelled models.

    Parameters
    ----------
    labels
        One unique label per row/column.
    values
        ``(n, n)`` array; float32 is kept as float32 (halves memory for very large ``n``),
        anything else becomes float64. Stored read-only.

    Notes
    -----
    The order is the reverse of scikit-bio's ``DistanceMatrix(data, ids)``; a call in that
    order raises an error that says so.

    Examples
    --------
    >>> dm = DistanceMatrix(("a", "b", "c"), [[0, 1, 2], [1, 0, 3], [2, 3, 0]])
    >>> dm["a", "c"]
    2.0
    >>> DistanceMatrix(("a", "b"), [[0, 1], [2, 0]])
    Traceback (most recent call last):
    ...
    phylo_llm.errors.DistanceMatrixError: distance matrix must be symmetric, but d['a','b']=1 != d['b','a']=2
    """

    labels: tuple[str, ...]
    values: NDArray[np.floating] = field(repr=False)

    def __post_init__(self) -> None:
        labels = tuple(self.labels)
        v = np.asarray(self.values)
        dtype = np.float32 if v.dtype == np.float32 else np.float64
        try:
            v = np.array(v, dtype=dtype, copy=True)
        except ValueError:
            if _swapped(self.labels, v):
                raise DistanceMatrixError(
                    "DistanceMatrix(labels, values): got a numeric first argument and strings "
                    "second — scikit-bio's order is (data, ids), ours is (labels, values)"
                ) from None
            raise
        _validate(labels, v)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "values", readonly(v))

    @classmethod
    def _unchecked(cls, labels: tuple[str, ...], values: NDArray[np.floating]) -> DistanceMatrix:
        """Wrap ``values`` (taken over, made read-only) without copying or validating.

        Only for producers whose output satisfies every rule by construction (e.g. patristic
        distances, whose tests assert it): re-validating an n=10,000 matrix costs as much as
        computing it.
        """
        dm = object.__new__(cls)
        object.__setattr__(dm, "labels", tuple(labels))
        object.__setattr__(dm, "values", readonly(values))
        return dm

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.labels), len(self.labels))

    def index(self, label: str) -> int:
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {lab: i for i, lab in enumerate(self.labels)}
            object.__setattr__(self, "_index_cache", cached)
        try:
            return cached[label]
        except KeyError:
            raise PhyloLLMError(missing_label_message(label, self.labels)) from None

    def __getitem__(self, key: tuple[str, str]) -> float:
        a, b = key
        return float(self.values[self.index(a), self.index(b)])

    def subset(self, labels: Sequence[str]) -> DistanceMatrix:
        """The sub-matrix for ``labels``, in that order."""
        idx = [self.index(lab) for lab in labels]
        return DistanceMatrix(tuple(labels), self.values[np.ix_(idx, idx)])

    def condensed(self) -> NDArray[np.floating]:
        """Upper triangle in scipy's condensed order (``scipy.spatial.distance.squareform``)."""
        iu = np.triu_indices(len(self), k=1)
        return self.values[iu]


def _swapped(labels: object, values: NDArray[np.generic]) -> bool:
    """Whether ``DistanceMatrix`` was called in scikit-bio's order, ``(data, ids)``."""
    try:
        first = np.asarray(labels)
    except ValueError:  # ragged
        return False
    return values.ndim == 1 and values.dtype.kind in "USO" and first.ndim == 2 and first.dtype.kind in "biuf"


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _validate(labels: tuple[str, ...], v: NDArray[np.floating]) -> None:
    if v.ndim != 2 or v.shape[0] != v.shape[1]:
        raise DistanceMatrixError(f"distance matrix must be square, got shape {v.shape}")
    n = v.shape[0]
    if len(labels) != n:
        raise DistanceMatrixError(f"number of labels ({len(labels)}) must match the matrix size ({n})")
    for lab in labels:
        if not isinstance(lab, str) or lab == "":
            raise DistanceMatrixError(f"labels must be non-empty strings, got {lab!r}")
    try:
        check_unique(labels, what="distance matrix labels")
    except PhyloLLMError as exc:
        raise DistanceMatrixError(str(exc)) from None
    if n == 0:
        return
    # Work in row blocks so validating a 10,000 x 10,000 matrix needs no n x n temporaries.
    scale = 0.0
    block = max(1, min(n, 4_000_000 // max(n, 1)))
    for start in range(0, n, block):
        rows = v[start : start + block]
        finite = np.isfinite(rows)
        if not finite.all():
            i, j = np.argwhere(~finite)[0]
            i += start
            raise DistanceMatrixError(f"distance matrix must be finite, but d[{labels[i]!r},{labels[j]!r}]={v[i, j]}")
        neg = rows < 0
        if neg.any():
            i, j = np.argwhere(neg)[0]
            i += start
            raise DistanceMatrixError(
                f"distance matrix must be non-negative, but d[{labels[i]!r},{labels[j]!r}]={_fmt(v[i, j])}"
            )
        scale = max(scale, float(rows.max()))
    tol = _REL_TOL * max(scale, 1.0)
    diag = np.abs(np.diagonal(v))
    if (diag > tol).any():
        i = int(np.argmax(diag))
        raise DistanceMatrixError(
            f"distance matrix must have a zero diagonal, but d[{labels[i]!r},{labels[i]!r}]={_fmt(v[i, i])}"
        )
    for start in range(0, n, block):
        rows = v[start : start + block]
        cols = v[:, start : start + block].T
        diff = np.abs(rows - cols)
        if (diff > tol).any():
            i, j = np.argwhere(diff > tol)[0]
            i += start
            raise DistanceMatrixError(
                f"distance matrix must be symmetric, but d[{labels[i]!r},{labels[j]!r}]="
                f"{_fmt(v[i, j])} != d[{labels[j]!r},{labels[i]!r}]={_fmt(v[j, i])}"
            )


def _euclidean(x: NDArray[np.float64]) -> NDArray[np.float64]:
    sq = np.einsum("ij,ij->i", x, x)
    g = x @ x.T
    d2 = sq[:, None] + sq[None, :] - 2.0 * g
    np.maximum(d2, 0.0, out=d2)
    d = np.sqrt(d2, out=d2)
    np.fill_diagonal(d, 0.0)
    # The Gram trick loses precision for nearly identical vectors; recompute tiny entries exactly.
    small = d < 1e-6 * max(float(np.sqrt(sq.max())) if len(sq) else 0.0, 1e-300)
    np.fill_diagonal(small, False)
    if small.any():
        ii, jj = np.nonzero(small)
        d[ii, jj] = np.linalg.norm(x[ii] - x[jj], axis=1)
    return (d + d.T) / 2.0


def _unit_rows(x: NDArray[np.float64], labels: Sequence[str], why: str) -> NDArray[np.float64]:
    norms = np.linalg.norm(x, axis=1)
    zero = norms == 0
    if zero.any():
        names = [labels[i] for i in np.flatnonzero(zero)[:5]]
        raise PhyloLLMError(
            f"{why} distance is undefined for a zero vector; {int(zero.sum())} model(s) have one, e.g. {names}"
        )
    return x / norms[:, None]


def _correlation(x: NDArray[np.float64], labels: Sequence[str]) -> NDArray[np.float64]:
    centred = x - x.mean(axis=1, keepdims=True)
    return _cosine_named(centred, labels, "correlation")


def _cosine_named(x: NDArray[np.float64], labels: Sequence[str], why: str) -> NDArray[np.float64]:
    u = _unit_rows(x, labels, why)
    d = 1.0 - u @ u.T
    np.clip(d, 0.0, 2.0, out=d)
    np.fill_diagonal(d, 0.0)
    return (d + d.T) / 2.0


_METRICS = {
    "euclidean": lambda x, labels: _euclidean(x),
    "cosine": lambda x, labels: _cosine_named(x, labels, "cosine"),
    "correlation": _correlation,
}


def pairwise_distances(vectors: ArrayLike, labels: Sequence[str], *, metric: Metric = "euclidean") -> DistanceMatrix:
    """Pairwise distances between the rows of ``vectors``.

    Parameters
    ----------
    vectors
        ``(n, d)`` finite array.
    labels
        ``n`` unique labels.
    metric
        ``"euclidean"``, ``"cosine"`` (``1 - cos``) or ``"correlation"`` (``1 - Pearson r``).

    Examples
    --------
    >>> dm = pairwise_distances([[0, 0], [3, 4]], ["a", "b"])
    >>> dm["a", "b"]
    5.0
    """
    check_choice("metric", metric, sorted(_METRICS))
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise PhyloLLMError(f"vectors must be a 2-D array, got shape {x.shape}")
    if x.shape[0] != len(labels):
        raise PhyloLLMError(f"number of labels ({len(labels)}) must match number of vectors ({x.shape[0]})")
    if not np.isfinite(x).all():
        i = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise PhyloLLMError(f"vectors must be finite, but the row for {labels[i]!r} is not")
    return DistanceMatrix(tuple(labels), _METRICS[metric](x, labels))


def dna_distances(dna: DnaSet, *, metric: Metric = "euclidean") -> DistanceMatrix:
    """Pairwise distances between the models of a DNA set.

    Examples
    --------
    >>> from phylo_llm.data import DnaSet
    >>> dna_distances(DnaSet(("a", "b"), [[1, 0], [0, 1]]), metric="cosine")["a", "b"]
    1.0
    """
    return pairwise_distances(dna.vectors, dna.labels, metric=metric)


def check_precision(precision: object) -> int:
    """Significant digits for written distances: an integer >= 1.

    Examples
    --------
    >>> check_precision(-1)
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: precision must be an integer >= 1 (significant digits), got -1
    """
    return check_int("precision", precision, min=1, note="significant digits")
    return precision
