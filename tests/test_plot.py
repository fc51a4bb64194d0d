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


# ---- tree figures ------------------------------------------------------------------------------

import pandas as pd  # noqa: E402

from phylo_llm import Tree  # noqa: E402
from phylo_llm.data import meta_frame  # noqa: E402
from phylo_llm.plot.tree import plot_tree, render_tree_ete3, save_tree, tree_layout  # noqa: E402


def _caterpillar(n: int) -> Tree:
    """(t0,(t1,(t2,...))) built with an explicit parent array: 2n-1 nodes, depth n."""
    parent = [-1]
    names: list[str | None] = [None]
    for i in range(n - 1):
        inner = len(parent) - 1 if i else 0
        parent.append(inner)  # tip i
        names.append(f"t{i}")
        if i < n - 2:
            parent.append(inner)  # next inner node
            names.append(None)
    parent.append(len(parent) - 2 if n > 2 else 0)
    names.append(f"t{n - 1}")
    return Tree.from_parents(parent, length=np.ones(len(parent)), name=names)


def _small_tree_and_meta() -> tuple[Tree, pd.DataFrame]:
    # ((a1:1,a2:2)90:1,(b1:1,(c1:1,c2:1)55:0.5)70:2);
    parent = [-1, 0, 1, 1, 0, 4, 4, 6, 6]
    names = [
        None,
        None,
        "org/a1",
        "org/a2",
        None,
        "org/b1",
        None,
        "org/c1-with-a-really-long-name-for-truncation",
        "org/c2",
    ]
    length = [np.nan, 1, 1, 2, 2, 1, 0.5, 1, 1]
    support = [np.nan, 0.9, np.nan, np.nan, 0.7, np.nan, 0.55, np.nan, np.nan]
    tree = Tree.from_parents(parent, length=length, name=names, support=support)
    meta = meta_frame(
        pd.DataFrame(
            {
                "model": [n for n in names if n],
                "family": ["a", "a", "b", "c", "c"],
                "architecture": ["decoder-only"] * 3 + ["encoder-decoder"] * 2,
                "release": ["2020-01", "2021-01", "2022-06", "2023-01", None],
            }
        )
    )
    return tree, meta


def _tip_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_gid() == "tip-label"]


def test_layout_coordinates() -> None:
    tree, _ = _small_tree_and_meta()
    lay = tree_layout(tree)
    tips = tree.tips
    assert lay.y[tips].tolist() == [0, 1, 2, 3, 4]
    assert lay.x[tips].tolist() == [2, 3, 3, 3.5, 3.5]
    # each internal node sits midway between its first and last child
    for v in np.flatnonzero(~tree.is_tip):
        kids = tree.children(v)
        assert lay.y[v] == pytest.approx((lay.y[kids[0]] + lay.y[kids[-1]]) / 2)


def test_layout_10000_tip_caterpillar_no_recursion() -> None:
    tree = _caterpillar(10_000)
    assert tree.n_tips == 10_000
    lay = tree_layout(tree)
    assert lay.x.max() == pytest.approx(9_999)
    assert np.isfinite(lay.y).all()


@pytest.mark.parametrize("layout", ["rectangular", "circular"])
def test_plot_tree_draws_every_label_and_support(layout: str) -> None:
    import matplotlib.pyplot as plt

    tree, meta = _small_tree_and_meta()
    tf = plot_tree(tree, meta=meta, layout=layout, release_strip=True, label_max_chars=20)
    try:
        texts = _tip_texts(tf.ax)
        assert len(texts) == tree.n_tips == 5
        assert texts == list(tf.labels)
        assert "org/c1-with-a-reall…" in texts and tf.truncated == 1
        assert tf.label_index()["name"].tolist()[3] == "org/c1-with-a-really-long-name-for-truncation"
        sup = sorted(t.get_text() for t in tf.ax.texts if t.get_gid() == "support")
        assert sup == ["55", "70", "90"]
        # one scatter per architecture present + the strip
        assert sum(c.get_gid() == "release-strip" for c in tf.ax.collections) == 1
        legend = [t.get_text() for t in tf.ax.get_legend().get_texts()]
        assert {"a (2)", "b (1)", "c (2)", "decoder-only", "encoder-decoder"} <= set(legend)
    finally:
        plt.close(tf.figure)


