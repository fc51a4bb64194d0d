"""One-call analysis report: trees, distances, speed, trend plots, tree figures, DNA map, index.

:func:`make_report` turns a DNA set and its metadata into a folder of results::

    index.md / index.html        links to everything below, with the key numbers
    distances.csv                pairwise DNA distances
    tree_nj.nwk, tree_upgma.nwk  NJ (midpoint-rooted, ladderized) and UPGMA trees
    speed.csv, speed.md          evolutionary speed per family (see phylo_llm.analysis)
    figures/*.png|pdf            tree figures (rectangular + circular), DNA map, trend plots
    dna_map.html                 interactive DNA map, one offline file
    tables/*.csv                 the numbers behind every trend plot
    discoveries.csv, .md         possible undocumented relatives (see phylo_llm.analysis)

Long steps report progress through a callback (``progress(step, i, n)``); the library never
prints. Figure formats are chosen with ``formats`` (PNG for viewing, PDF/SVG for print).
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np  # noqa: F401  (used by the docstring example)
import pandas as pd

from ..analysis import (
    Discoveries,
    SpeedResult,
    architecture_by_year,
    architecture_clades,
    centroid_distances,
    check_speed_options,
    discover_relationships,
    discoveries_markdown,
    family_speeds,
    family_vs_lineage,
    speed_markdown,
    tree_positions,
)
from ..data import (
    DistanceMatrix,
    DnaSet,
    Metric,
    dna_distances,
    join_meta,
    require_columns,
)
from ..errors import PhyloLLMError
from ..io import write_distance_matrix, write_newick
from ..plot import close_figure, family_colors, save_figure
from ..plot.dnamap import embed, plot_dna_map, write_dna_map_html
from ..plot.tree import plot_tree
from ..plot.trends import (
    plot_architecture_timeline,
    plot_centroid_drift,
    plot_speed,
    plot_speed_fits,
    plot_tree_positions,
)
from ..tree import Tree, ladderize, nj, root_midpoint, upgma
from ..util import atomic_write_text, check_fraction, check_output_dir, write_table

__all__ = ["Report", "make_report", "Progress"]

#: ``progress(step_description, step_number, n_steps)``; called before each step starts.
Progress = Callable[[str, int, int], None]

_FORMATS = ("png", "pdf", "svg")


@dataclass(frozen=True)
class Report:
    """What :func:`make_report` wrote: ``files`` maps a short key to a path inside ``out_dir``."""

    out_dir: Path
    files: Mapping[str, Path] = field(repr=False)
    nj: Tree = field(repr=False)
    upgma: Tree = field(repr=False)
    speed: SpeedResult = field(repr=False)
    #: An earlier report in ``out_dir`` was replaced as a whole (none of its files are left).
    replaced: bool = False

    @property
    def index(self) -> Path:
        return self.files["index.html"]


def make_report(
    dna: DnaSet,
    meta: pd.DataFrame,
    out_dir: str | Path,
    *,
    metric: Metric = "euclidean",
    formats: Sequence[str] = ("png", "pdf"),
    n_boot: int = 1000,
    seed: int | None = 0,
    min_models: int = 4,
    families: Mapping[str, str] | None = None,
    allow_extra: bool = True,
    title: str = "phylo_llm report",
    fdr: float = 0.1,
    progress: Progress | None = None,
) -> Report:
    """Write the full analysis of ``dna`` + ``meta`` into ``out_dir`` (created if needed).

    Parameters
    ----------
    dna
        DNA set; every model must have a metadata row.
    meta
        Metadata (:func:`phylo_llm.data.read_meta`): ``family``, ``architecture``, ``release``.
    metric
        DNA distance (``"euclidean"``, ``"cosine"``, ``"correlation"``).
    formats
        Figure formats, any of ``png``, ``pdf``, ``svg`` (each figure is written once per format).
    n_boot, seed, min_models
        Speed bootstrap resamples, seed and the smallest family with an estimate.
    families
        ``{model: family}`` overriding the table (structural families).
    allow_extra
        Accept metadata rows without DNA (default: yes; the table may cover more models).
    fdr
        False-discovery rate of the "possible undocumented relatives" table
        (:func:`phylo_llm.analysis.discover_relationships`).
    progress
        Called as ``progress(step, i, n)`` before each step.

    Returns
    -------
    Report

    Notes
    -----
    Every option is checked before anything is written, and the report is built in a temporary
    folder beside ``out_dir`` that takes its place only when complete: a failed report leaves
    nothing behind. An existing ``out_dir`` must be empty or hold an earlier report, which is
    then replaced as a whole (``Report.replaced``), never mixed with the new files.

    Examples
    --------
    >>> import tempfile, matplotlib; matplotlib.use("Agg")
    >>> from phylo_llm.data import meta_frame
    >>> rng = np.random.default_rng(0)
    >>> labels = [f"m{i}" for i in range(8)]
    >>> dna = DnaSet(tuple(labels), rng.normal(size=(8, 4)))
    >>> meta = meta_frame(pd.DataFrame({"model": labels, "family": ["a"] * 4 + ["b"] * 4,
    ...     "architecture": ["decoder-only"] * 7 + ["encoder-decoder"],
    ...     "release": [f"202{i % 4}-0{i % 9 + 1}" for i in range(8)]}))
    >>> rep = make_report(dna, meta, tempfile.mkdtemp(), formats=["png"], n_boot=50)
    >>> rep.index.name
    'index.html'
    """
    _check_options(dna, formats=formats, min_models=min_models, n_boot=n_boot, fdr=fdr)
    joined = join_meta(dna, meta, allow_extra=allow_extra, families=families)
    require_columns(joined, ["architecture", "release_year"], purpose="a report (trend plots)")
    out = Path(out_dir)
    replaced = _check_report_dir(out)
    real = out.resolve()  # "-o ." has no name to put a sibling beside
    tmp = _sibling_tmp_dir(real)
    try:
        files, nj_tree, up_tree, speed = _write_report(
            dna,
            joined,
            tmp,
            metric=metric,
            formats=formats,
            n_boot=n_boot,
            seed=seed,
            min_models=min_models,
            families=families,
            title=title,
            progress=progress,
            fdr=fdr,
        )
        _swap_in(tmp, real)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Report(out, {k: out / k for k in files}, nj_tree, up_tree, speed, replaced=replaced)


_MIN_MODELS = 3


def _check_options(dna: DnaSet, *, formats: Sequence[str], min_models: int, n_boot: int, fdr: float) -> None:
    """Every option of :func:`make_report` that can be checked before the metadata join."""
    bad = [f for f in formats if f not in _FORMATS]
    if bad or not formats:
        raise PhyloLLMError(f"formats must be a non-empty subset of {list(_FORMATS)}, got {list(formats)}")
    check_speed_options(min_models=min_models, n_boot=n_boot)
    check_fraction("fdr", fdr, open_left=True, open_right=True)
    if len(dna) < _MIN_MODELS:
        raise PhyloLLMError(f"a report needs the DNA of at least {_MIN_MODELS} models (for its trees), got {len(dna)}")


def _sibling_tmp_dir(real: Path) -> Path:
    """A fresh folder beside ``real`` (same file system, so the finished report moves in one rename)."""
    real.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700 folders; a report is a plain folder
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _check_report_dir(out: Path) -> bool:
    """``True`` when ``out`` holds an earlier report (to be replaced), ``False`` when new or empty."""
    check_output_dir(out)
    if not out.exists():
        return False
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return False
    stray = [n for n in entries if n not in _REPORT_ENTRIES] + [
        f"{sub}/{p.name}"
        for sub in ("figures", "tables")
        if (out / sub).is_dir()
        for p in (out / sub).iterdir()
        if not p.is_file()
    ]
    if stray or "index.html" not in entries:
        what = f"holds {stray[0]!r}" if stray else "has no index.html"
        raise PhyloLLMError(
            f"output folder {str(out)!r} is not empty and is not an earlier report ({what}); give a new or empty folder"
        )
    return True


def _swap_in(tmp: Path, out: Path) -> None:
    """Put the finished report ``tmp`` at ``out``, replacing an earlier one whole."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / "report")
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old / "report", out)  # put the earlier report back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


