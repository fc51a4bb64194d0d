"""Evolutionary speed per model family, read from a rooted tree's branch lengths.

Definition
----------
Let the tree be rooted (by default: the NJ tree rooted at its midpoint). For a family ``F``
(the metadata's ``family`` column, or a structural override) with tips ``T_F`` in the tree:

1. ``a_F`` = the most recent common ancestor (MRCA) of all of ``T_F``.
2. For each tip ``i`` in ``T_F``, its **divergence** ``d_i`` = path length from ``a_F`` to ``i``
   (root-to-tip distance measured from the family's own ancestor, not from the tree's root, so the
   rooting of the rest of the tree does not enter).
3. Over the tips with a release date ``t_i`` (decimal years), fit ``d_i = α + β t_i`` by ordinary
   least squares. **Speed** ``β`` is DNA divergence gained per year of release date: how quickly
   the family's behaviour drifts away from its common ancestor as newer models appear.
   ``R²`` says how well date explains divergence.
4. A percentile **bootstrap CI** for ``β`` (95 % by default, ``ci``): resample the dated tips with replacement
   (``n_boot`` times, ``numpy.random.default_rng(seed)``); resamples with no date spread are
   redrawn, never dropped silently.

Also reported: the median **terminal branch length** of the family's tips (how far each model sits
from its nearest branching point — a per-model novelty that needs no dates), the number of models
and of dated models, the date span, the MRCA's clade size and whether the family is
**monophyletic** (the MRCA's clade holds only the family's tips; when it does not, ``d_i`` is
measured from an ancestor shared with other families and is larger).

A family is **not estimable** (``speed = nan``, with the reason in ``status``) when it has fewer
than ``min_models`` dated tips (default 4) or when all its dated tips share one release date.
Units: the tree's branch-length units (DNA distance) per year.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..data import format_release, join_meta, require_columns
from ..errors import PhyloLLMError
from ..tree import Tree, root_midpoint
from ..util import check_choice, check_int, readonly

__all__ = [
    "FamilySpeed",
    "SpeedResult",
    "family_speeds",
    "family_clades",
    "check_speed_options",
    "speed_markdown",
    "Rooting",
    "STATUS_OK",
]

Rooting = Literal["as-is", "midpoint"]

STATUS_OK = "ok"


@dataclass(frozen=True)
class FamilySpeed:
    """Speed estimate for one family (see the module docstring for the definition).

    ``models``, ``years`` and ``divergence`` hold the dated tips used in the fit (for plotting).
    """

    family: str
    n_models: int
    n_dated: int
    speed: float
    ci_low: float
    ci_high: float
    r2: float
    intercept: float
    first_year: float
    last_year: float
    median_terminal: float
    clade_size: int
    monophyletic: bool
    status: str
    models: tuple[str, ...] = field(repr=False, default=())
    years: NDArray[np.float64] = field(repr=False, default_factory=lambda: np.empty(0))
    divergence: NDArray[np.float64] = field(repr=False, default_factory=lambda: np.empty(0))

    @property
    def estimable(self) -> bool:
        return self.status == STATUS_OK


@dataclass(frozen=True)
class SpeedResult:
    """Per-family speeds, ranked: estimable families by speed (fastest first), then the rest."""

    families: tuple[FamilySpeed, ...]
    n_boot: int
    seed: int | None
    min_models: int
    unit: str = "DNA distance per year"
    #: Confidence level of the bootstrap CI (``ci_low``, ``ci_high``).
    ci: float = 0.95

    def to_frame(self) -> pd.DataFrame:
        """One row per family with the scalar fields, in rank order (``rank`` 1 = fastest)."""
        cols = [
            "family",
            "speed",
            "ci_low",
            "ci_high",
            "r2",
            "n_models",
            "n_dated",
            "first_year",
            "last_year",
            "median_terminal",
            "clade_size",
            "monophyletic",
            "status",
        ]
        rows = [{c: getattr(f, c) for c in cols} for f in self.families]
        df = pd.DataFrame(rows, columns=cols)
        rank = np.full(len(df), np.nan)
        ok = (df["status"] == STATUS_OK).to_numpy()
        rank[ok] = np.arange(1, int(ok.sum()) + 1)
        df.insert(0, "rank", pd.array(rank, dtype="Int64") if len(df) else pd.array([], dtype="Int64"))
        return df

    def __getitem__(self, family: str) -> FamilySpeed:
        for f in self.families:
            if f.family == family:
                return f
        raise PhyloLLMError(f"no family {family!r} in this speed result")


def family_clades(tree: Tree, tip_family: Mapping[str, str]) -> dict[str, tuple[int, int]]:
    """MRCA node and its clade's tip count for each family, in one postorder pass.

    Parameters
    ----------
    tree
        Any tree; the answer depends on its root.
    tip_family
        ``{tip name: family}``; tips not listed belong to no family.

    Returns
    -------
    dict
        ``{family: (mrca_node_index, n_tips_in_mrca_clade)}``.

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 0, 1, 1], name=[None, None, "c", "a", "b"])
    >>> family_clades(t, {"a": "x", "b": "x", "c": "y"})  # preorder: root, (a,b) node, a, b, c
    {'x': (1, 2), 'y': (4, 1)}
    """
    fams = sorted(set(tip_family.values()))
    col = {f: j for j, f in enumerate(fams)}
    n = len(tree)
    counts = np.zeros((n, len(fams)), dtype=np.int64)
    for v in tree.tips:
        nm = tree.name[v]
        if nm in tip_family:
            counts[v, col[tip_family[nm]]] = 1
    n_tips = tree.is_tip.astype(np.int64)
    parent = tree.parent
    # Postorder accumulation: children have larger indices than their parent.
    for v in range(n - 1, 0, -1):
        counts[parent[v]] += counts[v]
        n_tips[parent[v]] += n_tips[v]
    out: dict[str, tuple[int, int]] = {}
    for f, j in col.items():
        total = counts[0, j]
        # Every node whose clade holds all of F lies on the root→MRCA path; in preorder the MRCA
        # is the one with the largest index.
        full = np.flatnonzero(counts[:, j] == total)
        m = int(full.max())
        out[f] = (m, int(n_tips[m]))
    return out


def check_speed_options(*, min_models: int, n_boot: int) -> None:
    """Refuse speed settings that cannot work, before any work (used by reports too).

    Examples
    --------
    >>> check_speed_options(min_models=4, n_boot=-1)
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: n_boot must be an integer >= 0, got -1
    """
    check_int("min_models", min_models, min=3, note="a fit needs a residual")
    check_int("n_boot", n_boot, min=0)


def family_speeds(
    tree: Tree,
    meta: pd.DataFrame,
    *,
    rooting: Rooting = "as-is",
    min_models: int = 4,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int | None = 0,
    families: Mapping[str, str] | None = None,
    allow_extra: bool = True,
) -> SpeedResult:
    """Evolutionary speed of every family in ``tree`` (definition in the module docstring).

    Parameters
    ----------
    tree
        Tree over the models, with branch lengths. Must be rooted unless ``rooting="midpoint"``.
    meta
        Metadata (:func:`phylo_llm.data.read_meta`) with ``family`` and ``release`` columns.
    rooting
        ``"as-is"`` uses the tree's root (the tree must say ``rooted=True``); ``"midpoint"`` roots
        it at the midpoint of its longest tip-to-tip path first.
    min_models
        Fewest dated tips for an estimate (at least 3, so a line has a residual).
    n_boot, ci, seed
        Bootstrap resamples, confidence level and seed of the slope CI. ``n_boot=0`` skips the CI.
    families
        ``{model: family}`` overriding the table (e.g. structural families).
    allow_extra
        Accept metadata rows for models not in the tree (default: yes; the table usually covers
        more models than one tree). Tips without metadata are always an error.

    Returns
    -------
    SpeedResult

    Examples
    --------
    >>> import pandas as pd
    >>> from phylo_llm.data import meta_frame
    >>> # a star family: tip i is i*0.1 away from the ancestor and released in 2020+i
    >>> names = [None, "m1", "m2", "m3", "m4"]
    >>> t = Tree.from_parents([-1, 0, 0, 0, 0], length=[np.nan, .1, .2, .3, .4], name=names)
    >>> meta = meta_frame(pd.DataFrame({"model": names[1:], "family": ["f"] * 4,
    ...                                 "release": ["2021", "2022", "2023", "2024"]}))
    >>> r = family_speeds(t, meta, n_boot=0)
    >>> round(r["f"].speed, 6), round(r["f"].r2, 6)
    (0.1, 1.0)
    """
    check_choice("rooting", rooting, sorted(_ROOTINGS))
    check_speed_options(min_models=min_models, n_boot=n_boot)
    if not 0 < ci < 1:
        raise PhyloLLMError(f"ci must be between 0 and 1, got {ci}")
    tree = _ROOTINGS[rooting](tree)
    _check_speed_tree(tree)
    joined, tip_family = _tip_families(tree, meta, allow_extra=allow_extra, families=families)
    clades = family_clades(tree, tip_family)
    tip_index = {tree.name[v]: int(v) for v in tree.tips}
    rng = np.random.default_rng(seed)  # one stream, drawn family by family in name order
    results = []
    for family in sorted(clades):
        members = [m for m in joined.index if tip_family[m] == family]
        results.append(
            _family_speed(
                tree,
                family,
                members,
                clades[family],
                tip_index,
                joined.loc[members, "release_year"],
                min_models=min_models,
                n_boot=n_boot,
                ci=ci,
                rng=rng,
            )
        )
    ok = sorted((r for r in results if r.estimable), key=lambda r: (-r.speed, r.family))
    rest = sorted((r for r in results if not r.estimable), key=lambda r: (-r.n_models, r.family))
    return SpeedResult(tuple(ok + rest), n_boot=n_boot, seed=seed, min_models=min_models, ci=ci)


def _check_speed_tree(tree: Tree) -> None:
    """Named tips and free branch lengths: what a speed along the tree needs."""
    tip_names = tree.tip_names
    if any(nm is None for nm in tip_names):
        raise PhyloLLMError(
            f"every tip needs a name to join metadata; {sum(nm is None for nm in tip_names)} tip(s) unnamed"
        )
    if np.isnan(tree.length[1:]).all() and len(tree) > 1:
        raise PhyloLLMError("the tree has no branch lengths; speed is measured along branches")
    tip_depth = tree.depth[tree.tips]
    if tree.n_tips > 2 and np.ptp(tip_depth) <= 1e-9 * max(float(tip_depth.max()), 1e-300):
        raise PhyloLLMError(
            "the tree is ultrametric (every tip equally far from the root, e.g. UPGMA), so every "
            "speed would be 0 by construction; use a tree with free branch lengths (NJ)"
        )


def _tip_families(
    tree: Tree, meta: pd.DataFrame, *, allow_extra: bool, families: Mapping[str, str] | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Metadata joined to the tips and ``{tip: family}``; every tip must have a family."""
    require_columns(meta, ["family", "release_year"], purpose="evolutionary speed")
    joined = join_meta(tree.tip_names, meta, allow_extra=allow_extra, families=families)  # type: ignore[arg-type]
    fam = joined["family"]
    if fam.isna().any():
        missing = fam.index[fam.isna()].tolist()
        raise PhyloLLMError(f"{len(missing)} model(s) have no family: {missing[:10]}")
    return joined, {str(k): str(v) for k, v in fam.items()}


