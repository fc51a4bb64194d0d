"""Nearest relatives: the models closest to one model by DNA distance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import DistanceMatrix, join_meta, require_columns
from ..errors import PhyloLLMError
from ..util import check_int

__all__ = ["Relative", "nearest_relatives"]


@dataclass(frozen=True)
class Relative:
    """One neighbour of the query model.

    Attributes
    ----------
    rank
        1 for the closest model.
    model
        The neighbour's id.
    distance
        Its DNA distance to the query model.
    family
        Its family from the metadata, or ``None`` when no metadata was given or the label is empty.
    """

    rank: int
    model: str
    distance: float
    family: str | None = None


def nearest_relatives(
    dm: DistanceMatrix,
    model: str,
    *,
    k: int = 5,
    meta: pd.DataFrame | None = None,
) -> tuple[Relative, ...]:
    """The ``k`` models closest to ``model`` (itself excluded), nearest first.

    Ties are broken by model id, so the answer does not depend on the matrix's row order.

    Parameters
    ----------
    dm
        Distances between models.
    model
        Query model; must be a label of ``dm``.
    k
        How many neighbours (``>= 1``); fewer are returned when the set is smaller.
    meta
        Optional label table (:func:`phylo_llm.data.read_meta`); adds each neighbour's ``family``.
        Neighbours without a metadata row get ``family=None``.

    Examples
    --------
    >>> dm = DistanceMatrix(("a", "b", "c"), [[0, 2, 1], [2, 0, 3], [1, 3, 0]])
    >>> [(r.model, r.distance) for r in nearest_relatives(dm, "a", k=2)]
    [('c', 1.0), ('b', 2.0)]
    """
    k = check_int("k", k, min=1)
    i = dm.index(model)
    if len(dm) < 2:
        raise PhyloLLMError(f"{model!r} has no relatives: the set holds only this one model")
    if meta is not None:
        # Without the column every family would show as unknown: say so instead.
        require_columns(meta, ["family"], purpose="nearest_relatives (families of the neighbours)")
    row = np.asarray(dm.values[i], dtype=np.float64)
    others = [j for j in range(len(dm)) if j != i]
    others.sort(key=lambda j: (row[j], dm.labels[j]))
    chosen = others[:k]
    families: list[str | None] = [None] * len(chosen)
    if meta is not None:
        rows = join_meta([dm.labels[j] for j in chosen], meta, allow_extra=True, allow_missing=True)
        families = [None if pd.isna(f) or str(f).strip() == "" else str(f) for f in rows["family"]]
    return tuple(
        Relative(rank + 1, dm.labels[j], float(row[j]), fam) for rank, (j, fam) in enumerate(zip(chosen, families))
    )
