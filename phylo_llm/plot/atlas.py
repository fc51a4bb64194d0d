"""The figure of a placement: the placed model in its neighbourhood of the atlas.

The ``n`` atlas models nearest to the placed model, plus the placed model itself, are joined by
neighbor-joining on their exact DNA distances, midpoint-rooted and drawn with tips coloured by
family (curated labels, else the family guessed from the name); the placed model is drawn in
black and named ``>> model <<``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..atlas import Atlas, Placement
from ..data import pairwise_distances
from ..errors import PhyloLLMWarning
from ..tree import ladderize, nj, root_midpoint
from ._style import check_figure_path, family_colors, save_figure
from .tree import plot_tree

__all__ = ["neighbourhood", "placement_colors", "save_placement"]

PLACED = "placed model"


def neighbourhood(atlas: Atlas, vector: NDArray[np.floating], model: str, *, n: int = 30):
    """``(tree, meta)`` of the placed model and its ``n`` nearest atlas models."""
    ref = atlas.dna.astype(np.float64)
    v = np.asarray(vector, dtype=np.float64)
    d2 = ((ref - v) ** 2).sum(axis=1)
    near = np.argsort(d2, kind="stable")[: min(n, len(ref))]
    tip = f">> {model} <<"
    labels = [atlas.members[i].model for i in near] + [tip]
    x = np.vstack([ref[near], v[None, :]])
    with warnings.catch_warnings():
        # A drawing, not an estimate: NJ's clamped negative branches (routine on 31 close tips)
        # change no tip's place, and a warning on every placement would only be noise.
        warnings.filterwarnings("ignore", message="nj: .* negative branch length", category=PhyloLLMWarning)
        tree = ladderize(root_midpoint(nj(pairwise_distances(x, labels))))
    fam = []
    for i in near:
        m = atlas.members[i]
        fam.append(m.family)
    meta = pd.DataFrame({"family": fam + [PLACED]}, index=pd.Index(labels, name="model"))
    return tree, meta


def placement_colors(families: Any) -> dict[str, str]:
    """Tip colours of a neighbourhood figure: the largest families among the neighbours get the
    palette (by member count, as every figure does), the placed model black.

    Examples
    --------
    >>> c = placement_colors(["x%02d" % i for i in range(12)] + ["zeta", "zeta", PLACED])
    >>> from phylo_llm.plot import OTHER_COLOR
    >>> c["zeta"] == OTHER_COLOR, c["x11"] == OTHER_COLOR, c[PLACED]  # 2 members beat 12 singletons
    (False, True, '#000000')
    """
    colors = dict(family_colors([f for f in families if isinstance(f, str) and f != PLACED]))
    colors[PLACED] = "#000000"
    return colors


def save_placement(
    atlas: Atlas, placement: Placement, vector: NDArray[np.floating], path: str | Path, *, n: int = 30
) -> Path:
    """Draw the neighbourhood figure of ``placement`` and save it (format by suffix)."""
    path = check_figure_path(path)
    import matplotlib.pyplot as plt

    tree, meta = neighbourhood(atlas, vector, placement.model, n=n)
    colors = placement_colors(meta["family"])
    verdict = (
        f"{placement.family} ({placement.confidence:.2f})"
        if placement.sure
        else f"unsure: {placement.family} ({placement.confidence:.2f})"
    )
    title = (
        f"{placement.model} in atlas {atlas.name}: family {verdict}\n"
        f"(families: curated labels, else guessed from the model name)"
    )
    tf = plot_tree(tree, meta=meta, colors=colors, title=title, support="none", figsize=(8.5, 8.0))
    try:
        save_figure(tf.figure, path)
    finally:
        plt.close(tf.figure)
    return path