def _family_speed(
    tree: Tree,
    family: str,
    members: list[str],
    clade: tuple[int, int],
    tip_index: Mapping[str, int],
    release_year: pd.Series,
    *,
    min_models: int,
    n_boot: int,
    ci: float,
    rng: np.random.Generator,
) -> FamilySpeed:
    """One family's speed: divergence from its MRCA regressed on release year (dated members only)."""
    mrca, clade_size = clade
    idx = np.array([tip_index[m] for m in members], dtype=np.intp)
    div_all = tree.depth[idx] - tree.depth[mrca]
    years_all = release_year.to_numpy(dtype=float)
    dated = ~np.isnan(years_all)
    years, div = years_all[dated], div_all[dated]
    status = STATUS_OK
    if dated.sum() < min_models:
        status = f"too few dated models ({int(dated.sum())} < {min_models})"
    elif np.ptp(years) == 0:
        status = "no date spread (all released together)"
    slope = intercept = r2 = lo = hi = float("nan")
    if status == STATUS_OK:
        slope, intercept, r2 = _ols(years, div)
        if n_boot:
            lo, hi = _bootstrap_ci(years, div, n_boot=n_boot, ci=ci, rng=rng)
    terminal = np.nan_to_num(tree.length[idx], nan=0.0)  # absent length = 0, as in Tree.depth
    return FamilySpeed(
        family=family,
        n_models=len(members),
        n_dated=int(dated.sum()),
        speed=slope,
        ci_low=lo,
        ci_high=hi,
        r2=r2,
        intercept=intercept,
        first_year=float(years.min()) if years.size else float("nan"),
        last_year=float(years.max()) if years.size else float("nan"),
        median_terminal=float(np.median(terminal)),
        clade_size=clade_size,
        monophyletic=clade_size == len(members),
        status=status,
        models=tuple(np.asarray(members, dtype=object)[dated].tolist()),
        years=readonly(years, np.float64, copy=True),
        divergence=readonly(div, np.float64, copy=True),
    )