# ---- writing -----------------------------------------------------------------------------------

#: The steps :func:`make_report` reports through ``progress``, in order.
_STEPS = (
    "joining metadata",
    "distances",
    "NJ and UPGMA trees",
    "evolutionary speed",
    "architecture trends",
    "tree figures",
    "DNA map",
    "possible undocumented relatives",
    "index",
)


@dataclass(frozen=True)
class _Folder:
    """The report folder being written: every file goes in through here, which records its key."""

    root: Path
    formats: Sequence[str]
    files: dict[str, Path] = field(default_factory=dict)

    def put(self, key: str, write: Callable[[Path], object]) -> Path:
        """``write(path)`` for the file ``key`` (its path relative to the folder), then record it."""
        path = self.root / key
        write(path)
        self.files[key] = path
        return path

    def text(self, key: str, text: str) -> None:
        self.put(key, lambda p: atomic_write_text(p, text))

    def table(self, key: str, df: pd.DataFrame, *, index: bool = True) -> None:
        self.put(key, lambda p: write_table(df, p, index=index))

    def figure(self, fig: object, stem: str) -> None:
        """``figures/<stem>.<fmt>`` in every format; the figure is closed afterwards."""
        try:
            for fmt in self.formats:
                self.put(f"figures/{stem}.{fmt}", lambda p: save_figure(fig, p))
        finally:
            close_figure(fig)


