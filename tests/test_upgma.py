"""UPGMA: exact recovery of ultrametric trees, agreement with a naive implementation, with
scikit-bio and (on ultrametric input) Biopython; edge cases and errors."""

from __future__ import annotations

import numpy as np
import pytest
from _peer_trees import from_bio, from_skbio
from hypothesis import given, settings
from hypothesis import strategies as st

from phylo_llm import (
    DistanceMatrix,
    PhyloLLMError,
    Tree,
    pairwise_distances,
    read_dna_csv,
)
from phylo_llm.tree import patristic_distances, robinson_foulds, upgma


def ultrametric_tree(n_tips: int, seed: int) -> Tree:
    """Random clock tree: random pairs merged at strictly increasing heights."""
    rng = np.random.default_rng(seed)
    live = list(range(n_tips))
    parent = [-1] * (2 * n_tips - 1)
    height = [0.0] * (2 * n_tips - 1)
    h = 0.0
    for new in range(n_tips, 2 * n_tips - 1):
        a, b = rng.choice(len(live), size=2, replace=False)
        ca, cb = live[a], live[b]
        live = [c for c in live if c not in (ca, cb)] + [new]
        h += rng.uniform(0.05, 1.0)
        height[new] = h
        parent[ca] = parent[cb] = new
    length = [np.nan if p < 0 else height[p] - height[v] for v, p in enumerate(parent)]
    names = [f"t{i}" for i in range(n_tips)] + [None] * (n_tips - 1)
    return Tree.from_parents(parent, length=length, name=names, rooted=True)


def naive_upgma_cophenetic(d: np.ndarray) -> np.ndarray:
    """Textbook O(n^3) UPGMA; returns the cophenetic matrix (2 x height of the LCA)."""
    n = d.shape[0]
    dist = d.astype(float).copy()
    np.fill_diagonal(dist, np.inf)
    members = {i: [i] for i in range(n)}
    out = np.zeros((n, n))
    while len(members) > 1:
        keys = sorted(members)
        sub = dist[np.ix_(keys, keys)]
        i, j = np.unravel_index(np.argmin(sub), sub.shape)
        a, b = keys[i], keys[j]
        for x in members[a]:
            for y in members[b]:
                out[x, y] = out[y, x] = dist[a, b]
        na, nb = len(members[a]), len(members[b])
        for k in keys:
            if k not in (a, b):
                dist[a, k] = dist[k, a] = (na * dist[a, k] + nb * dist[b, k]) / (na + nb)
        members[a] = members[a] + members.pop(b)
        dist[b, :] = dist[:, b] = np.inf
    return out


def aligned(dm: DistanceMatrix, labels: tuple[str, ...]) -> np.ndarray:
    return dm.subset(labels).values


def skbio_upgma(dm: DistanceMatrix) -> Tree:
    from skbio import DistanceMatrix as SkDM
    from skbio.tree import upgma as sk_upgma

    return from_skbio(rooted=True, node=sk_upgma(SkDM(np.asarray(dm.values, dtype=float), dm.labels)))


def bio_upgma(dm: DistanceMatrix) -> Tree:
    from Bio.Phylo.TreeConstruction import DistanceMatrix as BioDM
    from Bio.Phylo.TreeConstruction import DistanceTreeConstructor

    v = dm.values
    lower = [[float(v[i, j]) for j in range(i + 1)] for i in range(len(dm))]
    return from_bio(rooted=True, tree=DistanceTreeConstructor().upgma(BioDM(list(dm.labels), lower)))


@settings(max_examples=40, deadline=None)
@given(n_tips=st.integers(2, 40), seed=st.integers(0, 2**32 - 1))
def test_ultrametric_matrix_recovers_tree_exactly(n_tips: int, seed: int) -> None:
    truth = ultrametric_tree(n_tips, seed)
    dm = patristic_distances(truth)
    tree = upgma(dm)
    assert tree.rooted
    assert robinson_foulds(tree, truth, rooted=True) == 0.0
    np.testing.assert_allclose(aligned(patristic_distances(tree), dm.labels), dm.values, rtol=0, atol=1e-9)
    depth = tree.depth[tree.tips]
    np.testing.assert_allclose(depth, depth[0], atol=1e-9)  # ultrametric


@settings(max_examples=10, deadline=None)
@given(n_tips=st.integers(3, 20), seed=st.integers(0, 2**32 - 1))
def test_ultrametric_matches_biopython(n_tips: int, seed: int) -> None:
    # Biopython's "upgma" averages (d_ik + d_jk) / 2 without cluster sizes (that is WPGMA), so
    # it agrees with UPGMA only where both are exact: on ultrametric input.
    dm = patristic_distances(ultrametric_tree(n_tips, seed))
    ours, theirs = upgma(dm), bio_upgma(dm)
    assert robinson_foulds(ours, theirs, rooted=True) == 0.0
    assert ours.total_length == pytest.approx(theirs.total_length, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 40), seed=st.integers(0, 2**32 - 1))
def test_random_matrix_matches_naive_upgma_and_skbio(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.random((n, n))
    a = a + a.T
    np.fill_diagonal(a, 0.0)
    dm = DistanceMatrix(tuple(f"s{i}" for i in range(n)), a)
    tree = upgma(dm)
    coph = aligned(patristic_distances(tree), dm.labels)
    np.testing.assert_allclose(coph, naive_upgma_cophenetic(a), rtol=0, atol=1e-9)
    theirs = skbio_upgma(dm)
    assert robinson_foulds(tree, theirs, rooted=True) == 0.0
    assert tree.total_length == pytest.approx(theirs.total_length, abs=1e-9)


@pytest.mark.shared_data
def test_paper_dna_matches_skbio(paper_data) -> None:
    dna = read_dna_csv(paper_data / "dna_qwen3-embedding-8b.csv")
    dm = pairwise_distances(dna.vectors, dna.labels)
    ours, theirs = upgma(dm), skbio_upgma(dm)
    assert ours.n_tips == 313
    assert robinson_foulds(ours, theirs, rooted=True) == 0.0
    assert ours.total_length == pytest.approx(theirs.total_length, abs=1e-6)


def test_one_two_three_taxa() -> None:
    t1 = upgma(DistanceMatrix(("a",), [[0.0]]))
    assert len(t1) == 1 and t1.rooted and t1.tip_names == ("a",)
    t2 = upgma(DistanceMatrix(("a", "b"), [[0, 3], [3, 0]]))
    assert t2.length[1:].tolist() == [1.5, 1.5]
    t3 = upgma(DistanceMatrix(("a", "b", "c"), [[0, 1, 2], [1, 0, 3], [2, 3, 0]]))
    # (a,b) at height 0.5, then c at half the average of 2 and 3.
    assert sorted(t3.length[1:].tolist()) == [0.5, 0.5, 0.75, 1.25]
    assert all(t3.name[v] is None for v in np.flatnonzero(~t3.is_tip))


def test_float32_matrix() -> None:
    dm = patristic_distances(ultrametric_tree(30, seed=4))
    dm32 = DistanceMatrix(dm.labels, dm.values.astype(np.float32))
    assert robinson_foulds(upgma(dm32), upgma(dm), rooted=True) == 0.0


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: upgma(DistanceMatrix((), np.zeros((0, 0)))), PhyloLLMError, "at least one taxon"),
        (lambda: upgma([[0.0]]), TypeError, "needs a phylo_llm DistanceMatrix, got list"),
    ],
)
def test_errors(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()
