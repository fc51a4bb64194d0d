from __future__ import annotations

import itertools

import numpy as np
import pytest

from phylo_llm import PhyloLLMError, Tree
from phylo_llm.treeops import patristic_distances, robinson_foulds, splits


def random_tree(n_tips: int, seed: int, *, binary: bool = True, rooted: bool = True) -> Tree:
    """A random tree grown by attaching tips to random edges; lengths in (0.01, 1)."""
    rng = np.random.default_rng(seed)
    # start with a cherry (rooted) or a star of three (unrooted)
    start = 2 if rooted else 3
    parent = [-1] + [0] * start
    names: list[str | None] = [None] + [f"t{i}" for i in range(start)]
    for i in range(start, n_tips):
        v = int(rng.integers(1, len(parent)))  # an edge above node v
        if not binary and rng.random() < 0.3 and names[v] is None:
            parent.append(v)  # polytomy: hang the tip on internal node v
            names.append(f"t{i}")
            continue
        mid = len(parent)
        parent.append(parent[v])
        names.append(None)
        parent[v] = mid
        parent.append(mid)
        names.append(f"t{i}")
    n = len(parent)
    length = rng.uniform(0.01, 1.0, n)
    length[0] = np.nan
    return Tree.from_parents(parent, length=length, name=names, rooted=rooted)


def caterpillar(n_tips: int, *, length: float = 1.0) -> Tree:
    parent = [-1]
    names: list[str | None] = [None]
    cur = 0
    for i in range(n_tips - 2):
        parent += [cur, cur]
        names += [f"t{i}", None]
        cur = len(parent) - 1
    parent += [cur, cur]
    names += [f"t{n_tips - 2}", f"t{n_tips - 1}"]
    lengths = np.full(len(parent), length)
    lengths[0] = np.nan
    return Tree.from_parents(parent, length=lengths, name=names)


def brute_patristic(tree: Tree) -> dict[tuple[str, str], float]:
    def path(v: int) -> list[int]:
        out = [v]
        while tree.parent[v] >= 0:
            v = int(tree.parent[v])
            out.append(v)
        return out

    out = {}
    for a, b in itertools.combinations(tree.tips.tolist(), 2):
        pa, pb = path(a), path(b)
        common = set(pa) & set(pb)
        d = sum(tree.length[v] for v in pa if v not in common)
        d += sum(tree.length[v] for v in pb if v not in common)
        out[tree.name[a], tree.name[b]] = d
    return out


# ---- patristic ---------------------------------------------------------------------------------


def test_patristic_known_tree():
    # ((a:1,b:2):3,c:4);
    t = Tree.from_parents([-1, 0, 1, 1, 0], length=[np.nan, 3, 1, 2, 4], name=[None, None, "a", "b", "c"])
    dm = patristic_distances(t)
    assert dm.labels == ("a", "b", "c")
    np.testing.assert_array_equal(dm.values, [[0, 3, 8], [3, 0, 9], [8, 9, 0]])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("binary", [True, False])
def test_patristic_matches_brute_force(seed, binary):
    t = random_tree(12, seed, binary=binary)
    dm = patristic_distances(t)
    for (a, b), d in brute_patristic(t).items():
        assert dm[a, b] == pytest.approx(d, rel=1e-12)
    assert (dm.values == dm.values.T).all()
    assert (np.diag(dm.values) == 0).all()


def test_patristic_large_caterpillar_is_fast_and_exact():
    t = caterpillar(3000)
    dm = patristic_distances(t)
    # caterpillar with unit lengths: t_i (i < n-2) sits at depth i+1; d(t_i, t_j) = |i-j| + 2 for i<j<n-2
    assert dm["t0", "t1"] == 3.0
    assert dm["t5", "t100"] == 97.0
    assert dm["t2998", "t2999"] == 2.0


