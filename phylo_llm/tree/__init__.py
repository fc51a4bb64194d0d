"""Trees: the immutable array :class:`Tree`, the NJ and UPGMA builders (numba / scipy cores) and
tree operations (rooting, ladderizing, pruning, splits, Robinson-Foulds, patristic distances).
"""

from ._build import (
    Method,
    build_tree,
    nj,
    upgma,
)
from ._ops import (
    collapse_short_branches,
    ladderize,
    mrca,
    patristic_distances,
    prune,
    root_midpoint,
    root_outgroup,
    unroot,
)
from ._splits import (
    SplitTable,
    bitset_matrix,
    clade_bits,
    robinson_foulds,
    split_key,
    split_table,
    splits,
    tip_columns,
    tip_order,
)
from ._tree import (
    Tree,
)

__all__ = [
    "Method",
    "SplitTable",
    "Tree",
    "bitset_matrix",
    "build_tree",
    "clade_bits",
    "collapse_short_branches",
    "ladderize",
    "mrca",
    "nj",
    "patristic_distances",
    "prune",
    "robinson_foulds",
    "root_midpoint",
    "root_outgroup",
    "split_key",
    "split_table",
    "splits",
    "tip_columns",
    "tip_order",
    "unroot",
    "upgma",
]
