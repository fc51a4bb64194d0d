"""Operations on :class:`~phylo_llm.tree.Tree` values: distances, splits, rerooting, pruning.

Every function is free, takes a tree and returns a new value; nothing mutates. No function
recurses: trees are stored in preorder (``parent[i] < i``), so a postorder pass is
``reversed(range(n))`` and the subtree of node ``v`` is the contiguous index range
``v .. v + size[v] - 1``. That makes 10,000-tip caterpillars as cheap as balanced trees.

Support values belong to *edges* (the bipartition an edge induces), not to nodes. When a tree is
rerooted, the parent/child direction of the edges on the path to the new root flips, and each
support value moves with its edge to the node that is now below it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .distance import DistanceMatrix
from .errors import PhyloLLMError
from .tree import Tree

__all__ = [
    "collapse_short_branches",
    "ladderize",
    "mrca",
    "patristic_distances",
    "prune",
    "robinson_foulds",
    "root_midpoint",
    "root_outgroup",
    "splits",
    "unroot",
]


# ---- helpers ---------------------------------------------------------------------------------


def _subtree_sizes(tree: Tree) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Node count and tip count of every subtree (one postorder pass, vectorised per level)."""
    n = len(tree)
    size = np.ones(n, dtype=np.intp)
    ntips = tree.is_tip.astype(np.intp)
    parent = tree.parent
    # Postorder accumulation; a plain loop over n nodes (O(n)), never over n^2 cells.
    size_l = size.tolist()
    tips_l = ntips.tolist()
    par_l = parent.tolist()
    for v in range(n - 1, 0, -1):
        p = par_l[v]
        size_l[p] += size_l[v]
        tips_l[p] += tips_l[v]
    return np.asarray(size_l, dtype=np.intp), np.asarray(tips_l, dtype=np.intp)


def _named_tips(tree: Tree, *, what: str) -> tuple[str, ...]:
    names = tree.tip_names
    unnamed = sum(1 for nm in names if nm is None)
    if unnamed:
        raise PhyloLLMError(f"{what} needs every tip to be named, but {unnamed} tip(s) have no name")
    if len(set(names)) != len(names):
        seen: set[str] = set()
        dups: list[str] = []
        for nm in names:
            if nm in seen and nm not in dups:
                dups.append(nm)  # type: ignore[arg-type]
            seen.add(nm)  # type: ignore[arg-type]
        raise PhyloLLMError(f"{what} needs unique tip names; duplicated: {dups[:10]}")
    return names  # type: ignore[return-value]


def _check_lengths(tree: Tree, *, what: str) -> None:
    lengths = tree.length[1:]
    missing = int(np.isnan(lengths).sum())
    if missing:
        raise PhyloLLMError(
            f"{what} needs branch lengths, but {missing} of {lengths.shape[0]} branches have none"
        )


def _rebuild(
    tree: Tree,
    parent: NDArray[np.intp] | Sequence[int],
    length: NDArray[np.float64],
    support: NDArray[np.float64],
    name: Sequence[str | None],
    keep: NDArray[np.bool_] | None = None,
    *,
    rooted: bool,
) -> Tree:
    """Build a Tree from full-size arrays, optionally dropping nodes where ``keep`` is False."""
    parent = np.asarray(parent, dtype=np.intp)
    if keep is None:
        return Tree.from_parents(parent, length=length, name=list(name), support=support, rooted=rooted)
    idx = np.flatnonzero(keep)
    new_of_old = np.full(parent.shape[0], -1, dtype=np.intp)
    new_of_old[idx] = np.arange(idx.shape[0])
    p = parent[idx]
    new_parent = np.where(p >= 0, new_of_old[np.maximum(p, 0)], -1)
    if (new_parent[p >= 0] < 0).any():  # pragma: no cover - internal invariant
        raise AssertionError("kept node whose parent was dropped")
    return Tree.from_parents(
        new_parent,
        length=length[idx],
        name=[name[i] for i in idx],
        support=support[idx],
        rooted=rooted,
    )


