"""Annotated tree figures (matplotlib): rectangular or circular, tips by family and architecture.

* Tips: a marker coloured by family (shared palette, :func:`phylo_llm.plot.family_colors`) and
  shaped by architecture; branches whose whole clade is one family take that family's colour.
* Labels: sized to the space per tip; names longer than ``label_max_chars`` are truncated with
  "…" and the full names are kept in :meth:`TreeFigure.label_index` (written next to the figure
  by :func:`save_tree`). ``labels="numbers"`` draws 1..n with the same index table.
* Optional release-year strip (``cividis``, readable with every colour-vision type) between the
  tips and the labels, and support values on internal nodes (text for small trees, shaded dots
  for large ones).
* The layout is computed in single passes over the preorder arrays — no recursion, so trees with
  10,000 tips draw (labels are switched off automatically beyond ``max_labels``).
* Output format by suffix: ``.png``, ``.pdf``, ``.svg``.

ete3's renderer is offered by :func:`render_tree_ete3` only where PyQt5 is installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..errors import PhyloLLMError
from ..tree import Tree
from ..util import atomic_path, check_choice, readonly, write_table
from ._style import (
    ARCHITECTURE_MARKERS,
    OTHER_COLOR,
    architecture_handles,
    architecture_marker,
    check_figure_path,
    family_colors,
    family_handles,
    family_legend_counts,
    save_figure,
    style,
)

__all__ = ["TreeLayout", "TreeFigure", "tree_layout", "plot_tree", "save_tree", "render_tree_ete3"]

Layout = Literal["rectangular", "circular"]
Labels = Literal["auto", "names", "numbers", "none"]
Support = Literal["auto", "text", "dots", "none"]

_LAYOUTS = ("rectangular", "circular")
_LABELS = ("auto", "names", "numbers", "none")
_SUPPORTS = ("auto", "text", "dots", "none")
_BRANCH_GREY = "#555555"
_ELLIPSIS = "…"
# The angular gap left open in a circular tree, so the first and last tips are not neighbours.
_CIRCLE_GAP = 0.04


@dataclass(frozen=True)
class TreeLayout:
    """Node coordinates: ``x`` = distance from the root, ``y`` = tip slot (0..n_tips-1).

    Internal nodes sit halfway between their first and last child. ``cladogram`` is true when the
    tree had no branch lengths and ``x`` counts edges instead.
    """

    x: NDArray[np.float64] = field(repr=False)
    y: NDArray[np.float64] = field(repr=False)
    cladogram: bool


def tree_layout(tree: Tree) -> TreeLayout:
    """Coordinates of every node, in two array passes (no recursion).

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 0, 1, 1], length=[np.nan, 1, 3, 1, 2], name=[None, None, "c", "a", "b"])
    >>> lay = tree_layout(t)
    >>> lay.x.tolist(), lay.y.tolist()
    ([0.0, 1.0, 2.0, 3.0, 3.0], [1.25, 0.5, 0.0, 1.0, 2.0])
    """
    n = len(tree)
    cladogram = bool(n > 1 and np.isnan(tree.length[1:]).all())
    if cladogram:
        x = np.zeros(n)
        for v in range(1, n):  # preorder: the parent is final
            x[v] = x[tree.parent[v]] + 1.0
    else:
        x = np.array(tree.depth, dtype=float)
    y = np.zeros(n)
    y[tree.tips] = np.arange(tree.n_tips, dtype=float)
    ptr, kids = tree.children_csr
    internal = np.flatnonzero(~tree.is_tip)
    first = kids[ptr[internal]]
    last = kids[ptr[internal + 1] - 1]
    # Postorder over internal nodes (children have larger indices): each child's y is final.
    yf = y  # local alias for speed in the loop
    for k in range(internal.shape[0] - 1, -1, -1):
        yf[internal[k]] = 0.5 * (yf[first[k]] + yf[last[k]])
    return TreeLayout(readonly(x), readonly(y), cladogram)


@dataclass(frozen=True)
class TreeFigure:
    """A drawn tree: the figure, its axes and what the labels say.

    ``labels`` are the strings drawn next to the tips (in drawing order, top to bottom or
    counter-clockwise), ``names`` the full tip names in the same order.
    """

    figure: Any = field(repr=False)
    ax: Any = field(repr=False)
    labels: tuple[str, ...]
    names: tuple[str, ...]
    truncated: int

    def label_index(self) -> pd.DataFrame:
        """Table ``position, label, name`` for the tips (position 1 = first drawn)."""
        return pd.DataFrame(
            {
                "position": np.arange(1, len(self.names) + 1),
                "label": self.labels or [""] * len(self.names),
                "name": self.names,
            }
        )


def plot_tree(
    tree: Tree,
    *,
    meta: pd.DataFrame | None = None,
    layout: Layout = "rectangular",
    colors: Mapping[str, str] | None = None,
    labels: Labels = "auto",
    label_max_chars: int = 40,
    max_labels: int = 2000,
    fontsize: float | None = None,
    release_strip: bool = False,
    support: Support = "auto",
    color_branches: bool = True,
    legend: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> TreeFigure:
    """Draw ``tree`` with tips coloured by family and shaped by architecture.

    Parameters
    ----------
    tree
        Any tree; tips should be named (unnamed tips draw without a label).
    meta
        Metadata indexed by model id (:func:`phylo_llm.data.read_meta`), used for ``family``,
        ``architecture`` and ``release_year``; tips without a row draw grey. ``None``: no colours.
    layout
        ``"rectangular"`` (a phylogram, root on the left) or ``"circular"``.
    colors
        ``{family: colour}``; default :func:`~phylo_llm.plot.family_colors` over the tree's tips.
        Pass the mapping computed over the whole metadata to keep colours equal across figures.
    labels
        ``"names"`` (truncated beyond ``label_max_chars``), ``"numbers"`` (1..n, names in
        :meth:`TreeFigure.label_index`), ``"none"``; ``"auto"`` = names up to ``max_labels`` tips.
    fontsize
        Label size in points; default fits the space per tip (3–8 pt).
    release_strip
        Draw a release-year colour strip (needs ``release_year`` in ``meta``).
    support
        ``"text"`` (values on internal nodes), ``"dots"`` (node dots: black ≥ 95 %, grey ≥ 70 %,
        white below), ``"none"``; ``"auto"`` = text up to 60 tips, dots beyond, none when the tree
        has no support values.
    color_branches
        Colour a branch by family when every tip below it belongs to that family.

    Returns
    -------
    TreeFigure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> t = Tree.from_parents([-1, 0, 0, 1, 1], length=[np.nan, 1, 3, 1, 2], name=[None, None, "c", "a", "b"])
    >>> tf = plot_tree(t)
    >>> tf.labels
    ('a', 'b', 'c')
    """
    _check_options(
        layout=layout,
        labels=labels,
        support=support,
        label_max_chars=label_max_chars,
        release_strip=release_strip,
        meta=meta,
    )
    import matplotlib.pyplot as plt

    lay = tree_layout(tree)
    tips = tree.tips
    n_tips = int(tips.shape[0])
    tip_names = _unique_tip_names(tree)
    fam, arch, year = _tip_meta(tip_names, meta)
    if colors is None:
        colors = family_colors([f for f in fam if f is not None])
    if labels == "auto":
        labels = "names" if n_tips <= max_labels else "none"
    drawn, truncated = _label_texts(tip_names, labels, label_max_chars)
    if support == "auto":
        has = bool(np.isfinite(tree.support[~tree.is_tip]).any())
        support = "none" if not has else ("text" if n_tips <= 60 else "dots")

    with style():
        size = _figure_size(layout, n_tips, figsize, longest=max((len(s) for s in drawn), default=0))
        fig, ax = plt.subplots(figsize=size.figsize)
        fs = fontsize if fontsize is not None else size.fontsize(_axes_height_in(fig, ax))
        _DRAW_BRANCHES[layout](ax, tree, lay, fam, colors if color_branches else None)
        _draw_tips(
            ax,
            lay,
            layout,
            tips,
            arch,
            fam,
            colors,
            fs=fs,
            slot_pt=size.slot_pt(_axes_height_in(fig, ax)),
            shaped=meta is not None and "architecture" in meta.columns,
        )
        xmax = float(lay.x.max()) if len(tree) > 1 else 1.0
        if xmax == 0:
            xmax = 1.0
        strip_cmap = _draw_strip(ax, lay, layout, tips, year, xmax, n_tips, fs) if release_strip else None
        if labels != "none":
            _draw_labels(ax, lay, layout, tips, drawn, xmax, n_tips, fs, release_strip)
        if support != "none":
            _draw_support(ax, tree, lay, layout, n_tips, support, fs)
        _finish_axes(ax, lay, layout, xmax, n_tips)
        if legend and meta is not None:
            _draw_legend(ax, fam, arch, colors, layout)
        if strip_cmap is not None:
            _strip_colorbar(fig, ax, strip_cmap, year, layout)
        if title:
            _draw_title(ax, title, layout, release_strip)
    return TreeFigure(fig, ax, tuple(drawn), tip_names, truncated)


def _check_options(
    *, layout: str, labels: str, support: str, label_max_chars: int, release_strip: bool, meta: pd.DataFrame | None
) -> None:
    """Every option of :func:`plot_tree` that can be checked before drawing."""
    for param, value, allowed in (
        ("layout", layout, _LAYOUTS),
        ("labels", labels, _LABELS),
        ("support", support, _SUPPORTS),
    ):
        check_choice(param, value, allowed)
    if label_max_chars < 4:
        raise PhyloLLMError(f"label_max_chars must be at least 4, got {label_max_chars}")
    if release_strip and (meta is None or "release_year" not in meta.columns):
        raise PhyloLLMError("release_strip needs metadata with a 'release_year' column (from 'release')")


def _unique_tip_names(tree: Tree) -> tuple[str, ...]:
    """Tip names in drawing order (``""`` for unnamed tips); a repeated name is an error."""
    tip_names = tuple("" if nm is None else nm for nm in tree.tip_names)
    named = [nm for nm in tip_names if nm]
    if len(set(named)) != len(named):
        # Metadata, the label index and colours go by name: a repeated one is ambiguous.
        seen: set[str] = set()
        dup = sorted({nm for nm in named if nm in seen or seen.add(nm)})  # type: ignore[func-returns-value]
        raise PhyloLLMError(
            f"tip names must be unique to draw the tree; {len(dup)} name(s) occur more than once: {dup[:10]}"
        )
    return tip_names


@dataclass(frozen=True)
class _Size:
    """Figure size and how much room one tip gets, for a layout and a tip count."""

    layout: str
    n_tips: int
    figsize: tuple[float, float]
    longest: int  # characters in the longest label (a circle shrinks to leave room for them)

    def _slot_in(self, axes_height_in: float) -> float:
        """Inches along the tips' axis (row height, or arc length on the circle) per tip."""
        if self.layout == "rectangular":
            return axes_height_in / max(self.n_tips, 1)
        r_in = 0.5 * min(axes_height_in, self.figsize[0] * 0.8) / (1.0 + 0.012 * self.longest + 0.1)
        return 2 * np.pi * r_in * (1 - _CIRCLE_GAP) / max(self.n_tips, 1)

    def slot_pt(self, axes_height_in: float) -> float:
        return self._slot_in(axes_height_in) * 72

    def fontsize(self, axes_height_in: float) -> float:
        """Label size that fits the slot (3–8 pt)."""
        share = 0.75 if self.layout == "rectangular" else 0.8
        return float(np.clip(self.slot_pt(axes_height_in) * share, 3.0, 8.0))