def _as_is(tree: Tree) -> Tree:
    if not tree.rooted:
        raise PhyloLLMError(
            "speed needs a rooted tree, but this tree is unrooted (e.g. plain NJ); "
            "pass rooting='midpoint' or root it first (phylo_llm.tree.root_midpoint/root_outgroup)"
        )
    return tree


_ROOTINGS: dict[str, Callable[[Tree], Tree]] = {"as-is": _as_is, "midpoint": root_midpoint}


def _ols(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float, float]:
    xm, ym = x.mean(), y.mean()
    sxx = float(((x - xm) ** 2).sum())
    sxy = float(((x - xm) * (y - ym)).sum())
    slope = sxy / sxx
    intercept = float(ym - slope * xm)
    ss_tot = float(((y - ym) ** 2).sum())
    if ss_tot <= (1e-12 * max(float(np.abs(y).max()), 1e-300)) ** 2 * y.shape[0]:
        # Every tip equally diverged (up to rounding): the slope is 0 and R² is undefined.
        return 0.0, float(ym), float("nan")
    ss_res = float(((y - intercept - slope * x) ** 2).sum())
    return float(slope), intercept, float(1.0 - ss_res / ss_tot)


def _bootstrap_ci(
    x: NDArray[np.float64], y: NDArray[np.float64], *, n_boot: int, ci: float, rng: np.random.Generator
) -> tuple[float, float]:
    n = x.shape[0]
    slopes = np.empty(n_boot)
    filled = 0
    # Resamples where every date is equal have no slope; redraw them (bounded, so a family with
    # one outlying date cannot loop forever).
    for _ in range(100):
        idx = rng.integers(0, n, size=(n_boot - filled, n))
        xs, ys = x[idx], y[idx]
        xm = xs.mean(axis=1, keepdims=True)
        sxx = ((xs - xm) ** 2).sum(axis=1)
        good = sxx > 0
        sxy = ((xs - xm) * (ys - ys.mean(axis=1, keepdims=True))).sum(axis=1)
        s = sxy[good] / sxx[good]
        slopes[filled : filled + s.shape[0]] = s
        filled += s.shape[0]
        if filled == n_boot:
            break
    else:  # pragma: no cover - needs ~all resamples degenerate, i.e. a single distinct date
        raise PhyloLLMError("bootstrap could not draw resamples with date spread")
    a = (1 - ci) / 2
    lo, hi = np.quantile(slopes, [a, 1 - a])
    return float(lo), float(hi)