# ---- distances -------------------------------------------------------------------------------


def patristic_distances(tree: Tree) -> DistanceMatrix:
    """Path-length distances between all pairs of tips.

    ``d(i, j) = depth(i) + depth(j) - 2 depth(lca(i, j))``. Tips are laid out in preorder, so
    every subtree is a contiguous block of rows; for each edge (parent ``p``, child ``c``) the
    block "tips under ``c``" x "tips under ``p`` but not under ``c``" has its LCA at ``p``, and
    those blocks tile the matrix exactly once. That is ``2(n - 1)`` numpy slice assignments for
    ``n`` nodes, no Python loop over cells.

    Parameters
    ----------
    tree
        A tree with named, unique tips and a length on every branch (the root's own length is
        ignored). Lengths must be non-negative (distances are).

    Returns
    -------
    DistanceMatrix
        Labelled by tip name, in the tree's tip (preorder) order. The matrix is exactly
        symmetric.

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 1, 1, 0], length=[np.nan, 1, 2, 3, 4],
    ...                       name=[None, None, "a", "b", "c"])
    >>> dm = patristic_distances(t)
    >>> dm["a", "b"], dm["a", "c"]
    (5.0, 7.0)
    """
    names = _named_tips(tree, what="patristic_distances")
    _check_lengths(tree, what="patristic_distances")
    neg = np.flatnonzero(tree.length[1:] < 0)
    if neg.size:
        i = int(neg[0]) + 1
        raise PhyloLLMError(
            f"patristic distances need non-negative branch lengths, but {neg.size} branch(es) are "
            f"negative, e.g. length {tree.length[i]} above node {i} ({tree.name[i]!r})"
        )
    n_tips = len(names)
    # Tip rank in preorder; lo[v]..hi[v] is the block of tip ranks under v.
    is_tip = tree.is_tip
    rank_before = np.concatenate(([0], np.cumsum(is_tip)))  # tips among nodes < v
    size, _ = _subtree_sizes(tree)
    nodes = np.arange(len(tree))
    lo = rank_before[nodes]
    hi = rank_before[nodes + size]
    depth = tree.depth
    m = np.empty((n_tips, n_tips), dtype=np.float64)
    parent = tree.parent
    for c in range(1, len(tree)):
        p = parent[c]
        dp = depth[p]
        a, b = lo[c], hi[c]
        if lo[p] < a:
            m[a:b, lo[p] : a] = dp
        if b < hi[p]:
            m[a:b, b : hi[p]] = dp
    tip_depth = depth[tree.tips]
    np.fill_diagonal(m, tip_depth)
    # u[i, j] = depth(i) - depth(lca); d = u + u.T. Adding the two halves (rather than
    # d_i + d_j - 2 d_lca) keeps the result bitwise symmetric and never negative.
    np.subtract(tip_depth[:, None], m, out=m)
    _symmetrise_sum(m)
    return DistanceMatrix(names, m)


def _symmetrise_sum(u: NDArray[np.float64], block: int = 1024) -> None:
    """In place, ``u <- u + u.T`` tile by tile (no n x n temporary)."""
    n = u.shape[0]
    for i in range(0, n, block):
        for j in range(i, n, block):
            s = u[i : i + block, j : j + block] + u[j : j + block, i : i + block].T
            u[i : i + block, j : j + block] = s
            u[j : j + block, i : i + block] = s.T


# ---- splits and Robinson-Foulds ---------------------------------------------------------------


def _clade_bits(tree: Tree, order: dict[str, int]) -> list[int]:
    """Bitset (Python int over ``order``'s tip ranks) of the tips under every node."""
    n = len(tree)
    bits = [0] * n
    for t in tree.tips.tolist():
        bits[t] = 1 << order[tree.name[t]]  # type: ignore[index]
    par = tree.parent.tolist()
    for v in range(n - 1, 0, -1):
        bits[par[v]] |= bits[v]
    return bits


