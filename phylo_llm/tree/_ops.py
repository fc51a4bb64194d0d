"""Operations on :class:`~phylo_llm.tree.Tree` values: distances, rerooting, pruning (splits: ``_splits``).

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

from ..data import DistanceMatrix
from ..errors import PhyloLLMError
from ..util import check_number, check_unique
from ._splits import clade_bits, named_tips
from ._tree import Tree

__all__ = [
    "collapse_short_branches",
    "ladderize",
    "mrca",
    "patristic_distances",
    "prune",
    "root_midpoint",
    "root_outgroup",
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


def _check_lengths(tree: Tree, *, what: str) -> None:
    lengths = tree.length[1:]
    missing = int(np.isnan(lengths).sum())
    if missing:
        raise PhyloLLMError(f"{what} needs branch lengths, but {missing} of {lengths.shape[0]} branches have none")


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
    block "tips under ``c``" x "tips under later children of ``p``" has its LCA at ``p``, and
    those blocks (with their mirror images) tile the matrix exactly once: one outer sum and two
    slice assignments per node, each cell written once, no Python loop over cells (a star
    tree costs as little as a binary one).

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
    names = named_tips(tree, what="patristic_distances")
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
    rank_before = np.concatenate(([0], np.cumsum(tree.is_tip)))  # tips among nodes < v
    size, _ = _subtree_sizes(tree)
    nodes = np.arange(len(tree))
    lo = rank_before[nodes].tolist()
    hi = rank_before[nodes + size].tolist()
    depth = tree.depth
    tip_depth = np.ascontiguousarray(depth[tree.tips], dtype=np.float64)
    par = tree.parent.tolist()
    node_depth = depth.tolist()
    m = np.empty((n_tips, n_tips), dtype=np.float64)
    for c in range(1, len(tree)):
        p = par[c]
        a, b, end = lo[c], hi[c], hi[p]
        if b < end:  # tips of p's later children: [b, end); their LCA with c's tips is p
            dp = node_depth[p]
            # (d_i - d_p) + (d_j - d_p): two non-negative terms, so never negative, and the
            # mirror block is the same array transposed, so the matrix is bitwise symmetric.
            block = np.add.outer(tip_depth[a:b] - dp, tip_depth[b:end] - dp)
            m[a:b, b:end] = block
            m[b:end, a:b] = block.T
    np.fill_diagonal(m, 0.0)
    # Symmetric, finite, non-negative and hollow by construction (asserted in the tests).
    return DistanceMatrix._unchecked(names, m)


# ---- rooting ---------------------------------------------------------------------------------


def _add_lengths(a: float, b: float) -> float:
    """Sum of two branch lengths where nan means absent (nan only if both are absent)."""
    if np.isnan(a):
        return b
    if np.isnan(b):
        return a
    return a + b


def unroot(tree: Tree) -> Tree:
    """The same tree marked unrooted, with a two-child root merged away.

    A root with exactly two children carries one bipartition on two branches; they are merged
    into one branch whose length is their sum and whose support is the first one given. The
    first internal child becomes the new root (so the root keeps three or more children). The
    old root's name is dropped. A root with a single internal child is dropped too (with the
    branch above that child). Trees whose root has another degree are only re-marked.

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 1, 1, 0, 4, 4], length=[np.nan, 1, 1, 1, 2, 1, 1],
    ...                       name=[None, None, "a", "b", None, "c", "d"],
    ...                       support=[np.nan, 90, np.nan, np.nan, np.nan, np.nan, np.nan])
    >>> u = unroot(t)
    >>> u.rooted, int(u.n_children[0]), float(u.length[u.children(0)[-1]]), float(u.support[3])
    (False, 3, 3.0, 90.0)
    """
    kids = tree.children(0)
    if kids.shape[0] == 1 and not tree.is_tip[kids[0]]:
        # a root with one child is no node of the unrooted tree: its child becomes the root
        keep = np.ones(len(tree), dtype=bool)
        keep[0] = False
        parent = tree.parent.copy()
        parent[kids[0]] = -1
        length = tree.length.copy()
        length[kids[0]] = np.nan
        support = tree.support.copy()
        support[kids[0]] = np.nan
        return unroot(_rebuild(tree, parent, length, support, tree.name, keep, rooted=False))
    internal_kids = [int(c) for c in kids if not tree.is_tip[c]]
    if kids.shape[0] != 2 or not internal_kids:
        return Tree(tree.parent, tree.length, tree.name, tree.support, False)
    new_root = internal_kids[0]
    other = int(kids[1]) if int(kids[0]) == new_root else int(kids[0])
    parent = tree.parent.copy()
    length = tree.length.copy()
    support = tree.support.copy()
    c1, c2 = int(kids[0]), int(kids[1])
    merged_support = support[c1] if not np.isnan(support[c1]) else support[c2]
    parent[other] = new_root
    length[other] = _add_lengths(length[c1], length[c2])
    support[other] = merged_support if not tree.is_tip[other] else support[other]
    parent[new_root] = -1
    length[new_root] = np.nan
    support[new_root] = np.nan
    keep = np.ones(len(tree), dtype=bool)
    keep[0] = False
    return _rebuild(tree, parent, length, support, tree.name, keep, rooted=False)


def _reroot(tree: Tree, node: int, *, above: float | None = None) -> Tree:
    """Root at ``node`` or, with ``above``, at a new node that far above ``node`` on its branch.

    ``tree`` must already be unrooted-form (no two-child root) or the old root would be left
    with a single child. Each edge's (length, support) travels with the edge: along the path to
    the old root, the child end of every edge flips, so its data moves to the old parent.
    """
    n = len(tree)
    old_parent = tree.parent
    parent = np.append(old_parent, -1) if above is not None else old_parent.copy()
    length = np.append(tree.length, np.nan) if above is not None else tree.length.copy()
    support = np.append(tree.support, np.nan) if above is not None else tree.support.copy()
    name = list(tree.name) + ([None] if above is not None else [])
    if above is not None:
        edge_len = tree.length[node]
        root = n
        parent[node] = root
        length[node] = above
        prev, cur = root, int(old_parent[node])
        carry_len, carry_sup = edge_len - above, tree.support[node]
    else:
        parent[node] = -1
        prev, cur = node, int(old_parent[node])
        carry_len, carry_sup = tree.length[node], tree.support[node]
        length[node] = np.nan
        support[node] = np.nan
    while cur >= 0:
        nxt = int(old_parent[cur])
        here_len, here_sup = tree.length[cur], tree.support[cur]
        parent[cur] = prev
        length[cur] = carry_len
        support[cur] = carry_sup
        carry_len, carry_sup = here_len, here_sup
        prev, cur = cur, nxt
    old_root_kids = np.flatnonzero(parent == 0)
    if parent[0] != -1 and old_root_kids.shape[0] == 1:
        # The old root had two children (a two-tip tree, or a caller that did not unroot):
        # it is now a pass-through node; merge its two branches into one.
        k = int(old_root_kids[0])
        parent[k] = parent[0]
        length[k] = _add_lengths(length[k], length[0])
        if np.isnan(support[k]):
            support[k] = support[0]
        keep = np.ones(parent.shape[0], dtype=bool)
        keep[0] = False
        return _rebuild(tree, parent, length, support, name, keep, rooted=True)
    return _rebuild(tree, parent, length, support, name, rooted=True)


def root_midpoint(tree: Tree) -> Tree:
    """Root at the midpoint of the longest tip-to-tip path.

    The new root is inserted on the branch holding the midpoint (or is the node itself when the
    midpoint falls exactly on one), so both sides reach their farthest tip at the same depth,
    half the tree's diameter. Lengths and supports move with their branches; the two halves of
    the split branch both carry its support. O(n), no recursion.

    Raises
    ------
    PhyloLLMError
        When a branch has no length, the tree has fewer than two tips, or every tip-to-tip
        distance is zero (no midpoint to speak of).

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 0, 0], length=[np.nan, 1, 2, 5], name=[None, "a", "b", "c"])
    >>> r = root_midpoint(t)
    >>> sorted(float(r.depth[i]) for i in r.tips), int(r.n_children[0])
    ([2.5, 3.5, 3.5], 2)
    """
    if tree.n_tips < 2:
        raise PhyloLLMError(f"root_midpoint needs at least two tips, got {tree.n_tips}")
    _check_lengths(tree, what="root_midpoint")
    t = unroot(tree)
    n = len(t)
    par = t.parent.tolist()
    lens = t.length.tolist()
    height = [0.0] * n  # farthest tip below v
    far_tip = list(range(n))  # which tip that is
    best = (-1.0, -1, -1, -1)  # (path length, node, child1, child2)
    top: list[list[tuple[float, int]]] = [[] for _ in range(n)]  # two largest (reach, child)
    for v in range(n - 1, -1, -1):
        reach = top[v]
        if reach:
            height[v] = reach[0][0]
            far_tip[v] = far_tip[reach[0][1]]
            if len(reach) == 2 and reach[0][0] + reach[1][0] > best[0]:
                best = (reach[0][0] + reach[1][0], v, reach[0][1], reach[1][1])
        if v:
            p = par[v]
            cand = (height[v] + lens[v], v)
            tp = top[p]
            # keep the two largest reaches; ties keep the earlier child (deterministic)
            if not tp or cand[0] > tp[0][0]:
                tp.insert(0, cand)
            elif len(tp) < 2 or cand[0] > tp[1][0]:
                tp.insert(1, cand)
            del tp[2:]
    diameter, _, c1, _ = best
    if diameter <= 0:
        raise PhyloLLMError("root_midpoint is undefined: every tip-to-tip distance is zero")
    half = diameter / 2
    # walk up from the farther tip until the midpoint's branch is reached
    u = far_tip[c1]
    up = 0.0
    while up + lens[u] < half:
        up += lens[u]
        u = par[u]
    x = half - up
    if x <= 0:
        return _reroot(t, u)
    if x >= lens[u]:
        return _reroot(t, par[u])
    return _reroot(t, u, above=x)


def _name_index(tree: Tree, names: Sequence[str], *, what: str, tips_only: bool) -> list[int]:
    if isinstance(names, str):
        raise PhyloLLMError(f"{what} must be a sequence of names, got the single string {names!r}")
    names = list(names)
    if not names:
        raise PhyloLLMError(f"{what} must name at least one node, got none")
    check_unique(names, what=f"the names in {what}")
    index: dict[str, int] = {}
    dup: set[str] = set()
    for i, nm in enumerate(tree.name):
        if nm is not None:
            if nm in index:
                dup.add(nm)
            index[nm] = i
    out = []
    missing = [nm for nm in names if nm not in index]
    if missing:
        raise PhyloLLMError(f"{what}: {len(missing)} name(s) not in the tree: {missing[:10]}")
    for nm in names:
        if nm in dup:
            raise PhyloLLMError(f"{what}: node name {nm!r} is not unique in this tree")
        i = index[nm]
        if tips_only and not tree.is_tip[i]:
            raise PhyloLLMError(f"{what}: {nm!r} names an internal node, not a tip")
        out.append(i)
    return out


def root_outgroup(tree: Tree, outgroup: str | Sequence[str]) -> Tree:
    """Root on the branch that separates ``outgroup`` from the other tips.

    Parameters
    ----------
    tree
        Any tree; its current root is ignored (the outgroup is looked for in the unrooted tree).
    outgroup
        One tip name, or the tip names of the outgroup clade. They must be exactly the tips on
        one side of some branch of the unrooted tree.

    Returns
    -------
    Tree
        Rooted in the middle of that branch; lengths and supports move with their branches.

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 0, 0, 3, 3], length=[np.nan, 1, 1, 2, 1, 1],
    ...                       name=[None, "a", "b", None, "c", "d"])
    >>> r = root_outgroup(t, ["c", "d"])
    >>> r.tip_names, [float(r.length[c]) for c in r.children(0)]
    (('c', 'd', 'a', 'b'), [1.0, 1.0])
    """
    names = [outgroup] if isinstance(outgroup, str) else list(outgroup)
    _name_index(tree, names, what="outgroup", tips_only=True)
    all_names = named_tips(tree, what="root_outgroup")
    if len(names) >= len(all_names):
        raise PhyloLLMError(f"outgroup must leave at least one tip outside it, but it lists all {len(all_names)} tips")
    t = unroot(tree)
    if t.n_children[0] == 2:  # two tips: the one branch a-b is both tips' branch
        a, b = (int(c) for c in t.children(0))
        if t.name[a] != names[0]:
            a, b = b, a
        half = _add_lengths(t.length[a], t.length[b]) / 2
        return Tree.from_parents(
            [-1, 0, 0],
            length=[np.nan, half, half],
            name=[t.name[0], t.name[a], t.name[b]],
            support=[np.nan, t.support[a], t.support[b]],
            rooted=True,
        )
    order = {nm: k for k, nm in enumerate(sorted(all_names))}
    bits = clade_bits(t, order)
    full = (1 << len(all_names)) - 1
    want = 0
    for nm in names:
        want |= 1 << order[nm]
    other = full ^ want
    for v in range(1, len(t)):
        if bits[v] == want or bits[v] == other:
            half = t.length[v] / 2 if not np.isnan(t.length[v]) else np.nan
            r = _reroot(t, v, above=half)
            # draw the outgroup first: it is the root child whose clade is exactly `names`
            rbits = clade_bits(r, order)
            key = np.zeros(len(r), dtype=np.intp)
            key[r.children(0)] = [0 if rbits[c] == want else 1 for c in r.children(0)]
            return _sort_children(r, key)
    raise PhyloLLMError(
        f"outgroup {sorted(names)[:10]} is not a clade of the unrooted tree: no branch separates "
        f"exactly these {len(names)} tip(s) from the other {len(all_names) - len(names)}"
    )


# ---- reshaping -------------------------------------------------------------------------------


def ladderize(tree: Tree, *, ascending: bool = True) -> Tree:
    """Reorder children by subtree tip count (smallest first when ``ascending``); ties keep order.

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 1, 1, 0], name=[None, None, "a", "b", "c"])
    >>> ladderize(t).tip_names, ladderize(t, ascending=False).tip_names
    (('c', 'a', 'b'), ('a', 'b', 'c'))
    """
    _, ntips = _subtree_sizes(tree)
    return _sort_children(tree, ntips if ascending else -ntips)


def _sort_children(tree: Tree, key: NDArray) -> Tree:
    """The same tree with every node's children ordered by ``key`` (stable)."""
    n = len(tree)
    order = np.empty(n, dtype=np.intp)
    k = 0
    stack = [0]
    while stack:
        v = stack.pop()
        order[k] = v
        k += 1
        kids = tree.children(v)
        if kids.shape[0]:
            sorted_kids = kids[np.argsort(key[kids], kind="stable")]
            stack.extend(sorted_kids[::-1].tolist())
    new_index = np.empty(n, dtype=np.intp)
    new_index[order] = np.arange(n)
    p = tree.parent[order]
    new_parent = np.where(p >= 0, new_index[np.maximum(p, 0)], -1)
    return Tree(new_parent, tree.length[order], tuple(tree.name[i] for i in order), tree.support[order], tree.rooted)


