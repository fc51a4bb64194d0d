"""Convert scikit-bio and Biopython trees to our Tree, for tests that compare against them."""

from __future__ import annotations

import numpy as np

from phylo_llm import Tree


def from_skbio(node, *, rooted: bool) -> Tree:
    nodes = list(node.preorder(include_self=True))
    index = {id(x): k for k, x in enumerate(nodes)}
    parent = [index[id(x.parent)] if x.parent is not None else -1 for x in nodes]
    length = [np.nan if x.length is None else float(x.length) for x in nodes]
    name = [x.name if x.is_tip() else None for x in nodes]
    return Tree.from_parents(parent, length=length, name=name, rooted=rooted)


def from_bio(tree, *, rooted: bool) -> Tree:
    clades = list(tree.find_clades(order="preorder"))
    index = {id(c): k for k, c in enumerate(clades)}
    parent = [-1] * len(clades)
    for c in clades:
        for ch in c.clades:
            parent[index[id(ch)]] = index[id(c)]
    length = [np.nan if c.branch_length is None else float(c.branch_length) for c in clades]
    name = [c.name if c.is_terminal() else None for c in clades]
    return Tree.from_parents(parent, length=length, name=name, rooted=rooted)
