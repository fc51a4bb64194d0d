"""Trend figures: architectures over time and DNA space, and per-family evolutionary speed.

The numbers come from :mod:`phylo_llm.analysis` and :mod:`phylo_llm.analysis`; these functions only
draw them, in the shared style. Each returns a matplotlib Figure (save it with
:func:`phylo_llm.plot.save_figure`, format by suffix).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import SpeedResult
from ..errors import PhyloLLMError
from ..util import check_int
from ._style import (
    ARCHITECTURE_COLORS,
    OTHER_COLOR,
    annotate_points,
    architecture_handles,
    architecture_marker,
    family_architecture_legends,
    family_colors,
    family_handles,
    family_legend_counts,
    legend_if_any,
    style,
)

__all__ = [
    "plot_architecture_timeline",
    "plot_centroid_drift",
    "plot_tree_positions",
    "plot_speed",
    "plot_speed_fits",
]

_MAX_ANNOTATED = 15


def _arch_color(a: str) -> str:
    return ARCHITECTURE_COLORS.get(a, OTHER_COLOR)


def plot_architecture_timeline(by_year: pd.DataFrame, *, title: str | None = None) -> Any:
    """Models per release year by architecture (stacked bars) and each minority's share (line).

    Parameters
    ----------
    by_year
        :func:`phylo_llm.analysis.architecture_by_year` output.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> df = pd.DataFrame({"year": [2020, 2020, 2021, 2021], "architecture": ["a", "b", "a", "b"],
    ...                    "n_models": [3, 1, 4, 0], "share": [0.75, 0.25, 1.0, 0.0]})
    >>> fig = plot_architecture_timeline(df)
    """
    need = {"year", "architecture", "n_models", "share"}
    if not need <= set(by_year.columns):
        raise PhyloLLMError(f"by_year needs columns {sorted(need)}, got {list(by_year.columns)}")
    import matplotlib.pyplot as plt

    wide = by_year.pivot(index="year", columns="architecture", values="n_models").fillna(0)
    share = by_year.pivot(index="year", columns="architecture", values="share")
    totals = wide.sum()
    archs = list(totals.sort_values(ascending=False).index)
    years = wide.index.to_numpy()
    with style():
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(5.5, 4.2), sharex=True, height_ratios=(2, 1.2))
        bottom = np.zeros(len(years))
        for a in archs:
            v = wide[a].to_numpy()
            ax1.bar(
                years,
                v,
                bottom=bottom,
                color=_arch_color(a),
                edgecolor="white",
                linewidth=0.4,
                label=f"{a} ({int(totals[a])})",
                width=0.8,
            )
            bottom += v
        for x, tot in zip(years, bottom):
            if tot:
                ax1.text(x, tot, f"{int(tot)}", ha="center", va="bottom", fontsize=6)
        ax1.set_ylabel("models released")
        ax1.set_ylim(0, bottom.max() * 1.12 if bottom.max() else 1)
        legend_if_any(ax1, loc="upper left", title="architecture", title_fontsize=7, alignment="left")
        for a in archs[1:]:
            s = share[a].to_numpy(dtype=float) * 100
            n = wide[a].to_numpy()
            ax2.plot(years, s, color=_arch_color(a), marker=architecture_marker(a), ms=4, lw=1, label=a)
            for x, y, k in zip(years, s, n):
                if k:
                    ax2.annotate(
                        f"{int(k)}", (x, y), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=6
                    )
        ax2.set_ylabel("share of year (%)")
        ax2.set_xlabel("release year")
        ax2.set_ylim(bottom=0)
        ax2.set_xticks(years)
        ax2.tick_params(axis="x", rotation=0)
        if len(archs) > 1:
            legend_if_any(ax2, loc="upper right")
        if title:
            ax1.set_title(title, loc="left")
        fig.align_ylabels((ax1, ax2))
    return fig


def plot_centroid_drift(
    cd: pd.DataFrame,
    *,
    target: str = "decoder-only",
    column: str = "architecture",
    title: str | None = None,
) -> Any:
    """DNA distance of each model to the ``target`` architecture's centroid against release year.

    Each architecture gets its colour and marker and a least-squares trend line (when it has at
    least 3 dated models); models of the minority architectures are labelled by name.

    Parameters
    ----------
    cd
        :func:`phylo_llm.analysis.centroid_distances` output (needs ``release_year``).
    target
        Which centroid to measure against (a column ``to_<target>`` must exist), or ``"other"``:
        each model against the centroid of the architecture(s) it does not belong to.
    """
    col = "to_other" if target == "other" else f"to_{target}"
    for c in (col, "release_year", column):
        if c not in cd.columns:
            raise PhyloLLMError(f"centroid table needs column {c!r}; have {list(cd.columns)}")
    import matplotlib.pyplot as plt

    data = cd[cd["release_year"].notna() & cd[col].notna()]
    counts = data[column].value_counts()
    with style():
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for a in counts.index:
            sub = data[data[column] == a]
            x, y = sub["release_year"].to_numpy(float), sub[col].to_numpy(float)
            ax.scatter(
                x,
                y,
                s=14 if a == counts.index[0] else 26,
                marker=architecture_marker(a),
                color=_arch_color(a),
                edgecolors="#333333" if a != counts.index[0] else "none",
                linewidths=0.4,
                alpha=0.55 if a == counts.index[0] else 0.95,
                label=f"{a} ({len(sub)})",
                zorder=2 if a == counts.index[0] else 3,
            )
            if len(sub) >= 3 and np.ptp(x) > 0:
                b, c0 = np.polyfit(x, y, 1)
                xs = np.linspace(x.min(), x.max(), 2)
                ax.plot(
                    xs,
                    b * xs + c0,
                    color=_arch_color(a),
                    lw=1.2,
                    ls="-" if a == counts.index[0] else "--",
                    label=f"trend {a}: {b:+.3f}/yr",
                    zorder=4,
                )
            if a != counts.index[0] and len(sub) <= _MAX_ANNOTATED:
                annotate_points(ax, list(sub.index), x, y)
        if target == "other":
            ax.set_ylabel("DNA distance to the centroid\nof the other architecture(s)")
        else:
            ax.set_ylabel(f"DNA distance to the\n{target} centroid")
        if target in counts.index:
            ax.text(
                0.99,
                0.99,
                f"{target} models: centroid of the others (leave-one-out)",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=5.5,
                color="#555555",
            )
        ax.set_xlabel("release year")
        legend_if_any(ax, loc="best", fontsize=6)
        if title:
            ax.set_title(title, loc="left")
    return fig


def plot_tree_positions(
    pos: pd.DataFrame,
    *,
    colors: Mapping[str, str] | None = None,
    column: str = "architecture",
    title: str | None = None,
) -> Any:
    """Each model's place along the tree (tip order) against its release year.

    x = position in the drawn tip order (neighbours in the tree are neighbours here), y = release
    year; colour = family, marker = architecture, minority-architecture models labelled. A rug at
    the bottom marks where each minority architecture falls along the tree.

    Parameters
    ----------
    pos
        :func:`phylo_llm.analysis.tree_positions` output (needs ``release_year``; ``family`` optional).
    """
    for c in ("position", "release_year", column):
        if c not in pos.columns:
            raise PhyloLLMError(f"position table needs column {c!r}; have {list(pos.columns)}")
    import matplotlib.pyplot as plt

    fam = pos["family"] if "family" in pos.columns else pd.Series([None] * len(pos), index=pos.index)
    if colors is None:
        colors = family_colors([f for f in fam if isinstance(f, str)])
    arch = pos[column].astype("string").fillna("unknown")
    counts = arch.value_counts()
    major = counts.index[0]
    n = len(pos)
    with style():
        fig, ax = plt.subplots(figsize=(7.0, 3.4))
        for a in counts.index:
            sel = (arch == a).to_numpy() & pos["release_year"].notna().to_numpy()
            face = [colors.get(f, OTHER_COLOR) if isinstance(f, str) else OTHER_COLOR for f in fam[sel]]
            ax.scatter(
                pos["position"][sel],
                pos["release_year"][sel],
                c=face,
                marker=architecture_marker(a),
                s=12 if a == major else 34,
                edgecolors=_arch_color(a) if a != major else "none",
                linewidths=1.2 if a != major else 0,
                zorder=3 if a != major else 2,
            )
        ylo = float(np.nanmin(pos["release_year"])) if pos["release_year"].notna().any() else 0.0
        for a in counts.index:
            if a == major:
                continue
            at = pos["position"][(arch == a).to_numpy()]
            ax.vlines(at, 0, 0.05, transform=ax.get_xaxis_transform(), color=_arch_color(a), lw=1.0)
            if len(at) <= _MAX_ANNOTATED:
                sel = (arch == a).to_numpy() & pos["release_year"].notna().to_numpy()
                annotate_points(
                    ax,
                    list(pos.index[sel]),
                    pos["position"][sel].to_numpy(),
                    pos["release_year"][sel].to_numpy(),
                    max_chars=22,
                )
        ax.set_xlim(-1, n)
        ax.set_ylim(bottom=ylo - 0.6)
        ax.set_xlabel("position along the tree (tip order, top to bottom of the tree figure)")
        ax.set_ylabel("release year")
        family_architecture_legends(
            ax,
            family_handles(
                family_legend_counts(fam, colors), colors, show_counts=False, markersize=4, markeredgecolor="none"
            ),
            architecture_handles(list(counts.index), counts, markersize=4),
        )
        if title:
            ax.set_title(title, loc="left")
    return fig


def plot_speed(result: SpeedResult, *, colors: Mapping[str, str] | None = None, title: str | None = None) -> Any:
    """Forest plot of per-family speed with bootstrap CIs, fastest on top.

    Filled markers: monophyletic families; open: the family's MRCA also holds other models.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fams = [f for f in result.families if f.estimable]
    if not fams:
        raise PhyloLLMError("no family has an estimable speed; nothing to plot")
    if colors is None:
        colors = family_colors({f.family: f.n_models for f in result.families})
    with style():
        fig, ax = plt.subplots(figsize=(5.0, 0.24 * len(fams) + 1.2))
        ys = np.arange(len(fams))
        for y, f in zip(ys, fams):
            c = colors.get(f.family, OTHER_COLOR)
            c = "#555555" if c == OTHER_COLOR else c
            if np.isfinite(f.ci_low):
                ax.plot([f.ci_low, f.ci_high], [y, y], color=c, lw=1.4, solid_capstyle="butt")
            ax.plot(
                [f.speed], [y], marker="o", ms=5, color=c, markerfacecolor=c if f.monophyletic else "white", mew=1.2
            )
            r2 = "–" if np.isnan(f.r2) else f"{f.r2:.2f}"
            ax.text(1.01, y, f"n={f.n_dated}  R²={r2}", transform=ax.get_yaxis_transform(), va="center", fontsize=6)
        ax.axvline(0, color="#999999", lw=0.6, ls=":")
        ax.set_yticks(ys, [f.family for f in fams])
        ax.set_ylim(len(fams) - 0.5, -0.5)
        ax.set_xlabel(f"speed ({result.unit})")
        ci = f"{int(round(100 * 0.95))}% bootstrap CI" if result.n_boot else "no CI"
        ax.legend(
            handles=[
                Line2D([], [], marker="o", color="#555555", markerfacecolor="#555555", label="monophyletic"),
                Line2D([], [], marker="o", color="#555555", markerfacecolor="white", label="not monophyletic"),
            ],
            loc="upper left",
            bbox_to_anchor=(0.0, -0.45 / (fig.get_figheight() * ax.get_position().height)),
            ncol=2,
            fontsize=6,
            title=ci,
            title_fontsize=6,
            alignment="left",
        )
        if title:
            ax.set_title(title, loc="left")
    return fig


