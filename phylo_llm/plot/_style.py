"""The house look shared by every phylo_llm figure: palette, markers, fonts, saving.

Colours
-------
:data:`FAMILY_PALETTE` holds 12 colours chosen to stay distinguishable under the common forms of
colour-blindness: Paul Tol's *muted* scheme (9) plus the three Okabe–Ito colours that are far
from it (orange, blue, vermillion). Beyond about 8 colours no palette is fully safe, so figures
always pair colour with a second cue (labels, legends, markers). Families beyond the palette
share :data:`OTHER_COLOR` (grey) under the legend entry :data:`OTHER`.

:func:`family_colors` is deterministic: the same families (with the same counts) always get the
same colours, so a family looks the same in the tree, the DNA map and the trend plots. Pass it the
*full* family column of the metadata (not a per-figure subset) to keep that guarantee.

Nothing here imports matplotlib at module import time: colour helpers are usable by analysis code
that never draws.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PhyloLLMError
from ..util import atomic_open

__all__ = [
    "FAMILY_PALETTE",
    "OTHER",
    "OTHER_COLOR",
    "ARCHITECTURE_MARKERS",
    "ARCHITECTURE_COLORS",
    "FIGURE_SUFFIXES",
    "RC",
    "family_colors",
    "family_legend_label",
    "architecture_marker",
    "style",
    "save_figure",
    "annotate_points",
    "short_name",
]

#: 12 colour-blind-aware colours (Tol muted + Okabe–Ito orange/blue/vermillion), most distinct first.
FAMILY_PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue (Okabe–Ito)
    "#E69F00",  # orange (Okabe–Ito)
    "#117733",  # green (Tol)
    "#CC6677",  # rose (Tol)
    "#332288",  # indigo (Tol)
    "#88CCEE",  # cyan (Tol)
    "#D55E00",  # vermillion (Okabe–Ito)
    "#AA4499",  # purple (Tol)
    "#44AA99",  # teal (Tol)
    "#DDCC77",  # sand (Tol)
    "#882255",  # wine (Tol)
    "#999933",  # olive (Tol)
)
#: Legend label and colour shared by all families outside the palette (and unknown families).
OTHER = "other"
OTHER_COLOR = "#BBBBBB"

#: Marker per architecture; anything unlisted draws as a diamond.
ARCHITECTURE_MARKERS: dict[str, str] = {
    "decoder-only": "o",
    "encoder-decoder": "s",
    "encoder-only": "^",
}
_DEFAULT_MARKER = "D"
#: Two-way contrast for architecture-only plots (Okabe–Ito blue / vermillion, safe for all CVD types).
ARCHITECTURE_COLORS: dict[str, str] = {
    "decoder-only": "#0072B2",
    "encoder-decoder": "#D55E00",
    "encoder-only": "#009E73",
}

#: Output formats, chosen by the file suffix.
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")

#: Matplotlib rc settings applied by :func:`style` (small sans-serif text sized for print).
RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 8.0,
    "axes.titlesize": 9.0,
    "axes.labelsize": 8.0,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "legend.fontsize": 7.0,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "lines.linewidth": 1.0,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
    # Text stays text: editable in Illustrator/Inkscape and searchable in the PDF.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    # Reproducible files: no creation date in the metadata.
    "svg.hashsalt": "phylo_llm",
}


def family_colors(
    families: Iterable[str | None] | Mapping[str, int],
    *,
    max_colors: int = len(FAMILY_PALETTE),
) -> dict[str, str]:
    """Colour per family: the ``max_colors`` largest families get palette colours, the rest grey.

    Families are ranked by count (descending), ties broken by name, so the mapping depends only on
    the families and their sizes — never on the order they are given in.

    Parameters
    ----------
    families
        One family per model (repeats count), or a ``{family: count}`` mapping. ``None``/missing
        entries are ignored.
    max_colors
        How many families get their own colour (1..12).

    Returns
    -------
    dict
        ``{family: "#RRGGBB"}`` for every family given, plus ``OTHER: OTHER_COLOR``.

    Examples
    --------
    >>> c = family_colors(["llama", "qwen", "llama", "t5"], max_colors=2)
    >>> c["llama"], c["qwen"], c["t5"] == OTHER_COLOR
    ('#0072B2', '#E69F00', True)
    >>> family_colors(["t5", "qwen", "llama", "llama"], max_colors=2) == c
    True
    """
    if not 1 <= max_colors <= len(FAMILY_PALETTE):
        raise PhyloLLMError(f"max_colors must be between 1 and {len(FAMILY_PALETTE)}, got {max_colors}")
    if isinstance(families, Mapping):
        counts = Counter({str(k): int(v) for k, v in families.items()})
    else:
        counts = Counter(str(f) for f in families if f is not None and f == f)  # f == f drops NaN
    counts.pop(OTHER, None)
    ranked = sorted(counts, key=lambda f: (-counts[f], f))
    out = {f: (FAMILY_PALETTE[i] if i < max_colors else OTHER_COLOR) for i, f in enumerate(ranked)}
    out[OTHER] = OTHER_COLOR
    return out


def family_legend_label(family: str | None, colors: Mapping[str, str]) -> str:
    """The legend entry for ``family``: itself when it has its own colour, else :data:`OTHER`.

    Examples
    --------
    >>> c = family_colors(["a", "a", "b"], max_colors=1)
    >>> family_legend_label("a", c), family_legend_label("b", c), family_legend_label(None, c)
    ('a', 'other', 'other')
    """
    if family is None or family != family or family not in colors:
        return OTHER
    return family if colors[family] != OTHER_COLOR else OTHER


def architecture_marker(architecture: str | None) -> str:
    """Matplotlib marker for an architecture (``"o"`` decoder-only, ``"s"`` encoder-decoder...).

    Examples
    --------
    >>> architecture_marker("encoder-decoder"), architecture_marker(None)
    ('s', 'D')
    """
    if architecture is None or architecture != architecture:
        return _DEFAULT_MARKER
    return ARCHITECTURE_MARKERS.get(str(architecture), _DEFAULT_MARKER)


def short_name(name: str, n: int = 28) -> str:
    # Drop the organisation: "google/flan-t5-base" -> "flan-t5-base".
    s = name.rsplit("/", 1)[-1]
    return s if len(s) <= n else s[: n - 1] + "…"


def annotate_points(ax: Any, names: list[str], xs: Any, ys: Any, *, fontsize: float = 5.5, max_chars: int = 24) -> None:
    """Label points, nudging labels upwards so that none overlaps another (greedy, in points)."""
    ax.autoscale_view()
    fig = ax.figure
    to_pt = 72.0 / fig.dpi
    placed: list[tuple[float, float, float, float]] = []
    order = np.argsort(np.asarray(ys, dtype=float), kind="stable")
    for i in order:
        text = short_name(str(names[i]), max_chars)
        px, py = ax.transData.transform((float(xs[i]), float(ys[i]))) * to_pt
        w, h = 0.56 * fontsize * len(text), 1.15 * fontsize
        dx, dy = 4.0, 2.0
        for _ in range(30):
            box = (px + dx, py + dy, px + dx + w, py + dy + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
            dy += h * 0.9
        placed.append(box)
        ax.annotate(
            text,
            (float(xs[i]), float(ys[i])),
            textcoords="offset points",
            xytext=(dx, dy),
            fontsize=fontsize,
            color="#333333",
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
            arrowprops=None if dy < h else {"arrowstyle": "-", "lw": 0.3, "color": "#999999"},
        )


@contextmanager
def style(**overrides: Any) -> Iterator[None]:
    """Context manager applying :data:`RC` (plus ``overrides``) to figures made inside it.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> with style():
    ...     import matplotlib.pyplot as plt
    ...     fig, ax = plt.subplots()
    >>> plt.close(fig)
    """
    import matplotlib

    with matplotlib.rc_context({**RC, **overrides}):
        yield


def check_figure_path(path: str | Path) -> Path:
    """Validate an output path's suffix (``.png``, ``.pdf``, ``.svg``) before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise PhyloLLMError(f"figure file name must end in one of {list(FIGURE_SUFFIXES)}, got {path.name!r}")
    return path


