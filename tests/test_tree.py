from __future__ import annotations

import numpy as np
import pytest

from phylo_llm import PhyloLLMError, Tree


def _example() -> Tree:
    # ((a:1,b:2)x:3,c:4)r  given in scrambled order
    return Tree.from_parents(
        [4, 4, 3, -1, 3],
        length=[1, 2, 4, np.nan, 3],
        name=["a", "b", "c", "r", "x"],
    )


def test_from_parents_puts_nodes_in_preorder():
    t = _example()
    assert t.parent[0] == -1
    assert all(t.parent[i] < i for i in range(1, len(t)))
    assert t.name[0] == "r"
    # children keep input order: r's children are c (node 2) then x (node 4)
    assert t.tip_names == ("c", "a", "b")


def test_derived_structure():
    t = _example()
    x = t.index_of("x")
    assert [t.name[c] for c in t.children(x)] == ["a", "b"]
    assert t.n_tips == 3 and len(t) == 5
    assert t.is_tip.sum() == 3 and t.n_children[0] == 2
    depth = dict(zip(t.name, t.depth))
    assert depth["a"] == 4 and depth["b"] == 5 and depth["c"] == 4
    assert t.total_length == pytest.approx(10.0)


def test_arrays_are_read_only():
    t = _example()
    for arr in (t.parent, t.length, t.support):
        with pytest.raises(ValueError):
            arr[0] = 1


@pytest.mark.parametrize(
    "parent, match",
    [
        ([-1, -1], r"exactly one root .* found 2"),
        ([1, 2, 0], r"exactly one root .* found 0"),
        ([-1, 5], r"parent\[1\]=5 is not a node index"),
    ],
)
def test_from_parents_rejects_non_trees(parent, match):
    with pytest.raises(PhyloLLMError, match=match):
        Tree.from_parents(parent)


def test_cycle_is_detected():
    with pytest.raises(PhyloLLMError, match="unreachable"):
        Tree.from_parents([-1, 2, 1])


def test_direct_construction_requires_preorder():
    with pytest.raises(PhyloLLMError, match=r"preorder .* parent\[1\]=2"):
        Tree([-1, 2, 0], [np.nan] * 3, (None, "a", "b"), [np.nan] * 3)


def test_lengths_must_not_be_infinite():
    with pytest.raises(PhyloLLMError, match=r"length\[1\]=inf"):
        Tree([-1, 0], [np.nan, np.inf], (None, "a"), [np.nan, np.nan])


def test_deep_chain_needs_no_recursion():
    n = 20_000
    parent = np.arange(-1, n - 1)
    t = Tree.from_parents(parent, length=np.ones(n))
    assert t.n_tips == 1 and t.depth[-1] == n - 1


def test_index_of_errors():
    t = Tree.from_parents([-1, 0, 0], name=[None, "a", "a"])
    with pytest.raises(PhyloLLMError, match="not unique"):
        t.index_of("a")
    with pytest.raises(PhyloLLMError, match="no node named 'z'"):
        t.index_of("z")