def test_family_colours_reach_markers_and_branches() -> None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    tree, meta = _small_tree_and_meta()
    colors = family_colors(meta["family"])
    tf = plot_tree(tree, meta=meta, colors=colors)
    try:
        faces = {
            to_hex(c).upper() for coll in tf.ax.collections if coll.get_gid() == "tips" for c in coll.get_facecolors()
        }
        assert faces == {colors[f].upper() for f in ("a", "b", "c")}
        (branches,) = [c for c in tf.ax.collections if c.get_gid() == "branches"]
        seg_colours = {to_hex(c).upper() for c in branches.get_colors()}
        assert colors["a"].upper() in seg_colours  # the (a1,a2) clade is all family a
    finally:
        plt.close(tf.figure)


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_save_tree_writes_figure_and_index(tmp_path: Path, suffix: str) -> None:
    tree, meta = _small_tree_and_meta()
    out = save_tree(tree, tmp_path / f"tree{suffix}", meta=meta, label_max_chars=20)
    assert out.exists() and out.stat().st_size > 1000
    index = pd.read_csv(tmp_path / "tree.labels.csv")
    assert len(index) == 5 and index["label"][3] == "org/c1-with-a-reall…"
    if suffix == ".svg":
        assert out.read_text().count("org/a2") == 1  # text kept as text


def test_numbers_mode_and_auto_label_limit() -> None:
    import matplotlib.pyplot as plt

    tree, meta = _small_tree_and_meta()
    tf = plot_tree(tree, meta=meta, labels="numbers")
    assert _tip_texts(tf.ax) == ["1", "2", "3", "4", "5"]
    plt.close(tf.figure)
    tf = plot_tree(tree, meta=meta, max_labels=4)
    assert _tip_texts(tf.ax) == [] and tf.labels == ()
    plt.close(tf.figure)


def test_large_tree_draws_without_labels() -> None:
    import matplotlib.pyplot as plt

    tree = _caterpillar(3000)
    tf = plot_tree(tree, figsize=(4, 6), support="none")
    assert _tip_texts(tf.ax) == []
    plt.close(tf.figure)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layout": "radial"}, r"layout must be one of \['rectangular', 'circular'\], got 'radial'"),
        ({"labels": "all"}, "labels must be one of"),
        ({"support": "bars"}, "support must be one of"),
        ({"label_max_chars": 2}, "label_max_chars must be at least 4, got 2"),
        ({"release_strip": True, "meta": None}, "release_strip needs metadata"),
    ],
)
def test_plot_tree_bad_options(kwargs: dict, match: str) -> None:
    tree, _ = _small_tree_and_meta()
    with pytest.raises(PhyloLLMError, match=match):
        plot_tree(tree, **kwargs)


def test_ete3_renderer_needs_pyqt(tmp_path: Path) -> None:
    try:
        import PyQt5  # noqa: F401
    except ImportError:
        tree, meta = _small_tree_and_meta()
        with pytest.raises(PhyloLLMError, match="ete3 rendering needs ete3 and PyQt5"):
            render_tree_ete3(tree, tmp_path / "t.png", meta=meta)
    else:  # pragma: no cover - only where PyQt5 is installed
        pytest.importorskip("phylo_llm.io")
        tree, meta = _small_tree_and_meta()
        assert render_tree_ete3(tree, tmp_path / "t.png", meta=meta).exists()


# ---- trend figures -----------------------------------------------------------------------------

from phylo_llm import DnaSet  # noqa: E402
from phylo_llm.analysis import (  # noqa: E402
    architecture_by_year,
    centroid_distances,
    family_speeds,  # noqa: E402
    tree_positions,
)
from phylo_llm.plot.trends import (  # noqa: E402
    plot_architecture_timeline,
    plot_centroid_drift,
    plot_speed,
    plot_speed_fits,
    plot_tree_positions,
)


def _trend_data():
    tree, meta = _small_tree_and_meta()
    rng = np.random.default_rng(0)
    dna = DnaSet(tuple(meta.index), rng.normal(size=(5, 3)))
    return tree, meta, dna


def test_architecture_timeline_bars_and_share() -> None:
    import matplotlib.pyplot as plt

    _, meta, _ = _trend_data()
    fig = plot_architecture_timeline(architecture_by_year(meta))
    ax1, ax2 = fig.axes[:2]
    # 4 years (2020..2023) x 2 architectures
    assert len(ax1.patches) == 8
    (share,) = ax2.get_lines()
    assert share.get_ydata().tolist() == [0.0, 0.0, 0.0, 100.0]
    plt.close(fig)


def test_centroid_drift_labels_minority_models() -> None:
    import matplotlib.pyplot as plt

    _, meta, dna = _trend_data()
    fig = plot_centroid_drift(centroid_distances(dna, meta))
    names = {t.get_text() for t in fig.axes[0].texts}
    assert (
        "c1-with-a-really-long-n…" in names
    )  # truncated to 24 chars; only the dated encoder-decoder model (c2 is undated)
    assert not {"a1", "a2", "b1"} & names  # majority models are not labelled
    plt.close(fig)
    with pytest.raises(PhyloLLMError, match="needs column 'to_encoder-only'"):
        plot_centroid_drift(centroid_distances(dna, meta), target="encoder-only")


