"""Benchmark: bootstrap support for a 300-model tree, ours vs peers, in one run.

Three measurements on the same simulated data (300 models in 30 lineages, 100 probes, 128-d
contributions; 100 replicates):

1. end to end: ``phylo_llm.analysis.bootstrap`` (resample probes, NJ per replicate, supports),
   Felsenstein and transfer, against a peer pipeline on the same replicate DNA: scikit-bio's NJ
   per replicate plus DendroPy's split counting;
2. support counting alone on the same 100 replicate trees: ``split_support`` vs Biopython's
   ``Bio.Phylo.Consensus.get_support`` (rooted clades) and DendroPy's split distribution
   (unrooted bipartitions, the same quantity as ours: values are checked equal).

Run: ``.venv/bin/python benchmarks/bench_bootstrap.py`` (under a minute on 2 cores).
"""

from __future__ import annotations

import io
import time

import numpy as np

from phylo_llm.analysis import bootstrap, split_support
from phylo_llm.data import ProbeContributions, pairwise_distances
from phylo_llm.io import to_newick
from phylo_llm.tree import nj

M, LINEAGES, P, K, B = 300, 30, 100, 128, 100


def data(seed: int = 0) -> ProbeContributions:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(LINEAGES, 1, K)) * 0.6
    x = np.repeat(centres, M // LINEAGES, axis=0) + rng.normal(size=(M, P, K))
    return ProbeContributions(tuple(f"m{i:03d}" for i in range(M)), x)


def replicate_dnas(pc: ProbeContributions, seed: int) -> list[np.ndarray]:
    # Same draws as bootstrap(seed=seed): one multinomial count vector per replicate.
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(P, np.full(P, 1.0 / P), size=B).astype(float)
    return [np.einsum("mpk,p->mk", pc.values, c) for c in counts]


def timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


def main() -> None:
    import dendropy
    import skbio
    from Bio import Phylo
    from Bio.Phylo.Consensus import get_support

    pc = data()
    seed = 1
    labels = pc.labels

    # 1. end to end
    res_f, t_ours_f = timed(lambda: bootstrap(pc, n_replicates=B, kind="felsenstein", seed=seed))
    res_t, t_ours_t = timed(lambda: bootstrap(pc, n_replicates=B, kind="transfer", seed=seed))

    def peer_pipeline() -> list[str]:
        trees = []
        for dna in replicate_dnas(pc, seed):
            dm = pairwise_distances(dna, labels)
            sk = skbio.DistanceMatrix(np.asarray(dm.values), ids=list(labels))
            trees.append(str(skbio.tree.nj(sk)).strip())
        return trees

    peer_trees, t_peer_build = timed(peer_pipeline)
    ref_newick = to_newick(res_f.tree, support=False)

    def dendropy_support(newicks: list[str]) -> dict[int, float]:
        tns = dendropy.TaxonNamespace()
        target = dendropy.Tree.get(data=ref_newick, schema="newick", taxon_namespace=tns, rooting="force-unrooted")
        tl = dendropy.TreeList.get(
            data="\n".join(newicks), schema="newick", taxon_namespace=tns, rooting="force-unrooted"
        )
        sd = dendropy.SplitDistribution(taxon_namespace=tns)
        sd.is_bipartitions_updated = False
        for t in tl:
            sd.count_splits_on_tree(t)
        target.encode_bipartitions()
        out = {}
        for edge in target.postorder_edge_iter():
            if edge.head_node.is_leaf() or edge.tail_node is None:
                continue
            out[edge.bipartition.split_bitmask] = sd.split_frequencies.get(edge.bipartition.split_bitmask, 0.0)
        return out

    _, t_peer_support_e2e = timed(lambda: dendropy_support(peer_trees))
    t_peer = t_peer_build + t_peer_support_e2e

    # 2. support counting on the same replicate trees (ours built by our NJ)
    our_trees = [nj(pairwise_distances(d, labels)) for d in replicate_dnas(pc, seed)]
    newicks = [to_newick(t, support=False) for t in our_trees]
    ours_fs, t_split_f = timed(lambda: split_support(res_f.tree, our_trees, kind="felsenstein"))
    _, t_split_t = timed(lambda: split_support(res_f.tree, our_trees, kind="transfer"))
    dp, t_dendropy = timed(lambda: dendropy_support(newicks))
    bio_target = Phylo.read(io.StringIO(ref_newick), "newick")
    bio_trees = [Phylo.read(io.StringIO(s), "newick") for s in newicks]
    _, t_bio = timed(lambda: get_support(bio_target, bio_trees))

    ours_vals = np.sort(ours_fs.support[~np.isnan(ours_fs.support)])
    peer_vals = np.sort(np.array(list(dp.values())))
    same = ours_vals.shape == peer_vals.shape and np.allclose(ours_vals, peer_vals)
    replicate_same = np.allclose(np.sort(res_f.support[~np.isnan(res_f.support)]), ours_vals)

    print(f"data: {M} models x {P} probes x {K} dims, {B} replicates, NJ")
    print("| step | ours (s) | peer (s) | peer / ours |")
    print("|---|---|---|---|")
    print(
        f"| end to end, Felsenstein | {t_ours_f:.2f} | {t_peer:.2f} (skbio NJ + DendroPy splits) | {t_peer / t_ours_f:.1f}x |"
    )
    print(f"| end to end, transfer (TBE) | {t_ours_t:.2f} | n/a | |")
    print(
        f"| support counting, Felsenstein | {t_split_f:.3f} | {t_dendropy:.3f} (DendroPy) | {t_dendropy / t_split_f:.1f}x |"
    )
    print(
        f"| support counting, Felsenstein | {t_split_f:.3f} | {t_bio:.3f} (Biopython, rooted clades) | {t_bio / t_split_f:.1f}x |"
    )
    print(f"| support counting, transfer | {t_split_t:.3f} | n/a | |")
    print(
        f"values equal to DendroPy's split frequencies: {same}; bootstrap() equals split_support on the same replicates: {replicate_same}"
    )
    print(f"mean support: Felsenstein {np.nanmean(res_f.support):.3f}, transfer {np.nanmean(res_t.support):.3f}")


if __name__ == "__main__":
    main()