def save_figure(fig: Any, path: str | Path, *, dpi: int | None = None) -> Path:
    """Save ``fig`` in the format given by the suffix of ``path``; creates parent folders.

    Raster output uses 300 dpi unless ``dpi`` is given; PDF/SVG keep text as text. Returns the path.
    """
    path = check_figure_path(path)
    kwargs: dict[str, Any] = {"format": path.suffix.lower()[1:]}
    if dpi is not None:
        kwargs["dpi"] = dpi
    if kwargs["format"] == "pdf":
        kwargs["metadata"] = {"CreationDate": None}
    elif kwargs["format"] == "svg":
        kwargs["metadata"] = {"Date": None}
    _printable_texts(fig)
    # Through a temporary file: a failed write (disk full, size limit) keeps the earlier figure.
    with _rc_for_saving(), atomic_open(path, "wb") as fh:
        fig.savefig(fh, **kwargs)
    return path


def legend_if_any(ax: Any, **kwargs: Any) -> Any:
    """``ax.legend(**kwargs)`` when something on ``ax`` has a label (else matplotlib warns)."""
    handles, _ = ax.get_legend_handles_labels()
    return ax.legend(**kwargs) if handles else None


def family_legend_counts(families: Iterable[object], colors: Mapping[str, str]) -> dict[str, int]:
    """Models per legend entry (:func:`family_legend_label`): largest first, ties by name, :data:`OTHER` last.

    Anything that is not a string (``None``, NaN, ``pd.NA``) counts as :data:`OTHER`. The one
    ordering every family legend (static figures and the HTML map) uses.

    Examples
    --------
    >>> family_legend_counts(["b", "a", "a", None, "c"], family_colors(["a", "a", "b"]))
    {'a': 2, 'b': 1, 'other': 2}
    """
    counts: dict[str, int] = {}
    for f in families:
        lab = family_legend_label(f if isinstance(f, str) else None, colors)
        counts[lab] = counts.get(lab, 0) + 1
    keys = sorted((k for k in counts if k != OTHER), key=lambda k: (-counts[k], k))
    if OTHER in counts:
        keys.append(OTHER)
    return {k: counts[k] for k in keys}


