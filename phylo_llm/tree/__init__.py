"""Trees: the immutable array :class:`Tree`, the NJ and UPGMA builders (numba / scipy cores) and
tree operations (rooting, ladderizing, pruning, splits, Robinson-Foulds, patristic distances).
"""
from ._tree import (
    Tree,
)
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
    robinson_foulds,
    root_midpoint,
    root_outgroup,
    splits,
    unroot,
)

__all__ = [
    "Method",
    "Tree",
    "build_tree",
    "collapse_short_branches",
    "ladderize",
    "mrca",
    "nj",
    "patristic_distances",
    "prune",
    "robinson_foulds",
    "root_midpoint",
    "root_outgroup",
    "splits",
    "unroot",
    "upgma",
]