def mrca(tree: Tree, names: Sequence[str]) -> int:
    """Index of the most recent common ancestor of the named nodes (on the tree as rooted).

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 1, 1, 0], name=["r", "x", "a", "b", "c"])
    >>> t.name[mrca(t, ["a", "b"])], t.name[mrca(t, ["a", "c"])], t.name[mrca(t, ["a"])]
    ('x', 'r', 'a')
    """
    idx = _name_index(tree, names, what="mrca names", tips_only=False)
    size, _ = _subtree_sizes(tree)
    lo, hi = min(idx), max(idx)
    # Subtrees are contiguous in preorder: v's subtree is v .. v+size[v]-1. Ancestors of the
    # first node are the only candidates; climb until the range reaches the last node.
    v = lo
    while v + size[v] <= hi:
        v = int(tree.parent[v])
    return v


def prune(tree: Tree, keep: Sequence[str]) -> Tree:
    """Keep only the tips named in ``keep``; suppress nodes left with one child.

    A suppressed node's branch is merged into its child's (lengths add; the child's support and
    name are kept, since the merged branch induces the child's bipartition). If the root is left
    with a single child, that child becomes the root and the branch above it is dropped.

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 1, 1, 0], length=[np.nan, 1, 2, 3, 4],
    ...                       name=[None, None, "a", "b", "c"])
    >>> p = prune(t, ["a", "c"])
    >>> p.tip_names, [float(x) for x in p.length[1:]]
    (('a', 'c'), [3.0, 4.0])
    """
    idx = _name_index(tree, keep, what="prune keep", tips_only=True)
    n = len(tree)
    par = tree.parent.tolist()
    marked = [False] * n
    kept_kids = [0] * n
    for i in idx:
        marked[i] = True
    for v in range(n - 1, 0, -1):
        if marked[v]:
            p = par[v]
            marked[p] = True
            kept_kids[p] += 1
    is_tip = tree.is_tip.tolist()
    retained = [marked[v] and (is_tip[v] or kept_kids[v] >= 2) for v in range(n)]
    lens = tree.length.tolist()
    new_parent = np.full(n, -1, dtype=np.intp)
    new_len = np.array(tree.length, copy=True)
    # For a suppressed node: its nearest retained ancestor and the length accumulated since it.
    up_anc = [-1] * n
    up_len = [np.nan] * n
    for v in range(n):
        if not marked[v]:
            continue
        if v == 0:
            anc, acc = -1, np.nan
        else:
            p = par[v]
            if retained[p]:
                anc, acc = p, lens[v]
            else:
                anc = up_anc[p]
                acc = _add_lengths(up_len[p], lens[v]) if anc >= 0 else np.nan
        if retained[v]:
            new_parent[v] = anc
            new_len[v] = acc
        else:
            up_anc[v], up_len[v] = anc, acc
    return _rebuild(tree, new_parent, new_len, tree.support, tree.name, np.asarray(retained), rooted=tree.rooted)


def collapse_short_branches(tree: Tree, *, tol: float = 0.0) -> Tree:
    """Turn internal branches of length <= ``tol`` into polytomies.

    The short branch is deleted and its child's children hang from its parent with their own
    lengths (the deleted length is not redistributed); its name and support go with it.
    Branches without a length are never collapsed.

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 1, 1, 0], length=[np.nan, 0.0, 1, 1, 1],
    ...                       name=[None, None, "a", "b", "c"])
    >>> int(collapse_short_branches(t).n_children[0])
    3
    """
    check_number("tol", tol, min=0)
    n = len(tree)
    collapse = (~tree.is_tip) & ~np.isnan(tree.length) & (tree.length <= tol)
    collapse[0] = False
    par = tree.parent.tolist()
    coll = collapse.tolist()
    up = list(range(n))  # nearest non-collapsed node at or above v
    new_parent = np.full(n, -1, dtype=np.intp)
    for v in range(1, n):
        target = up[par[v]]
        new_parent[v] = target
        if coll[v]:
            up[v] = target
    return _rebuild(tree, new_parent, tree.length, tree.support, tree.name, ~collapse, rooted=tree.rooted)