def test_tree_positions_plot_and_speed_plots() -> None:
    import matplotlib.pyplot as plt

    tree, meta, _ = _trend_data()
    fig = plot_tree_positions(tree_positions(tree, meta))
    assert fig.axes[0].get_xlim()[1] == 5
    plt.close(fig)
    # speed on a star family with a known rate
    names = [None, "m1", "m2", "m3", "m4", "x"]
    t = Tree.from_parents([-1, 0, 0, 0, 0, 0], length=[np.nan, 0.1, 0.2, 0.3, 0.4, 1.0], name=names)
    m = meta_frame(
        pd.DataFrame(
            {"model": names[1:], "family": ["f"] * 4 + ["g"], "release": ["2021", "2022", "2023", "2024", "2020"]}
        )
    )
    res = family_speeds(t, m, n_boot=100)
    fig = plot_speed(res)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["f"]
    plt.close(fig)
    fig = plot_speed_fits(res)
    assert fig.axes[0].get_title(loc="left").startswith("f: +0.100/yr")
    plt.close(fig)


# ---- DNA map -----------------------------------------------------------------------------------

import re  # noqa: E402

from phylo_llm.data import DistanceMatrix, pairwise_distances  # noqa: E402
from phylo_llm.plot.dnamap import embed, plot_dna_map, write_dna_map_html  # noqa: E402


def test_classical_mds_recovers_planar_points() -> None:
    rng = np.random.default_rng(4)
    pts = rng.normal(size=(12, 2)) * [3.0, 1.0]
    dm = pairwise_distances(pts, [f"m{i}" for i in range(12)])
    e = embed(dm)
    from scipy.spatial.distance import pdist

    np.testing.assert_allclose(pdist(e.coords), pdist(pts), atol=1e-9)
    assert e.explained[0] > e.explained[1] and sum(e.explained) == pytest.approx(1.0)
    # deterministic signs: the same input twice gives the same picture
    np.testing.assert_array_equal(embed(dm).coords, e.coords)


def test_embed_errors() -> None:
    with pytest.raises(PhyloLLMError, match="at least 2 models, got 1"):
        embed(DistanceMatrix(("a",), [[0.0]]))
    with pytest.raises(PhyloLLMError, match="dims must be an integer >= 1, got 0"):
        embed(DistanceMatrix(("a", "b"), [[0, 1], [1, 0]]), dims=0)


def _map_data():
    rng = np.random.default_rng(2)
    labels = [f"org/f{k}-{i}" for k in range(3) for i in range(6)] + ["org/t5-a", "org/t5-b"]
    centres = np.repeat(np.eye(3) * 6, 6, axis=0)
    X = np.concatenate([centres + rng.normal(size=(18, 3)), rng.normal(size=(2, 3)) + [0, 0, -6]])
    meta = meta_frame(
        pd.DataFrame(
            {
                "model": labels,
                "family": [f"fam{k}" for k in range(3) for _ in range(6)] + ["t5", "t5"],
                "architecture": ["decoder-only"] * 18 + ["encoder-decoder"] * 2,
                "release": ["2023-01"] * 19 + [None],
                "organization": ["org"] * 20,
            }
        )
    )
    return DnaSet(tuple(labels), X), meta


def test_dna_map_hulls_and_labels() -> None:
    import matplotlib.pyplot as plt

    dna, meta = _map_data()
    fig = plot_dna_map(embed(dna), meta=meta)
    ax = fig.axes[0]
    hulls = [p for p in ax.patches if p.get_gid() == "hull"]
    assert len(hulls) == 3  # fam0..fam2 have >= 3 models; t5 has 2
    assert {t.get_text() for t in ax.texts} == {"t5-a", "t5-b"}  # minority architecture labelled
    plt.close(fig)
    with pytest.raises(PhyloLLMError, match=r"hull_coverage must be a number in \(0, 1\], got 0"):
        plot_dna_map(embed(dna), meta=meta, hull_coverage=0)


