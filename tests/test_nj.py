"""Neighbor joining: exact recovery of additive trees, agreement with scikit-bio and Biopython
(including ties), the negative-branch convention, edge cases and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _peer_trees import from_bio, from_skbio
from hypothesis import given, settings
from hypothesis import strategies as st

from phylo_llm import (
    DistanceMatrix,
    PhyloLLMError,
    PhyloLLMWarning,
    Tree,
    pairwise_distances,
    read_dna_csv,
)
from phylo_llm.tree import (
    build_tree,
    nj,
    patristic_distances,
    robinson_foulds,
)
from phylo_llm.tree._build import _assemble_nj, _fix_negative
from phylo_llm.tree._nj import nj_linkage

# ---- helpers ---------------------------------------------------------------------------------


def random_tree(n_tips: int, seed: int) -> Tree:
    """A random binary tree grown by attaching tips to random edges; lengths in (0.05, 1)."""
    rng = np.random.default_rng(seed)
    parent = [-1, 0, 0]
    names: list[str | None] = [None, "t0", "t1"]
    for i in range(2, n_tips):
        v = int(rng.integers(1, len(parent)))
        mid = len(parent)
        parent.append(parent[v])
        names.append(None)
        parent[v] = mid
        parent.append(mid)
        names.append(f"t{i}")
    length = rng.uniform(0.05, 1.0, len(parent))
    length[0] = np.nan
    return Tree.from_parents(parent, length=length, name=names, rooted=True)


def random_matrix(n: int, seed: int, *, integer: bool = False) -> DistanceMatrix:
    """Symmetric hollow random matrix; integer-valued ones have many exact ties."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 5, (n, n)).astype(float) if integer else rng.random((n, n))
    a = a + a.T
    np.fill_diagonal(a, 0.0)
    return DistanceMatrix(tuple(f"s{i}" for i in range(n)), a)


def aligned(dm: DistanceMatrix, labels: tuple[str, ...]) -> np.ndarray:
    return dm.subset(labels).values


def raw_nj(dm: DistanceMatrix) -> Tree:
    """Our NJ tree with raw (possibly negative) lengths, for comparison with peers."""
    lm, _ = nj_linkage(dm.values)
    return _assemble_nj(lm, dm.labels)


def skbio_nj(dm: DistanceMatrix) -> Tree:
    from skbio import DistanceMatrix as SkDM
    from skbio.tree import nj as sk_nj

    return from_skbio(rooted=False, node=sk_nj(SkDM(np.asarray(dm.values, dtype=float), dm.labels), neg_as_zero=False))


def bio_nj(dm: DistanceMatrix) -> Tree:
    from Bio.Phylo.TreeConstruction import DistanceMatrix as BioDM
    from Bio.Phylo.TreeConstruction import DistanceTreeConstructor

    v = dm.values
    lower = [[float(v[i, j]) for j in range(i + 1)] for i in range(len(dm))]
    return from_bio(rooted=False, tree=DistanceTreeConstructor().nj(BioDM(list(dm.labels), lower)))


# ---- exact recovery --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n_tips=st.integers(3, 40), seed=st.integers(0, 2**32 - 1))
def test_additive_matrix_recovers_tree_exactly(n_tips: int, seed: int) -> None:
    truth = random_tree(n_tips, seed)
    dm = patristic_distances(truth)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # additive input: no negative branches to repair
        tree = nj(dm)
    assert not tree.rooted
    assert robinson_foulds(tree, truth) == 0.0
    got = patristic_distances(tree)
    np.testing.assert_allclose(aligned(got, dm.labels), dm.values, rtol=0, atol=1e-9)
    # The rooted truth has one edge more (the two root branches are one unrooted edge).
    assert tree.total_length == pytest.approx(truth.total_length, abs=1e-9)


def test_additive_float32_matrix_keeps_topology() -> None:
    truth = random_tree(60, seed=3)
    dm = patristic_distances(truth)
    dm32 = DistanceMatrix(dm.labels, dm.values.astype(np.float32))
    tree = nj(dm32)
    assert robinson_foulds(tree, truth) == 0.0
    np.testing.assert_allclose(aligned(patristic_distances(tree), dm.labels), dm.values, atol=1e-5)


# ---- agreement with peers --------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 45), seed=st.integers(0, 2**32 - 1))
def test_matches_skbio_on_random_matrices(n: int, seed: int) -> None:
    dm = random_matrix(n, seed)
    ours, theirs = raw_nj(dm), skbio_nj(dm)
    assert robinson_foulds(ours, theirs) == 0.0
    assert ours.total_length == pytest.approx(theirs.total_length, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 45), seed=st.integers(0, 2**32 - 1))
