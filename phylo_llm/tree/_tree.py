"""The tree value: a light, immutable, array-backed phylogeny.

A :class:`Tree` is four parallel arrays over nodes in *preorder* (every parent before its
children, the root at index 0):

``parent``   index of the parent node, ``-1`` for the root;
``length``   length of the branch above the node (``nan`` = no length given);
``name``     node name or ``None`` (tips are normally named, internal nodes rarely);
``support``  clade support of the branch above an internal node (``nan`` = none).

Algorithms are free functions over this value (see :mod:`phylo_llm.tree`), never methods of a
god class. Because parents come before children, a postorder pass is just ``reversed(range(n))``,
and most operations are vectorised or single passes with no recursion (no depth limit for
10,000-tip caterpillars).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import PhyloLLMError
from ..util import readonly

__all__ = ["Tree"]


@dataclass(frozen=True, eq=False)
class Tree:
    """An immutable phylogenetic tree stored as parallel arrays in preorder.

    Construct with :meth:`Tree.from_parents` (any node order) or directly when the arrays are
    already in preorder with ``parent[0] == -1`` and ``parent[i] < i``.

    Parameters
    ----------
    parent, length, name, support
        See the module docstring.
    rooted
        Whether the root is meaningful (UPGMA, midpoint/outgroup rooting) or only a drawing
        convenience (NJ, which yields an unrooted tree with a trifurcation at index 0).

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 0], length=[np.nan, 1.0, 2.0], name=[None, "a", "b"])
    >>> t.tip_names
    ('a', 'b')
    >>> float(t.total_length)
    3.0
    """

    parent: NDArray[np.intp]
    length: NDArray[np.float64] = field(repr=False)
    name: tuple[str | None, ...] = field(repr=False)
    support: NDArray[np.float64] = field(repr=False)
    rooted: bool = True

    def __post_init__(self) -> None:
        parent = np.array(self.parent, dtype=np.intp, copy=True).reshape(-1)
        n = parent.shape[0]
        if n == 0:
            raise PhyloLLMError("a tree needs at least one node, got 0")
        length = np.array(self.length, dtype=np.float64, copy=True).reshape(-1)
        support = np.array(self.support, dtype=np.float64, copy=True).reshape(-1)
        name = tuple(None if x is None else str(x) for x in self.name)
        for what, size in (("length", length.shape[0]), ("support", support.shape[0]), ("name", len(name))):
            if size != n:
                raise PhyloLLMError(f"tree {what} has {size} entries, expected one per node ({n})")
        if parent[0] != -1:
            raise PhyloLLMError(f"node 0 must be the root (parent -1), got parent {parent[0]}")
        if n > 1:
            rest = parent[1:]
            bad = (rest < 0) | (rest >= np.arange(1, n))
            if bad.any():
                i = int(np.flatnonzero(bad)[0]) + 1
                raise PhyloLLMError(
                    f"tree nodes must be in preorder (parent[i] < i), but parent[{i}]={parent[i]}; "
                    "use Tree.from_parents for arbitrary order"
                )
        if np.isinf(length).any():
            i = int(np.flatnonzero(np.isinf(length))[0])
            raise PhyloLLMError(f"branch lengths must be finite or nan (absent), got length[{i}]=inf")
        object.__setattr__(self, "parent", readonly(parent))
        object.__setattr__(self, "length", readonly(length))
        object.__setattr__(self, "support", readonly(support))
        object.__setattr__(self, "name", name)

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_parents(
        cls,
        parent: ArrayLike,
        *,
        length: ArrayLike | None = None,
        name: Sequence[str | None] | None = None,
        support: ArrayLike | None = None,
        rooted: bool = True,
    ) -> Tree:
        """Build a tree from a parent array in any node order (exactly one ``-1`` root).

        Children keep their relative input order. Raises on cycles or several roots.
        """
        parent = np.asarray(parent, dtype=np.intp).reshape(-1)
        n = parent.shape[0]
        length = np.full(n, np.nan) if length is None else np.asarray(length, dtype=np.float64)
        support = np.full(n, np.nan) if support is None else np.asarray(support, dtype=np.float64)
        names: list[str | None] = [None] * n if name is None else list(name)
        roots = np.flatnonzero(parent == -1)
        if roots.size != 1:
            raise PhyloLLMError(f"a tree needs exactly one root (parent -1), found {roots.size}")
        if ((parent < -1) | (parent >= n)).any():
            i = int(np.flatnonzero((parent < -1) | (parent >= n))[0])
            raise PhyloLLMError(f"parent[{i}]={parent[i]} is not a node index (0..{n - 1})")
        order = _preorder(parent, int(roots[0]))
        if order.shape[0] != n:
            raise PhyloLLMError(
                f"parent array does not describe a tree: {n - order.shape[0]} node(s) unreachable "
                "from the root (a cycle?)"
            )
        new_index = np.empty(n, dtype=np.intp)
        new_index[order] = np.arange(n)
        new_parent = np.where(parent[order] >= 0, new_index[parent[order]], -1)
        return cls(
            new_parent,
            length[order],
            tuple(names[i] for i in order),
            support[order],
            rooted,
        )

    # ---- derived structure (cached) ------------------------------------------------------

    def __len__(self) -> int:
        return int(self.parent.shape[0])

    @property
    def n_nodes(self) -> int:
        return len(self)

    @cached_property
    def _child_ptr(self) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        # CSR layout: children of node v are kids[ptr[v]:ptr[v+1]], in preorder (input) order.
        n = len(self)
        p = self.parent[1:]
        counts = np.bincount(p, minlength=n)
        ptr = np.zeros(n + 1, dtype=np.intp)
        np.cumsum(counts, out=ptr[1:])
        order = np.argsort(p, kind="stable")
        kids = (order + 1).astype(np.intp)
        return readonly(ptr), readonly(kids)

    @property
    def children_csr(self) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Every node's children at once, ``(ptr, kids)``: those of ``v`` are ``kids[ptr[v]:ptr[v + 1]]``.

        For vectorised code (first and last children of all internal nodes in one indexing);
        :meth:`children` is the one-node view. Both arrays are read-only.

        Examples
        --------
        >>> t = Tree.from_parents([-1, 0, 0, 1, 1])
        >>> ptr, kids = t.children_csr
        >>> kids[ptr[1]:ptr[2]].tolist() == t.children(1).tolist(), ptr.tolist()
        (True, [0, 2, 4, 4, 4, 4])
        """
        return self._child_ptr

    def children(self, node: int) -> NDArray[np.intp]:
        """Child indices of ``node``, in order."""
        ptr, kids = self._child_ptr
        return kids[ptr[node] : ptr[node + 1]]

    @cached_property
    def n_children(self) -> NDArray[np.intp]:
        ptr, _ = self._child_ptr
        return readonly(np.diff(ptr))

    @cached_property
    def is_tip(self) -> NDArray[np.bool_]:
        return readonly(self.n_children == 0)

    @cached_property
    def tips(self) -> NDArray[np.intp]:
        """Indices of the tips, in preorder (the left-to-right drawing order)."""
        return readonly(np.flatnonzero(self.is_tip))

    @property
    def n_tips(self) -> int:
        return int(self.tips.shape[0])

    @cached_property
    def tip_names(self) -> tuple[str | None, ...]:
        return tuple(self.name[i] for i in self.tips)

    @cached_property
    def depth(self) -> NDArray[np.float64]:
        """Root-to-node path length (missing lengths count as 0)."""
        d = np.zeros(len(self))
        lengths = np.nan_to_num(self.length, nan=0.0)
        for v in range(1, len(self)):  # preorder: parent's depth is ready
            d[v] = d[self.parent[v]] + lengths[v]
        return readonly(d)

    @cached_property
    def total_length(self) -> float:
        """Sum of all branch lengths (missing lengths count as 0)."""
        return float(np.nansum(self.length[1:]))

    def index_of(self, name: str) -> int:
        """Index of the node called ``name``; raises if absent or ambiguous."""
        hits = [i for i, nm in enumerate(self.name) if nm == name]
        if not hits:
            raise PhyloLLMError(f"no node named {name!r} in this tree")
        if len(hits) > 1:
            raise PhyloLLMError(f"node name {name!r} is not unique in this tree ({len(hits)} nodes)")
        return hits[0]

    def __repr__(self) -> str:
        kind = "rooted" if self.rooted else "unrooted"
        return f"Tree({self.n_tips} tips, {len(self)} nodes, {kind})"


def _preorder(parent: NDArray[np.intp], root: int) -> NDArray[np.intp]:
    """Preorder node list from a parent array, children visited in index order, iteratively."""
    n = parent.shape[0]
    mask = parent >= 0
    child = np.flatnonzero(mask)
    p = parent[mask]
    order_idx = np.argsort(p, kind="stable")
    child = child[order_idx]
    counts = np.bincount(p, minlength=n)
    ptr = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(counts, out=ptr[1:])
    out = np.empty(n, dtype=np.intp)
    k = 0
    stack = [root]
    seen = np.zeros(n, dtype=bool)
    while stack:
        v = stack.pop()
        if seen[v]:
            break
        seen[v] = True
        out[k] = v
        k += 1
        kids = child[ptr[v] : ptr[v + 1]]
        stack.extend(kids[::-1].tolist())
    return out[:k]
