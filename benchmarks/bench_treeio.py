"""Benchmark: Newick read/write, patristic distances and RF on big trees, ours vs peers, one run.

Trees: a random binary tree and a caterpillar (worst case for recursive code), ``N`` tips.

1. Newick parse and write: ``phylo_llm.io`` vs ete3, DendroPy, Biopython, scikit-bio.
2. All-pairs patristic distances: ``treeops.patristic_distances`` vs scikit-bio's
   ``TreeNode.cophenet`` (values checked equal) and DendroPy's ``PhylogeneticDistanceMatrix``
   (run on a smaller tree: it is pure Python over pairs).
3. Robinson-Foulds between two random trees: ours vs DendroPy's ``symmetric_difference`` and
   ete3's ``robinson_foulds`` (values checked equal).

Times are best-of-3 *process CPU time* (``time.process_time``): the shared 2-core machine runs
other jobs, and CPU time of this single-threaded process is far less noisy than wall time.

Run: ``.venv/bin/python benchmarks/bench_treeio.py [N]`` (default 5000; about a minute).
"""

from __future__ import annotations

import io
import sys
import time
import warnings

import numpy as np

from phylo_llm.io import parse_newick, to_newick
from phylo_llm.tree import Tree, patristic_distances, robinson_foulds

sys.setrecursionlimit(100_000)  # peers recurse; give them a chance on the caterpillar
warnings.simplefilter("ignore")


def random_tree(n_tips: int, seed: int) -> Tree:
    rng = np.random.default_rng(seed)
    parent = [-1, 0, 0]
    for _ in range(n_tips - 2):
        v = int(rng.integers(1, len(parent)))
        mid = len(parent)
        parent.append(parent[v])
        parent[v] = mid
        parent.append(mid)
    t0 = Tree.from_parents(parent)
    length = rng.uniform(0.01, 1, len(t0))
    length[0] = np.nan
    tips = iter(rng.permutation(n_tips))
    names = [f"org/model_{next(tips)}" if t0.is_tip[i] else None for i in range(len(t0))]
    return Tree(t0.parent, length, tuple(names), np.full(len(t0), np.nan), True)


def caterpillar(n_tips: int) -> Tree:
    parent = [-1]
    cur = 0
    for _ in range(n_tips - 2):
        parent += [cur, cur]
        cur = len(parent) - 1
    parent += [cur, cur]
    t0 = Tree.from_parents(parent)
    k = iter(range(n_tips))
    names = [f"m{next(k)}" if t0.is_tip[i] else None for i in range(len(t0))]
    length = np.full(len(t0), 0.5)
    length[0] = np.nan
    return Tree(t0.parent, length, tuple(names), np.full(len(t0), np.nan), True)


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.process_time()
        try:
            out = fn()
        except RecursionError:
            return np.nan, "RecursionError"
        best = min(best, time.process_time() - t0)
    return best, out


def row(label: str, ours: float, peers: dict[str, float]) -> None:
    parts = [f"{label:<32} ours {ours * 1e3:9.1f} ms"]
    for name, t in peers.items():
        if np.isnan(t):
            parts.append(f"{name} failed")
        else:
            parts.append(f"{name} {t * 1e3:9.1f} ms (x{t / ours:.1f})")
    print(" | ".join(parts))


def main(n: int) -> None:
    import dendropy
    import ete3
    import skbio
    from Bio import Phylo

    for kind, tree in (("random", random_tree(n, 0)), ("caterpillar", caterpillar(n))):
        text = to_newick(tree)
        t_parse, ours = timed(lambda: parse_newick(text))
        peers = {
            "ete3": timed(lambda: ete3.Tree(text, format=1, quoted_node_names=True))[0],
            "dendropy": timed(lambda: dendropy.Tree.get(data=text, schema="newick", preserve_underscores=True))[0],
            "Biopython": timed(lambda: Phylo.read(io.StringIO(text), "newick"))[0],
            "skbio": timed(lambda: skbio.TreeNode.read([text], convert_underscores=False))[0],
        }
        row(f"parse {kind} {n} tips", t_parse, peers)
        e = ete3.Tree(text, format=1, quoted_node_names=True)
        d = dendropy.Tree.get(data=text, schema="newick", preserve_underscores=True)
        b = Phylo.read(io.StringIO(text), "newick")
        s = skbio.TreeNode.read([text], convert_underscores=False)
        t_write, _ = timed(lambda: to_newick(ours))
        peers = {
            "ete3": timed(lambda: e.write(format=1))[0],
            "dendropy": timed(lambda: d.as_string(schema="newick"))[0],
            "Biopython": timed(lambda: Phylo.write(b, io.StringIO(), "newick"))[0],
            "skbio": timed(lambda: str(s))[0],
        }
        row(f"write {kind} {n} tips", t_write, peers)

        t_pat, dm = timed(lambda: patristic_distances(ours))
        t_sk, sk = timed(lambda: s.cophenet())
        if not isinstance(sk, str):
            sk_vals = sk.filter(list(dm.labels)).data
            assert np.allclose(sk_vals, dm.values, rtol=1e-9), "patristic values differ from skbio"
        row(f"patristic {kind} {n} tips", t_pat, {"skbio cophenet": t_sk})

    small = random_tree(500, 1)
    d = dendropy.Tree.get(data=to_newick(small), schema="newick", preserve_underscores=True)
    t_pat, dm = timed(lambda: patristic_distances(small))
    t_dp, pdm = timed(lambda: d.phylogenetic_distance_matrix(), repeat=1)
    taxa = {tx.label: tx for tx in d.taxon_namespace}
    a, b2 = dm.labels[3], dm.labels[77]
    assert np.isclose(pdm(taxa[a], taxa[b2]), dm[a, b2])
    row("patristic random 500 tips", t_pat, {"dendropy pdm": t_dp})

    t1, t2 = random_tree(n, 2), random_tree(n, 3)
    t_rf, rf = timed(lambda: robinson_foulds(t1, t2))
    tns = dendropy.TaxonNamespace()
    d1 = dendropy.Tree.get(data=to_newick(t1), schema="newick", preserve_underscores=True, taxon_namespace=tns)
    d2 = dendropy.Tree.get(data=to_newick(t2), schema="newick", preserve_underscores=True, taxon_namespace=tns)
    from dendropy.calculate import treecompare

    t_d, rf_d = timed(lambda: treecompare.symmetric_difference(d1, d2))
    e1 = ete3.Tree(to_newick(t1), format=1)
    e2 = ete3.Tree(to_newick(t2), format=1)
    t_e, rf_e = timed(lambda: e1.robinson_foulds(e2, unrooted_trees=True)[0], repeat=1)
    assert rf == rf_d == rf_e, (rf, rf_d, rf_e)
    row(f"robinson_foulds {n} tips", t_rf, {"dendropy": t_d, "ete3": t_e})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
