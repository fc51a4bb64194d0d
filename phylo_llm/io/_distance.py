"""Distance-matrix files: labelled square CSV and PHYLIP (square, lower-triangle tolerant)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from ..data import DistanceMatrix, check_precision
from ..errors import DistanceMatrixError, PhyloLLMError
from ..util import atomic_write_text, check_choice, read_text

__all__ = ["DistanceFormat", "write_phylip", "read_phylip", "write_distance_matrix", "read_distance_matrix"]


DistanceFormat = Literal["auto", "phylip", "csv"]


def write_phylip(dm: DistanceMatrix, path: str | Path, *, precision: int = 8) -> Path:
    """Write relaxed PHYLIP square format: ``n`` on the first line, then ``label d1 d2 ...``.

    Labels may not contain whitespace in PHYLIP; such labels raise (rename them or use CSV).
    """
    check_precision(precision)
    for lab in dm.labels:
        if any(c.isspace() for c in lab):
            raise PhyloLLMError(f"PHYLIP labels cannot contain whitespace, got {lab!r}; write CSV instead")
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
            raise PhyloLLMError(f"{path.name}: row {labels[-1]!r} has {len(nums)} values, expected {count}")
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
    """Write ``dm`` as CSV (``*.csv``) or PHYLIP (``*.phy``, ``*.phylip``, ``*.dist``).

    The format is the one :func:`phylo_llm.io.format_for` registers for the suffix.
    """
    from ._registry import format_for  # the registry imports this module's readers and writers

    path = Path(path)
    check_precision(precision)
    return format_for(path, kind="distance").write(dm, path, precision=precision)


def write_distance_csv(dm: DistanceMatrix, path: str | Path, *, precision: int = 10) -> Path:
    """Write ``dm`` as a labelled square CSV (empty corner cell, labels as header), atomically."""
    path = Path(path)
    check_precision(precision)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["", *dm.labels])
    fmt = f"{{:.{precision}g}}"
    for lab, row in zip(dm.labels, dm.values):
        w.writerow([lab, *(fmt.format(x) for x in row.tolist())])
    atomic_write_text(path, out.getvalue())
    return path


def read_distance_matrix(path: str | Path, *, format: DistanceFormat = "auto") -> DistanceMatrix:
    """Read a labelled square CSV matrix or a PHYLIP file (format from the suffix by default).

    With ``format="auto"`` a ``.csv`` file is read as CSV and any other suffix as PHYLIP
    (PHYLIP files go by many names).
    """
    from ._registry import find_format

    path = Path(path)
    check_choice("format", format, ["auto", "csv", "phylip"])
    if not path.exists():
        raise PhyloLLMError(f"distance matrix file {str(path)!r} does not exist")
    if format == "auto":
        fmt = find_format(path, kind="distance")
        format = "csv" if fmt is not None and fmt.name == "csv" else "phylip"
    if format == "phylip":
        return read_phylip(path)
    return read_distance_csv(path)


def read_distance_csv(path: str | Path) -> DistanceMatrix:
    """Read a labelled square CSV distance matrix (as written by :func:`write_distance_csv`)."""
    path = Path(path)
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