def _write_report(
    dna: DnaSet,
    joined: pd.DataFrame,
    out: Path,
    *,
    metric: Metric,
    formats: Sequence[str],
    n_boot: int,
    seed: int | None,
    min_models: int,
    families: Mapping[str, str] | None,
    title: str,
    progress: Progress | None,
    fdr: float,
) -> tuple[dict[str, Path], Tree, Tree, SpeedResult]:
    """Every file of the report into ``out`` (a fresh folder); returns them, the trees and speeds."""
    (out / "figures").mkdir(exist_ok=True)
    (out / "tables").mkdir(exist_ok=True)
    folder = _Folder(out, formats)

    def tick(step: str) -> None:
        if progress is not None:
            progress(step, _STEPS.index(step) + 1, len(_STEPS))

    tick("joining metadata")  # the join itself was done (and checked) before the first write
    # One colour per family for every figure: computed over the models in this report.
    colors = family_colors([f for f in joined["family"] if isinstance(f, str)]) if "family" in joined else {}
    tick("distances")
    dm = dna_distances(dna, metric=metric)
    folder.put("distances.csv", lambda p: write_distance_matrix(dm, p))
    tick("NJ and UPGMA trees")
    nj_tree, up_tree = _write_trees(folder, dm)
    tick("evolutionary speed")
    speed = _write_speed(folder, nj_tree, joined, colors, n_boot=n_boot, seed=seed, min_models=min_models)
    family_lines = _write_family_vs_lineage(
        folder, nj_tree, joined, source="structural" if families else "metadata table"
    )
    tick("architecture trends")
    clades = _write_architecture_trends(folder, dna, joined, nj_tree, colors, metric=metric)
    tick("tree figures")
    _write_tree_figures(folder, nj_tree, up_tree, joined, colors)
    tick("DNA map")
    _write_dna_map(folder, dm, joined, colors)
    tick("possible undocumented relatives")
    relatives, relatives_line = _relatives(dm, joined, folder, fdr)
    tick("index")
    summary = _summary(dna, joined, speed, clades, metric) + family_lines + [relatives_line]
    table = _relatives_rows(relatives, fdr) if relatives is not None else []
    folder.text("index.md", _index_md(title, summary, folder.files, formats, table))
    folder.text("index.html", _index_html(title, summary, folder.files, formats, table))
    return folder.files, nj_tree, up_tree, speed


def _write_trees(folder: _Folder, dm: DistanceMatrix) -> tuple[Tree, Tree]:
    """NJ (midpoint-rooted) and UPGMA trees, both ladderized, as Newick."""
    nj_tree = ladderize(root_midpoint(nj(dm)))
    up_tree = ladderize(upgma(dm))
    folder.put("tree_nj.nwk", lambda p: write_newick(nj_tree, p))
    folder.put("tree_upgma.nwk", lambda p: write_newick(up_tree, p))
    return nj_tree, up_tree


def _write_speed(
    folder: _Folder,
    nj_tree: Tree,
    joined: pd.DataFrame,
    colors: Mapping[str, str],
    *,
    n_boot: int,
    seed: int | None,
    min_models: int,
) -> SpeedResult:
    """Speed per family: table, Markdown report and (when any family has an estimate) its two figures."""
    speed = family_speeds(nj_tree, joined, n_boot=n_boot, seed=seed, min_models=min_models, allow_extra=False)
    folder.table("speed.csv", speed.to_frame(), index=False)
    folder.text("speed.md", speed_markdown(speed))
    if any(f.estimable for f in speed.families):
        folder.figure(
            plot_speed(speed, colors=colors, title="Evolutionary speed per family (NJ, midpoint root)"), "speed"
        )
        folder.figure(plot_speed_fits(speed, colors=colors), "speed_fits")
    return speed


