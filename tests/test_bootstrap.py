"""Tests for phylo_llm.analysis: probe resampling, Felsenstein and transfer support."""

from __future__ import annotations

import numpy as np
import pytest

from phylo_llm.analysis import BootstrapResult, bootstrap, split_support
from phylo_llm.cli import main
from phylo_llm.data import ProbeContributions, Provenance, pairwise_distances
from phylo_llm.errors import PhyloLLMError
from phylo_llm.io import parse_newick, read_contributions, write_contributions
from phylo_llm.tree import Tree, nj, robinson_foulds, splits


def clustered(
    n_clusters: int = 3, per: int = 4, n_probes: int = 60, dims: int = 16, spread: float = 6.0, seed: int = 0
) -> ProbeContributions:
    """Models in well-separated clusters; every probe carries the cluster signal."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, 1, dims)) * spread
    x = np.repeat(centres, per, axis=0) + rng.normal(size=(n_clusters * per, n_probes, dims))
    labels = tuple(f"c{c}m{i}" for c in range(n_clusters) for i in range(per))
    return ProbeContributions(labels, x)


def noise(n_models: int = 14, n_probes: int = 30, dims: int = 8, seed: int = 0) -> ProbeContributions:
    rng = np.random.default_rng(seed)
    return ProbeContributions(tuple(f"m{i}" for i in range(n_models)), rng.normal(size=(n_models, n_probes, dims)))


def random_tree(names: list[str], rng: np.random.Generator) -> Tree:
    """A random unrooted binary tree (random joins, trifurcation at the root)."""
    n = len(names)
    parent = [-1] * n
    active = list(range(n))
    while len(active) > 3:
        i, j = rng.choice(len(active), size=2, replace=False)
        a, b = active[i], active[j]
        new = len(parent)
        parent.append(-1)
        parent[a] = parent[b] = new
        active = [x for x in active if x not in (a, b)] + [new]
    root = len(parent)
    parent.append(-1)
    for x in active:
        parent[x] = root
    return Tree.from_parents(parent, name=list(names) + [None] * (len(parent) - n), rooted=False)


def clades_of(tree: Tree) -> dict[int, frozenset[str]]:
    """Tip-name set below every node, computed independently of the module under test."""
    below: dict[int, set[str]] = {v: set() for v in range(len(tree))}
    for v in range(len(tree) - 1, -1, -1):
        if tree.is_tip[v]:
            below[v].add(tree.name[v])  # type: ignore[arg-type]
        if v:
            below[int(tree.parent[v])] |= below[v]
    return {v: frozenset(s) for v, s in below.items()}


# ---- support values on simulated data ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["felsenstein", "transfer"])
def test_well_separated_clusters_get_full_support(kind: str) -> None:
    pc = clustered()
    res = bootstrap(pc, n_replicates=50, kind=kind, seed=3)
    by_clade = res.support_by_clade()
    labels = set(pc.labels)
    for c in range(3):
        members = frozenset(lab for lab in pc.labels if lab.startswith(f"c{c}"))
        # NJ trees are unrooted: the cluster may hang as either side of its branch.
        support = by_clade.get(members, by_clade.get(frozenset(labels - members)))
        assert support is not None, f"cluster {c} is not a clade of the reference tree"
        assert support >= 0.95


def test_pure_noise_gets_low_support() -> None:
    res = bootstrap(noise(), n_replicates=50, seed=1)
    s = res.support[~np.isnan(res.support)]
    assert s.size == 14 - 3  # every internal branch of a binary unrooted tree is scored
    assert s.mean() < 0.5
    assert (s < 0.9).mean() > 0.5


def test_support_lands_on_the_right_edges() -> None:
    pc = clustered(n_clusters=2, per=5)
    res = bootstrap(pc, n_replicates=30, seed=0)
    clades = clades_of(res.tree)
    cluster0 = frozenset(lab for lab in pc.labels if lab.startswith("c0"))
    cluster1 = frozenset(pc.labels) - cluster0
    node = next(v for v, tips in clades.items() if v and tips in (cluster0, cluster1))
    assert res.tree.support[node] >= 0.95
    assert np.isnan(res.tree.support[res.tree.tips]).all()
    assert np.isnan(res.tree.support[0])
    # support_by_clade reports exactly the nodes with a value, keyed by their tip sets.
    assert res.support_by_clade() == {
        clades[v]: float(res.tree.support[v]) for v in np.flatnonzero(~np.isnan(res.tree.support))
    }
    np.testing.assert_array_equal(res.support, res.tree.support)


def test_reference_tree_is_the_tree_of_the_full_data() -> None:
    pc = noise(seed=5)
    res = bootstrap(pc, n_replicates=3, seed=0)
    full = nj(pairwise_distances(pc.values.sum(axis=1), pc.labels))
    assert robinson_foulds(res.tree, full) == 0
    np.testing.assert_allclose(res.tree.length, full.length, equal_nan=True)
    assert res.tree.rooted is full.rooted


def test_determinism_with_seed() -> None:
    pc = noise(seed=2)
    a = bootstrap(pc, n_replicates=20, seed=7)
    b = bootstrap(pc, n_replicates=20, seed=7)
    c = bootstrap(pc, n_replicates=20, seed=8)
    np.testing.assert_array_equal(a.support, b.support)
    assert not np.array_equal(np.nan_to_num(a.support), np.nan_to_num(c.support))
    assert (a.seed, a.n_replicates, a.kind, a.method, a.metric) == (7, 20, "felsenstein", "nj", "euclidean")


def test_transfer_at_least_felsenstein_and_one_where_always_present() -> None:
    pc = noise(n_models=16, seed=4)
    fbp = bootstrap(pc, n_replicates=40, kind="felsenstein", seed=11).support
    tbe = bootstrap(pc, n_replicates=40, kind="transfer", seed=11).support
    scored = ~np.isnan(fbp)
    np.testing.assert_array_equal(scored, ~np.isnan(tbe))
    assert (tbe[scored] >= fbp[scored] - 1e-12).all()
    assert (tbe[scored] > fbp[scored]).any()  # deep branches gain from partial matches
    assert ((tbe <= 1.0) & (tbe >= 0.0))[scored].all()
    clean = bootstrap(clustered(), n_replicates=20, kind="transfer", seed=0).support
    ref = bootstrap(clustered(), n_replicates=20, kind="felsenstein", seed=0).support
    assert (clean[ref == 1.0] == 1.0).all()


@pytest.mark.parametrize("metric", ["cosine", "correlation"])
def test_other_metrics_and_upgma(metric: str) -> None:
    pc = clustered(n_clusters=2, per=4)
    res = bootstrap(pc, n_replicates=10, method="upgma", metric=metric, seed=0)
    assert res.tree.rooted
    # The two edges below a rooted tree's root are one unrooted split: they share its support.
    kids = res.tree.children(0)
    internal = [int(k) for k in kids if not res.tree.is_tip[k]]
    assert len(internal) == 2
    assert res.tree.support[internal[0]] == res.tree.support[internal[1]] == 1.0


def test_one_replicate_of_the_full_data_counts_as_it_is() -> None:
    # Each replicate's support is 0 or 1, so one replicate gives only 0s and 1s.
    res = bootstrap(noise(seed=9), n_replicates=1, seed=0)
    s = res.support[~np.isnan(res.support)]
    assert set(np.unique(s)) <= {0.0, 1.0}


# ---- split_support against an independent implementation ---------------------------------------


def _brute_force(reference: Tree, replicates: list[Tree], kind: str) -> np.ndarray:
    names = sorted(n for n in reference.tip_names if n is not None)
    n = len(names)
    order = {nm: k for k, nm in enumerate(names)}
    full = (1 << n) - 1
    clades = clades_of(reference)
    rep_splits = [splits(t) for t in replicates]
    out = np.full(len(reference), np.nan)
    for v, tips in clades.items():
        if v == 0 or len(tips) < 2 or len(tips) > n - 2:
            continue
        bits = sum(1 << order[t] for t in tips)
        if bits & 1:
            bits ^= full
        if kind == "felsenstein":
            out[v] = np.mean([bits in s for s in rep_splits])
            continue
        p = min(len(tips), n - len(tips))
        dists = []
        for s in rep_splits:
            best = p - 1
            for other in s:
                d = (bits ^ other).bit_count()
                best = min(best, d, n - d)
            dists.append(best)
        out[v] = 1 - np.mean(dists) / (p - 1)
    return out


@pytest.mark.parametrize("kind", ["felsenstein", "transfer"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_support_matches_brute_force(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = [f"t{i}" for i in range(12)]
    ref = random_tree(names, rng)
    reps = [random_tree(list(rng.permutation(names)), rng) for _ in range(6)] + [ref]
    got = split_support(ref, reps, kind=kind).support
    np.testing.assert_allclose(got, _brute_force(ref, reps, kind), equal_nan=True, atol=1e-12)


def test_transfer_in_small_blocks_matches_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    # A block of a single reference split at a time must give the same answer as one block.
    import phylo_llm.analysis._bootstrap as bs

    rng = np.random.default_rng(4)
    names = [f"t{i}" for i in range(15)]
    ref = random_tree(names, rng)
    reps = [random_tree(list(rng.permutation(names)), rng) for _ in range(4)]
    monkeypatch.setattr(bs, "_TBE_BLOCK", 1)
    got = split_support(ref, reps, kind="transfer").support
    np.testing.assert_allclose(got, _brute_force(ref, reps, "transfer"), equal_nan=True, atol=1e-12)


def test_split_support_is_rooting_and_order_free() -> None:
    rng = np.random.default_rng(3)
    names = [f"t{i}" for i in range(9)]
    ref = random_tree(names, rng)
    # The same topology with children reversed and node indices shuffled: every split found.
    perm = rng.permutation(len(ref) - 1) + 1
    order = np.concatenate([[0], perm])
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    parent = [-1] + [int(inv[ref.parent[v]]) for v in order[1:]]
    same = Tree.from_parents(parent, name=[ref.name[v] for v in order], rooted=False)
    # And rerooted at every other internal node: clades flip to their complements, splits do not.
    rerooted = [reroot(ref, int(v)) for v in np.flatnonzero(~ref.is_tip)[1:]]
    for kind in ("felsenstein", "transfer"):
        s = split_support(ref, [same, *rerooted], kind=kind).support  # type: ignore[arg-type]
        assert (s[~np.isnan(s)] == 1.0).all()
        assert np.isnan(s).sum() == len(names) + 1  # tips and the root


def reroot(tree: Tree, r: int) -> Tree:
    """The same unrooted tree hung from node ``r``: parent pointers reversed on the path to the root."""
    path = [r]
    while tree.parent[path[-1]] != -1:
        path.append(int(tree.parent[path[-1]]))
    parent = tree.parent.copy()
    parent[r] = -1
    for child, up in zip(path, path[1:]):
        parent[up] = child
    return Tree.from_parents(parent, name=tree.name, rooted=False)


# ---- values and errors -------------------------------------------------------------------------


def test_probe_contributions_value() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    pc = ProbeContributions(("a", "b"), x, Provenance(n_probes=3, dims=4))
    np.testing.assert_array_equal(pc.dna().vectors, x.sum(axis=1))
    assert pc.dna().provenance.dims == 4
    assert not pc.values.flags.writeable
    x[0, 0, 0] = 99.0  # the value holds its own copy
    assert pc.values[0, 0, 0] == 0.0


@pytest.mark.parametrize(
    ("labels", "values", "provenance", "match"),
    [
        (("a", "b"), np.zeros((2, 3)), Provenance(), "3-D array \\(models x probes x dims\\), got shape \\(2, 3\\)"),
        (("a",), np.zeros((2, 3, 4)), Provenance(), "number of labels \\(1\\) must match the number of models"),
        (("a", "b"), np.zeros((2, 0, 4)), Provenance(), "at least one probe and one dim"),
        (("a", "a"), np.zeros((2, 3, 4)), Provenance(), "unique"),
        (("a", ""), np.zeros((2, 3, 4)), Provenance(), "non-empty strings"),
        (("a", "b"), np.full((2, 3, 4), np.nan), Provenance(), "must be finite; 2 model"),
        (("a", "b"), np.zeros((2, 3, 4)), Provenance(n_probes=5), "provenance.n_probes \\(5\\) must match"),
        (("a", "b"), np.zeros((2, 3, 4)), Provenance(dims=128), "provenance.dims \\(128\\) must match"),
    ],
)
def test_probe_contributions_errors(labels, values, provenance, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        ProbeContributions(labels, values, provenance)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_replicates": 0}, "n_replicates must be an integer >= 1, got 0"),
        ({"n_replicates": 2.5}, "n_replicates must be an integer >= 1, got 2.5"),
        ({"n_replicates": True}, "n_replicates must be an integer >= 1, got True"),
        ({"method": "ml"}, "method must be one of \\['nj', 'upgma'\\], got 'ml'"),
        ({"metric": "manhattan"}, "metric must be one of"),
        ({"kind": "ultrafast"}, "kind must be one of \\['felsenstein', 'transfer'\\], got 'ultrafast'"),
    ],
)
def test_bootstrap_argument_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        bootstrap(noise(), **kwargs)


def test_bootstrap_needs_contributions_and_four_models() -> None:
    with pytest.raises(PhyloLLMError, match="must be a ProbeContributions, got ndarray"):
        bootstrap(np.zeros((5, 3, 2)))  # type: ignore[arg-type]
    with pytest.raises(PhyloLLMError, match="at least 4 models .* got 3"):
        bootstrap(noise(n_models=3))


def test_split_support_errors() -> None:
    rng = np.random.default_rng(0)
    names = [f"t{i}" for i in range(6)]
    ref = random_tree(names, rng)
    with pytest.raises(PhyloLLMError, match="at least one tree, got 0"):
        split_support(ref, [])
    with pytest.raises(PhyloLLMError, match="kind must be one of"):
        split_support(ref, [ref], kind="bogus")  # type: ignore[arg-type]
    other = random_tree([*names[:5], "zz"], rng)
    with pytest.raises(PhyloLLMError, match="replicate tree 1 has tips not in the reference tree, e.g. \\['zz'\\]"):
        split_support(ref, [ref, other])
    fewer = random_tree(names[:5], rng)
    with pytest.raises(PhyloLLMError, match="must have the reference tree's 6 tips exactly once each, got 5"):
        split_support(ref, [fewer])


def test_result_is_frozen() -> None:
    res = bootstrap(noise(), n_replicates=2)
    assert isinstance(res, BootstrapResult)
    with pytest.raises(AttributeError):
        res.seed = 3  # type: ignore[misc]
    assert not res.support.flags.writeable


# ---- file format and CLI -----------------------------------------------------------------------


def test_contributions_round_trip(tmp_path) -> None:
    pc = ProbeContributions(
        ("a", "b c", "d"), np.random.default_rng(0).normal(size=(3, 4, 2)), Provenance(seed=5, dims=2)
    )
    back = read_contributions(write_contributions(pc, tmp_path / "sub" / "c.npz"))
    assert back.labels == pc.labels
    np.testing.assert_array_equal(back.values, pc.values)
    assert back.provenance == pc.provenance


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_bytes(b"not a zip"), "cannot be read: it is not a .npz archive or it is damaged"),
        (lambda p: p.write_bytes(b""), "c.npz' cannot be read: the file is empty"),
        (lambda p: p.write_bytes(b"\x80\x04garbage"), "not a .npz archive"),  # numpy: "pickled data"
        (lambda p: np.savez(p, values=np.zeros((2, 2, 2))), "not a phylo_llm contributions file"),
        (
            lambda p: np.savez(p, format=np.array("phylo_llm.contributions"), labels=np.array(["a"])),
            "missing array\\(s\\) \\['provenance', 'values'\\]",
        ),
    ],
)
def test_read_contributions_errors(tmp_path, make, match: str) -> None:
    p = tmp_path / "c.npz"
    make(p)
    with pytest.raises(PhyloLLMError, match=match):
        read_contributions(p)


@pytest.mark.parametrize("content", [b"", b"\x80\x04garbage", b"PK\x03\x04truncated"])
def test_cli_bootstrap_on_a_bad_npz_is_one_line_without_pickle_hint(tmp_path, capsys, content: bytes) -> None:
    src = tmp_path / "empty.npz"
    src.write_bytes(content)
    assert main(["bootstrap", str(src), "-o", str(tmp_path / "t.nwk")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "empty.npz" in err and "pickle" not in err


def test_write_contributions_needs_npz_suffix(tmp_path) -> None:
    with pytest.raises(PhyloLLMError, match="must end in .npz, got 'c.npy'"):
        write_contributions(noise(), tmp_path / "c.npy")


def test_cli_bootstrap_writes_newick_with_supports(tmp_path, capsys) -> None:
    pc = clustered(n_clusters=2, per=4)
    src = write_contributions(pc, tmp_path / "c.npz")
    out = tmp_path / "t.nwk"
    assert main(["bootstrap", str(src), "-o", str(out), "-n", "10", "--support", "transfer", "--seed", "1"]) == 0
    assert "with transfer support from 10 replicates" in capsys.readouterr().err
    tree = parse_newick(out.read_text())
    expected = bootstrap(pc, n_replicates=10, kind="transfer", seed=1)
    assert sorted(tree.tip_names) == sorted(pc.labels)
    got = {k: round(v, 6) for k, v in clade_support(tree).items()}
    assert got == {k: round(v, 6) for k, v in expected.support_by_clade().items()}
    assert main(["bootstrap", str(src), "-o", str(out), "-n", "0"]) == 2
    assert "n_replicates must be an integer >= 1, got 0" in capsys.readouterr().err


def clade_support(tree: Tree) -> dict[frozenset[str], float]:
    clades = clades_of(tree)
    return {clades[v]: float(tree.support[v]) for v in np.flatnonzero(~np.isnan(tree.support))}


def test_cli_bootstrap_honours_a_nexus_suffix(tmp_path) -> None:
    from phylo_llm.io import read_newick

    src = write_contributions(clustered(n_clusters=2, per=3), tmp_path / "c.npz")
    out = tmp_path / "t.nex"
    assert main(["bootstrap", str(src), "-o", str(out), "-n", "5"]) == 0
    text = out.read_text()
    assert text.startswith("#NEXUS") and "BEGIN TREES;" in text
    assert read_newick(out).n_tips == 6
