"""Tests for phylo_llm.plot: shared style, tree rendering, DNA map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from phylo_llm import PhyloLLMError  # noqa: E402
from phylo_llm.plot import (  # noqa: E402
    FAMILY_PALETTE,
    OTHER,
    OTHER_COLOR,
    architecture_marker,
    family_colors,
    family_legend_label,
    save_figure,
    style,
)


# ---- style ---------------------------------------------------------------------------------


def test_palette_is_unique_hex() -> None:
    assert len(FAMILY_PALETTE) == 12
    assert len({c.upper() for c in FAMILY_PALETTE}) == 12
    assert OTHER_COLOR not in FAMILY_PALETTE
    assert all(len(c) == 7 and c.startswith("#") for c in FAMILY_PALETTE)


def test_family_colors_rank_by_size_and_are_order_independent() -> None:
    fams = ["b"] * 3 + ["a"] * 3 + ["c"] * 5 + ["d"] + [None, float("nan")]
    c1 = family_colors(fams, max_colors=3)
    c2 = family_colors(list(reversed(fams)), max_colors=3)
    assert c1 == c2
    # c largest; a and b tie, broken by name
    assert (c1["c"], c1["a"], c1["b"]) == FAMILY_PALETTE[:3]
    assert c1["d"] == OTHER_COLOR and c1[OTHER] == OTHER_COLOR
    assert set(c1) == {"a", "b", "c", "d", OTHER}
    assert family_colors({"c": 5, "a": 3, "b": 3, "d": 1}, max_colors=3) == c1
    assert family_legend_label("d", c1) == OTHER and family_legend_label("c", c1) == "c"


@pytest.mark.parametrize("n", [0, 13])
def test_family_colors_rejects_bad_max(n: int) -> None:
    with pytest.raises(PhyloLLMError, match=f"max_colors must be between 1 and 12, got {n}"):
        family_colors(["a"], max_colors=n)


def test_architecture_markers_differ() -> None:
    assert architecture_marker("decoder-only") != architecture_marker("encoder-decoder")
    assert architecture_marker("mystery") == architecture_marker(None) == "D"


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_save_figure_by_suffix(tmp_path: Path, suffix: str) -> None:
    import matplotlib.pyplot as plt

    with style():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
    out = save_figure(fig, tmp_path / "sub" / f"f{suffix}")
    plt.close(fig)
    magic = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}[suffix]
    assert out.read_bytes().startswith(magic)


def test_save_figure_rejects_unknown_suffix(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = plt.figure()
    with pytest.raises(PhyloLLMError, match=r"must end in one of \['.png', '.pdf', '.svg'\], got 'f.jpg'"):
        save_figure(fig, tmp_path / "f.jpg")
    plt.close(fig)


def test_svg_is_reproducible(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    paths = []
    for i in range(2):
        with style():
            fig, ax = plt.subplots()
            ax.scatter([0, 1], [1, 0])
        paths.append(save_figure(fig, tmp_path / f"f{i}.svg"))
        plt.close(fig)
    assert paths[0].read_bytes() == paths[1].read_bytes()