def _figure_size(layout: str, n_tips: int, figsize: tuple[float, float] | None, *, longest: int) -> _Size:
    """The default figure grows with the tree: taller (rectangular) or wider (circular), within limits."""
    if figsize is None:
        if layout == "rectangular":
            figsize = (7.0, float(np.clip(0.12 * n_tips + 1.2, 3.0, 60.0)))
        else:
            side = float(np.clip(0.11 * n_tips / np.pi + 4.0, 6.0, 40.0))
            figsize = (side, side)
    return _Size(layout, n_tips, figsize, longest)


def _draw_tips(
    ax: Any,
    lay: TreeLayout,
    layout: str,
    tips: NDArray[np.intp],
    arch: list[str | None],
    fam: list[str | None],
    colors: Mapping[str, str],
    *,
    fs: float,
    slot_pt: float,
    shaped: bool,
) -> None:
    """Tip markers: colour by family, shape by architecture (circles when ``shaped`` is false)."""
    xt, yt = _coords(lay, layout, int(tips.shape[0]))
    tip_x, tip_y = xt[tips], yt[tips]
    tip_color = [colors.get(f, OTHER_COLOR) if f is not None else OTHER_COLOR for f in fam]
    # Markers fill most of a tip's slot, so they stay apart in trees of thousands of tips.
    msize = float(np.clip(min(fs, slot_pt) * 0.9, 0.8, 6.0)) ** 2
    for a in sorted(set(arch), key=str):
        sel = np.array([x == a for x in arch])
        ax.scatter(
            tip_x[sel],
            tip_y[sel],
            s=msize,
            c=[tip_color[i] for i in np.flatnonzero(sel)],
            marker=architecture_marker(a) if shaped else "o",
            edgecolors="#333333",
            linewidths=0.3 if msize > 4 else 0.0,
            zorder=3,
            gid="tips",
        )


