"""DNA map: a 2-D embedding of the models' DNA, coloured by family, with family hulls.

:func:`embed` places the models in the plane by classical (Torgerson) MDS of their distance
matrix — plain numpy, deterministic, no extra dependency: the double-centred squared distances
``B = -½ J D² J`` are eigendecomposed and the two leading eigenvectors, scaled by the square
roots of their eigenvalues, are the coordinates. Axis signs are fixed (the coordinate of largest
magnitude is positive), so the same data always gives the same picture.

:func:`plot_dna_map` draws it with matplotlib (convex hull per coloured family,
``scipy.spatial.ConvexHull``); :func:`write_dna_map_html` writes an interactive, self-contained
HTML file (inline SVG plus a few lines of vanilla JavaScript for hover details, search and
family highlighting; no network access needed, no CDN).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..data import DistanceMatrix, DnaSet, Metric, dna_distances, format_release
from ..errors import PhyloLLMError
from ..util import atomic_write_text, check_fraction, check_int, readonly
from ._style import (
    OTHER,
    OTHER_COLOR,
    annotate_points,
    architecture_handles,
    architecture_marker,
    family_architecture_legends,
    family_colors,
    family_handles,
    family_legend_counts,
    family_legend_label,
    style,
)

__all__ = ["DnaEmbedding", "embed", "plot_dna_map", "write_dna_map_html"]


@dataclass(frozen=True)
class DnaEmbedding:
    """Models placed in the plane: ``coords[i]`` is the position of ``labels[i]``.

    ``explained`` is the share of the positive eigenvalue mass carried by each axis (how faithful
    the 2-D picture is).
    """

    labels: tuple[str, ...]
    coords: NDArray[np.float64] = field(repr=False)
    explained: tuple[float, ...]
    method: str = "classical-mds"


def embed(data: DnaSet | DistanceMatrix, *, dims: int = 2, metric: Metric = "euclidean") -> DnaEmbedding:
    """Classical MDS of a DNA set (distances by ``metric``) or of a distance matrix.

    Examples
    --------
    >>> dm = DistanceMatrix(("a", "b", "c"), [[0, 3, 4], [3, 0, 5], [4, 5, 0]])
    >>> e = embed(dm)
    >>> from scipy.spatial.distance import pdist
    >>> np.allclose(pdist(e.coords), [3, 4, 5])  # a Euclidean triangle is reproduced exactly
    True
    """
    check_int("dims", dims, min=1)
    dm = dna_distances(data, metric=metric) if isinstance(data, DnaSet) else data
    n = len(dm)
    if n < 2:
        raise PhyloLLMError(f"an embedding needs at least 2 models, got {n}")
    d2 = np.asarray(dm.values, dtype=np.float64) ** 2
    # Double centring without forming J: subtract row and column means, add the grand mean.
    row = d2.mean(axis=0)
    b = -0.5 * (d2 - row[None, :] - row[:, None] + row.mean())
    w, v = np.linalg.eigh(b)
    order = np.argsort(w)[::-1]
    w, v = w[order], v[:, order]
    k = min(dims, n)
    lam = np.clip(w[:k], 0.0, None)
    coords = v[:, :k] * np.sqrt(lam)[None, :]
    for j in range(k):
        i = int(np.argmax(np.abs(coords[:, j])))
        if coords[i, j] < 0:
            coords[:, j] = -coords[:, j]
    if k < dims:
        coords = np.concatenate([coords, np.zeros((n, dims - k))], axis=1)
    pos = w[w > 0].sum()
    explained = tuple(float(x / pos) if pos > 0 else 0.0 for x in np.clip(w[:dims], 0, None))
    return DnaEmbedding(tuple(dm.labels), readonly(coords), explained)


def _meta_columns(labels: tuple[str, ...], meta: pd.DataFrame | None) -> pd.DataFrame:
    out = pd.DataFrame(index=pd.Index(labels, name="model"))
    for c in ("family", "architecture", "release_year", "organization"):
        if meta is not None and c in meta.columns:
            out[c] = meta[c].reindex(list(labels)).to_numpy()
        else:
            out[c] = None
    return out


def plot_dna_map(
    emb: DnaEmbedding,
    *,
    meta: pd.DataFrame | None = None,
    colors: Mapping[str, str] | None = None,
    hulls: bool = True,
    hull_coverage: float = 0.8,
    label: str | None = "minority",
    title: str | None = None,
    figsize: tuple[float, float] = (7.0, 5.2),
) -> Any:
    """Scatter of the embedding: colour = family, marker = architecture, hulls per coloured family.

    Parameters
    ----------
    emb
        From :func:`embed`.
    meta
        Metadata indexed by model (``family``, ``architecture``); missing rows draw grey.
    colors
        ``{family: colour}`` (default: :func:`~phylo_llm.plot.family_colors` of these models).
    hulls
        Draw a convex hull around each family that has its own colour and at least 3 models.
    hull_coverage
        Share of each family's models inside its hull: the ones farthest from the family's median
        position are left out, so one outlier does not stretch the hull over the whole map
        (``1.0`` = all models).
    label
        ``"minority"`` labels models of the less common architectures, ``None`` labels nothing.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> dm = DistanceMatrix(("a", "b", "c"), [[0, 3, 4], [3, 0, 5], [4, 5, 0]])
    >>> fig = plot_dna_map(embed(dm))
    """
    check_fraction("hull_coverage", hull_coverage, open_left=True)
    if label not in ("minority", None):
        raise PhyloLLMError(f"label must be 'minority' or None, got {label!r}")
    import matplotlib.pyplot as plt

    models = _MapModels.of(emb.labels, meta, colors)
    xy = emb.coords[:, :2]
    arch_counts = pd.Series(models.arch).value_counts()
    with style():
        fig, ax = plt.subplots(figsize=figsize)
        if hulls:
            _draw_hulls(ax, xy, models, hull_coverage)
        _draw_models(ax, emb, models, label_minority=label == "minority")
        ev = emb.explained
        ax.set_xlabel(f"MDS 1 ({100 * ev[0]:.0f}% of variance)")
        ax.set_ylabel(f"MDS 2 ({100 * ev[1]:.0f}% of variance)" if len(ev) > 1 else "MDS 2")
        ax.set_aspect("equal", adjustable="datalim")
        family_architecture_legends(
            ax,
            family_handles(family_legend_counts(models.fam, models.colors), models.colors, markeredgecolor="white"),
            architecture_handles(list(arch_counts.index), arch_counts, markeredgecolor="#222222"),
            x=1.01,
        )
        if title:
            ax.set_title(title, loc="left")
    return fig


def _draw_hulls(ax: Any, xy: NDArray[np.float64], models: _MapModels, coverage: float) -> None:
    """A shaded hull around the central ``coverage`` of each coloured family."""
    for f in sorted(set(models.groups) - {OTHER}):
        poly = _core_hull(xy[[i for i, g in enumerate(models.groups) if g == f]], coverage)
        if poly is None:
            continue
        c = models.colors[f]
        ax.fill(poly[:, 0], poly[:, 1], color=c, alpha=0.10, lw=0, zorder=0)
        ax.fill(poly[:, 0], poly[:, 1], fill=False, edgecolor=c, lw=0.8, alpha=0.8, zorder=1, gid="hull")


def _draw_models(ax: Any, emb: DnaEmbedding, models: _MapModels, *, label_minority: bool) -> None:
    """One marker per model (colour = family, shape = architecture); minority architectures larger, outlined."""
    xy = emb.coords[:, :2]
    arch_counts = pd.Series(models.arch).value_counts()
    # Grey "other" first so coloured families draw on top.
    order = sorted(range(len(models.fam)), key=lambda i: models.groups[i] != OTHER)
    for a in arch_counts.index:
        idx = [i for i in order if models.arch[i] == a]
        minority = a != arch_counts.index[0]
        ax.scatter(
            xy[idx, 0],
            xy[idx, 1],
            c=[models.color(i) for i in idx],
            marker=architecture_marker(a),
            s=34 if minority else 16,
            edgecolors="#222222" if minority else "white",
            linewidths=0.8 if minority else 0.3,
            zorder=3 if minority else 2,
            gid="models",
        )
        if minority and label_minority:
            annotate_points(ax, [emb.labels[i] for i in idx], xy[idx, 0], xy[idx, 1])


# ---- interactive HTML ----------------------------------------------------------------------------

_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>
body{{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;margin:16px;color:#222}}
h1{{font-size:16px;margin:0 0 6px}} p.note{{font-size:12px;color:#555;margin:0 0 8px}}
#wrap{{display:flex;gap:16px;align-items:flex-start}}
svg{{border:1px solid #ddd;background:#fff}}
.pt{{stroke:#fff;stroke-width:0.6;cursor:pointer}} .pt.minor{{stroke:#222;stroke-width:1.2}}
.pt.dim{{opacity:0.12}} .pt.hit{{stroke:#000;stroke-width:2}}
#side{{font-size:12px;max-width:260px}} #side input{{width:240px;padding:4px;font-size:12px}}
#legend div{{cursor:pointer;margin:2px 0;white-space:nowrap}} #legend span.sw{{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px;vertical-align:middle}}
#legend div.off{{opacity:0.35}}
#tip{{position:fixed;pointer-events:none;background:rgba(255,255,255,0.95);border:1px solid #999;padding:4px 6px;font-size:12px;display:none;border-radius:3px}}
#count{{color:#555;margin:4px 0 8px}}
</style></head><body>
<h1>{title}</h1>
<p class="note">{note}</p>
<div id="wrap">
<svg id="map" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="DNA map">
{hulls}
{points}
</svg>
<div id="side">
<input id="q" type="search" placeholder="search model, family, organisation..." aria-label="search">
<div id="count"></div>
<div><b>family</b> (click to highlight)</div>
<div id="legend">{legend}</div>
<div style="margin-top:8px"><b>architecture</b>: circle = decoder-only, square = encoder-decoder</div>
</div></div>
<div id="tip"></div>
<script>
(function(){{
var data={data};
var pts=document.querySelectorAll('.pt'), tip=document.getElementById('tip'), q=document.getElementById('q');
var count=document.getElementById('count'), active=null;
var ENT={{'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}};
function esc(s){{return String(s).replace(/[&<>"']/g,function(c){{return ENT[c];}});}}
function show(){{
  var s=q.value.trim().toLowerCase(), n=0;
  pts.forEach(function(p){{
    var d=data[+p.dataset.i], hay=(d.m+' '+d.f+' '+d.o+' '+d.a).toLowerCase();
    var ok=(!s||hay.indexOf(s)>=0)&&(!active||d.g===active);
    p.classList.toggle('dim',!ok); p.classList.toggle('hit',ok&&(s.length>0||active!==null)); if(ok)n++;
  }});
  count.textContent=n+' of '+pts.length+' models';
}}
pts.forEach(function(p){{
  p.addEventListener('mousemove',function(e){{
    var d=data[+p.dataset.i];
    tip.innerHTML='<b>'+esc(d.m)+'</b><br>family: '+esc(d.f)+'<br>architecture: '+esc(d.a)+'<br>release: '+esc(d.y)+(d.o?'<br>organisation: '+esc(d.o):'');
    tip.style.left=(e.clientX+12)+'px'; tip.style.top=(e.clientY+12)+'px'; tip.style.display='block';
  }});
  p.addEventListener('mouseleave',function(){{tip.style.display='none';}});
}});
document.querySelectorAll('#legend div').forEach(function(el){{
  el.addEventListener('click',function(){{
    active=(active===el.dataset.g)?null:el.dataset.g;
    document.querySelectorAll('#legend div').forEach(function(o){{o.classList.toggle('off',active!==null&&o.dataset.g!==active);}});
    show();
  }});
}});
q.addEventListener('input',show); show();
}})();
</script>
</body></html>
"""