def _write_family_vs_lineage(folder: _Folder, nj_tree: Tree, joined: pd.DataFrame, *, source: str) -> list[str]:
    """Family (structural, or the table's) vs behavioural lineage: where DNA disagrees with family."""
    fam = {m: (f if isinstance(f, str) and f else f"unlabelled:{m}") for m, f in joined["family"].items()}
    fvl = family_vs_lineage(fam, nj_tree)
    folder.table("tables/family_vs_lineage.csv", fvl)
    return _family_lines(fvl, source)


def _write_architecture_trends(
    folder: _Folder,
    dna: DnaSet,
    joined: pd.DataFrame,
    nj_tree: Tree,
    colors: Mapping[str, str],
    *,
    metric: Metric,
) -> pd.DataFrame:
    """The four architecture tables and their figures; returns the per-architecture clade summary."""
    by_year = architecture_by_year(joined)
    cd = centroid_distances(dna, joined, metric=metric, allow_extra=False)
    pos = tree_positions(nj_tree, joined, allow_extra=False)
    clades = architecture_clades(nj_tree, joined, allow_extra=False)
    folder.table("tables/architecture_by_year.csv", by_year, index=False)
    folder.table("tables/centroid_distances.csv", cd)
    folder.table("tables/tree_positions.csv", pos)
    folder.table("tables/architecture_clades.csv", clades)
    folder.figure(
        plot_architecture_timeline(by_year, title="Models per release year by architecture"), "architecture_timeline"
    )
    majority = str(joined["architecture"].value_counts().index[0])
    folder.figure(
        plot_centroid_drift(cd, target=majority, title=f"Distance to the {majority} DNA centroid over time"),
        "architecture_drift",
    )
    folder.figure(
        plot_centroid_drift(cd, target="other", title="Distance to the other architecture's DNA centroid over time"),
        "architecture_drift_other",
    )
    folder.figure(
        plot_tree_positions(pos, colors=colors, title="Where models sit in the NJ tree, by release year"),
        "architecture_tree_positions",
    )
    return clades


def _write_tree_figures(
    folder: _Folder, nj_tree: Tree, up_tree: Tree, joined: pd.DataFrame, colors: Mapping[str, str]
) -> None:
    """Tree figures (NJ rectangular + circular, UPGMA rectangular), each with its label index table."""
    for tree, stem, layouts in (
        (nj_tree, "tree_nj", ("rectangular", "circular")),
        (up_tree, "tree_upgma", ("rectangular",)),
    ):
        for layout in layouts:
            tf = plot_tree(
                tree,
                meta=joined,
                colors=colors,
                layout=layout,
                release_strip=True,
                title=f"{stem.split('_')[1].upper()} tree of {tree.n_tips} models ({layout})",
            )
            folder.figure(tf.figure, f"{stem}_{layout}")  # drawn once, saved in every format
            folder.table(f"tables/{stem}_{layout}_labels.csv", tf.label_index(), index=False)


def _write_dna_map(folder: _Folder, dm: DistanceMatrix, joined: pd.DataFrame, colors: Mapping[str, str]) -> None:
    """The DNA map: static figure and the interactive offline HTML page."""
    emb = embed(dm)
    folder.figure(plot_dna_map(emb, meta=joined, colors=colors, title="DNA map (classical MDS)"), "dna_map")
    folder.put(
        "dna_map.html",
        lambda p: write_dna_map_html(emb, p, meta=joined, colors=colors, title=f"DNA map of {len(dm)} models"),
    )


def _relatives(dm: DistanceMatrix, joined: pd.DataFrame, folder: _Folder, fdr: float) -> tuple[Discoveries | None, str]:
    """Discoveries table (CSV + Markdown) and the summary line; says why when it cannot be made."""
    try:
        res = discover_relationships(dm, joined, order="p_value")  # calls first: the tables below list them
    except PhyloLLMError as exc:
        return None, f"Possible undocumented relatives: not computed ({exc})."
    n_sig = res.n_significant(fdr)
    df = res.to_frame(top=max(30, n_sig))
    df.insert(1, "significant", df["q_value"] <= fdr)
    folder.text("discoveries.csv", df.to_csv(index=False))
    folder.text("discoveries.md", discoveries_markdown(res, alpha=fdr))
    line = (
        f"Possible undocumented relatives: {n_sig} of {len(res)} pairs the labels do not link are unusually "
        f"close for both models at FDR {fdr:g} (Benjamini–Hochberg, conformal p-values against the "
        f"{res.n_calibration} pairs of labelled models from different families); proposals to check, not facts."
    )
    if n_sig < _RELATIVES_SHOWN:
        line += f" The table lists the {_RELATIVES_SHOWN} most extreme pairs; only those marked ✓ are calls."
    return res, line