def _draw_title(ax: Any, title: str, layout: str, release_strip: bool) -> None:
    if layout == "rectangular":
        ax.set_title(title, loc="left", pad=40 if release_strip else 6)
    else:
        # Labels ring the circle; the free column on the right holds title, legend and keys.
        ax.text(1.02, 1.03, title, transform=ax.transAxes, ha="left", va="bottom", fontsize=9)


def save_tree(tree: Tree, path: str | Path, *, index_path: str | Path | None = None, **kwargs: Any) -> Path:
    """Draw with :func:`plot_tree` (same keywords), save by suffix and close the figure.

    When labels were truncated or numbered, the full names are written as a CSV index next to the
    figure (``<stem>.labels.csv``, or ``index_path``). Returns the figure path.
    """
    path = check_figure_path(path)
    import matplotlib.pyplot as plt

    tf = plot_tree(tree, **kwargs)
    try:
        save_figure(tf.figure, path)
    finally:
        plt.close(tf.figure)
    if tf.truncated or kwargs.get("labels") == "numbers" or index_path is not None:
        ip = Path(index_path) if index_path is not None else path.with_suffix(".labels.csv")
        write_table(tf.label_index(), ip, index=False)
    return path


# ---- pieces ------------------------------------------------------------------------------------


def _tip_meta(
    names: tuple[str, ...], meta: pd.DataFrame | None
) -> tuple[list[str | None], list[str | None], NDArray[np.float64]]:
    n = len(names)
    if meta is None:
        return [None] * n, [None] * n, np.full(n, np.nan)
    sub = meta.reindex(list(names))

    def col(c: str) -> list[str | None]:
        if c not in sub.columns:
            return [None] * n
        return [None if pd.isna(v) else str(v) for v in sub[c]]

    year = sub["release_year"].to_numpy(dtype=float) if "release_year" in sub.columns else np.full(n, np.nan)
    return col("family"), col("architecture"), year


