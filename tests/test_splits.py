"""The one split encoding (phylo_llm/tree/_splits.py) against the encodings it replaced."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phylo_llm import PhyloLLMError, Tree
from phylo_llm.tree import (
    bitset_matrix,
    clade_bits,
    split_key,
    split_table,
    splits,
    tip_columns,
    tip_order,
)


def old_splits(tree: Tree, *, rooted: bool = False) -> frozenset[int]:
    """The public ``splits`` as it was before the unification (tree/_ops.py, bit loop)."""
    names = tree.tip_names
    order = {nm: k for k, nm in enumerate(sorted(names))}
    n = len(tree)
    bits = [0] * n
    for t in tree.tips.tolist():
        bits[t] = 1 << order[tree.name[t]]
    par = tree.parent.tolist()
    for v in range(n - 1, 0, -1):
        bits[par[v]] |= bits[v]
    n_tips = len(names)
    full = (1 << n_tips) - 1
    out: set[int] = set()
    for v in (np.flatnonzero(~tree.is_tip[1:]) + 1).tolist():
        b = bits[v]
        if not rooted and b & 1:
            b = full ^ b
        k = b.bit_count()
        if (rooted and 2 <= k <= n_tips - 1) or (not rooted and 2 <= k <= n_tips - 2):
            out.add(b)
    return frozenset(out)


def old_bootstrap_splits(tree: Tree, index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap's boolean membership splits as they were (analysis/_bootstrap.py ``_splits``)."""
    cols = np.array([index[tree.name[t]] for t in tree.tips])
    m = np.zeros((len(tree), len(index)), dtype=bool)
    m[tree.tips, cols] = True
    for v in range(len(tree) - 1, 0, -1):
        m[tree.parent[v]] |= m[v]
    n = m.shape[1]
    m[m[:, 0]] ^= True
    size = m.sum(axis=1)
    keep = (size >= 2) & (size <= n - 2)
    keep[0] = False
    nodes = np.flatnonzero(keep)
    return nodes, m[nodes]


@st.composite
def trees(draw: st.DrawFn) -> Tree:
    """Random trees: 2..40 tips, polytomies and unary nodes allowed, names in shuffled order."""
    n_tips = draw(st.integers(2, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    parent = [-1, 0, 0]
    is_tip = [False, True, True]
    while sum(is_tip) < n_tips:
        v = int(rng.integers(0, len(parent)))
        if not is_tip[v] and rng.random() < 0.3:  # polytomy: one more child of an internal node
            parent.append(v)
            is_tip.append(True)
            continue
        if v == 0:
            continue
        mid = len(parent)  # split the edge above v
        parent.append(parent[v])
        is_tip.append(False)
        parent[v] = mid
        parent.append(mid)
        is_tip.append(True)
    if draw(st.booleans()):  # a unary node somewhere (trivial edge)
        v = int(rng.integers(1, len(parent)))
        mid = len(parent)
        parent.append(parent[v])
        is_tip.append(False)
        parent[v] = mid
    labels = [f"t{k}" for k in rng.permutation(n_tips)]
    it = iter(labels)
    names = [next(it) if tip else None for tip in is_tip]
    return Tree.from_parents(parent, name=names, rooted=draw(st.booleans()))


@settings(max_examples=100, deadline=None)
@given(trees(), st.booleans())
def test_splits_agree_with_the_old_encoding(tree: Tree, rooted: bool) -> None:
    assert splits(tree, rooted=rooted) == old_splits(tree, rooted=rooted)
    table = split_table(tree, rooted=rooted)
    assert table.as_set() == old_splits(tree, rooted=rooted)
    # every listed node induces its key, and the membership matrix spells the same tip sets
    bits = clade_bits(tree)
    for v, key in zip(table.nodes.tolist(), table.keys):
        assert key == split_key(bits[v], tree.n_tips, rooted=rooted)
    m = table.membership()
    assert m.shape == (len(table.keys), tree.n_tips)
    for row, key in zip(m, table.keys):
        assert key == sum(1 << j for j in np.flatnonzero(row).tolist())
        assert table.key_of(np.array(table.labels)[row].tolist()) == key


@settings(max_examples=100, deadline=None)
@given(trees(), st.randoms(use_true_random=False))
def test_split_table_agrees_with_the_old_bootstrap_membership(tree: Tree, rnd) -> None:
    labels = list(tree.tip_names)
    rnd.shuffle(labels)  # any tip order, as bootstrap uses the contributions' label order
    index = {nm: j for j, nm in enumerate(labels)}
    nodes, rows = old_bootstrap_splits(tree, index)
    table = split_table(tree, index)
    np.testing.assert_array_equal(table.nodes, nodes)
    np.testing.assert_array_equal(table.membership(), rows)


def test_orientation_ignores_the_root() -> None:
    a = Tree.from_parents([-1, 0, 0, 2, 2, 0], name=[None, "a", None, "b", "c", "d"])
    b = Tree.from_parents([-1, 0, 0, 2, 2, 0], name=[None, "b", None, "c", "a", "d"], rooted=True)
    # {b, c} against {a, d}: the side without tip rank 0 ('a') in either tree
    assert split_table(a).keys == (0b0110,)
    assert split_table(b).keys == (0b1010,)  # {c, a} | {b, d}: the side without 'a' is {b, d}
    assert split_table(b, rooted=True).keys == (0b0101,)
    assert split_key(0b1001, 4) == 0b0110 == split_key(0b0110, 4)


def test_tip_order_and_bitset_matrix() -> None:
    t = Tree.from_parents([-1, 0, 0, 2, 2], name=[None, "c", None, "a", "b"])
    assert tip_order(t) == {"a": 0, "b": 1, "c": 2}
    assert clade_bits(t) == [0b111, 0b100, 0b011, 0b001, 0b010]
    np.testing.assert_array_equal(bitset_matrix([0b101, 0], 3), [[True, False, True], [False, False, False]])
    assert bitset_matrix([], 5).shape == (0, 5)


@pytest.mark.parametrize(
    ("order", "match"),
    [
        ({"a": 0, "b": 1}, r"tree has tips not in the tip order, e.g. \['c'\]"),
        ({"a": 0, "b": 1, "c": 2, "d": 3}, "must have the tip order's 4 tips exactly once each, got 3 tips"),
    ],
)
def test_tip_columns_errors(order: dict[str, int], match: str) -> None:
    t = Tree.from_parents([-1, 0, 0, 2, 2], name=[None, "c", None, "a", "b"])
    with pytest.raises(PhyloLLMError, match=match):
        tip_columns(t, order)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ([None, "a", None], "splits needs every tip to be named, but 1 tip"),
        ([None, "a", "a"], r"the tip names for splits must be unique; duplicated: \['a'\]"),
    ],
)
def test_split_errors_name_the_caller(name: list, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        splits(Tree.from_parents([-1, 0, 0], name=name))
