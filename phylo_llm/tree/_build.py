"""Trees from distance matrices: neighbor joining (NJ) and UPGMA.

The arithmetic lives in :mod:`phylo_llm.tree` and :mod:`phylo_llm.tree`, which return join
records on plain arrays; this module checks the input, applies the negative-branch convention and
assembles a :class:`~phylo_llm.tree.Tree` (tips named by the matrix labels, internal nodes
unnamed).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ..data import DistanceMatrix
from ..errors import PhyloLLMError, PhyloLLMWarning
from ..util import check_choice
from ._nj import nj_linkage
from ._tree import Tree
from ._upgma import upgma_linkage

__all__ = ["Method", "build_tree", "nj", "upgma"]

Method = Literal["nj", "upgma"]


def _check(dm: DistanceMatrix, what: str) -> int:
    if not isinstance(dm, DistanceMatrix):
        raise TypeError(f"{what} needs a phylo_llm DistanceMatrix, got {type(dm).__name__}")
    n = len(dm)
    if n == 0:
        raise PhyloLLMError(f"{what} needs at least one taxon, got an empty distance matrix")
    return n


def _tiny_tree(dm: DistanceMatrix, *, rooted: bool) -> Tree:
    """One tip alone, or two tips under a root, each at half their distance."""
    if len(dm) == 1:
        return Tree.from_parents([-1], name=[dm.labels[0]], rooted=rooted)
    half = float(dm.values[0, 1]) / 2.0
    return Tree.from_parents([-1, 0, 0], length=[np.nan, half, half], name=[None, *dm.labels], rooted=rooted)


def _fix_negative(lm: NDArray[np.float64]) -> int:
    """Zero negative NJ lengths in place, moving each deficit to the sibling branch(es).

    Convention (Kuhner & Felsenstein 1994): a negative length ``L_i < 0`` of a pair joined at
    distance ``d_ij = L_i + L_j`` becomes 0 and its sibling becomes ``L_i + L_j = d_ij``, so the
    path between the two joined clusters keeps its length. At the final trifurcation a negative
    branch becomes 0 and its value is added to both other branches, which keeps both paths
    through it. Only when the path itself is negative (a joined pair, or two of the last three
    branches, both negative -- possible only for matrices far from any tree) are the negative
    lengths simply zeroed. Returns the number of negative lengths found.
    """
    m = lm.shape[0]
    pairs = lm[: m - 2, 2:4]
    neg = pairs < 0
    count = int(neg.sum())
    one = neg[:, 0] ^ neg[:, 1]
    total = pairs.sum(axis=1)
    pairs[one & neg[:, 0], 1] = total[one & neg[:, 0]]
    pairs[one & neg[:, 1], 0] = total[one & neg[:, 1]]
    pairs[neg] = 0.0
    last = np.array([lm[m - 1, 2], lm[m - 2, 2], lm[m - 2, 3]])  # L0, L1, L2 around the root
    neg3 = last < 0
    count += int(neg3.sum())
    if neg3.sum() == 1:
        k = int(np.flatnonzero(neg3)[0])
        last[~neg3] += last[k]
    last[neg3] = 0.0
    lm[m - 1, 2], lm[m - 2, 2], lm[m - 2, 3] = last
    return count


def _assemble_nj(lm: NDArray[np.float64], labels: tuple[str, ...]) -> Tree:
    """Tree from NJ join records (see :func:`phylo_llm.tree.nj_linkage` for the layout)."""
    n = len(labels)
    n_nodes = 2 * n - 2
    parent = np.full(n_nodes, -1, dtype=np.intp)
    length = np.full(n_nodes, np.nan)
    kids = lm[: n - 2, :2].astype(np.intp)
    new = np.arange(n, 2 * n - 2)
    parent[kids[:, 0]] = new
    parent[kids[:, 1]] = new
    length[kids[:, 0]] = lm[: n - 2, 2]
    length[kids[:, 1]] = lm[: n - 2, 3]
    third = int(lm[n - 2, 0])
    parent[third] = n_nodes - 1
    length[third] = lm[n - 2, 2]
    names: list[str | None] = [*labels, *([None] * (n - 2))]
    return Tree.from_parents(parent, length=length, name=names, rooted=False)


def nj(dm: DistanceMatrix) -> Tree:
    """Neighbor-joining tree (canonical NJ, exact, unrooted).

    Joins, at each step, the pair that minimises ``Q(i, j) = (n-2) d(i,j) - r(i) - r(j)`` --
    the same pair a full scan picks, found with lazily refreshed per-row bounds so that only a
    small part of the matrix is read per step (see :mod:`phylo_llm.tree`). Ties go to the pair
    scikit-bio's ``nj`` picks. Float32 matrices stay float32 (half the memory); all sums are
    float64.

    Parameters
    ----------
    dm
        Distance matrix with at least one taxon.

    Returns
    -------
    Tree
        Unrooted (``rooted=False``): the last three clusters hang from the root, node 0. One
        taxon gives a single tip; two give two tips under the root at half their distance.
        Tips are named by ``dm.labels``; internal nodes are unnamed.

    Warns
    -----
    PhyloLLMWarning
        Once per call, when NJ produced negative branch lengths: each is set to 0 and its
        value moved to its sibling branch, so the path between the two clusters joined at that
        step keeps its length (Kuhner & Felsenstein 1994; at the final trifurcation it is moved
        to both other branches; where that path is itself negative, which needs a matrix far
        from any tree, the negative lengths are only zeroed). The warning gives the count.

    Examples
    --------
    >>> from phylo_llm.data import DistanceMatrix
    >>> dm = DistanceMatrix(tuple("abcde"), [[0, 5, 9, 9, 8], [5, 0, 10, 10, 9],
    ...     [9, 10, 0, 8, 7], [9, 10, 8, 0, 3], [8, 9, 7, 3, 0]])
    >>> t = nj(dm)
    >>> t, t.rooted, float(t.total_length)
    (Tree(5 tips, 8 nodes, unrooted), False, 17.0)
    """
    n = _check(dm, "nj")
    if n <= 2:
        return _tiny_tree(dm, rooted=False)
    lm, _ = nj_linkage(dm.values)
    k = _fix_negative(lm)
    if k:
        warnings.warn(
            f"nj: {k} negative branch length(s) set to 0, each value moved to its sibling "
            "branch so the joined pair's path length is kept",
            PhyloLLMWarning,
            stacklevel=2,
        )
    return _assemble_nj(lm, dm.labels)


def upgma(dm: DistanceMatrix) -> Tree:
    """UPGMA tree (average linkage): rooted and ultrametric.

    Every internal node sits at half the average distance between the two clusters it joins,
    so all tips are equally far from the root and the path between two tips is twice the height
    of their common ancestor. Built on ``scipy.cluster.hierarchy.linkage(method="average")``
    (O(n^2) time, a float64 condensed copy of the matrix).

    Parameters
    ----------
    dm
        Distance matrix with at least one taxon.

    Returns
    -------
    Tree
        Rooted binary tree; tips named by ``dm.labels``, internal nodes unnamed.

    Examples
    --------
    >>> from phylo_llm.data import DistanceMatrix
    >>> t = upgma(DistanceMatrix(("a", "b", "c"), [[0, 1, 2], [1, 0, 3], [2, 3, 0]]))
    >>> t, [float(x) for x in t.length[1:]]
    (Tree(3 tips, 5 nodes, rooted), [1.25, 0.75, 0.5, 0.5])
    """
    n = _check(dm, "upgma")
    if n <= 2:
        return _tiny_tree(dm, rooted=True)
    z = upgma_linkage(dm.values)
    height = np.zeros(2 * n - 1)
    height[n:] = z[:, 2]
    parent = np.full(2 * n - 1, -1, dtype=np.intp)
    kids = z[:, :2].astype(np.intp)
    new = np.arange(n, 2 * n - 1)
    parent[kids[:, 0]] = new
    parent[kids[:, 1]] = new
    length = np.full(2 * n - 1, np.nan)
    child = np.arange(2 * n - 2)
    length[child] = height[parent[child]] - height[child]
    names: list[str | None] = [*dm.labels, *([None] * (n - 1))]
    return Tree.from_parents(parent, length=length, name=names, rooted=True)


_BUILDERS: dict[str, Callable[[DistanceMatrix], Tree]] = {"nj": nj, "upgma": upgma}


def build_tree(dm: DistanceMatrix, method: Method = "nj") -> Tree:
    """Tree from a distance matrix by ``"nj"`` (unrooted) or ``"upgma"`` (rooted, ultrametric).

    Examples
    --------
    >>> from phylo_llm.data import DistanceMatrix
    >>> build_tree(DistanceMatrix(("a", "b", "c"), [[0, 1, 2], [1, 0, 3], [2, 3, 0]]), "upgma")
    Tree(3 tips, 5 nodes, rooted)
    >>> build_tree(DistanceMatrix(("a",), [[0]]), "parsimony")
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: method must be one of ['nj', 'upgma'], got 'parsimony'
    """
    check_choice("method", method, sorted(_BUILDERS))
    return _BUILDERS[method](dm)