def speed_markdown(result: SpeedResult, *, title: str = "Evolutionary speed per family", digits: int = 4) -> str:
    """A Markdown report: definition, ranked table of estimable families, then the rest.

    Examples
    --------
    >>> print(speed_markdown(SpeedResult((), n_boot=0, seed=0, min_models=4)).splitlines()[0])
    # Evolutionary speed per family
    """
    ok = [f for f in result.families if f.estimable]
    rest = [f for f in result.families if not f.estimable]
    pct = f"{100 * result.ci:g}" if result.n_boot else "-"
    lines = [
        f"# {title}",
        "",
        "Speed = slope of each model's divergence from its family's common ancestor (MRCA, "
        "path length in the rooted tree) against its release date, by least squares; unit: "
        f"{result.unit}. CI: {result.n_boot} bootstrap resamples of the family's models "
        f"(seed {result.seed}). Families with fewer than {result.min_models} dated models, or "
        "with one release date only, are listed without an estimate.",
        "",
        f"## Ranked ({len(ok)} families)",
        "",
        f"| rank | family | speed | {pct}% CI | R² | models (dated) | years | median terminal | monophyletic |",
        "|---:|---|---:|---|---:|---:|---|---:|:---:|",
    ]
    g = f"{{:.{digits}g}}"
    for i, f in enumerate(ok, 1):
        cis = f"[{g.format(f.ci_low)}, {g.format(f.ci_high)}]" if result.n_boot else "-"
        lines.append(
            f"| {i} | {_md(f.family)} | {g.format(f.speed)} | {cis} | {'–' if np.isnan(f.r2) else f'{f.r2:.2f}'} | "
            f"{f.n_models} ({f.n_dated}) | {format_release(f.first_year)} – {format_release(f.last_year)} | "
            f"{g.format(f.median_terminal)} | {'yes' if f.monophyletic else 'no'} |"
        )
    if rest:
        lines += [
            "",
            f"## Not estimable ({len(rest)} families)",
            "",
            "| family | models (dated) | median terminal | reason |",
            "|---|---:|---:|---|",
        ]
        for f in rest:
            lines.append(
                f"| {_md(f.family)} | {f.n_models} ({f.n_dated}) | {g.format(f.median_terminal)} | {f.status} |"
            )
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")