@pytest.mark.parametrize(
    "parent, length, name, match",
    [
        ([-1, 0, 0], [np.nan, 1, 1], [None, "a", None], "1 tip.* no name"),
        ([-1, 0, 0], [np.nan, 1, 1], [None, "a", "a"], r"unique tip names; duplicated: \['a'\]"),
        ([-1, 0, 0], [np.nan, 1, np.nan], [None, "a", "b"], "1 of 2 branches have none"),
        ([-1, 0, 0], [np.nan, 1, -0.5], [None, "a", "b"], r"non-negative .* -0.5 above node 2 \('b'\)"),
    ],
)
def test_patristic_errors(parent, length, name, match):
    t = Tree.from_parents(parent, length=length, name=name)
    with pytest.raises(PhyloLLMError, match=match):
        patristic_distances(t)


# ---- splits / RF ---------------------------------------------------------------------------


def _quartet(names: list[str]) -> Tree:
    # ((n0,n1),(n2,n3)) as a rooted cherry of cherries
    return Tree.from_parents([-1, 0, 1, 1, 0, 4, 4], name=[None, None, names[0], names[1], None, names[2], names[3]])


def test_splits_are_canonical_and_root_independent():
    t = _quartet(["a", "b", "c", "d"])
    # one non-trivial split ab|cd; normalised to the side without 'a' -> {c, d} = bits 2,3
    assert splits(t) == frozenset({0b1100})
    assert splits(t, rooted=True) == frozenset({0b0011, 0b1100})


def test_rf_identical_is_zero_and_nni_is_two():
    t = random_tree(20, 3)
    assert robinson_foulds(t, t) == 0.0
    # NNI: swap two subtrees across an internal edge -> exactly one split differs
    a = _quartet(["a", "b", "c", "d"])
    b = _quartet(["a", "c", "b", "d"])
    assert robinson_foulds(a, b) == 2.0
    assert robinson_foulds(a, b, normalize=True) == 1.0


def test_rf_nni_on_larger_tree():
    # (((a,b),c),(d,(e,f))) vs NNI that swaps c and (a,b)'s b: (((a,c),b),(d,(e,f)))
    t1 = Tree.from_parents(
        [-1, 0, 1, 2, 2, 1, 0, 6, 6, 8, 8],
        name=[None, None, None, "a", "b", "c", None, "d", None, "e", "f"],
    )
    t2 = Tree.from_parents(
        [-1, 0, 1, 2, 2, 1, 0, 6, 6, 8, 8],
        name=[None, None, None, "a", "c", "b", None, "d", None, "e", "f"],
    )
    assert robinson_foulds(t1, t2) == 2.0
    assert robinson_foulds(t1, t2, normalize=True) == pytest.approx(2 / (2 * (6 - 3)))


def test_rf_ignores_root_position_unless_rooted():
    # same unrooted tree ((a,b),(c,d)) vs (a,(b,(c,d))) rooted differently
    t1 = _quartet(["a", "b", "c", "d"])
    t2 = Tree.from_parents([-1, 0, 0, 2, 2, 4, 4], name=[None, "a", None, "b", None, "c", "d"])
    assert robinson_foulds(t1, t2) == 0.0
    assert robinson_foulds(t1, t2, rooted=True) == 2.0


def test_rf_random_trees_are_bounded():
    for seed in range(5):
        a, b = random_tree(30, seed), random_tree(30, seed + 100)
        r = robinson_foulds(a, b, normalize=True)
        assert 0.0 <= r <= 1.0
        assert robinson_foulds(a, b) == robinson_foulds(b, a)


def test_rf_tip_mismatch_names_the_tips():
    a = _quartet(["a", "b", "c", "d"])
    b = _quartet(["a", "b", "c", "e"])
    with pytest.raises(PhyloLLMError, match=r"1 tip\(s\) are only in t1 \['d'\] and 1 only in t2 \['e'\]"):
        robinson_foulds(a, b)


def test_splits_of_large_caterpillar():
    t = caterpillar(5000)
    assert len(splits(t)) == 5000 - 3
