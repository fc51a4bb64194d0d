"""Numbers behind the architecture trend plots (encoder-decoder vs decoder-only); no drawing.

Three views of how architectures spread, each a tidy :class:`pandas.DataFrame`:

:func:`architecture_by_year`
    models per release year and architecture, with each architecture's share of that year.
:func:`centroid_distances`
    for every model, its DNA distance to each architecture's centroid (its own architecture's
    centroid is computed *without* the model, so a small group is not pulled towards itself),
    next to its release year: does the behaviour of one architecture drift towards the other?
:func:`tree_positions`
    where each model sits in a tree: its position in tip order, its nearest tip by path length
    and whether that neighbour has the same architecture; :func:`architecture_clades` sums this up
    per architecture (MRCA clade size, monophyly, mean path length within and between groups).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import DnaSet, Metric, join_meta, pairwise_distances, require_columns
from ..errors import PhyloLLMError
from ..tree import Tree, patristic_distances
from ._speed import family_clades

__all__ = [
    "architecture_by_year",
    "centroid_distances",
    "tree_positions",
    "architecture_clades",
]


def architecture_by_year(meta: pd.DataFrame, *, column: str = "architecture") -> pd.DataFrame:
    """Count models per (integer) release year and architecture, with shares per year.

    Models without a release date or an architecture are left out (``attrs["n_undated"]`` and
    ``attrs["n_unlabelled"]`` say how many).

    Returns
    -------
    pandas.DataFrame
        Columns ``year, architecture, n_models, share`` (share of that year's models); every
        architecture appears for every year in the range (zero counts included).

    Examples
    --------
    >>> from phylo_llm.data import meta_frame
    >>> m = meta_frame(pd.DataFrame({"model": list("abc"), "architecture": ["dec", "dec", "encdec"],
    ...                              "release": ["2020-01", "2020-05", "2021-01"]}))
    >>> architecture_by_year(m).to_dict("list")["share"]
    [1.0, 0.0, 0.0, 1.0]
    """
    require_columns(meta, [column, "release_year"], purpose="architecture_by_year")
    arch = meta[column]
    year = meta["release_year"]
    keep = arch.notna() & year.notna()
    years = np.floor(year[keep].to_numpy(dtype=float)).astype(int)
    archs = arch[keep].astype(str).to_numpy()
    if years.size == 0:
        raise PhyloLLMError("architecture_by_year: no model has both a release date and an architecture")
    all_years = np.arange(years.min(), years.max() + 1)
    kinds = sorted(set(archs))
    counts = (
        pd.DataFrame({"year": years, "architecture": archs})
        .value_counts()
        .reindex(pd.MultiIndex.from_product([all_years, kinds], names=["year", "architecture"]), fill_value=0)
        .rename("n_models")
        .reset_index()
    )
    totals = counts.groupby("year")["n_models"].transform("sum")
    counts["share"] = np.where(totals > 0, counts["n_models"] / totals.where(totals > 0, 1), np.nan)
    counts.attrs["n_undated"] = int((arch.notna() & year.isna()).sum())
    counts.attrs["n_unlabelled"] = int(arch.isna().sum())
    return counts


def centroid_distances(
    dna: DnaSet,
    meta: pd.DataFrame,
    *,
    column: str = "architecture",
    metric: Metric = "euclidean",
    allow_extra: bool = True,
) -> pd.DataFrame:
    """Distance from every model's DNA to each group's centroid (leave-one-out for its own group).

    Parameters
    ----------
    dna
        DNA set; every label needs a metadata row.
    meta
        Metadata with ``column`` (default ``architecture``); ``release_year`` and ``family`` are
        copied into the result when present.
    metric
        ``"euclidean"``, ``"cosine"`` or ``"correlation"`` (as :func:`phylo_llm.dna_distances`).

    Returns
    -------
    pandas.DataFrame
        Indexed by model: ``architecture`` (the group), ``release_year``, ``family``, one column
        ``to_<group>`` per group (a model alone in its group has ``nan`` for its own group), and
        ``to_other``: distance to the centroid of all models of the *other* group(s).

    Examples
    --------
    >>> from phylo_llm.data import meta_frame
    >>> dna = DnaSet(("a", "b", "c"), [[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    >>> m = meta_frame(pd.DataFrame({"model": ["a", "b", "c"], "architecture": ["x", "x", "y"]}))
    >>> cd = centroid_distances(dna, m)
    >>> cd["to_x"].tolist(), cd["to_y"].tolist(), cd["to_other"].tolist()
    ([2.0, 2.0, 3.1622776601683795], [3.0, 3.605551275463989, nan], [3.0, 3.605551275463989, 3.1622776601683795])
    """
    require_columns(meta, [column], purpose="centroid_distances")
    joined = join_meta(dna, meta, allow_extra=allow_extra)
    group = joined[column]
    if group.isna().any():
        bad = group.index[group.isna()].tolist()
        raise PhyloLLMError(f"centroid_distances: {len(bad)} model(s) have no {column}: {bad[:10]}")
    g = group.astype(str).to_numpy()
    X = dna.vectors
    out = pd.DataFrame(index=pd.Index(dna.labels, name="model"))
    out[column] = g
    for extra in ("family", "release_year"):
        if extra in joined.columns and extra != column:
            out[extra] = joined[extra].to_numpy()
    for k in sorted(set(g)):
        members = g == k
        total = X[members].sum(axis=0)
        m = int(members.sum())
        # Own group: centroid of the others (leave-one-out); other groups: the full centroid.
        cents = np.broadcast_to(total / m, X.shape).copy()
        if m > 1:
            cents[members] = (total - X[members]) / (m - 1)
        else:
            cents[members] = np.nan
        out[f"to_{k}"] = _rowwise(X, cents, metric)
    # Each model against everything it is not: the centroid of all models of the other group(s).
    total = X.sum(axis=0)
    rest = np.full_like(X, np.nan)
    for k in sorted(set(g)):
        members = g == k
        n_rest = int((~members).sum())
        if n_rest:
            rest[members] = (total - X[members].sum(axis=0)) / n_rest
    out["to_other"] = _rowwise(X, rest, metric)
    return out


def _rowwise(X: np.ndarray, C: np.ndarray, metric: str) -> np.ndarray:
    d = np.full(X.shape[0], np.nan)
    ok = np.isfinite(C).all(axis=1)
    for i in np.flatnonzero(ok):
        pair = pairwise_distances(np.stack([X[i], C[i]]), ("m", "c"), metric=metric)  # type: ignore[arg-type]
        d[i] = pair.values[0, 1]
    return d


def tree_positions(
    tree: Tree,
    meta: pd.DataFrame,
    *,
    column: str = "architecture",
    allow_extra: bool = True,
) -> pd.DataFrame:
    """Where each model sits in ``tree``: tip order, nearest tip by path length, its group.

    Returns
    -------
    pandas.DataFrame
        Indexed by tip name in drawing (preorder) order: ``position`` (0..n-1), ``<column>``,
        ``release_year``/``family`` when available, ``nearest`` (closest other tip by path
        length), ``nearest_distance``, ``nearest_<column>`` and ``same_as_nearest``.

    Examples
    --------
    >>> from phylo_llm.data import meta_frame
    >>> t = Tree.from_parents([-1, 0, 0, 1, 1], length=[np.nan, 1, 3, 1, 2], name=[None, None, "c", "a", "b"])
    >>> m = meta_frame(pd.DataFrame({"model": list("abc"), "architecture": ["x", "y", "x"]}))
    >>> tree_positions(t, m)["nearest"].tolist()
    ['b', 'a', 'a']
    """
    require_columns(meta, [column], purpose="tree_positions")
    names = tree.tip_names
    if any(nm is None for nm in names):
        raise PhyloLLMError("tree_positions needs every tip named")
    joined = join_meta(names, meta, allow_extra=allow_extra)  # type: ignore[arg-type]
    dm = patristic_distances(tree).subset(names)  # type: ignore[arg-type]
    d = np.array(dm.values, dtype=float)
    np.fill_diagonal(d, np.inf)
    nn = d.argmin(axis=1) if len(names) > 1 else np.zeros(len(names), dtype=int)
    out = pd.DataFrame(index=pd.Index(names, name="model"))
    out["position"] = np.arange(len(names))
    out[column] = joined[column].to_numpy()
    for extra in ("family", "release_year"):
        if extra in joined.columns and extra != column:
            out[extra] = joined[extra].to_numpy()
    out["nearest"] = [names[j] for j in nn]
    out["nearest_distance"] = d[np.arange(len(names)), nn] if len(names) > 1 else np.nan
    out[f"nearest_{column}"] = out[column].to_numpy()[nn]
    out["same_as_nearest"] = out[column].to_numpy() == out[f"nearest_{column}"].to_numpy()
    return out


def architecture_clades(
    tree: Tree, meta: pd.DataFrame, *, column: str = "architecture", allow_extra: bool = True
) -> pd.DataFrame:
    """Per group: tip count, MRCA clade size, monophyly, mean path length within/between groups.

    The tree should be rooted (the MRCA depends on the root); ``within``/``between`` and the
    nearest-neighbour share do not.

    Returns
    -------
    pandas.DataFrame
        Indexed by group: ``n_models``, ``clade_size``, ``monophyletic``, ``mean_within``,
        ``mean_between``, ``nearest_same_share`` (share of the group's models whose nearest tip is
        in the same group).
    """
    pos = tree_positions(tree, meta, column=column, allow_extra=allow_extra)
    names = tuple(pos.index)
    group = pos[column]
    known = group.notna().to_numpy()
    g = group.astype("string").fillna("").to_numpy()
    clades = family_clades(tree, {n: str(k) for n, k, ok in zip(names, g, known) if ok})
    d = np.array(patristic_distances(tree).subset(names).values, dtype=float)
    rows = []
    for k in sorted(clades):
        mem = (g == k) & known
        m = int(mem.sum())
        within = d[np.ix_(mem, mem)]
        between = d[np.ix_(mem, ~mem & known)]
        rows.append(
            {
                column: k,
                "n_models": m,
                "clade_size": clades[k][1],
                "monophyletic": clades[k][1] == m,
                "mean_within": float(within[np.triu_indices(m, 1)].mean()) if m > 1 else np.nan,
                "mean_between": float(between.mean()) if between.size else np.nan,
                "nearest_same_share": float(pos["same_as_nearest"].to_numpy()[mem].mean()),
            }
        )
    return pd.DataFrame(rows).set_index(column)