def _label_texts(names: tuple[str, ...], mode: str, max_chars: int) -> tuple[list[str], int]:
    if mode == "none":
        return [], 0
    if mode == "numbers":
        return [str(i) for i in range(1, len(names) + 1)], 0
    out, cut = [], 0
    for nm in names:
        if len(nm) > max_chars:
            out.append(nm[: max_chars - 1] + _ELLIPSIS)
            cut += 1
        else:
            out.append(nm)
    return out, cut


def _axes_height_in(fig: Any, ax: Any) -> float:
    return float(fig.get_figheight() * ax.get_position().height)


def _clade_codes(tree: Tree, fam: list[str | None]) -> NDArray[np.intp]:
    """Per node: code of the one family all tips below share, or -1 (mixed/unknown)."""
    codes = {f: i for i, f in enumerate(sorted({f for f in fam if f is not None}))}
    n = len(tree)
    state = np.full(n, -2, dtype=np.intp)  # -2 = not seen yet
    state[tree.tips] = [codes[f] if f is not None else -1 for f in fam]
    parent = tree.parent
    for v in range(n - 1, 0, -1):  # children (larger index) are final before their parent
        p = parent[v]
        if state[p] == -2:
            state[p] = state[v]
        elif state[p] != state[v]:
            state[p] = -1
    state[state == -2] = -1
    return state


def _branch_colors(tree: Tree, fam: list[str | None], colors: Mapping[str, str] | None) -> list[str]:
    if colors is None or not any(f is not None for f in fam):
        return [_BRANCH_GREY] * len(tree)
    names = sorted({f for f in fam if f is not None})
    codes = _clade_codes(tree, fam)
    out = []
    for c in codes:
        col = colors.get(names[c], OTHER_COLOR) if c >= 0 else _BRANCH_GREY
        out.append(_BRANCH_GREY if col == OTHER_COLOR else col)
    return out


