"""Distance matrices between models: computed from DNA, validated, read and written.

A :class:`DistanceMatrix` is always valid once constructed: square, symmetric, finite,
non-negative, zero on the diagonal, with unique labels. Every violation has its own message that
names the offending labels and values.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._atomic import read_text
from .dna import DnaSet, _check_unique, _missing_label_message, atomic_write_text
from .errors import DistanceMatrixError, PhyloLLMError

__all__ = [
    "DistanceMatrix",
    "Metric",
    "dna_distances",
    "pairwise_distances",
    "read_distance_matrix",
    "write_distance_matrix",
    "read_phylip",
    "write_phylip",
]

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
        v.flags.writeable = False
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "values", v)

    @classmethod
    def _unchecked(cls, labels: tuple[str, ...], values: NDArray[np.floating]) -> DistanceMatrix:
        """Wrap ``values`` (taken over, made read-only) without copying or validating.

        Only for producers whose output satisfies every rule by construction (e.g. patristic
        distances, whose tests assert it): re-validating an n=10,000 matrix costs as much as
        computing it.
        """
        values.flags.writeable = False
        dm = object.__new__(cls)
        object.__setattr__(dm, "labels", tuple(labels))
        object.__setattr__(dm, "values", values)
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
            raise PhyloLLMError(_missing_label_message(label, self.labels)) from None

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
        raise DistanceMatrixError(
            f"number of labels ({len(labels)}) must match the matrix size ({n})"
        )
    for lab in labels:
        if not isinstance(lab, str) or lab == "":
            raise DistanceMatrixError(f"labels must be non-empty strings, got {lab!r}")
    try:
        _check_unique(labels, what="distance matrix labels")
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
            raise DistanceMatrixError(
                f"distance matrix must be finite, but d[{labels[i]!r},{labels[j]!r}]={v[i, j]}"
            )
        neg = rows < 0
        if neg.any():
            i, j = np.argwhere(neg)[0]
            i += start
            raise DistanceMatrixError(
                "distance matrix must be non-negative, but "
                f"d[{labels[i]!r},{labels[j]!r}]={_fmt(v[i, j])}"
            )
        scale = max(scale, float(rows.max()))
    tol = _REL_TOL * max(scale, 1.0)
    diag = np.abs(np.diagonal(v))
    if (diag > tol).any():
        i = int(np.argmax(diag))
        raise DistanceMatrixError(
            f"distance matrix must have a zero diagonal, but d[{labels[i]!r},{labels[i]!r}]="
            f"{_fmt(v[i, i])}"
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


# ---------------------------------------------------------------------------------------------
# Distances from vectors
# ---------------------------------------------------------------------------------------------


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
            f"{why} distance is undefined for a zero vector; {int(zero.sum())} model(s) have one, "
            f"e.g. {names}"
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


def pairwise_distances(
    vectors: ArrayLike, labels: Sequence[str], *, metric: Metric = "euclidean"
) -> DistanceMatrix:
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
    if metric not in _METRICS:
        raise PhyloLLMError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}")
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise PhyloLLMError(f"vectors must be a 2-D array, got shape {x.shape}")
    if x.shape[0] != len(labels):
        raise PhyloLLMError(
            f"number of labels ({len(labels)}) must match number of vectors ({x.shape[0]})"
        )
    if not np.isfinite(x).all():
        i = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise PhyloLLMError(f"vectors must be finite, but the row for {labels[i]!r} is not")
    return DistanceMatrix(tuple(labels), _METRICS[metric](x, labels))


def dna_distances(dna: DnaSet, *, metric: Metric = "euclidean") -> DistanceMatrix:
    """Pairwise distances between the models of a DNA set.

    Examples
    --------
    >>> from phylo_llm.dna import DnaSet
    >>> dna_distances(DnaSet(("a", "b"), [[1, 0], [0, 1]]), metric="cosine")["a", "b"]
    1.0
    """
    return pairwise_distances(dna.vectors, dna.labels, metric=metric)


# ---------------------------------------------------------------------------------------------
# I/O: PHYLIP (relaxed, square) and CSV
# ---------------------------------------------------------------------------------------------

DistanceFormat = Literal["auto", "phylip", "csv"]


def check_precision(precision: object) -> int:
    """Significant digits for written distances: an integer >= 1.

    Examples
    --------
    >>> check_precision(-1)
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: precision must be an integer >= 1 (significant digits), got -1
    """
    if isinstance(precision, bool) or not isinstance(precision, int) or precision < 1:
        raise PhyloLLMError(f"precision must be an integer >= 1 (significant digits), got {precision!r}")
    return precision


def write_phylip(dm: DistanceMatrix, path: str | Path, *, precision: int = 8) -> Path:
    """Write relaxed PHYLIP square format: ``n`` on the first line, then ``label d1 d2 ...``.

    Labels may not contain whitespace in PHYLIP; such labels raise (rename them or use CSV).
    """
    check_precision(precision)
    for lab in dm.labels:
        if any(c.isspace() for c in lab):
            raise PhyloLLMError(
                f"PHYLIP labels cannot contain whitespace, got {lab!r}; write CSV instead"
            )
    out = io.StringIO()
    out.write(f"{len(dm)}\n")
    fmt = f"{{:.{precision}g}}"
    for lab, row in zip(dm.labels, dm.values):
        out.write(lab + " " + " ".join(fmt.format(x) for x in row.tolist()) + "\n")
    path = Path(path)
    atomic_write_text(path, out.getvalue())
    return path


def read_phylip(path: str | Path) -> DistanceMatrix:
    """Read a square (relaxed or strict) or lower-triangular PHYLIP distance matrix."""
    path = Path(path)
    tokens_by_line = [ln.split() for ln in read_text(path, what="PHYLIP file").splitlines() if ln.strip()]
    if not tokens_by_line:
        raise PhyloLLMError(f"PHYLIP file {str(path)!r} is empty")
    try:
        n = int(tokens_by_line[0][0])
    except ValueError:
        raise PhyloLLMError(
            f"{path.name}:1: first line must give the number of taxa, got {tokens_by_line[0]}"
        ) from None
    # Rows may wrap over several lines: gather tokens until each row has its label + values.
    flat = [tok for line in tokens_by_line[1:] for tok in line]
    labels: list[str] = []
    values = np.zeros((n, n))
    pos = 0
    lower = None
    for i in range(n):
        if pos >= len(flat):
            raise PhyloLLMError(f"{path.name}: expected {n} rows, found {i}")
        labels.append(flat[pos])
        pos += 1
        if lower is None:
            # Decide square vs lower-triangular from the first row's length.
            nxt = flat[pos : pos + n]
            lower = not (len(nxt) == n and _all_float(nxt))
        count = i if lower else n
        row = flat[pos : pos + count]
        try:
            nums = [float(x) for x in row]
        except ValueError as exc:
            raise PhyloLLMError(f"{path.name}: row {labels[-1]!r}: {exc}") from None
        if len(nums) != count:
            raise PhyloLLMError(
                f"{path.name}: row {labels[-1]!r} has {len(nums)} values, expected {count}"
            )
        if lower:
            values[i, :i] = nums
            values[:i, i] = nums
        else:
            values[i] = nums
        pos += count
    if pos != len(flat):
        raise PhyloLLMError(f"{path.name}: {len(flat) - pos} unexpected trailing value(s)")
    return DistanceMatrix(tuple(labels), values)


def _all_float(tokens: Sequence[str]) -> bool:
    try:
        for t in tokens:
            float(t)
    except ValueError:
        return False
    return True


def write_distance_matrix(dm: DistanceMatrix, path: str | Path, *, precision: int = 10) -> Path:
    """Write ``dm`` as CSV (``*.csv``) or PHYLIP (``*.phy``, ``*.phylip``, ``*.dist``)."""
    path = Path(path)
    check_precision(precision)
    suffix = path.suffix.lower()
    if suffix in (".phy", ".phylip", ".dist"):
        return write_phylip(dm, path, precision=precision)
    if suffix != ".csv":
        raise PhyloLLMError(
            f"distance matrix file must end in .csv, .phy, .phylip or .dist, got {path.name!r}"
        )
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["", *dm.labels])
    fmt = f"{{:.{precision}g}}"
    for lab, row in zip(dm.labels, dm.values):
        w.writerow([lab, *(fmt.format(x) for x in row.tolist())])
    atomic_write_text(path, out.getvalue())
    return path


def read_distance_matrix(path: str | Path, *, format: DistanceFormat = "auto") -> DistanceMatrix:
    """Read a labelled square CSV matrix or a PHYLIP file (format from the suffix by default)."""
    path = Path(path)
    if format not in ("auto", "phylip", "csv"):
        raise PhyloLLMError(f"format must be one of ['auto', 'csv', 'phylip'], got {format!r}")
    if not path.exists():
        raise PhyloLLMError(f"distance matrix file {str(path)!r} does not exist")
    if format == "auto":
        format = "csv" if path.suffix.lower() == ".csv" else "phylip"
    if format == "phylip":
        return read_phylip(path)
    rows = [r for r in csv.reader(io.StringIO(read_text(path, what="distance matrix file", newline=""))) if r]
    if not rows:
        raise PhyloLLMError(f"CSV distance matrix {str(path)!r} is empty")
    header = rows[0][1:]
    labels = [r[0] for r in rows[1:]]
    if header != labels:
        raise DistanceMatrixError(
            f"{path.name}: column labels must equal row labels in the same order; "
            f"first difference at position "
            f"{next((i for i, (a, b) in enumerate(zip(header, labels)) if a != b), min(len(header), len(labels)))}"
        )
    try:
        values = np.array([[float(x) for x in r[1:]] for r in rows[1:]], dtype=np.float64)
    except ValueError as exc:
        raise PhyloLLMError(f"{path.name}: {exc}") from None
    return DistanceMatrix(tuple(labels), values.reshape(len(labels), len(labels)))