def write_dna_map_html(
    emb: DnaEmbedding,
    path: str | Path,
    *,
    meta: pd.DataFrame | None = None,
    colors: Mapping[str, str] | None = None,
    title: str = "DNA map",
    size: int = 760,
    hull_coverage: float = 0.8,
) -> Path:
    """Write an interactive, self-contained HTML DNA map (inline SVG + vanilla JS, works offline).

    Hover shows a model's details, the search box filters by model/family/organisation, and
    clicking a family in the legend highlights it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> dm = DistanceMatrix(("a", "b", "c"), [[0, 3, 4], [3, 0, 5], [4, 5, 0]])
    >>> p = write_dna_map_html(embed(dm), pathlib.Path(tempfile.mkdtemp()) / "map.html")
    >>> "<script src" in p.read_text()
    False
    """
    check_fraction("hull_coverage", hull_coverage, open_left=True)
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise PhyloLLMError(f"HTML map file name must end in .html, got {path.name!r}")
    models = _MapModels.of(emb.labels, meta, colors)
    px, py = _svg_pixels(emb.coords[:, :2], size)
    legend = "".join(
        f'<div data-g="{html.escape(k, quote=True)}"><span class="sw" style="background:{models.colors.get(k, OTHER_COLOR)}"></span>'
        f"{html.escape(k)} ({n})</div>"
        for k, n in family_legend_counts(models.fam, models.colors).items()
    )
    text = _HTML.format(
        title=html.escape(title),
        note=_html_note(emb, hull_coverage),
        w=size,
        h=size,
        hulls="\n".join(_svg_hulls(px, py, models, hull_coverage)),
        points="\n".join(_svg_points(px, py, models)),
        legend=legend,
        data=_hover_data(emb, models),
    )
    atomic_write_text(path, text)
    return path