def _draw_rectangular(
    ax: Any, tree: Tree, lay: TreeLayout, fam: list[str | None], colors: Mapping[str, str] | None
) -> None:
    from matplotlib.collections import LineCollection

    x, y, parent = lay.x, lay.y, tree.parent
    bc = _branch_colors(tree, fam, colors)
    v = np.arange(1, len(tree))
    horiz = np.stack([np.stack([x[parent[v]], y[v]], 1), np.stack([x[v], y[v]], 1)], 1)
    ptr, kids = tree.children_csr
    internal = np.flatnonzero(~tree.is_tip)
    first, last = kids[ptr[internal]], kids[ptr[internal + 1] - 1]
    vert = np.stack([np.stack([x[internal], y[first]], 1), np.stack([x[internal], y[last]], 1)], 1)
    segs = np.concatenate([horiz, vert]) if len(tree) > 1 else np.empty((0, 2, 2))
    cols = [bc[i] for i in v] + [bc[i] for i in internal]
    lw = float(np.clip(300.0 / max(tree.n_tips, 1), 0.3, 1.0))
    ax.add_collection(LineCollection(segs, colors=cols, linewidths=lw, capstyle="projecting", zorder=1, gid="branches"))


def _coords(lay: TreeLayout, layout: str, n_tips: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if layout == "rectangular":
        return lay.x, lay.y
    th = _theta(lay.y, n_tips)
    return lay.x * np.cos(th), lay.x * np.sin(th)


def _theta(y: NDArray[np.float64], n_tips: int) -> NDArray[np.float64]:
    # Tip 0 at the top (90°), going clockwise like reading order.
    span = 2 * np.pi * (1 - _CIRCLE_GAP)
    return np.pi / 2 - (y + 0.5) / max(n_tips, 1) * span


def _draw_circular(
    ax: Any, tree: Tree, lay: TreeLayout, fam: list[str | None], colors: Mapping[str, str] | None
) -> None:
    from matplotlib.collections import LineCollection

    x, parent = lay.x, tree.parent
    n_tips = tree.n_tips
    th = _theta(lay.y, n_tips)
    bc = _branch_colors(tree, fam, colors)
    v = np.arange(1, len(tree))
    r0, r1, t = x[parent[v]], x[v], th[v]
    radial = np.stack([np.stack([r0 * np.cos(t), r0 * np.sin(t)], 1), np.stack([r1 * np.cos(t), r1 * np.sin(t)], 1)], 1)
    segs: list[NDArray[np.float64]] = list(radial)
    cols = [bc[i] for i in v]
    ptr, kids = tree.children_csr
    for u in np.flatnonzero(~tree.is_tip):
        a, b = th[kids[ptr[u]]], th[kids[ptr[u + 1] - 1]]
        k = int(np.clip(abs(b - a) / (2 * np.pi) * 360, 2, 200))
        ang = np.linspace(a, b, k)
        segs.append(np.stack([x[u] * np.cos(ang), x[u] * np.sin(ang)], 1))
        cols.append(bc[u])
    lw = float(np.clip(300.0 / max(n_tips, 1), 0.3, 1.0))
    ax.add_collection(LineCollection(segs, colors=cols, linewidths=lw, capstyle="round", zorder=1, gid="branches"))


#: Branch drawing per layout.
_DRAW_BRANCHES = {"rectangular": _draw_rectangular, "circular": _draw_circular}


def _draw_labels(
    ax: Any,
    lay: TreeLayout,
    layout: str,
    tips: NDArray[np.intp],
    drawn: list[str],
    xmax: float,
    n_tips: int,
    fs: float,
    strip: bool,
) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.transforms import offset_copy

    pad_pt = fs * (2.6 if strip else 0.8)
    if layout == "rectangular":
        tr = offset_copy(ax.transData, fig=ax.figure, x=pad_pt, y=0, units="points")
        # Labels aligned in one column; faint leaders tie each to its tip.
        leaders = [((lay.x[v], lay.y[v]), (xmax, lay.y[v])) for v in tips if xmax - lay.x[v] > 1e-12]
        if leaders:
            ax.add_collection(
                LineCollection(leaders, colors="#CCCCCC", linewidths=0.3, linestyles=(0, (1, 2)), zorder=0)
            )
        for v, s in zip(tips, drawn):
            ax.text(
                xmax, lay.y[v], s, transform=tr, fontsize=fs, va="center", ha="left", gid="tip-label", clip_on=False
            )
        return
    th = _theta(lay.y[tips], n_tips)
    r_lab = xmax * (1 + (0.075 if strip else 0.025))
    leaders = []
    for v, t in zip(tips, th):
        if xmax - lay.x[v] > 1e-12:
            leaders.append(((lay.x[v] * np.cos(t), lay.x[v] * np.sin(t)), (xmax * np.cos(t), xmax * np.sin(t))))
    if leaders:
        ax.add_collection(LineCollection(leaders, colors="#CCCCCC", linewidths=0.3, linestyles=(0, (1, 2)), zorder=0))
    for t, s in zip(th, drawn):
        deg = float(np.degrees(t)) % 360
        left = 90 < deg < 270
        ax.text(
            r_lab * np.cos(t),
            r_lab * np.sin(t),
            s,
            fontsize=fs,
            rotation=deg + 180 if left else deg,
            rotation_mode="anchor",
            ha="right" if left else "left",
            va="center",
            gid="tip-label",
            clip_on=False,
        )


def _draw_strip(
    ax: Any,
    lay: TreeLayout,
    layout: str,
    tips: NDArray[np.intp],
    year: NDArray[np.float64],
    xmax: float,
    n_tips: int,
    fs: float,
) -> Any:
    import matplotlib
    from matplotlib.transforms import offset_copy

    cmap = matplotlib.colormaps["cividis"]
    ok = np.isfinite(year)
    lo, hi = (float(year[ok].min()), float(year[ok].max())) if ok.any() else (0.0, 1.0)
    norm = matplotlib.colors.Normalize(lo, hi if hi > lo else lo + 1)
    face = [cmap(norm(v)) if np.isfinite(v) else (1, 1, 1, 1) for v in year]
    s = (fs * 1.1) ** 2
    if layout == "rectangular":
        tr = offset_copy(ax.transData, fig=ax.figure, x=fs * 1.5, y=0, units="points")
        ax.scatter(
            np.full(len(tips), xmax),
            lay.y[tips],
            s=s,
            marker="s",
            c=face,
            edgecolors="#999999",
            linewidths=0.2,
            transform=tr,
            clip_on=False,
            zorder=2,
            gid="release-strip",
        )
    else:
        th = _theta(lay.y[tips], n_tips)
        r = xmax * 1.045
        ax.scatter(
            r * np.cos(th),
            r * np.sin(th),
            s=s,
            marker="s",
            c=face,
            edgecolors="#999999",
            linewidths=0.2,
            clip_on=False,
            zorder=2,
            gid="release-strip",
        )
    return matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)