def splits(tree: Tree, *, rooted: bool = False) -> frozenset[int]:
    """The non-trivial bipartitions (or clades) of a tree, in a canonical integer form.

    Tips are ranked by sorted name; a split is a Python ``int`` whose bit ``k`` is set when the
    tip of rank ``k`` is on the chosen side. For unrooted splits the side *not* containing the
    first tip (rank 0) is chosen, so both orientations of an edge give the same number and the
    root position does not matter. Trivial splits (one tip against the rest) are left out.

    Parameters
    ----------
    tree
        A tree with named, unique tips.
    rooted
        ``False`` (default): unrooted bipartitions with 2..n-2 tips per side. ``True``: rooted
        clades (tip sets under internal non-root nodes) with 2..n-1 tips.

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 0, 2, 2, 0], name=[None, "a", None, "b", "c", "d"])
    >>> sorted(splits(t))  # {b, c} | {a, d}: bits 1 and 2
    [6]
    """
    names = _named_tips(tree, what="splits")
    order = {nm: k for k, nm in enumerate(sorted(names))}
    n_tips = len(names)
    bits = _clade_bits(tree, order)
    full = (1 << n_tips) - 1
    out: set[int] = set()
    internal = np.flatnonzero(~tree.is_tip[1:]) + 1
    for v in internal.tolist():
        b = bits[v]
        if not rooted and b & 1:
            b = full ^ b
        k = b.bit_count()
        if rooted:
            if 2 <= k <= n_tips - 1:
                out.add(b)
        elif 2 <= k <= n_tips - 2:
            out.add(b)
    return frozenset(out)


def robinson_foulds(t1: Tree, t2: Tree, *, normalize: bool = False, rooted: bool = False) -> float:
    """Robinson-Foulds distance: the number of splits found in one tree but not the other.

    Parameters
    ----------
    t1, t2
        Trees over the same set of tip names.
    normalize
        Divide by the largest possible value for binary trees on ``n`` tips: ``2(n - 3)``
        unrooted, ``2(n - 2)`` rooted. The result is in ``[0, 1]`` for binary trees (trees with
        polytomies have fewer splits, so it can only be smaller). With too few tips for any
        non-trivial split (``n <= 3`` unrooted, ``n <= 2`` rooted) the normalised value is 0.
    rooted
        Compare rooted clades instead of unrooted bipartitions (default unrooted, which ignores
        where each tree is rooted).

    Returns
    -------
    float
        An integer count (as float) or its normalised value.

    Examples
    --------
    >>> a = Tree.from_parents([-1, 0, 0, 2, 2, 0], name=[None, "a", None, "b", "c", "d"])
    >>> b = Tree.from_parents([-1, 0, 0, 2, 2, 0], name=[None, "b", None, "a", "c", "d"])
    >>> robinson_foulds(a, a), robinson_foulds(a, b), robinson_foulds(a, b, normalize=True)
    (0.0, 2.0, 1.0)
    """
    n1 = set(_named_tips(t1, what="robinson_foulds"))
    n2 = set(_named_tips(t2, what="robinson_foulds"))
    if n1 != n2:
        only1 = sorted(n1 - n2)
        only2 = sorted(n2 - n1)
        raise PhyloLLMError(
            "robinson_foulds needs trees over the same tips, but "
            f"{len(only1)} tip(s) are only in t1 {only1[:10]} and "
            f"{len(only2)} only in t2 {only2[:10]}"
        )
    rf = len(splits(t1, rooted=rooted) ^ splits(t2, rooted=rooted))
    if not normalize:
        return float(rf)
    n = len(n1)
    most = 2 * (n - 2) if rooted else 2 * (n - 3)
    return float(rf) / most if most > 0 else 0.0
