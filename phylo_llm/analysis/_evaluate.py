"""How well do DNA distances recover documented lineage? ROC analysis against model metadata.

Pairs come from the label table (:func:`phylo_llm.data.read_meta`):

positives (parent–child)
    ``(child, parent)`` where ``parent`` is one of the child's ``base_model`` entries
    (``|``-separated) and both models are in the distance matrix. Each pair carries the child's
    ``relation`` (instruct, finetune, merge, quantized, ...).
negatives
    every pair of models whose ``family`` labels differ (models with no family are left out).
same-family
    every pair of models with the same ``family``; compared with the same negatives.

The score of a pair is its DNA distance, so a *smaller* distance should mean "related". The ROC
AUC is the Mann–Whitney probability that a positive pair is closer than a negative pair, ties
counting one half. Its confidence interval is a stratified percentile bootstrap over pairs
(positives and negatives resampled separately, seeded): it reflects the sampling of pairs, not
the dependence between pairs that share a model, so read it as a lower bound on the uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ..data import DistanceMatrix, join_meta, require_columns
from ..errors import PhyloLLMError
from ..util import check_fraction, check_int, readonly

__all__ = [
    "AucEstimate",
    "LineagePairs",
    "LineageEvaluation",
    "roc_auc",
    "roc_curve",
    "bootstrap_auc",
    "lineage_pairs",
    "evaluate_lineage",
]


def _scores(x: ArrayLike, name: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise PhyloLLMError(f"{name} must be a 1-D array of distances, got shape {a.shape}")
    if a.size == 0:
        raise PhyloLLMError(f"{name} must hold at least one pair, got none")
    if not np.isfinite(a).all():
        raise PhyloLLMError(f"{name} must be finite; {int((~np.isfinite(a)).sum())} value(s) are NaN/inf")
    return a


def roc_auc(positive: ArrayLike, negative: ArrayLike) -> float:
    """ROC AUC of distances: P(positive pair closer than negative pair), ties count 1/2.

    Parameters
    ----------
    positive, negative
        Distances of the related and the unrelated pairs.

    Examples
    --------
    >>> roc_auc([0.1, 0.2], [0.3, 0.4])
    1.0
    >>> roc_auc([0.1, 0.3], [0.3, 0.0])  # wins: (0.1, 0.3); tie: (0.3, 0.3) -> 1.5 / 4
    0.375
    """
    from scipy.stats import rankdata

    pos = _scores(positive, "positive")
    neg = _scores(negative, "negative")
    # Mann–Whitney U of the negatives on ascending distance: each (pos, neg) pair with
    # neg > pos counts 1, a tie 1/2 (average ranks handle the ties).
    ranks = rankdata(np.concatenate([pos, neg]))
    u_neg = ranks[pos.size :].sum() - neg.size * (neg.size + 1) / 2.0
    return float(u_neg / (pos.size * neg.size))


def roc_curve(
    positive: ArrayLike, negative: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """ROC curve of a distance threshold: call a pair related when its distance is ``<= t``.

    Returns
    -------
    fpr, tpr, thresholds
        One point per distinct distance, preceded by ``(0, 0)`` at ``t = -inf``; the
        trapezoidal area under ``(fpr, tpr)`` equals :func:`roc_auc`.

    Examples
    --------
    >>> fpr, tpr, t = roc_curve([0.1, 0.3], [0.3, 0.5])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0])
    """
    pos = _scores(positive, "positive")
    neg = _scores(negative, "negative")
    thresholds = np.unique(np.concatenate([pos, neg]))
    tpr = np.searchsorted(np.sort(pos), thresholds, side="right") / pos.size
    fpr = np.searchsorted(np.sort(neg), thresholds, side="right") / neg.size
    return (
        np.concatenate([[0.0], fpr]),
        np.concatenate([[0.0], tpr]),
        np.concatenate([[-np.inf], thresholds]),
    )


@dataclass(frozen=True)
class AucEstimate:
    """An AUC with its bootstrap confidence interval and the pair counts behind it."""

    auc: float
    low: float
    high: float
    n_pos: int
    n_neg: int
    level: float = 0.95

    def __str__(self) -> str:
        return f"{self.auc:.3f} [{self.low:.3f}, {self.high:.3f}] ({self.n_pos} positive / {self.n_neg} negative pairs)"


def bootstrap_auc(
    positive: ArrayLike,
    negative: ArrayLike,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> AucEstimate:
    """:func:`roc_auc` with a stratified percentile-bootstrap confidence interval.

    Positives and negatives are resampled with replacement separately, ``n_boot`` times.

    Parameters
    ----------
    n_boot
        Bootstrap replicates (``>= 1``).
    level
        Coverage of the interval, in ``(0, 1)``.
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same interval.

    Examples
    --------
    >>> est = bootstrap_auc([0.1, 0.2, 0.5], [0.3, 0.4, 0.6, 0.7], n_boot=200, seed=1)
    >>> round(est.auc, 3), est.low <= est.auc <= est.high
    (0.833, True)
    """
    pos = _scores(positive, "positive")
    neg = _scores(negative, "negative")
    n_boot = check_int("n_boot", n_boot, min=1)
    level = check_fraction("level", level, open_left=True, open_right=True)
    auc = roc_auc(pos, neg)
    rng = np.random.default_rng(seed)
    neg_sorted = np.sort(neg)
    # For every positive, the slice of sorted negatives below / equal to it; a replicate then only
    # needs the cumulative counts of its resampled negatives (O(n) per replicate, no sorting).
    lo = np.searchsorted(neg_sorted, pos, side="left")
    hi = np.searchsorted(neg_sorted, pos, side="right")
    aucs = np.empty(n_boot)
    for b in range(n_boot):
        counts = np.bincount(rng.integers(neg.size, size=neg.size), minlength=neg.size)
        cum = np.concatenate([[0], np.cumsum(counts)])
        take = rng.integers(pos.size, size=pos.size)
        less, less_eq = cum[lo[take]], cum[hi[take]]
        aucs[b] = ((neg.size - less_eq) + 0.5 * (less_eq - less)).sum() / (pos.size * neg.size)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(aucs, [alpha, 1.0 - alpha])
    return AucEstimate(float(auc), float(low), float(high), int(pos.size), int(neg.size), level)


@dataclass(frozen=True)
class LineagePairs:
    """Labelled model pairs as index arrays into ``labels`` (all read-only).

    Attributes
    ----------
    labels
        Models, in the distance matrix's order.
    child, parent, relation
        Parent–child pairs (``relation`` is the child's).
    same_a, same_b
        Same-family pairs (``a < b``).
    diff_a, diff_b
        Different-family pairs (``a < b``): the negatives.
    """

    labels: tuple[str, ...]
    child: NDArray[np.intp] = field(repr=False)
    parent: NDArray[np.intp] = field(repr=False)
    relation: tuple[str, ...] = field(repr=False)
    same_a: NDArray[np.intp] = field(repr=False)
    same_b: NDArray[np.intp] = field(repr=False)
    diff_a: NDArray[np.intp] = field(repr=False)
    diff_b: NDArray[np.intp] = field(repr=False)

    @property
    def n_parent_child(self) -> int:
        return int(self.child.size)

    def parent_child(self) -> list[tuple[str, str, str]]:
        """``(child, parent, relation)`` for each positive pair."""
        return [
            (self.labels[c], self.labels[p], r)
            for c, p, r in zip(self.child.tolist(), self.parent.tolist(), self.relation)
        ]


def _text(value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def lineage_pairs(labels: Sequence[str], meta: pd.DataFrame) -> LineagePairs:
    """Parent–child, same-family and different-family pairs among ``labels``.

    Parameters
    ----------
    labels
        Model ids (e.g. ``dm.labels``); every one must have a metadata row.
    meta
        Label table from :func:`phylo_llm.data.read_meta` with ``family`` and ``base_model``
        (``relation`` optional: missing means ``"unknown"``). Rows for other models are ignored.

    Examples
    --------
    >>> from phylo_llm.data import meta_frame
    >>> meta = meta_frame(pd.DataFrame({
    ...     "model": ["base", "chat", "other"], "family": ["f", "f", "g"],
    ...     "base_model": [None, "base", None], "relation": [None, "instruct", None]}))
    >>> pairs = lineage_pairs(["base", "chat", "other"], meta)
    >>> pairs.parent_child()
    [('chat', 'base', 'instruct')]
    >>> int(pairs.diff_a.size), int(pairs.same_a.size)
    (2, 1)
    """
    labels = tuple(labels)
    require_columns(meta, ["family", "base_model"], purpose="lineage evaluation")
    rows = join_meta(labels, meta, allow_extra=True)
    index = {lab: i for i, lab in enumerate(labels)}
    child: list[int] = []
    parent: list[int] = []
    relation: list[str] = []
    has_relation = "relation" in rows.columns
    for i in range(len(labels)):
        bases = _text(rows["base_model"].iloc[i])
        if bases is None:
            continue
        rel = (_text(rows["relation"].iloc[i]) if has_relation else None) or "unknown"
        for base in dict.fromkeys(b.strip() for b in bases.split("|")):
            j = index.get(base)
            if j is not None and j != i:
                child.append(i)
                parent.append(j)
                relation.append(rel)
    fam = np.array([_text(f) or "" for f in rows["family"]], dtype=object)
    known = fam != ""
    a, b = np.triu_indices(len(labels), k=1)
    both = known[a] & known[b]
    a, b = a[both], b[both]
    same = fam[a] == fam[b]
    return LineagePairs(
        labels,
        readonly(child, np.intp),
        readonly(parent, np.intp),
        tuple(relation),
        readonly(a[same], np.intp),
        readonly(b[same], np.intp),
        readonly(a[~same], np.intp),
        readonly(b[~same], np.intp),
    )


@dataclass(frozen=True)
class LineageEvaluation:
    """Result of :func:`evaluate_lineage`.

    Attributes
    ----------
    parent_child
        AUC of parent–child pairs against different-family pairs.
    same_family
        AUC of same-family pairs against different-family pairs.
    by_relation
        ``(relation, estimate)`` per kind of step, largest first.
    fpr, tpr
        Parent–child ROC curve (read-only).
    n_models
        Models in the evaluated distance matrix.
    """

    parent_child: AucEstimate
    same_family: AucEstimate
    by_relation: tuple[tuple[str, AucEstimate], ...]
    fpr: NDArray[np.float64] = field(repr=False)
    tpr: NDArray[np.float64] = field(repr=False)
    n_models: int = 0

    def summary(self) -> str:
        """A short plain-text report (one line per figure)."""
        lines = [
            f"models: {self.n_models}",
            f"parent-child AUC: {self.parent_child}",
            f"same-family AUC:  {self.same_family}",
            "by relation:",
        ]
        for rel, est in self.by_relation:
            lines.append(f"  {rel:<22} {est}")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per figure: ``pairs, auc, low, high, n_pos, n_neg``."""
        rows = [("parent-child", self.parent_child), ("same-family", self.same_family)]
        rows += [(f"relation:{rel}", est) for rel, est in self.by_relation]
        return pd.DataFrame(
            [(name, e.auc, e.low, e.high, e.n_pos, e.n_neg) for name, e in rows],
            columns=["pairs", "auc", "low", "high", "n_pos", "n_neg"],
        )


def evaluate_lineage(
    dm: DistanceMatrix,
    meta: pd.DataFrame,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> LineageEvaluation:
    """ROC analysis of DNA distances against documented lineage.

    Parameters
    ----------
    dm
        Distances between models; every label needs a metadata row.
    meta
        Table from :func:`phylo_llm.data.read_meta` with ``family``, ``base_model`` and
        (optionally) ``relation``.
    n_boot, level, seed
        Bootstrap settings for every confidence interval (see :func:`bootstrap_auc`).

    Raises
    ------
    PhyloLLMError
        When no parent–child or no different-family pair exists among the models.

    Examples
    --------
    >>> from phylo_llm.data import meta_frame
    >>> meta = meta_frame(pd.DataFrame({
    ...     "model": ["a", "a-chat", "b", "b-chat"], "family": ["A", "A", "B", "B"],
    ...     "base_model": [None, "a", None, "b"], "relation": [None, "instruct", None, "instruct"]}))
    >>> dm = DistanceMatrix(("a", "a-chat", "b", "b-chat"),
    ...     [[0, 1, 5, 5], [1, 0, 5, 5], [5, 5, 0, 1], [5, 5, 1, 0]])
    >>> evaluate_lineage(dm, meta, n_boot=50).parent_child.auc
    1.0
    """
    pairs = lineage_pairs(dm.labels, meta)
    if pairs.n_parent_child == 0:
        raise PhyloLLMError(f"no parent-child pair among the {len(dm)} models: no model's base_model is in the set")
    if pairs.diff_a.size == 0:
        raise PhyloLLMError(f"no different-family pair among the {len(dm)} models: need at least two families")
    d = np.asarray(dm.values, dtype=np.float64)
    pos = d[pairs.child, pairs.parent]
    neg = d[pairs.diff_a, pairs.diff_b]
    kw = dict(n_boot=n_boot, level=level, seed=seed)
    parent_child = bootstrap_auc(pos, neg, **kw)
    if pairs.same_a.size:
        same_family = bootstrap_auc(d[pairs.same_a, pairs.same_b], neg, **kw)
    else:
        same_family = AucEstimate(float("nan"), float("nan"), float("nan"), 0, int(neg.size), level)
    rel = np.array(pairs.relation, dtype=object)
    kinds, counts = np.unique(rel, return_counts=True)
    by_relation = tuple(
        (str(k), bootstrap_auc(pos[rel == k], neg, **kw))
        for k, _ in sorted(zip(kinds.tolist(), counts.tolist()), key=lambda kc: (-kc[1], kc[0]))
    )
    fpr, tpr, _ = roc_curve(pos, neg)
    return LineageEvaluation(parent_child, same_family, by_relation, readonly(fpr), readonly(tpr), len(dm))