def _strip_colorbar(fig: Any, ax: Any, mappable: Any, year: NDArray[np.float64], layout: str) -> None:
    h_pt = _axes_height_in(fig, ax) * 72
    if layout == "rectangular":
        # Above the axes, clear of the first tip label: 18 pt up, 5 pt thick.
        cax = ax.inset_axes((0.0, 1.0 + 18.0 / h_pt, 0.25, 5.0 / h_pt))
    else:
        cax = ax.inset_axes((1.03, 0.04, 0.22, 5.0 / h_pt))
    cb = fig.colorbar(mappable, cax=cax, orientation="horizontal")
    cb.set_label("release year (strip)", fontsize=7, labelpad=2)
    cb.ax.xaxis.set_label_position("top")
    cb.ax.tick_params(labelsize=6, length=2)
    cb.ax.xaxis.set_major_locator(_year_locator())
    cb.outline.set_linewidth(0.4)
    if not np.isfinite(year).all():
        cb.ax.text(1.04, 0.5, "white = unknown", transform=cb.ax.transAxes, fontsize=6, va="center")


def _year_locator() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=5, integer=True)


def _draw_support(ax: Any, tree: Tree, lay: TreeLayout, layout: str, n_tips: int, mode: str, fs: float) -> None:
    internal = np.flatnonzero(~tree.is_tip & np.isfinite(tree.support))
    internal = internal[internal > 0]  # the root has no branch above it to support
    if internal.size == 0:
        return
    sup = tree.support[internal]
    # Bootstrap supports come as fractions or percentages; show percentages either way.
    pct = sup * 100 if np.nanmax(sup) <= 1.0 else sup
    xs, ys = _coords(lay, layout, n_tips)
    if mode == "text":
        from matplotlib.transforms import offset_copy

        tr = offset_copy(ax.transData, fig=ax.figure, x=-1.0, y=1.0, units="points")
        for v, p in zip(internal, pct):
            ax.text(
                xs[v],
                ys[v],
                f"{p:.0f}",
                transform=tr,
                fontsize=max(fs * 0.75, 3.0),
                color="#444444",
                ha="right",
                va="bottom",
                gid="support",
                clip_on=False,
            )
        return
    face = np.where(pct >= 95, "#000000", np.where(pct >= 70, "#888888", "#FFFFFF"))
    ax.scatter(
        xs[internal],
        ys[internal],
        s=(fs * 0.7) ** 2,
        c=list(face),
        edgecolors="#000000",
        linewidths=0.3,
        zorder=4,
        gid="support",
    )


