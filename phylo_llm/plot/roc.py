"""ROC figure for lineage detection (:func:`phylo_llm.analysis.evaluate_lineage`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..analysis import LineageEvaluation
from ..errors import PhyloLLMError
from ._style import FAMILY_PALETTE, legend_if_any, style

__all__ = ["plot_roc"]


def plot_roc(
    curves: LineageEvaluation | Mapping[str, LineageEvaluation],
    *,
    title: str | None = None,
) -> Any:
    """Parent–child ROC curves, one line per evaluation, with AUC and 95% CI in the legend.

    Parameters
    ----------
    curves
        One evaluation, or ``{name: evaluation}`` to compare DNA recipes on the same axes
        (lines in the shared palette's order).
    title
        Optional axes title.

    Returns
    -------
    matplotlib.figure.Figure
        Save it with :func:`phylo_llm.plot.save_figure`.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from phylo_llm.data import DistanceMatrix
    >>> from phylo_llm.analysis import evaluate_lineage
    >>> from phylo_llm.data import meta_frame
    >>> meta = meta_frame(pd.DataFrame({"model": ["a", "a2", "b"], "family": ["A", "A", "B"],
    ...                                 "base_model": [None, "a", None]}))
    >>> dm = DistanceMatrix(("a", "a2", "b"), [[0, 1, 3], [1, 0, 2], [3, 2, 0]])
    >>> fig = plot_roc(evaluate_lineage(dm, meta, n_boot=20))
    >>> len(fig.axes[0].lines)
    2
    """
    if isinstance(curves, LineageEvaluation):
        curves = {"DNA": curves}
    if not curves:
        raise PhyloLLMError("plot_roc needs at least one evaluation, got none")
    if len(curves) > len(FAMILY_PALETTE):
        raise PhyloLLMError(f"plot_roc draws at most {len(FAMILY_PALETTE)} curves, got {len(curves)}")
    import matplotlib.pyplot as plt

    with style():
        fig, ax = plt.subplots(figsize=(3.6, 3.6 + 0.16 * len(curves)))
        ax.plot([0, 1], [0, 1], color="#BBBBBB", lw=0.8, ls=":", zorder=1)
        for colour, (name, ev) in zip(FAMILY_PALETTE, curves.items()):
            pc = ev.parent_child
            ax.step(
                ev.fpr,
                ev.tpr,
                where="post",
                color=colour,
                lw=1.4,
                zorder=2,
                label=f"{name}: AUC {pc.auc:.2f} [{pc.low:.2f}, {pc.high:.2f}]",
            )
        first = next(iter(curves.values())).parent_child
        ax.set_xlabel(f"false positive rate ({first.n_neg} different-family pairs)")
        ax.set_ylabel(f"true positive rate ({first.n_pos} parent-child pairs)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_aspect("equal")
        # Below the axes: long recipe names never cover the curves.
        legend_if_any(ax, loc="upper left", bbox_to_anchor=(0.0, -0.16), fontsize=6, frameon=False)
        if title:
            ax.set_title(title, loc="left")
    return fig