@dataclass(frozen=True)
class _MapModels:
    """Per model of a map (in the embedding's order): metadata, family, architecture and legend group."""

    info: pd.DataFrame
    fam: list[str | None]
    arch: list[str]  # "unknown" where not given
    groups: list[str]  # legend entry: the family, or OTHER
    colors: Mapping[str, str]

    @classmethod
    def of(cls, labels: tuple[str, ...], meta: pd.DataFrame | None, colors: Mapping[str, str] | None) -> _MapModels:
        info = _meta_columns(labels, meta)
        fam = [f if isinstance(f, str) else None for f in info["family"]]
        arch = [a if isinstance(a, str) else "unknown" for a in info["architecture"]]
        if colors is None:
            colors = family_colors([f for f in fam if f is not None])
        return cls(info, fam, arch, [family_legend_label(f, colors) for f in fam], colors)

    def color(self, i: int) -> str:
        return self.colors.get(self.fam[i], OTHER_COLOR) if self.fam[i] else OTHER_COLOR


def _svg_pixels(
    xy: NDArray[np.float64], size: int, pad: float = 24.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Map coordinates to SVG pixels: equal scale on both axes, ``pad`` pixels of margin."""
    xy = np.asarray(xy, dtype=float)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-12))
    scale = (size - 2 * pad) / span
    px = pad + (xy[:, 0] - lo[0]) * scale
    py = size - pad - (xy[:, 1] - lo[1]) * scale  # SVG y grows downwards
    return px, py


def _svg_hulls(px: NDArray[np.float64], py: NDArray[np.float64], models: _MapModels, coverage: float) -> list[str]:
    """One ``<polygon>`` per coloured family of at least 3 models: the hull of its central ``coverage``."""
    out = []
    for g in sorted(set(models.groups) - {OTHER}):
        idx = [i for i, x in enumerate(models.groups) if x == g]
        if len(idx) < 3:
            continue
        core = _core_hull(np.stack([px[idx], py[idx]], axis=1), coverage)
        if core is None:
            continue
        poly = " ".join(f"{a:.1f},{b:.1f}" for a, b in core)
        c = models.colors[g]
        out.append(
            f'<polygon points="{poly}" fill="{c}" fill-opacity="0.10" stroke="{c}" stroke-opacity="0.8" stroke-width="0.8"/>'
        )
    return out


def _svg_points(px: NDArray[np.float64], py: NDArray[np.float64], models: _MapModels) -> list[str]:
    """One marker per model; grey "other" and the majority architecture first, so the rest draw on top."""
    major = pd.Series(models.arch).value_counts().index[0]
    order = sorted(range(len(models.fam)), key=lambda i: (models.groups[i] != OTHER, models.arch[i] != major))
    out = []
    for i in order:
        c = models.color(i)
        minor = " minor" if models.arch[i] != major else ""
        if architecture_marker(models.arch[i]) == "s":
            out.append(
                f'<rect class="pt{minor}" data-i="{i}" x="{px[i] - 4.5:.1f}" y="{py[i] - 4.5:.1f}" width="9" height="9" fill="{c}"/>'
            )
        else:
            r = 3.5 if not minor else 4.5
            out.append(f'<circle class="pt{minor}" data-i="{i}" cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="{r}" fill="{c}"/>')
    return out


def _hover_data(emb: DnaEmbedding, models: _MapModels) -> str:
    """The per-model details shown on hover, as a JavaScript array literal safe inside ``<script>``."""
    years, org = models.info["release_year"], models.info["organization"]
    data = [
        {
            "m": emb.labels[i],
            "f": models.fam[i] or "unknown",
            "g": models.groups[i],
            "a": models.arch[i],
            "o": org.iloc[i] if isinstance(org.iloc[i], str) else "",
            "y": format_release(float(years.iloc[i])) if isinstance(years.iloc[i], (int, float)) else "unknown",
        }
        for i in range(len(emb.labels))
    ]
    # "</" inside a <script> would end it early; escape it so model names cannot break the page.
    return json.dumps(data, ensure_ascii=True).replace("</", "<\\/")


def _html_note(emb: DnaEmbedding, hull_coverage: float) -> str:
    ev = emb.explained
    return html.escape(
        f"{len(emb.labels)} models; classical MDS of DNA distances "
        f"(axes carry {100 * ev[0]:.0f}% and {100 * (ev[1] if len(ev) > 1 else 0):.0f}% of the variance). "
        f"Colour = family (top families; grey = other); outline = hull of the central {100 * hull_coverage:.0f}% "
        "of each family's models."
    )


def _core_hull(pts: NDArray[np.float64], coverage: float) -> NDArray[np.float64] | None:
    """Convex hull vertices of the ``coverage`` share of points closest to their median."""
    from scipy.spatial import ConvexHull, QhullError

    if len(pts) < 3:
        return None
    keep = max(3, int(np.ceil(coverage * len(pts))))
    d = np.linalg.norm(pts - np.median(pts, axis=0), axis=1)
    core = pts[np.argsort(d, kind="stable")[:keep]]
    try:
        hull = ConvexHull(core)
    except QhullError:  # collinear points have no 2-D hull; nothing to draw
        return None
    return core[hull.vertices]
