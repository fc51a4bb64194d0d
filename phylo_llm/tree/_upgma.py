"""UPGMA arithmetic: average-linkage clustering as join records.

SciPy's ``linkage(method="average")`` already is UPGMA (O(n^2) nearest-neighbour chain); this
module only feeds it the condensed float64 matrix and turns its merge heights (average
distances) into node heights (half of them) so that patristic distances reproduce the averages.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

__all__ = ["upgma_linkage"]


def upgma_linkage(d: NDArray[np.floating]) -> NDArray[np.float64]:
    """UPGMA join records for an ``(N, N)`` distance array, ``N >= 2``.

    Returns
    -------
    ndarray, shape (N - 1, 3)
        Row ``k`` joins clusters ``[k, 0]`` and ``[k, 1]`` (tips ``0..N-1``, the ``k``-th new
        cluster ``N + k``) into a node at height ``[k, 2]`` above the tips (half the average
        distance between the two clusters). The last row is the root.

    Examples
    --------
    >>> upgma_linkage(np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], dtype=float)).tolist()
    [[0.0, 1.0, 0.5], [2.0, 3.0, 1.25]]
    """
    # checks=False: the DistanceMatrix value has already validated symmetry and the diagonal.
    condensed = squareform(np.asarray(d, dtype=np.float64), force="tovector", checks=False)
    z = linkage(condensed, method="average")
    out = np.empty((z.shape[0], 3), dtype=np.float64)
    out[:, :2] = z[:, :2]
    out[:, 2] = z[:, 2] / 2.0
    return out