def family_handles(
    counts: Mapping[str, int],
    colors: Mapping[str, str],
    *,
    show_counts: bool = True,
    markersize: float = 5,
    markeredgecolor: str = "#333333",
    markeredgewidth: float | None = None,
) -> list[Any]:
    """Legend handles, a dot per family entry of :func:`family_legend_counts` (``"name (n)"`` labels)."""
    from matplotlib.lines import Line2D

    edge = {} if markeredgewidth is None else {"markeredgewidth": markeredgewidth}
    return [
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            markerfacecolor=colors.get(k, OTHER_COLOR),
            markeredgecolor=markeredgecolor,
            markersize=markersize,
            label=f"{k} ({n})" if show_counts else k,
            **edge,
        )
        for k, n in counts.items()
    ]


def architecture_handles(
    architectures: Sequence[str],
    counts: Mapping[str, int] | None = None,
    *,
    markersize: float = 5,
    markeredgecolor: str = "#333333",
) -> list[Any]:
    """Legend handles, an open marker per architecture (:func:`architecture_marker`); ``"name (n)"`` with ``counts``."""
    from matplotlib.lines import Line2D

    return [
        Line2D(
            [],
            [],
            marker=architecture_marker(a),
            ls="",
            markerfacecolor="white",
            markeredgecolor=markeredgecolor,
            markersize=markersize,
            label=a if counts is None else f"{a} ({counts[a]})",
        )
        for a in architectures
    ]


def family_architecture_legends(ax: Any, family: list[Any], architecture: list[Any], *, x: float = 1.0) -> None:
    """Two legends right of ``ax``: families at the top, architectures at the bottom."""
    kwargs: dict[str, Any] = {"title_fontsize": 7, "fontsize": 6, "alignment": "left"}
    top = ax.legend(handles=family, loc="upper left", bbox_to_anchor=(x, 1.0), title="family", **kwargs)
    ax.add_artist(top)  # a second ax.legend() call would replace the first
    ax.legend(handles=architecture, loc="lower left", bbox_to_anchor=(x, 0.0), title="architecture", **kwargs)


# Tabs and other control characters in model names have no glyph (matplotlib warns per figure).
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def _printable_texts(fig: Any) -> None:
    from matplotlib.text import Text

    for t in fig.findobj(lambda a: isinstance(a, Text)):
        s = t.get_text()
        if isinstance(s, str) and _CONTROL.search(s):
            t.set_text(_CONTROL.sub(" ", s))


def close_figure(fig: Any) -> None:
    """Release a figure made by pyplot (long reports would otherwise pile them up in memory)."""
    import matplotlib.pyplot as plt

    plt.close(fig)


@contextmanager
def _rc_for_saving() -> Iterator[None]:
    import matplotlib

    # savefig reads these rc values at save time; apply them even if the figure was built outside
    # style() so every saved file looks the same.
    keys = ("savefig.dpi", "savefig.bbox", "savefig.pad_inches", "pdf.fonttype", "svg.fonttype", "svg.hashsalt")
    with matplotlib.rc_context({k: RC[k] for k in keys}):
        yield