#: Rows of the index page's relatives table when fewer pairs are called.
_RELATIVES_SHOWN = 5


_RELATIVES_HEAD = ("#", "pair (earlier → later)", "distance", "ranks", "families", "q")


def _relatives_rows(res: Discoveries, fdr: float, top: int = 10) -> list[tuple[str, ...]]:
    """The significant pairs (at most ``top``; at least the first :data:`_RELATIVES_SHOWN`) for the index page."""
    df = res.to_frame(top=min(top, max(_RELATIVES_SHOWN, res.n_significant(fdr))))
    rows = []
    for r in df.itertuples(index=False):
        arrow = "→" if r.orientation == "by release date" else "—"
        rows.append(
            (
                str(r.rank),
                f"{r.model_a} {arrow} {r.model_b}",
                f"{r.distance:.4g}",
                f"{r.rank_a}, {r.rank_b}",
                f"{r.family_a or '–'} / {r.family_b or '–'}",
                f"{r.q_value:.3g}" + (" ✓" if r.q_value <= fdr else ""),
            )
        )
    return rows


# ---- index -----------------------------------------------------------------------------------

_SECTIONS = (
    (
        "Trees",
        [
            ("tree_nj.nwk", "NJ tree, midpoint-rooted (Newick)"),
            ("tree_upgma.nwk", "UPGMA tree (Newick)"),
            ("distances.csv", "distance matrix (CSV)"),
        ],
    ),
    (
        "Tree figures",
        [
            ("figures/tree_nj_rectangular", "NJ tree, rectangular"),
            ("figures/tree_nj_circular", "NJ tree, circular"),
            ("figures/tree_upgma_rectangular", "UPGMA tree, rectangular"),
        ],
    ),
    (
        "Evolutionary speed",
        [
            ("speed.md", "speed report (Markdown)"),
            ("speed.csv", "speed table (CSV)"),
            ("figures/speed", "speed per family"),
            ("figures/speed_fits", "divergence vs release date"),
        ],
    ),
    (
        "Architectures",
        [
            ("figures/architecture_timeline", "models per year by architecture"),
            ("figures/architecture_drift", "distance to the majority centroid over time"),
            ("figures/architecture_drift_other", "distance to the other architecture's centroid over time"),
            ("figures/architecture_tree_positions", "positions in the tree over time"),
            ("tables/architecture_clades.csv", "per-architecture clade summary (CSV)"),
            ("tables/architecture_by_year.csv", "counts per year (CSV)"),
            ("tables/centroid_distances.csv", "distances to centroids (CSV)"),
            ("tables/tree_positions.csv", "tree positions and nearest neighbours (CSV)"),
        ],
    ),
    ("DNA map", [("dna_map.html", "interactive DNA map (offline HTML)"), ("figures/dna_map", "DNA map (static)")]),
    (
        "Family vs lineage",
        [
            (
                "tables/family_vs_lineage.csv",
                "per model: nearest DNA relative, same family?, family forms a clade? (CSV)",
            )
        ],
    ),
    (
        "Possible undocumented relatives",
        [
            ("discoveries.md", "pairs the labels do not link, ranked, with q-values (Markdown)"),
            ("discoveries.csv", "the same with the evidence per pair (CSV)"),
        ],
    ),
)


#: Names a report writes at its top level; a folder holding only these is an earlier report.
#: Derived from the index table, so a file added to the report is known here too.
_REPORT_ENTRIES = frozenset(
    {"index.md", "index.html"} | {key.split("/")[0] for _, items in _SECTIONS for key, _ in items}
)


def _family_lines(fvl: pd.DataFrame, source: str) -> list[str]:
    """Summary of where families (structural or labelled) and DNA lineage agree."""
    multi = fvl[fvl["family_size"] > 1]
    same = multi["nearest_same_family"].astype("boolean")
    clade = multi.groupby("family")["family_is_clade"].first().astype("boolean")
    split = sorted(str(f) for f, is_clade in clade.items() if not pd.isna(is_clade) and not is_clade)
    lines = [
        f"Family ({source}) vs DNA lineage: {int(same.sum())} of {len(multi)} models in multi-model "
        f"families have a nearest DNA relative from their own family; {int(clade.sum())} of "
        f"{len(clade)} such families form a clade in the NJ tree."
    ]
    if split:
        shown = ", ".join(split[:8]) + (" ..." if len(split) > 8 else "")
        lines.append(f"Families split across the tree (same build, diverged behaviour): {shown}.")
    return lines


