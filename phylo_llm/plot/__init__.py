"""Figures (matplotlib, from the ``plot`` extra): trees, DNA maps, trend plots, ROC curves.

Every figure shares the palette, markers and fonts of :mod:`phylo_llm.plot._style`, re-exported
here. Importing this package does not import matplotlib; the drawing modules do.
"""

from ._style import (
    ARCHITECTURE_COLORS,
    ARCHITECTURE_MARKERS,
    FAMILY_PALETTE,
    FIGURE_SUFFIXES,
    OTHER,
    OTHER_COLOR,
    architecture_marker,
    check_figure_path,
    close_figure,
    family_colors,
    family_legend_label,
    save_figure,
    style,
)

__all__ = [
    "ARCHITECTURE_COLORS",
    "ARCHITECTURE_MARKERS",
    "FAMILY_PALETTE",
    "FIGURE_SUFFIXES",
    "OTHER",
    "OTHER_COLOR",
    "architecture_marker",
    "check_figure_path",
    "close_figure",
    "family_colors",
    "family_legend_label",
    "save_figure",
    "style",
]
