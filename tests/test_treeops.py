from __future__ import annotations

import itertools

import numpy as np
import pytest

from phylo_llm import DistanceMatrix, PhyloLLMError, Tree
from phylo_llm.tree import (
    collapse_short_branches,
    ladderize,
    mrca,
    patristic_distances,
    prune,
    robinson_foulds,
    root_midpoint,
    root_outgroup,
    splits,
    unroot,
)


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
    # built without re-validation: it must pass the DistanceMatrix rules anyway
    again = DistanceMatrix(dm.labels, dm.values)
    np.testing.assert_array_equal(again.values, dm.values)
    assert not dm.values.flags.writeable


def test_patristic_large_caterpillar_is_fast_and_exact():
    t = caterpillar(3000)
    dm = patristic_distances(t)
    # caterpillar with unit lengths: t_i (i < n-2) sits at depth i+1; d(t_i, t_j) = |i-j| + 2 for i<j<n-2
    assert dm["t0", "t1"] == 3.0
    assert dm["t5", "t100"] == 97.0
    assert dm["t2998", "t2999"] == 2.0


def test_patristic_star_tree():
    n = 2000
    lengths = np.random.default_rng(0).uniform(0, 1, n + 1)
    lengths[0] = np.nan
    t = Tree.from_parents([-1] + [0] * n, length=lengths, name=[None] + [f"t{i}" for i in range(n)])
    want = lengths[1:, None] + lengths[None, 1:]
    np.fill_diagonal(want, 0)
    np.testing.assert_allclose(patristic_distances(t).values, want, rtol=1e-15)