def plot_speed_fits(
    result: SpeedResult,
    *,
    colors: Mapping[str, str] | None = None,
    max_families: int = 12,
    title: str | None = None,
) -> Any:
    """Small multiples: divergence from the family MRCA against release year, with the fitted line.

    Shows the ``max_families`` estimable families with the most dated models (ordered by speed).
    """
    import matplotlib.pyplot as plt

    check_int("max_families", max_families, min=1)
    fams = [f for f in result.families if f.estimable]
    if not fams:
        raise PhyloLLMError("no family has an estimable speed; nothing to plot")
    chosen = sorted(sorted(fams, key=lambda f: (-f.n_dated, f.family))[:max_families], key=lambda f: -f.speed)
    if colors is None:
        colors = family_colors({f.family: f.n_models for f in result.families})
    ncol = min(4, len(chosen))
    nrow = int(np.ceil(len(chosen) / ncol))
    with style():
        fig, axes = plt.subplots(
            nrow, ncol, figsize=(1.9 * ncol + 0.4, 1.6 * nrow + 0.5), squeeze=False, sharex=True, sharey=True
        )
        for ax, f in zip(axes.flat, chosen):
            c = colors.get(f.family, OTHER_COLOR)
            c = "#555555" if c == OTHER_COLOR else c
            ax.scatter(f.years, f.divergence, s=9, color=c, edgecolors="none", alpha=0.85)
            xs = np.array([f.years.min(), f.years.max()])
            ax.plot(xs, f.intercept + f.speed * xs, color="#222222", lw=0.9)
            r2 = "–" if np.isnan(f.r2) else f"{f.r2:.2f}"
            ax.set_title(f"{f.family}: {f.speed:+.3f}/yr\nn={f.n_dated}, R²={r2}", fontsize=7, loc="left")
        for ax in list(axes.flat)[len(chosen) :]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("release year")
        for ax in axes[:, 0]:
            ax.set_ylabel("divergence from\nfamily MRCA")
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontsize=9)
        fig.tight_layout()
    return fig