def _summary(dna: DnaSet, joined: pd.DataFrame, speed: SpeedResult, clades: pd.DataFrame, metric: str) -> list[str]:
    arch = joined["architecture"].value_counts() if "architecture" in joined else pd.Series(dtype=int)
    ok = [f for f in speed.families if f.estimable]
    lines = [
        f"{len(dna)} models, {dna.dims}-d DNA, {metric} distances; "
        f"{joined['family'].nunique()} families; " + ", ".join(f"{k}: {v}" for k, v in arch.items()) + ".",
        f"Speed estimated for {len(ok)} families (at least {speed.min_models} dated models); "
        f"{len(speed.families) - len(ok)} too small or undated.",
    ]
    if ok:
        lines.append(
            f"Fastest: {ok[0].family} ({ok[0].speed:+.3g}/yr); slowest: {ok[-1].family} ({ok[-1].speed:+.3g}/yr)."
        )
    for a, row in clades.iterrows():
        lines.append(
            f"{a}: {int(row['n_models'])} models, nearest NJ neighbour of the same architecture for "
            f"{100 * row['nearest_same_share']:.0f}%, {'monophyletic' if row['monophyletic'] else 'not monophyletic'}."
        )
    return lines


def _entries(files: Mapping[str, Path], formats: Sequence[str]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    out = []
    for section, items in _SECTIONS:
        rows = []
        for key, text in items:
            if key in files:
                rows.append((key, text, ""))
            else:
                variants = [f"{key}.{fmt}" for fmt in formats if f"{key}.{fmt}" in files]
                if variants:
                    rows.append((variants[0], text, " ".join(variants[1:])))
        if rows:
            out.append((section, rows))
    return out


def _index_md(
    title: str,
    summary: list[str],
    files: Mapping[str, Path],
    formats: Sequence[str],
    relatives: Sequence[tuple[str, ...]] = (),
) -> str:
    lines = [f"# {title}", ""] + [f"- {s}" for s in summary] + [""]
    for section, rows in _entries(files, formats):
        lines += [f"## {section}", ""]
        for key, text, more in rows:
            extra = "".join(f" ([{Path(m).suffix[1:]}]({m}))" for m in more.split())
            lines.append(f"- [{text}]({key}){extra}")
        lines.append("")
        if section == "Possible undocumented relatives" and relatives:
            lines += ["| " + " | ".join(_RELATIVES_HEAD) + " |", "|" + "---|" * len(_RELATIVES_HEAD)]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in relatives]
            lines.append("")
    return "\n".join(lines)


def _index_html(
    title: str,
    summary: list[str],
    files: Mapping[str, Path],
    formats: Sequence[str],
    relatives: Sequence[tuple[str, ...]] = (),
) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>body{{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;max-width:1100px;color:#222}}"
        "h1{font-size:20px}h2{font-size:16px;margin-top:28px}li{margin:3px 0}"
        "figure{display:inline-block;margin:8px 12px 8px 0;vertical-align:top}"
        "figure img{max-width:520px;max-height:420px;border:1px solid #ddd}figcaption{font-size:12px;color:#555}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}</style></head><body>",
        f"<h1>{e(title)}</h1><ul>" + "".join(f"<li>{e(s)}</li>" for s in summary) + "</ul>",
    ]
    for section, rows in _entries(files, formats):
        parts.append(f"<h2>{e(section)}</h2><ul>")
        figs = []
        for key, text, more in rows:
            extra = "".join(f" (<a href='{e(m)}'>{e(Path(m).suffix[1:])}</a>)" for m in more.split())
            parts.append(f"<li><a href='{e(key)}'>{e(text)}</a>{extra}</li>")
            if key.endswith(".png") and "tree_" not in key:
                figs.append(
                    f"<figure><a href='{e(key)}'><img src='{e(key)}' alt='{e(text)}'></a><figcaption>{e(text)}</figcaption></figure>"
                )
        parts.append("</ul>" + "".join(figs))
        if section == "Possible undocumented relatives" and relatives:
            parts.append(
                "<table><tr>"
                + "".join(f"<th>{e(h)}</th>" for h in _RELATIVES_HEAD)
                + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in relatives)
                + "</table>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)