@pytest.mark.parametrize(
    "parent, length, name, match",
    [
        ([-1, 0, 0], [np.nan, 1, 1], [None, "a", None], "1 tip.* no name"),
        ([-1, 0, 0], [np.nan, 1, 1], [None, "a", "a"], r"tip names for \w+ must be unique; duplicated: \['a'\]"),
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


def test_rf_of_random_trees_counts_their_differing_splits():
    seen = set()
    for seed in range(8):
        a = random_tree(16, seed)
        # b: a with two tips' names swapped, so anything from 0 to all splits may differ.
        name = list(a.name)
        i, j = np.random.default_rng(seed).choice(np.flatnonzero(a.is_tip), 2, replace=False)
        name[i], name[j] = name[j], name[i]
        b = Tree(a.parent, a.length, name, a.support, a.rooted)
        # Independent count: bipartitions found by walking each tree (split_support, below).
        differing = len(set(split_support(a)) ^ set(split_support(b)))
        assert robinson_foulds(a, b) == robinson_foulds(b, a) == differing
        assert robinson_foulds(a, b, normalize=True) == pytest.approx(differing / (2 * (16 - 3)))
        seen.add(differing)
    assert len(seen) >= 3, seen  # the trees really differ by varying amounts


def test_rf_tip_mismatch_names_the_tips():
    a = _quartet(["a", "b", "c", "d"])
    b = _quartet(["a", "b", "c", "e"])
    with pytest.raises(PhyloLLMError, match=r"1 tip\(s\) are only in t1 \['d'\] and 1 only in t2 \['e'\]"):
        robinson_foulds(a, b)


def test_splits_of_large_caterpillar():
    t = caterpillar(5000)
    assert len(splits(t)) == 5000 - 3


# ---- helpers for rooting tests ---------------------------------------------------------------


def split_support(tree: Tree) -> dict[frozenset[str], float]:
    """Support keyed by the unrooted bipartition (side without the first sorted tip)."""
    all_tips = set(tree.tip_names)
    first = min(all_tips)
    under: list[set[str]] = [set() for _ in range(len(tree))]
    out: dict[frozenset[str], float] = {}
    for v in range(len(tree) - 1, 0, -1):
        if tree.is_tip[v]:
            under[v].add(tree.name[v])
        under[tree.parent[v]] |= under[v]
        side = under[v] if first not in under[v] else all_tips - under[v]
        if not tree.is_tip[v] and 2 <= len(side) <= len(all_tips) - 2:
            key = frozenset(side)
            if key in out:  # the two branches at a two-child root carry one split
                assert out[key] == tree.support[v] or np.isnan(out[key]) or np.isnan(tree.support[v])
            if key not in out or np.isnan(out[key]):
                out[key] = float(tree.support[v])
    return out


def with_split_ids(tree: Tree) -> Tree:
    """Give every internal branch a support equal to a unique id of its bipartition."""
    sup = np.full(len(tree), np.nan)
    sup[1:] = np.where(tree.is_tip[1:], np.nan, np.arange(1, len(tree)) * 10.0)
    t = Tree(tree.parent, tree.length, tree.name, sup, tree.rooted)
    # a two-child root has one split on two branches; give both the same id
    kids = t.children(0)
    if kids.shape[0] == 2 and not t.is_tip[kids].all():
        sup[kids] = sup[kids[0]] if not t.is_tip[kids[0]] else sup[kids[1]]
        t = Tree(tree.parent, tree.length, tree.name, sup, tree.rooted)
    return t


def assert_same_distances(a: Tree, b: Tree) -> None:
    da, db = patristic_distances(a), patristic_distances(b)
    db = db.subset(da.labels)
    np.testing.assert_allclose(db.values, da.values, rtol=1e-12, atol=1e-12)


def root_sides_max_depth(t: Tree) -> list[float]:
    size = len(t)
    out = []
    kids = t.children(0).tolist()
    bounds = kids[1:] + [size]
    for c, end in zip(kids, bounds):
        out.append(float(t.depth[c:end][t.is_tip[c:end]].max()))
    return out


# ---- unroot ----------------------------------------------------------------------------------


def test_unroot_merges_the_root_branches_and_keeps_support():
    t = with_split_ids(random_tree(10, 1))
    u = unroot(t)
    assert not u.rooted and u.n_children[0] == 3 and len(u) == len(t) - 1
    assert_same_distances(t, u)
    assert split_support(u) == split_support(t)
    assert robinson_foulds(t, u) == 0
    # already unrooted: only re-marked
    again = unroot(u)
    np.testing.assert_array_equal(again.parent, u.parent)


def test_unroot_drops_a_single_child_root():
    t = Tree.from_parents([-1, 0, 1, 1, 1], length=[np.nan, 5, 1, 2, 3], name=["r", "x", "a", "b", "c"])
    u = unroot(t)
    assert len(u) == 4 and u.name[0] == "x" and u.n_children[0] == 3
    r = root_outgroup(t, "a")
    assert r.n_tips == 3 and all(r.n_children[~r.is_tip] >= 2)


def test_two_tip_trees_reroot_without_unary_nodes():
    t = Tree.from_parents([-1, 0, 0], length=[np.nan, 1, 3], name=[None, "a", "b"])
    for r in (root_outgroup(t, "a"), root_midpoint(t)):
        assert len(r) == 3 and r.n_children[0] == 2
        assert sorted(r.length[1:].tolist()) == [2.0, 2.0]
    assert root_outgroup(t, "b").tip_names == ("b", "a")


# ---- rerooting -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_outgroup_rooting_preserves_distances_and_moves_support_with_edges(seed):
    t = with_split_ids(random_tree(15, seed, binary=seed % 2 == 0))
    rng = np.random.default_rng(seed)
    for tip in rng.choice(t.tip_names, size=4, replace=False):
        r = root_outgroup(t, str(tip))
        assert r.rooted and r.n_children[0] == 2
        assert r.name[r.children(0)[0]] == tip  # outgroup drawn first
        assert_same_distances(t, r)
        assert robinson_foulds(t, r) == 0
        assert split_support(r) == split_support(t)


def test_outgroup_clade_and_its_complement():
    # ((a,b),(c,(d,e)),f) unrooted
    t = Tree.from_parents(
        [-1, 0, 1, 1, 0, 4, 4, 6, 6, 0],
        length=[np.nan, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        name=[None, None, "a", "b", None, "c", None, "d", "e", "f"],
        rooted=False,
    )
    for og in (["c", "d", "e"], ["e", "d"], ["a", "b", "f"]):
        r = root_outgroup(t, og)
        first = r.children(0)[0]
        end = r.children(0)[1]
        assert {r.name[i] for i in range(first, end) if r.is_tip[i]} == set(og)
        assert_same_distances(t, r)
        # the outgroup's branch is split in half
        assert r.length[r.children(0)].tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    "outgroup, match",
    [
        (["a", "c"], r"outgroup \['a', 'c'\] is not a clade .* exactly these 2 tip\(s\) from the other 4"),
        (["zz"], r"outgroup: 1 name\(s\) not in the tree: \['zz'\]"),
        (["a", "a"], r"names in outgroup must be unique; duplicated: \['a'\]"),
        ([], "must name at least one node"),
        (["a", "b", "c", "d", "e", "f"], "must leave at least one tip outside it"),
    ],
)
def test_outgroup_errors(outgroup, match):
    t = Tree.from_parents(
        [-1, 0, 1, 1, 0, 4, 4, 6, 6, 0],
        name=["root", "ab", "a", "b", None, "c", None, "d", "e", "f"],
        rooted=False,
    )
    with pytest.raises(PhyloLLMError, match=match):
        root_outgroup(t, outgroup)


def test_outgroup_rejects_internal_names():
    t = Tree.from_parents([-1, 0, 1, 1, 0, 0], name=["root", "ab", "a", "b", "c", "d"])
    with pytest.raises(PhyloLLMError, match="'ab' names an internal node"):
        root_outgroup(t, "ab")


@pytest.mark.parametrize("seed", range(8))
def test_midpoint_balances_the_longest_path(seed):
    t = with_split_ids(random_tree(14, seed, binary=seed % 2 == 0, rooted=seed % 3 != 0))
    r = root_midpoint(t)
    diameter = patristic_distances(t).values.max()
    sides = root_sides_max_depth(r)
    assert r.rooted
    assert max(sides) == pytest.approx(diameter / 2, rel=1e-12)
    # the longest path passes through the root: the two deepest sides both reach diameter/2
    assert sorted(sides)[-2] == pytest.approx(diameter / 2, rel=1e-12)
    assert_same_distances(t, r)
    assert split_support(r) == split_support(t)


def test_midpoint_on_a_node_and_errors():
    # path a-c through the centre node has length 4: midpoint is the centre itself
    t = Tree.from_parents([-1, 0, 0, 0], length=[np.nan, 2, 2, 1], name=[None, "a", "b", "c"])
    r = root_midpoint(t)
    assert len(r) == 4 and r.n_children[0] == 3
    with pytest.raises(PhyloLLMError, match="needs branch lengths, but 1 of 3"):
        root_midpoint(Tree.from_parents([-1, 0, 0, 0], length=[np.nan, 2, np.nan, 1], name=[None, "a", "b", "c"]))
    with pytest.raises(PhyloLLMError, match="every tip-to-tip distance is zero"):
        root_midpoint(Tree.from_parents([-1, 0, 0], length=[np.nan, 0, 0], name=[None, "a", "b"]))
    with pytest.raises(PhyloLLMError, match="at least two tips, got 1"):
        root_midpoint(Tree.from_parents([-1, 0], length=[np.nan, 1], name=[None, "a"]))


def test_reroot_keeps_internal_names_on_their_nodes():
    t = Tree.from_parents(
        [-1, 0, 1, 1, 0, 4, 4, 0],
        length=[np.nan, 1, 1, 1, 1, 1, 1, 1],
        name=["r", "x", "a", "b", "y", "c", "d", "e"],
        rooted=False,
    )
    r = root_outgroup(t, "c")
    # y's clade seen from the new root is {d, r-side}; y is still the parent of d
    assert r.name[r.parent[r.index_of("d")]] == "y"
    assert r.name[r.parent[r.index_of("a")]] == "x"


# ---- ladderize / mrca / prune / collapse ---------------------------------------------------


@pytest.mark.parametrize("ascending", [True, False])
def test_ladderize(ascending):
    t = random_tree(25, 4)
    lad = ladderize(t, ascending=ascending)
    counts = {}
    for v in range(len(lad) - 1, -1, -1):
        kids = lad.children(v)
        counts[v] = 1 if lad.is_tip[v] else sum(counts[int(c)] for c in kids)
        sizes = [counts[int(c)] for c in kids]
        assert sizes == sorted(sizes, reverse=not ascending)
    assert_same_distances(t, lad)
    assert robinson_foulds(t, lad, rooted=True) == 0


def test_mrca():
    t = Tree.from_parents(
        [-1, 0, 1, 1, 0, 4, 4, 6, 6],
        name=["r", "x", "a", "b", "y", "c", "z", "d", "e"],
    )
    assert t.name[mrca(t, ["d", "e"])] == "z"
    assert t.name[mrca(t, ["c", "e"])] == "y"
    assert t.name[mrca(t, ["a", "e"])] == "r"
    assert t.name[mrca(t, ["z", "c"])] == "y"
    assert t.name[mrca(t, ["d"])] == "d"
    with pytest.raises(PhyloLLMError, match="single string 'de'"):
        mrca(t, "de")


@pytest.mark.parametrize("seed", range(4))
def test_prune_keeps_patristic_distances(seed):
    t = with_split_ids(random_tree(20, seed, binary=seed % 2 == 0))
    rng = np.random.default_rng(seed)
    keep = [str(x) for x in rng.choice(t.tip_names, size=8, replace=False)]
    p = prune(t, keep)
    assert set(p.tip_names) == set(keep)
    assert (p.n_children[~p.is_tip] >= 2).all()  # no unary nodes left
    full = patristic_distances(t).subset(p.tip_names)
    np.testing.assert_allclose(patristic_distances(p).values, full.values, rtol=1e-12)
    # each surviving internal node is the original MRCA of its kept tips, with its support
    for v in range(1, len(p)):
        if p.is_tip[v]:
            continue
        end = v + 1
        while end < len(p) and p.parent[end] >= v:
            end += 1
        tips = [p.name[i] for i in range(v, end) if p.is_tip[i]]
        assert p.support[v] == t.support[mrca(t, tips)]


def test_prune_known_and_errors():
    t = Tree.from_parents(
        [-1, 0, 1, 1, 0, 4, 4],
        length=[np.nan, 1, 2, 3, 4, 5, 6],
        name=[None, "x", "a", "b", "y", "c", "d"],
        support=[np.nan, 70, np.nan, np.nan, 80, np.nan, np.nan],
    )
    p = prune(t, ["a", "c", "d"])
    # x suppressed: a hangs from the root with 1 + 2; y keeps its support
    assert p.tip_names == ("a", "c", "d")
    assert p.length[p.index_of("a")] == 3
    assert p.support[p.index_of("y")] == 80
    # the root left with one child disappears with the branch above its child
    q = prune(t, ["c", "d"])
    assert len(q) == 3 and q.name[0] == "y" and np.isnan(q.length[0])
    with pytest.raises(PhyloLLMError, match=r"1 name\(s\) not in the tree: \['q'\]"):
        prune(t, ["a", "q"])
    with pytest.raises(PhyloLLMError, match="'x' names an internal node"):
        prune(t, ["a", "x"])


def test_collapse_short_branches():
    t = Tree.from_parents(
        [-1, 0, 1, 1, 0, 4, 4, 6, 6],
        length=[np.nan, 0.0, 1, 1, 0.05, 1, 0.2, 1, 1],
        name=[None, None, "a", "b", None, "c", None, "d", "e"],
    )
    c0 = collapse_short_branches(t)
    assert c0.n_children[0] == 3 and len(c0) == len(t) - 1
    c1 = collapse_short_branches(t, tol=0.1)
    assert c1.n_children[0] == 4 and len(c1) == len(t) - 2
    c2 = collapse_short_branches(t, tol=0.5)
    assert c2.n_children[0] == 5 and all(c2.is_tip[1:])
    assert c2.tip_names == t.tip_names
    assert len(splits(c1, rooted=True)) == len(splits(t, rooted=True)) - 2
    with pytest.raises(PhyloLLMError, match="tol must be a finite number >= 0, got -1"):
        collapse_short_branches(t, tol=-1)


# ---- scale: no recursion, reasonable time ----------------------------------------------------


def test_5000_tip_caterpillar_operations():
    t = caterpillar(5000)
    assert root_midpoint(t).rooted
    r = root_outgroup(t, "t4999")
    assert r.name[r.children(0)[0]] == "t4999"
    assert robinson_foulds(t, r) == 0
    assert unroot(t).n_children[0] == 3
    assert ladderize(t).n_tips == 5000
    assert prune(t, [f"t{i}" for i in range(0, 5000, 2)]).n_tips == 2500
    assert mrca(t, ["t0", "t4999"]) == 0
    assert len(collapse_short_branches(t, tol=1.0)) == 5001
