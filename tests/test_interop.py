"""Files we write open in ete3, dendropy and Biopython with the same names, lengths and supports.

Each library's tree is reduced to ``{frozenset(tip names under node): (length, support)}`` and
compared with ours, so a mis-attached support or length fails, not only a parse crash.

Known limitations of the peers (not of our files):
* ete3 (3.1) cannot read a quoted name with an embedded, doubled quote (``'it''s'``), so the
  ete3 checks use names without ``'``; dendropy and Biopython read them.
* Biopython's NEXUS reader keeps the quotes of quoted names (``"'a b'"``) and breaks on
  parentheses inside them, so Biopython's NEXUS check uses names NEXUS leaves unquoted;
  dendropy reads every quoted NEXUS name exactly, and Biopython's Newick reader does too.
* Biopython's Newick reader drops a newline inside a quoted name (``'a\nb'`` reads as ``ab``),
  so no check uses names with line breaks; we and dendropy keep them.
* dendropy treats ``"`` and ``=`` as punctuation even in Newick, so we quote names holding them
  (:data:`phylo_llm.io._NEEDS_QUOTE`); :func:`test_dendropy_reads_quotes_and_equals` checks it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from phylo_llm import Tree
from phylo_llm.io import parse_newick, write_newick, write_nexus
from phylo_llm.tree import root_midpoint

ete3 = pytest.importorskip("ete3")
dendropy = pytest.importorskip("dendropy")
Phylo = pytest.importorskip("Bio.Phylo")

NAMES = [
    "meta-llama/Llama_2-7b-hf",
    "Qwen/Qwen2.5-0.5B-Instruct",
    "a b",
    "x(y)",
    "c:d",
    "ünïcødé",
    "[q]",
    "a,b",
    "p;q",
    "under_score",
    "plain",
    "gpt2",
]


def example_tree(names: list[str], *, seed: int = 0, named_internal: bool = False) -> Tree:
    """A random binary tree (trifurcating root, i.e. unrooted) with supports on inner edges."""
    rng = np.random.default_rng(seed)
    parent = [-1, 0, 0, 0]
    for _ in range(len(names) - 3):
        v = int(rng.integers(1, len(parent)))
        mid = len(parent)
        parent.append(parent[v])
        parent[v] = mid
        parent.append(mid)
    t0 = Tree.from_parents(parent)
    n = len(t0)
    length = np.round(rng.uniform(0.001, 2.0, n), 6)
    length[0] = np.nan
    support = np.where(t0.is_tip, np.nan, np.round(rng.uniform(0, 100, n), 1))
    support[0] = np.nan
    tip_iter = iter(names)
    node_names = [
        next(tip_iter) if t0.is_tip[i] else (f"clade {i}" if named_internal and i else None) for i in range(n)
    ]
    return Tree(t0.parent, length, tuple(node_names), support, False)


def ours(tree: Tree) -> dict[frozenset[str], tuple[float, float]]:
    out = {}
    tips_under: list[set[str]] = [set() for _ in range(len(tree))]
    for v in range(len(tree) - 1, -1, -1):
        if tree.is_tip[v]:
            tips_under[v].add(tree.name[v])
        if v:
            tips_under[tree.parent[v]] |= tips_under[v]
            out[frozenset(tips_under[v])] = (float(tree.length[v]), float(tree.support[v]))
    return out


def assert_equal_maps(got, want):
    assert set(got) == set(want)
    for k, (length, support) in want.items():
        g_len, g_sup = got[k]
        assert g_len == length, (sorted(k), g_len, length)
        if np.isnan(support):
            assert g_sup is None or np.isnan(g_sup), (sorted(k), g_sup)
        else:
            assert g_sup == support, (sorted(k), g_sup, support)


# ---- ete3 ----------------------------------------------------------------------------------


def ete_map(t, *, nhx_support: bool):
    out = {}
    for node in t.traverse():
        if node.is_root():
            continue
        sup = float(node.support) if (not node.is_leaf()) else None
        out[frozenset(node.get_leaf_names())] = (float(node.dist), sup)
    return out


def test_ete3_reads_names_lengths_supports(tmp_path):
    tree = example_tree(NAMES)
    path = tmp_path / "t.nwk"
    write_newick(tree, path, precision=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = ete3.Tree(str(path), format=0, quoted_node_names=True)
    assert sorted(t.get_leaf_names()) == sorted(NAMES)
    assert_equal_maps(ete_map(t, nhx_support=False), ours(tree))


def test_ete3_reads_internal_names_with_nhx_support(tmp_path):
    tree = example_tree(NAMES, named_internal=True, seed=1)
    path = tmp_path / "t.nwk"
    write_newick(tree, path, precision=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = ete3.Tree(str(path), format=1, quoted_node_names=True)
    assert_equal_maps(ete_map(t, nhx_support=True), ours(tree))
    inner = {n.name for n in t.traverse() if not n.is_leaf() and not n.is_root()}
    assert inner == {nm for nm, tip in zip(tree.name[1:], tree.is_tip[1:]) if not tip}


# ---- dendropy ------------------------------------------------------------------------------


def dendropy_map(t):
    out = {}
    for node in t.preorder_node_iter():
        if node is t.seed_node:
            continue
        tips = frozenset(leaf.taxon.label for leaf in node.leaf_nodes())
        if node.is_leaf():
            sup = None
        else:
            ann = {a.name: a.value for a in node.annotations}
            if "support" in ann:
                sup = float(ann["support"])
            else:
                sup = float(node.label) if node.label is not None else None
        out[tips] = (node.edge.length, sup)
    return out


@pytest.mark.parametrize("named_internal", [False, True])
def test_dendropy_reads_newick(tmp_path, named_internal):
    names = NAMES + ["it's"]
    tree = example_tree(names, named_internal=named_internal, seed=2)
    path = tmp_path / "t.nwk"
    write_newick(tree, path, precision=None)
    t = dendropy.Tree.get(path=str(path), schema="newick", preserve_underscores=True)
    assert sorted(tx.label for tx in t.taxon_namespace) == sorted(names)
    assert_equal_maps(dendropy_map(t), ours(tree))
    if named_internal:
        inner = {n.label for n in t.internal_nodes() if n is not t.seed_node}
        assert inner == {nm for nm, tip in zip(tree.name[1:], tree.is_tip[1:]) if not tip}


@pytest.mark.parametrize("translate", [False, True])
def test_dendropy_reads_nexus(tmp_path, translate):
    names = NAMES + ["it's"]
    t1 = example_tree(names, seed=3)
    t2 = root_midpoint(t1)
    path = tmp_path / "t.nex"
    write_nexus([t1, t2], path, names=["nj", "midpoint rooted"], translate=translate, precision=None)
    tl = dendropy.TreeList.get(path=str(path), schema="nexus")
    assert [t.label for t in tl] == ["nj", "midpoint rooted"]
    assert sorted(tx.label for tx in tl.taxon_namespace) == sorted(names)
    assert [t.is_rooted for t in tl] == [False, True]
    assert_equal_maps(dendropy_map(tl[0]), ours(t1))
    assert_equal_maps(dendropy_map(tl[1]), ours(t2))


@pytest.mark.parametrize("schema", ["newick", "nexus"])
def test_dendropy_reads_quotes_and_equals(tmp_path, schema):
    names = ['say "hi"', "a=b", 'x"=y', "plain", "gpt2"]
    tree = example_tree(names, seed=7)
    path = tmp_path / f"t.{schema}"
    (write_newick if schema == "newick" else write_nexus)(tree, path, precision=None)
    kw = {"preserve_underscores": True} if schema == "newick" else {}
    t = dendropy.Tree.get(path=str(path), schema=schema, **kw)
    assert sorted(tx.label for tx in t.taxon_namespace) == sorted(names)
    assert_equal_maps(dendropy_map(t), ours(tree))


# ---- Biopython ----------------------------------------------------------------------------


def bio_map(t):
    out = {}
    for clade in t.find_clades():
        if clade is t.root:
            continue
        tips = frozenset(c.name for c in clade.get_terminals())
        sup = clade.confidence
        if sup is None and clade.comment and "support=" in clade.comment:
            sup = float(clade.comment.split("support=")[1].split(":")[0])
        out[tips] = (clade.branch_length, None if sup is None else float(sup))
    return out


@pytest.mark.parametrize("named_internal", [False, True])
def test_biopython_reads_newick(tmp_path, named_internal):
    names = NAMES + ["it's"]
    tree = example_tree(names, named_internal=named_internal, seed=4)
    path = tmp_path / "t.nwk"
    write_newick(tree, path, precision=None)
    t = Phylo.read(str(path), "newick")
    assert sorted(c.name for c in t.get_terminals()) == sorted(names)
    assert_equal_maps(bio_map(t), ours(tree))


@pytest.mark.parametrize("translate", [False, True])
def test_biopython_reads_nexus(tmp_path, translate):
    names = ["gpt2", "plain", "Llama.2.7b", "Qwen2.5", "m1", "ünïcødé", "SmolLM2"]
    t1 = example_tree(names, seed=5)
    path = tmp_path / "t.nex"
    write_nexus(t1, path, translate=translate, precision=None)
    t = Phylo.read(str(path), "nexus")
    assert sorted(c.name for c in t.get_terminals()) == sorted(names)
    assert_equal_maps(bio_map(t), ours(t1))


# ---- and back: their output reads into ours -------------------------------------------------


def test_we_read_what_they_write(tmp_path):
    tree = example_tree(NAMES, seed=6)
    path = tmp_path / "t.nwk"
    write_newick(tree, path, precision=None)
    t = dendropy.Tree.get(path=str(path), schema="newick", preserve_underscores=True)
    back = parse_newick(t.as_string(schema="newick", unquoted_underscores=True, preserve_spaces=True))
    assert_equal_maps({k: v for k, v in ours(back).items()}, ours(tree))
    bio = Phylo.read(str(path), "newick")
    out = tmp_path / "bio.nwk"
    Phylo.write(bio, str(out), "newick")
    back = parse_newick(out.read_text())
    got = ours(back)
    want = ours(tree)
    assert set(got) == set(want)
    for k in want:  # Biopython writes lengths with 5 decimals
        assert got[k][0] == pytest.approx(want[k][0], abs=1e-5)