def _finish_axes(ax: Any, lay: TreeLayout, layout: str, xmax: float, n_tips: int) -> None:
    if layout == "rectangular":
        ax.set_xlim(-0.01 * xmax, xmax * 1.005)
        ax.set_ylim(n_tips - 0.5, -0.5)  # first tip on top
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlabel("edges from root" if lay.cladogram else "distance from root (DNA units)")
        return
    lim = xmax * 1.01
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if not lay.cladogram:
        # Scale bar in the free column right of the circle (axes coordinates; data width = 2 lim).
        bar = _nice(xmax / 5)
        frac = bar / (2 * lim)
        ax.plot([1.03, 1.03 + frac], [0.12, 0.12], color="#333333", lw=0.8, transform=ax.transAxes, clip_on=False)
        ax.text(
            1.03 + frac / 2,
            0.115,
            f"{bar:g} DNA units",
            ha="center",
            va="top",
            fontsize=6,
            transform=ax.transAxes,
            clip_on=False,
        )


def _nice(v: float) -> float:
    if v <= 0:
        return 1.0
    e = 10 ** np.floor(np.log10(v))
    for m in (1, 2, 5, 10):
        if m * e >= v * 0.7:
            return float(m * e)
    return float(10 * e)


def _draw_legend(
    ax: Any, fam: list[str | None], arch: list[str | None], colors: Mapping[str, str], layout: str
) -> None:
    handles = family_handles(family_legend_counts(fam, colors), colors, markeredgewidth=0.3)
    archs = sorted({a for a in arch if a is not None})
    handles += architecture_handles([a for a in archs if a in ARCHITECTURE_MARKERS or len(archs) > 1])
    ncol = 1 if len(handles) <= 8 else 2
    if layout == "rectangular":
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.0, -0.06 * 12 / max(ax.figure.get_figheight(), 12)),
            ncol=max(ncol, 3),
            title="family (tips) / architecture",
            title_fontsize=7,
            alignment="left",
        )
    else:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            ncol=1,
            title="family (tips) / architecture",
            title_fontsize=7,
            alignment="left",
        )


# ---- ete3 (optional) -------------------------------------------------------------------------


def render_tree_ete3(
    tree: Tree,
    path: str | Path,
    *,
    meta: pd.DataFrame | None = None,
    layout: Layout = "rectangular",
    colors: Mapping[str, str] | None = None,
) -> Path:
    """Render with ete3's TreeStyle (needs ete3 *and* PyQt5); an alternative to :func:`plot_tree`.

    Raises
    ------
    PhyloLLMError
        When ete3 or PyQt5 is missing, saying what to install (no silent fallback).
    """
    check_choice("layout", layout, _LAYOUTS)
    try:
        import PyQt5  # noqa: F401
        from ete3 import NodeStyle, TreeStyle
        from ete3 import Tree as EteTree
    except ImportError as exc:
        raise PhyloLLMError(
            f"ete3 rendering needs ete3 and PyQt5 ({exc}); install PyQt5 or use plot_tree (matplotlib)"
        ) from None
    from ..io import to_newick

    path = Path(path)
    et = EteTree(to_newick(tree), format=1, quoted_node_names=True)
    names = tuple(nm for nm in tree.tip_names if nm is not None)
    fam, _, _ = _tip_meta(names, meta)
    colors = colors or family_colors([f for f in fam if f is not None])
    by_name = dict(zip(names, fam))
    for leaf in et.iter_leaves():
        ns = NodeStyle()
        f = by_name.get(leaf.name)
        ns["fgcolor"] = colors.get(f, OTHER_COLOR) if f else OTHER_COLOR
        ns["size"] = 6
        leaf.set_style(ns)
    ts = TreeStyle()
    ts.mode = "c" if layout == "circular" else "r"
    ts.show_leaf_name = True
    with atomic_path(path) as tmp:
        et.render(str(tmp), tree_style=ts)
    return path