def test_ties_broken_exactly_as_skbio(n: int, seed: int) -> None:
    # Integer distances: many exactly equal Q values, and all the arithmetic that decides
    # which pair is joined stays exact (dyadic), so the join records must agree one for one.
    from skbio.tree._nj import _nj as skbio_linkage

    dm = random_matrix(n, seed, integer=True)
    ours, _ = nj_linkage(dm.values)
    theirs = skbio_linkage(np.array(dm.values, dtype=float))
    np.testing.assert_array_equal(ours[:, :2], theirs[:, :2])
    np.testing.assert_allclose(ours[:, 2:], theirs[:, 2:], rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ties_broken_exactly_as_skbio_on_larger_matrices(seed: int) -> None:
    # Larger rows than the 8 partners each row keeps exactly, so the bound path decides too.
    from skbio.tree._nj import _nj as skbio_linkage

    rng = np.random.default_rng(seed)
    dm = random_matrix(int(rng.integers(150, 300)), seed, integer=True)
    ours, _ = nj_linkage(dm.values)
    theirs = skbio_linkage(np.array(dm.values, dtype=float))
    np.testing.assert_array_equal(ours[:, :2], theirs[:, :2])
    np.testing.assert_allclose(ours[:, 2:], theirs[:, 2:], rtol=0, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 25), seed=st.integers(0, 2**32 - 1))
def test_matches_biopython_on_random_matrices(n: int, seed: int) -> None:
    # Continuous random matrices only: Biopython breaks exact ties in another order (it scans
    # the lower triangle and divides Q by n - 2), so tied matrices can give other trees.
    dm = random_matrix(n, seed)
    ours, theirs = raw_nj(dm), bio_nj(dm)
    assert robinson_foulds(ours, theirs) == 0.0
    assert ours.total_length == pytest.approx(theirs.total_length, abs=1e-6)


def test_bounded_search_scans_far_less_than_full_q() -> None:
    # The point of the row bounds: far fewer row scans than a full Q scan (~n^2/2), same result.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((600, 16))
    dm = pairwise_distances(x, [f"m{i}" for i in range(600)])
    lm, n_scans = nj_linkage(dm.values)
    assert n_scans < 600 * 600 / 2 / 4
    assert robinson_foulds(_assemble_nj(lm, dm.labels), skbio_nj(dm)) == 0.0


