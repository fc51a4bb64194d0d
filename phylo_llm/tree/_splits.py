"""Splits and clades of a tree in one encoding: a tip bitset per node, over a shared tip order.

A *tip order* maps every tip name to a column ``0 .. n-1`` (by default, tips ranked by sorted
name). The clade of a node is a Python ``int`` whose bit ``j`` is set when the tip of column ``j``
lies below it; unions up the tree are single ``|`` operations, so one postorder pass builds every
clade in ``O(n^2 / 64)`` word operations without recursion. A *split* (the bipartition an edge
induces) is the clade of the node below the edge in canonical orientation: for unrooted splits
the side *without* column 0, so both orientations of an edge, and any rooting, give the same
number. These ints are the hash keys for comparing trees (Robinson-Foulds, Felsenstein
support, families as clades); :meth:`SplitTable.membership` unpacks them into a boolean matrix
for array code (transfer support).

Every consumer (``splits``, ``robinson_foulds``, ``root_outgroup``, bootstrap support, family
clade tests) goes through these functions, so the orientation and the triviality rule are
defined once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from ..errors import PhyloLLMError
from ..util import check_unique
from ._tree import Tree

__all__ = [
    "SplitTable",
    "bitset_matrix",
    "clade_bits",
    "robinson_foulds",
    "split_key",
    "split_table",
    "splits",
    "tip_columns",
    "tip_order",
]


def named_tips(tree: Tree, *, what: str) -> tuple[str, ...]:
    """The tip names, checked to be all set and unique (errors start with ``what``)."""
    names = tree.tip_names
    unnamed = sum(1 for nm in names if nm is None)
    if unnamed:
        raise PhyloLLMError(f"{what} needs every tip to be named, but {unnamed} tip(s) have no name")
    check_unique(names, what=f"the tip names for {what}")  # type: ignore[arg-type]
    return names  # type: ignore[return-value]


def tip_order(tree: Tree, *, what: str = "tree") -> dict[str, int]:
    """The default tip order of a tree: ``{name: rank}`` with tips ranked by sorted name.

    Parameters
    ----------
    tree
        A tree whose tips are all named, uniquely.
    what
        How error messages refer to the caller (e.g. ``"splits"``).

    Examples
    --------
    >>> tip_order(Tree.from_parents([-1, 0, 0], name=[None, "b", "a"]))
    {'a': 0, 'b': 1}
    """
    return {nm: k for k, nm in enumerate(sorted(named_tips(tree, what=what)))}


def tip_columns(
    tree: Tree, order: Mapping[str, int], *, what: str = "tree", of: str = "the tip order"
) -> NDArray[np.intp]:
    """Column (in ``order``) of every tip of ``tree``, in ``tree.tips`` order.

    Parameters
    ----------
    tree
        A tree that must have exactly the tips of ``order``, each once.
    order
        ``{tip name: column}`` with columns ``0 .. len(order) - 1``.
    what, of
        How error messages name the tree and the order (``"replicate tree 3"``, ``"the
        reference tree"``).

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 0], name=[None, "b", "a"])
    >>> tip_columns(t, {"a": 0, "b": 1}).tolist()
    [1, 0]
    """
    return np.asarray(_columns(tree, order, what=what, of=of), dtype=np.intp)


def _columns(tree: Tree, order: Mapping[str, int], *, what: str, of: str) -> list[int]:
    n = len(order)
    names = tree.tip_names
    try:
        cols = [order[nm] for nm in names]  # type: ignore[index]
    except KeyError:
        extra = sorted(set(map(str, names)) - set(order))[:5]
        raise PhyloLLMError(f"{what} has tips not in {of}, e.g. {extra}") from None
    distinct = len(set(cols))
    if len(names) != n or distinct != n:
        raise PhyloLLMError(
            f"{what} must have {of}'s {n} tips exactly once each, "
            f"got {len(names)} tips ({distinct} distinct names of {of})"
        )
    return cols


def clade_bits(
    tree: Tree, order: Mapping[str, int] | None = None, *, what: str = "tree", of: str = "the tip order"
) -> list[int]:
    """The clade of every node as a tip bitset: bit ``order[name]`` set for each tip below it.

    Parameters
    ----------
    tree
        A tree with exactly the tips of ``order``.
    order
        ``{tip name: column}``; default :func:`tip_order` (sorted names).
    what, of
        How error messages name the tree and the order.

    Returns
    -------
    list of int
        One bitset per node, in node order (the root's has every bit set).

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 0, 2, 2], name=[None, "a", None, "b", "c"])
    >>> [bin(b) for b in clade_bits(t)]
    ['0b111', '0b1', '0b110', '0b10', '0b100']
    """
    if order is None:
        order = tip_order(tree, what=what)
    cols = _columns(tree, order, what=what, of=of)
    bits = [0] * len(tree)
    for t, c in zip(tree.tips.tolist(), cols):
        bits[t] = 1 << c
    par = tree.parent.tolist()
    for v in range(len(tree) - 1, 0, -1):  # postorder: children are complete before parents
        bits[par[v]] |= bits[v]
    return bits


def bitset_matrix(bits: Sequence[int], n_tips: int) -> NDArray[np.bool_]:
    """Unpack tip bitsets into a boolean matrix: ``M[i, j]`` is bit ``j`` of ``bits[i]``.

    Examples
    --------
    >>> bitset_matrix([0b011, 0b100], 3).astype(int).tolist()
    [[1, 1, 0], [0, 0, 1]]
    """
    width = (n_tips + 7) // 8
    raw = b"".join(b.to_bytes(width, "little") for b in bits)
    packed = np.frombuffer(raw, dtype=np.uint8).reshape(len(bits), width)
    return np.unpackbits(packed, axis=1, count=n_tips, bitorder="little").view(bool)


def split_key(bits: int, n_tips: int, *, rooted: bool = False) -> int:
    """Canonical form of a tip set: itself when rooted, else the side without column 0.

    Examples
    --------
    >>> split_key(0b0011, 4), split_key(0b1100, 4), split_key(0b0011, 4, rooted=True)
    (12, 12, 3)
    """
    if not rooted and bits & 1:
        return ((1 << n_tips) - 1) ^ bits
    return bits


@dataclass(frozen=True)
class SplitTable:
    """The non-trivial splits (or rooted clades) of a tree, one per edge, in canonical form.

    Attributes
    ----------
    labels
        The tip order: column ``j`` is tip ``labels[j]``.
    nodes
        The node below each split's edge (read-only). Two edges can induce the same unrooted
        split (the two below a rooted tree's root); both are listed.
    keys
        The canonical bitset of each split (see :func:`split_key`), parallel to ``nodes``.
    rooted
        Whether these are rooted clades or unrooted bipartitions.
    """

    labels: tuple[str, ...]
    nodes: NDArray[np.intp] = field(repr=False)
    keys: tuple[int, ...] = field(repr=False)
    rooted: bool

    @property
    def n_tips(self) -> int:
        return len(self.labels)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {nm: j for j, nm in enumerate(self.labels)}

    def as_set(self) -> frozenset[int]:
        """The distinct split keys."""
        return frozenset(self.keys)

    def key_of(self, names: Iterable[str]) -> int:
        """Canonical key of the split (or clade) whose chosen side is the tips ``names``."""
        index = self._index
        bits = 0
        for nm in names:
            bits |= 1 << index[nm]
        return split_key(bits, self.n_tips, rooted=self.rooted)

    def membership(self) -> NDArray[np.bool_]:
        """``M[i, j]``: tip ``labels[j]`` is on the canonical side of split ``i``."""
        return bitset_matrix(self.keys, self.n_tips)


def split_table(
    tree: Tree,
    order: Mapping[str, int] | None = None,
    *,
    rooted: bool = False,
    what: str = "tree",
    of: str = "the tip order",
) -> SplitTable:
    """The non-trivial splits of ``tree`` over a tip order, with the edge that induces each.

    Parameters
    ----------
    tree
        A tree with exactly the tips of ``order``.
    order
        ``{tip name: column}``; default :func:`tip_order` (sorted names).
    rooted
        ``False`` (default): unrooted bipartitions with 2..n-2 tips per side, side without
        column 0. ``True``: clades under internal non-root nodes with 2..n-1 tips.
    what, of
        How error messages name the tree and the order.

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 0, 2, 2, 0], name=[None, "a", None, "b", "c", "d"])
    >>> tab = split_table(t)
    >>> tab.nodes.tolist(), tab.keys, tab.membership().astype(int).tolist()
    ([2], (6,), [[0, 1, 1, 0]])
    """
    if order is None:
        order = tip_order(tree, what=what)
    bits = clade_bits(tree, order, what=what, of=of)
    n = len(order)
    nodes: list[int] = []
    keys: list[int] = []
    internal = np.flatnonzero(~tree.is_tip[1:]) + 1  # the root has no edge above it
    # split_key and _is_nontrivial inlined: this loop is the hot path of RF and bootstrap.
    full = (1 << n) - 1
    most = n - 1 if rooted else n - 2
    for v in internal.tolist():
        b = bits[v]
        if not rooted and b & 1:
            b ^= full
        if 2 <= b.bit_count() <= most:
            nodes.append(v)
            keys.append(b)
    labels = [""] * n
    for nm, j in order.items():
        labels[j] = nm
    node_arr = np.asarray(nodes, dtype=np.intp)
    node_arr.flags.writeable = False
    return SplitTable(labels=tuple(labels), nodes=node_arr, keys=tuple(keys), rooted=rooted)


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
    return split_table(tree, rooted=rooted, what="splits").as_set()


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
    n1 = set(named_tips(t1, what="robinson_foulds"))
    n2 = set(named_tips(t2, what="robinson_foulds"))
    if n1 != n2:
        only1 = sorted(n1 - n2)
        only2 = sorted(n2 - n1)
        raise PhyloLLMError(
            "robinson_foulds needs trees over the same tips, but "
            f"{len(only1)} tip(s) are only in t1 {only1[:10]} and "
            f"{len(only2)} only in t2 {only2[:10]}"
        )
    order = {nm: k for k, nm in enumerate(sorted(n1))}
    s1 = split_table(t1, order, rooted=rooted, what="robinson_foulds").as_set()
    s2 = split_table(t2, order, rooted=rooted, what="robinson_foulds").as_set()
    rf = len(s1 ^ s2)
    if not normalize:
        return float(rf)
    n = len(n1)
    most = 2 * (n - 2) if rooted else 2 * (n - 3)
    return float(rf) / most if most > 0 else 0.0
