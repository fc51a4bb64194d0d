"""Bootstrap support for DNA trees: resample probes, rebuild the tree, count the clades.

The DNA of a model is the sum of its per-probe contributions (``extract.projection``'s
``per_probe_contributions`` returns them, ``(n_models, n_probes, dims)``). The probes play the role
that alignment columns play in sequence phylogenetics, so a bootstrap replicate draws ``n_probes``
probes with replacement, i.e. a multinomial count vector ``c``, and its DNA is ``sum_p c_p X[:, p]``
(a reweighting of the contributions, not a re-extraction). Each replicate's DNA gives a distance
matrix and a tree (NJ or UPGMA, as for the reference); the reference tree is the tree of the full
data and every internal branch of it gets a support value:

``"felsenstein"``
    Felsenstein's bootstrap proportion (FBP): the fraction of replicate trees that contain the
    branch's split (bipartition of the tips) exactly.
``"transfer"``
    Transfer bootstrap expectation (TBE, Lemoine et al. 2018, *Nature* 556:452): for a branch whose
    smaller side has ``p`` tips, ``1 - mean_r(delta_r) / (p - 1)``, where ``delta_r`` is the transfer
    distance from the branch to the closest split of replicate ``r`` (the fewest tips to move to
    make the two splits equal), capped at ``p - 1``. It degrades gracefully for deep branches of
    large trees where one misplaced tip drives the FBP to 0; TBE >= FBP branch by branch and TBE = 1
    where the split is in every replicate.

Splits are compared unrooted, also for UPGMA (rooted) trees, so both edges below a rooted tree's
root carry the support of the one split they share.

Complexity, for ``B`` replicates of ``n`` models, ``P`` probes and ``k`` dims
------------------------------------------------------------------------------
* replicate DNA: one matrix product per chunk of replicates, ``O(B P n k)`` BLAS flops, plus one
  probe-major copy of the contributions (``8 n P k`` bytes);
* distances and trees: ``B`` distance matrices (``O(n^2 k)``) and ``B`` tree builds (``O(n^3)``
  for the numba NJ) -- this dominates;
* clade membership: a tip bitset per node (``phylo_llm.tree.split_table``), built by one
  postorder pass of ``int`` unions, ``O(n^2 / 64)`` word operations per tree;
* FBP: the replicate's canonical split bitsets go into a hash set: ``O(n^2 / 64)`` per replicate;
* TBE: the intersection sizes of every reference split with every replicate clade are summed
  up the replicate tree from its tips (a clade's counts are its children's counts added), so a
  replicate costs ``O(n^2)`` integer additions in ``n`` vectorised steps, in blocks of reference
  splits so memory stays ``O(n * block)``. Dedicated algorithms scale better still
  (Truszkowski et al. 2020: ``O(n log^3 n)`` per replicate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ..data import DistanceMatrix, Metric, ProbeContributions, pairwise_distances
from ..errors import PhyloLLMError
from ..tree import Tree, bitset_matrix, clade_bits, nj, split_table, tip_columns, upgma
from ..util import check_choice, check_int, check_unique

__all__ = ["TreeMethod", "SupportKind", "BootstrapResult", "bootstrap", "split_support"]


TreeMethod = Literal["nj", "upgma"]


SupportKind = Literal["felsenstein", "transfer"]


_BUILDERS: dict[str, Callable[[DistanceMatrix], Tree]] = {"nj": nj, "upgma": upgma}


_METRICS = ("euclidean", "cosine", "correlation")


# Bytes of replicate DNA materialised at once (chunks of replicates); keeps memory flat for
# thousands of models or replicates.
_CHUNK_BYTES = 256 * 2**20


# Entries of the replicate-node-by-reference-split intersection block computed at once for TBE.
_TBE_BLOCK = 4_000_000


@dataclass(frozen=True)
class BootstrapResult:
    """A reference tree with clade supports, and how they were obtained.

    Attributes
    ----------
    tree
        The tree of the full data, ``support`` set on every internal branch (nan on tips, the
        root and branches whose split is trivial).
    support
        Per-node support, equal to ``tree.support`` (read-only).
    kind, method, metric, n_replicates, seed
        The settings used.
    """

    tree: Tree
    support: NDArray[np.float64] = field(repr=False)
    kind: SupportKind
    method: TreeMethod
    metric: Metric
    n_replicates: int
    seed: int

    def support_by_clade(self) -> dict[frozenset[str], float]:
        """``{tip names below a node: support}`` for every node that has a support value."""
        return _support_by_clade(self.tree)


def bootstrap(
    contributions: ProbeContributions,
    *,
    n_replicates: int = 100,
    method: TreeMethod = "nj",
    metric: Metric = "euclidean",
    kind: SupportKind = "felsenstein",
    seed: int = 0,
) -> BootstrapResult:
    """Bootstrap clade support by resampling probes with replacement.

    Parameters
    ----------
    contributions
        Per-probe DNA contributions of every model.
    n_replicates
        Number of bootstrap replicates (>= 1).
    method
        Tree builder for the reference and every replicate: ``"nj"`` or ``"upgma"``.
    metric
        Distance between DNA vectors (see :func:`phylo_llm.data.pairwise_distances`).
    kind
        ``"felsenstein"`` (fraction of replicates with the split) or ``"transfer"`` (TBE).
    seed
        Seed of ``np.random.default_rng`` drawing the probe counts.

    Returns
    -------
    BootstrapResult
        The full-data tree with supports in ``[0, 1]``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> centres = rng.normal(size=(2, 1, 8)) * 5
    >>> x = np.repeat(centres, 3, axis=0) + rng.normal(size=(6, 20, 8))
    >>> pc = ProbeContributions(tuple("abcdef"), x)
    >>> res = bootstrap(pc, n_replicates=20, seed=1)
    >>> res.support_by_clade()[frozenset("abc")]
    1.0
    """
    check_choice("method", method, sorted(_BUILDERS))
    check_choice("metric", metric, sorted(_METRICS))
    check_choice("kind", kind, sorted(_SUPPORT))
    if not isinstance(contributions, ProbeContributions):
        raise PhyloLLMError(
            "contributions must be a ProbeContributions, got "
            f"{type(contributions).__name__}; wrap arrays with ProbeContributions(labels, values)"
        )
    n_replicates = check_int("n_replicates", n_replicates, min=1)
    if contributions.n_models < 4:
        raise PhyloLLMError(
            f"bootstrap needs at least 4 models (fewer have no internal branch to support), "
            f"got {contributions.n_models}"
        )
    build = _BUILDERS[method]
    labels = contributions.labels
    x = contributions.values
    m, p, k = x.shape
    reference = build(pairwise_distances(x.sum(axis=1), labels, metric=metric))

    rng = np.random.default_rng(seed)
    counts = rng.multinomial(p, np.full(p, 1.0 / p), size=n_replicates).astype(np.float64)
    # Probes first, (P, m*k): each chunk of replicates is then one plain GEMM, (b, P) @ (P, m*k),
    # several times faster than a batched matmul over models. Costs one copy of the data.
    by_probe = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(p, m * k)
    chunk = max(1, min(n_replicates, _CHUNK_BYTES // (8 * m * k)))
    scorer = _SUPPORT[kind](reference, labels)
    for start in range(0, n_replicates, chunk):
        rep_dna = (counts[start : start + chunk] @ by_probe).reshape(-1, m, k)
        for dna in rep_dna:
            scorer.add(build(pairwise_distances(dna, labels, metric=metric)))
    support = scorer.finish()
    tree = _with_support(reference, support)
    return BootstrapResult(
        tree=tree,
        support=tree.support,
        kind=kind,
        method=method,
        metric=metric,
        n_replicates=int(n_replicates),
        seed=seed,
    )


def split_support(reference: Tree, replicates: Sequence[Tree], *, kind: SupportKind = "felsenstein") -> Tree:
    """Support of each branch of ``reference`` among already built replicate trees.

    Parameters
    ----------
    reference
        Tree whose branches get supports; tips must be uniquely named.
    replicates
        Trees over the same tip names (any rooting, any node order).
    kind
        ``"felsenstein"`` or ``"transfer"``; see the module docstring.

    Returns
    -------
    Tree
        A copy of ``reference`` with ``support`` set (nan on tips, the root and trivial splits).

    Examples
    --------
    >>> from phylo_llm.io import parse_newick, to_newick
    >>> ref = parse_newick("((a,b),(c,d),e);")
    >>> to_newick(split_support(ref, [ref, parse_newick("((a,c),(b,d),e);")]))
    '((a,b)0.5,(c,d)0.5,e);'
    >>> to_newick(split_support(ref, [ref, parse_newick("((a,b),(c,e),d);")], kind="transfer"))
    '((a,b)1,(c,d)0.5,e);'
    """
    check_choice("kind", kind, sorted(_SUPPORT))
    if len(replicates) == 0:
        raise PhyloLLMError("replicates must hold at least one tree, got 0")
    labels = _tip_labels(reference, what="reference tree")
    scorer = _SUPPORT[kind](reference, labels)
    for i, t in enumerate(replicates):
        scorer.add(t, index=i)
    return _with_support(reference, scorer.finish())


def _tip_labels(tree: Tree, *, what: str) -> tuple[str, ...]:
    names = tree.tip_names
    if any(nm is None for nm in names):
        raise PhyloLLMError(f"every tip of the {what} must be named; {names.count(None)} are not")
    check_unique(names, what=f"{what} tip names")  # type: ignore[arg-type]
    return names  # type: ignore[return-value]


# Tip order of every scorer: the reference tree's (or the contributions') labels.
_OF = "the reference tree"


class _Felsenstein:
    def __init__(self, reference: Tree, labels: tuple[str, ...]) -> None:
        self.index = {lab: i for i, lab in enumerate(labels)}
        table = split_table(reference, self.index, what="reference tree", of=_OF)
        self.nodes, self.keys = table.nodes, table.keys
        self.hits = np.zeros(len(self.keys), dtype=np.int64)
        self.n_ref = len(reference)
        self.count = 0

    def add(self, tree: Tree, index: int | None = None) -> None:
        what = "replicate tree" if index is None else f"replicate tree {index}"
        present = split_table(tree, self.index, what=what, of=_OF).as_set()
        self.hits += np.fromiter((k in present for k in self.keys), dtype=bool, count=len(self.keys))
        self.count += 1

    def finish(self) -> NDArray[np.float64]:
        out = np.full(self.n_ref, np.nan)
        out[self.nodes] = self.hits / self.count
        return out


class _Transfer:
    def __init__(self, reference: Tree, labels: tuple[str, ...]) -> None:
        self.index = {lab: i for i, lab in enumerate(labels)}
        table = split_table(reference, self.index, what="reference tree", of=_OF)
        self.nodes, rows = table.nodes, table.membership()
        self.n = len(labels)
        # Tip-major 0/1 membership of the reference splits, int32 so clade sums stay exact.
        self.by_tip = np.ascontiguousarray(rows.T, dtype=np.int32)
        self.ref_size = rows.sum(axis=1)
        # p = size of the smaller side; p - 1 is the largest possible transfer distance.
        self.cap = np.minimum(self.ref_size, self.n - self.ref_size) - 1
        self.total = np.zeros(len(self.nodes), dtype=np.float64)
        self.n_ref = len(reference)
        self.count = 0

    def add(self, tree: Tree, index: int | None = None) -> None:
        what = "replicate tree" if index is None else f"replicate tree {index}"
        cols = tip_columns(tree, self.index, what=what, of=_OF)
        n_nodes, n_ref = len(tree), self.by_tip.shape[1]
        parent, tips = tree.parent, tree.tips
        clade_size = np.zeros(n_nodes, dtype=np.int64)
        clade_size[tips] = 1
        for v in range(n_nodes - 1, 0, -1):
            clade_size[parent[v]] += clade_size[v]
        delta = self.cap.astype(np.float64)
        step = max(1, _TBE_BLOCK // n_nodes)
        for s in range(0, n_ref, step):
            # inter[v, i] = |clade(v) & A_i|, summed up the replicate tree from its tips: O(n)
            # vector additions per block, so a replicate costs O(n * n_ref), not a product.
            inter = np.zeros((n_nodes, min(step, n_ref - s)), dtype=np.int32)
            inter[tips] = self.by_tip[cols, s : s + step]
            for v in range(n_nodes - 1, 0, -1):
                inter[parent[v]] += inter[v]
            # |A xor B| = |A| + |B| - 2|A and B|, and B may be matched by either side. Every
            # non-root node counts, trivial clades included (they bound delta by p - 1 anyway).
            d = self.ref_size[None, s : s + step] + clade_size[1:, None] - 2 * inter[1:]
            d = np.minimum(d, self.n - d)
            np.minimum(delta[s : s + step], d.min(axis=0), out=delta[s : s + step])
        self.total += delta
        self.count += 1

    def finish(self) -> NDArray[np.float64]:
        out = np.full(self.n_ref, np.nan)
        out[self.nodes] = 1.0 - (self.total / self.count) / self.cap
        return out


_SUPPORT: dict[str, type[_Felsenstein] | type[_Transfer]] = {
    "felsenstein": _Felsenstein,
    "transfer": _Transfer,
}


def _with_support(tree: Tree, support: NDArray[np.float64]) -> Tree:
    return Tree(tree.parent, tree.length, tree.name, support, tree.rooted)


def _support_by_clade(tree: Tree) -> dict[frozenset[str], float]:
    labels = _tip_labels(tree, what="tree")
    m = bitset_matrix(clade_bits(tree, {lab: i for i, lab in enumerate(labels)}, what="tree"), len(labels))
    names = np.array(labels, dtype=object)
    return {frozenset(names[m[v]].tolist()): float(tree.support[v]) for v in np.flatnonzero(~np.isnan(tree.support))}