@pytest.mark.shared_data
def test_paper_dna_matches_skbio(paper_data) -> None:
    dna = read_dna_csv(paper_data / "dna_qwen3-embedding-8b.csv")
    dm = pairwise_distances(dna.vectors, dna.labels)
    assert len(dm) == 313
    ours, theirs = raw_nj(dm), skbio_nj(dm)
    assert robinson_foulds(ours, theirs) == 0.0
    assert ours.total_length == pytest.approx(theirs.total_length, abs=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # real data may have a few negative branches
        public = nj(dm)
    assert robinson_foulds(public, theirs) == 0.0
    assert set(public.tip_names) == set(dm.labels)


# ---- negative branch lengths -----------------------------------------------------------------


def test_negative_branch_at_trifurcation_is_moved_to_siblings() -> None:
    # L0 = (1 + 1 - 5) / 2 = -1.5: set to 0, both other branches shortened by 1.5.
    dm = DistanceMatrix(("a", "b", "c"), [[0, 1, 1], [1, 0, 5], [1, 5, 0]])
    with pytest.warns(PhyloLLMWarning, match=r"nj: 1 negative branch length") as rec:
        tree = nj(dm)
    assert len(rec) == 1
    lengths = {tree.name[v]: float(tree.length[v]) for v in tree.tips}
    assert lengths == {"a": 0.0, "b": 1.0, "c": 1.0}
    assert len(tree) == 4 and tree.n_children[0] == 3


def test_negative_branches_counted_once_and_pair_paths_kept() -> None:
    rng = np.random.default_rng(3)
    a = rng.lognormal(0.0, 1.0, (40, 40))  # far from additive: NJ gives negative branches
    a = a + a.T
    np.fill_diagonal(a, 0.0)
    dm = DistanceMatrix(tuple(f"s{i}" for i in range(40)), a)
    lm, _ = nj_linkage(dm.values)
    expected = int((lm[:-1, 2:4] < 0).sum() + (lm[-1, 2] < 0))
    assert expected > 0  # the fixture does exercise the repair
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        tree = nj(dm)
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 1 and f"{expected} negative branch length(s)" in msgs[0]
    assert rec[0].filename == __file__  # stacklevel points at the caller
    assert (tree.length[1:] >= 0).all()
    # Kuhner-Felsenstein: each joined pair keeps its path length d_ij = L_i + L_j, so only a
    # negative branch at the final trifurcation (moved to two siblings) changes the total.
    raw = _assemble_nj(lm, dm.labels)
    triple = [lm[-1, 2], lm[-2, 2], lm[-2, 3]]
    assert tree.total_length == pytest.approx(raw.total_length + sum(x for x in triple if x < 0), abs=1e-9)
    for c1, c2, l1, l2 in lm[:-2]:
        if c1 < len(dm) and c2 < len(dm):  # two tips joined: a cherry
            ia, ib = tree.index_of(dm.labels[int(c1)]), tree.index_of(dm.labels[int(c2)])
            assert tree.length[ia] + tree.length[ib] == pytest.approx(l1 + l2, abs=1e-12)


def test_negative_repair_rules_on_join_records() -> None:
    # Rows: pair joins (c1, c2, L1, L2), then the last three branches (L1, L2 | L0).
    lm = np.array(
        [
            [0, 1, -0.5, 2.0],  # one negative: moved to the sibling, d_01 = 1.5 kept
            [2, 3, 1.0, -0.25],
            [4, 5, -0.5, -0.5],  # the joined pair's path is negative: both zeroed
            [6, 7, 1.0, 1.0],  # no negative
            [8, 9, 2.0, -1.0],  # last three: L1, L2 = -1 (moved to both others)
            [10, 12, 3.0, 0.0],  # L0 = 3
        ]
    )
    assert _fix_negative(lm) == 5
    np.testing.assert_array_equal(lm[:4, 2:], [[0, 1.5], [0.75, 0], [0, 0], [1, 1]])
    np.testing.assert_array_equal([lm[5, 2], lm[4, 2], lm[4, 3]], [2.0, 1.0, 0.0])
    two = np.array([[0, 1, -1.0, -2.0], [2, 4, 5.0, 0.0]])  # two of the last three negative
    assert _fix_negative(two) == 2
    np.testing.assert_array_equal([two[1, 2], two[0, 2], two[0, 3]], [5.0, 0.0, 0.0])


# ---- edge cases and errors -------------------------------------------------------------------


def test_one_two_three_taxa() -> None:
    t1 = nj(DistanceMatrix(("a",), [[0.0]]))
    assert len(t1) == 1 and t1.tip_names == ("a",) and not t1.rooted
    t2 = nj(DistanceMatrix(("a", "b"), [[0, 3], [3, 0]]))
    assert t2.tip_names == ("a", "b") and t2.length[1:].tolist() == [1.5, 1.5]
    t3 = nj(DistanceMatrix(("a", "b", "c"), [[0, 3, 4], [3, 0, 5], [4, 5, 0]]))
    assert len(t3) == 4 and t3.n_children[0] == 3
    np.testing.assert_allclose(aligned(patristic_distances(t3), ("a", "b", "c")), [[0, 3, 4], [3, 0, 5], [4, 5, 0]])


def test_internal_nodes_are_unnamed() -> None:
    tree = nj(random_matrix(12, seed=2))
    assert all(tree.name[v] is None for v in np.flatnonzero(~tree.is_tip))
    assert sorted(tree.tip_names) == sorted(f"s{i}" for i in range(12))


def test_build_tree_dispatches() -> None:
    dm = patristic_distances(random_tree(10, seed=1))
    assert robinson_foulds(build_tree(dm), nj(dm)) == 0.0
    assert not build_tree(dm, "nj").rooted and build_tree(dm, "upgma").rooted


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: nj(DistanceMatrix((), np.zeros((0, 0)))), PhyloLLMError, "at least one taxon"),
        (lambda: nj(np.zeros((3, 3))), TypeError, "needs a phylo_llm DistanceMatrix, got ndarray"),
        (
            lambda: build_tree(DistanceMatrix(("a",), [[0]]), "mp"),  # type: ignore[arg-type]
            PhyloLLMError,
            r"method must be one of \['nj', 'upgma'\], got 'mp'",
        ),
    ],
)
def test_errors(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()