def test_dna_map_html_is_self_contained(tmp_path: Path) -> None:
    dna, meta = _map_data()
    meta = meta.copy()
    meta.loc["org/f0-0", "organization"] = "</script><b>x"  # must not break out of the script
    p = write_dna_map_html(embed(dna), tmp_path / "map.html", meta=meta, title="Test map")
    text = p.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", text)
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"<link[^>]*href=", text)
    assert text.count("<script>") == 1 and text.count("</script>") == 1
    assert len(re.findall(r'class="pt[^"]*"', text)) == 20
    assert text.count('<rect class="pt minor"') == 2  # encoder-decoder drawn as squares
    assert "<polygon" in text
    # the embedded data round-trips as JSON and carries every model
    import json

    data = json.loads(text.split("var data=", 1)[1].split(";\n", 1)[0].replace("<\\/", "</"))
    assert sorted(d["m"] for d in data) == sorted(dna.labels)
    assert {d["y"] for d in data} == {"2023-01", "unknown"}
    with pytest.raises(PhyloLLMError, match="must end in .html"):
        write_dna_map_html(embed(dna), tmp_path / "map.svg")


def test_dna_map_html_script_behaviour(tmp_path: Path) -> None:
    """Run the page's script under node with a minimal fake DOM: search and legend filtering."""
    import json
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; the script's behaviour is checked where it is")
    dna, meta = _map_data()
    text = write_dna_map_html(embed(dna), tmp_path / "map.html", meta=meta).read_text()
    script = text.split("<script>", 1)[1].split("</script>", 1)[0]
    points = [int(i) for i in re.findall(r'class="pt[^"]*" data-i="(\d+)"', text)]
    groups = re.findall(r'<div data-g="([^"]+)">', text)
    harness = """
function El(ds){this.dataset=ds;this.cls={};this.h={};this.style={};this.textContent='';this.innerHTML='';this.value='';
  var self=this;this.classList={toggle:function(c,on){self.cls[c]=!!on;}};}
El.prototype.addEventListener=function(t,f){this.h[t]=f;};
El.prototype.fire=function(t,e){this.h[t](e||{clientX:0,clientY:0});};
var pts=POINTS.map(function(i){return new El({i:String(i)});});
var leg=GROUPS.map(function(g){return new El({g:g});});
var ids={tip:new El({}),q:new El({}),count:new El({})};
var document={querySelectorAll:function(s){return s==='.pt'?pts:leg;},getElementById:function(i){return ids[i];}};
SCRIPT
var out={initial:ids.count.textContent};
ids.q.value='t5'; ids.q.fire('input'); out.search=ids.count.textContent;
out.dimmed=pts.filter(function(p){return p.cls.dim;}).length;
ids.q.value=''; ids.q.fire('input'); leg[0].fire('click'); out.legend=ids.count.textContent; out.legendGroup=leg[0].dataset.g;
leg[0].fire('click'); out.reset=ids.count.textContent;
pts[0].fire('mousemove'); out.tip=ids.tip.innerHTML;
console.log(JSON.stringify(out));
"""
    js = harness.replace("POINTS", json.dumps(points)).replace("GROUPS", json.dumps(groups)).replace("SCRIPT", script)
    (tmp_path / "run.js").write_text(js)
    res = subprocess.run([node, str(tmp_path / "run.js")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["initial"] == "20 of 20 models"
    assert out["search"] == "2 of 20 models" and out["dimmed"] == 18
    assert out["legendGroup"] in {"fam0", "fam1", "fam2"} and out["legend"] == "6 of 20 models"
    assert out["reset"] == "20 of 20 models"
    assert "family:" in out["tip"] and "architecture:" in out["tip"]
    # names are escaped before they reach innerHTML
    meta.loc["org/f0-0", "organization"] = "<img src=x onerror=alert(1)>"
    text = write_dna_map_html(embed(dna), tmp_path / "map2.html", meta=meta).read_text()
    script = text.split("<script>", 1)[1].split("</script>", 1)[0]
    first = points.index(dna.labels.index("org/f0-0"))
    js = (
        harness.replace("POINTS", json.dumps(points))
        .replace("GROUPS", json.dumps(groups))
        .replace("SCRIPT", script)
        .replace("pts[0].fire('mousemove')", f"pts[{first}].fire('mousemove')")
    )
    (tmp_path / "run2.js").write_text(js)
    res = subprocess.run([node, str(tmp_path / "run2.js")], capture_output=True, text=True, timeout=60)
    tip = json.loads(res.stdout)["tip"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in tip and "<img" not in tip


def test_a_failed_figure_write_keeps_the_earlier_figure_whole(tmp_path: Path) -> None:
    """Disk full / file-size limit mid-savefig: exit 2, one line naming the path, old PNG intact."""
    import os
    import resource
    import subprocess
    import sys

    from phylo_llm.cli import main

    (tmp_path / "t.nwk").write_text("((a:1,b:2):1,(c:1,d:3):2,e:1);\n")
    fig = tmp_path / "t.png"
    assert main(["plot-tree", str(tmp_path / "t.nwk"), "-o", str(fig)]) == 0
    good = fig.read_bytes()
    assert len(good) > 4000

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    code = "import sys; from phylo_llm.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "plot-tree", str(tmp_path / "t.nwk"), "-o", str(fig), "--title", "new"],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        env={
            **os.environ,
            "MPLBACKEND": "Agg",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        },
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "File too large" in proc.stderr and str(fig) in proc.stderr
    assert fig.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.nwk", "t.png"]


def test_no_matplotlib_warnings_for_tabs_in_names_or_empty_legends(tmp_path: Path) -> None:
    """A report of a single-architecture set with a tab in a name: nothing leaks to stderr."""
    import warnings

    import pandas as pd

    from phylo_llm import DnaSet
    from phylo_llm.data import meta_frame
    from phylo_llm.report import make_report

    rng = np.random.default_rng(0)
    labels = ["org/tab\there"] + [f"org/m{i}" for i in range(5)]
    meta = meta_frame(
        pd.DataFrame(
            {
                "model": labels,
                "family": ["a", "a", "a", "b", "b", "b"],
                "architecture": ["decoder-only"] * 6,
                "release": [f"202{i}-0{i + 1}" for i in range(6)],
            }
        )
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_report(DnaSet(tuple(labels), rng.normal(size=(6, 4))), meta, tmp_path / "r", formats=["png"], n_boot=10)
    mpl = [str(w.message) for w in caught if "Glyph" in str(w.message) or "No artists" in str(w.message)]
    assert mpl == []


def test_plot_tree_refuses_duplicate_tip_names(tmp_path: Path, capsys) -> None:
    from phylo_llm.cli import main

    (tmp_path / "t.nwk").write_text("((a:1,b:2):1,(a:1,c:3):2);\n")
    assert main(["plot-tree", str(tmp_path / "t.nwk"), "-o", str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 name(s) occur more than once: ['a']" in err
    assert not (tmp_path / "t.png").exists()


def test_plot_tree_reads_the_nexus_that_tree_writes(tmp_path: Path) -> None:
    from phylo_llm.cli import main

    (tmp_path / "t.nwk").write_text("((a:1,b_c:2):1,(d:1,'e f':3):2);\n")
    from phylo_llm.io import read_newick, write_nexus

    write_nexus(read_newick(tmp_path / "t.nwk"), tmp_path / "t.nex")
    assert main(["plot-tree", str(tmp_path / "t.nex"), "-o", str(tmp_path / "t.png")]) == 0
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_family_legends_agree_across_figures(tmp_path: Path) -> None:
    """Tree, DNA map (static and HTML) and tree-position legends list families in one order."""
    import matplotlib.pyplot as plt
    from matplotlib.legend import Legend

    tree = _caterpillar(8)
    names = [f"t{i}" for i in range(8)]
    meta = meta_frame(
        pd.DataFrame(
            {
                "model": names,
                "family": ["z", "z", "z", "b", "a", "b", "a", None],  # ties (a, b) by name; unlabelled = other
                "architecture": ["decoder-only"] * 7 + ["encoder-decoder"],
                "release": [f"202{i % 4}-01" for i in range(8)],
            }
        )
    )
    colors = family_colors(["z", "z", "z", "b", "a", "b", "a"])
    want = ["z (3)", "a (2)", "b (2)", "other (1)"]

    def legend_texts(fig) -> list[list[str]]:
        legends = [c for c in fig.axes[0].get_children() if isinstance(c, Legend)]
        return [[t.get_text() for t in leg.get_texts()] for leg in legends]

    tf = plot_tree(tree, meta=meta, colors=colors)
    assert legend_texts(tf.figure)[0][:4] == want
    dm = pairwise_distances(np.random.default_rng(0).normal(size=(8, 3)), tuple(names))
    fig = plot_dna_map(embed(dm), meta=meta, colors=colors)
    assert legend_texts(fig) == [want, ["decoder-only (7)", "encoder-decoder (1)"]]
    fig2 = plot_tree_positions(tree_positions(tree, meta), colors=colors)
    assert legend_texts(fig2)[0] == [w.split(" (")[0] for w in want]
    plt.close("all")
    text = write_dna_map_html(embed(dm), tmp_path / "map.html", meta=meta, colors=colors).read_text()
    assert re.findall(r'<div data-g="([^"]+)"><span class="sw"[^>]*></span>[^<]*\((\d+)\)', text) == [
        ("z", "3"),
        ("a", "2"),
        ("b", "2"),
        ("other", "1"),
    ]
