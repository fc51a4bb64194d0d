"""Discover undocumented relationships: model pairs the DNA calls related that the labels do not link.

A *candidate* is a pair of models the label table does not link: neither is a documented parent
of the other (``base_model``) and they are not of the same ``family`` (a model without a family
label, or without a metadata row, links to nothing). Optionally pairs of the same
``organization`` are left out too. Every candidate gets a p-value, and the Benjamini–Hochberg
procedure over *all* candidates turns them into q-values.

Score (exact definition)
------------------------
For each model ``i``, its *reference* distances are those to the models the labels say are
unrelated to it: models with a family label different from ``i``'s and no documented parent link
with ``i``. (For a model without a family label: every model without such a link.) From them, a
robust centre and spread: ``m_i = median``, ``s_i = 1.4826 * MAD``. The pair ``(a, b)`` then has
one z-score per side, ``z_a = (d(a, b) - m_a) / s_a`` and ``z_b = (d(a, b) - m_b) / s_b``, and the
pair's statistic is the *less* extreme side, ``t = max(z_a, z_b)``: a pair must be unusually close
for *both* models, so a hub (a model close to everyone, small ``m_i``) cannot flood the list. A
side with fewer than ``min_reference`` reference distances, or no spread, is not used (``t`` is
then the other side); a pair with no usable side is not a candidate.

p-value: conformal, against the documented-unrelated pairs. The *calibration pairs* are the
candidates whose two models both have a family label (different ones, or they would not be
candidates): the labels say they are unrelated. A pair's p-value is the share of calibration pairs
whose statistic is at least as extreme,

    p = (1 + #{calibration pairs c != pair : t_c <= t}) / (1 + #{calibration pairs c != pair}),

the conformal p-value of Bates et al. (2023). It assumes nothing about the shape of the
distances, only that an unrelated pair's statistic is exchangeable with the calibration pairs';
the Benjamini–Hochberg procedure over *all* candidates then controls the false-discovery rate
(conformal p-values are positively dependent). The earlier normal model, ``p_normal = Phi(t)``,
is kept as evidence: on rand-zh its tail was 360x too light (documented-unrelated pairs at
``p_normal <= 1e-5``: 3.6e-3), so it called thousands of pairs at FDR 0.1.

What this means for the calls: a calibration pair is a draw from the null itself, so its p-value
is at least its rank among the calibration pairs, and it is called only when enough pairs with an
*unlabelled* model rank before it. Calls are, in practice, pairs with a model the labels say
nothing about — where an undocumented relative is a claim the labels cannot already refute. The
documented-unrelated pairs are still ranked and shown with their evidence.

The per-model empirical quantiles (``quantile_a``, ``quantile_b``: the share of that model's own
reference distances ``<=`` the pair's) are reported per side, together with each model's
nearest-neighbour rank of the other (``rank_a`` = rank of ``b`` among ``a``'s neighbours, 1 =
nearest; both 1 = mutual nearest neighbours). ``benchmarks/bench_discover.py`` checks the realised
false-discovery rate on held-out documented links.

Ranking (``order``). The p-value decides the *calls* (``q_value <= alpha``); the order of the
list is a separate choice:

``"link_model"`` (default)
    by ``link_score``, the probability a link model gives the pair of being an undocumented
    parent link (``phylo_llm.analysis.fit_link_model``): it is learned from the label table
    itself, by hiding a quarter of the documented parent links with those children's families
    (four times) and fitting which candidates were the hidden links, from the pair's DNA evidence
    (neighbour ranks, robust z), its names' evidence (shared id tokens, organisation, name ranks,
    documented children) and how many of its models are unlabelled. It needs at least 8
    documented parent links and at least one model without a family label (the simulated links
    all have an unlabelled child, so a table where every model is labelled has no candidate like
    them), and some simulated link must be a candidate; otherwise the order is
    ``"neighbour_rank"`` and the result says why.
``"neighbour_rank"``
    by the larger of the two nearest-neighbour ranks, ``max(rank_a, rank_b)`` (a pair at ``r``:
    each model puts the other among its ``r`` nearest models; 1 = mutual nearest neighbours),
    then distance, then p-value, then ids. Calls are then spread through the list.
``"p_value"``
    by p-value, then the larger rank, then distance, then ids: the calls come first.

The default is measured by ``benchmarks/bench_discover.py`` (BENCHMARKS.md; hidden documented
links as the target): ranking by p put clusters of models that answer in the same *form* (terse,
empty) first; ranking by mutual neighbour rank put near-duplicates first and found 2–6x more
hidden links in the top 5–50; the link model found 3–8x as many again and beats both baselines
(distance, name tokens) on the paper's three published DNA sets and on rand-zh (docs/discover.md
says where its choice departs from the pre-registered rule: without the DNA it would rank about
as well on the Qwen3 DNA).

Orientation: ``a`` is the earlier-released model (a parent does not postdate its child); when the
release dates are equal or missing the pair is left unoriented and the result says why.

References
----------
Bates, S., Candès, E., Lei, L., Romano, Y. & Sesia, M. (2023). Testing for outliers with
conformal p-values. Ann. Statist. 51, 149–178.
Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate: a practical and
powerful approach to multiple testing. J. R. Stat. Soc. B 57, 289–300.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..data import (  # noqa: F401  (pairwise_distances: examples)
    DistanceMatrix,
    format_release,
    join_meta,
    pairwise_distances,
    require_columns,
)
from ..errors import PhyloLLMError
from ..util import check_choice, check_fraction, check_int, readonly
from ._evaluate import lineage_pairs
from ._links import LINK_EVIDENCE, MIN_LINKS, LinkModel, PairEvidence, children_per_model, fit_link_model

__all__ = ["Discoveries", "discover_relationships", "benjamini_hochberg", "conformal_p_values", "discoveries_markdown"]

_MAD_TO_SD = 1.4826

Order = Literal["link_model", "neighbour_rank", "p_value"]


@dataclass(frozen=True)
class Discoveries:
    """Candidate pairs of :func:`discover_relationships`, best first (all arrays read-only).

    Attributes
    ----------
    labels
        Models, in the distance matrix's order; ``a``/``b`` index into it.
    family, organization
        Per model (``None`` where unlabelled).
    release_year
        Per model, decimal year (``nan`` where unknown).
    a, b
        The pair; ``a`` is the earlier release wherever both dates are known and differ.
    distance
        DNA distance of the pair.
    z_a, z_b
        Robust z-score of the distance among ``a``'s (``b``'s) reference distances (``nan`` where
        that side is unusable).
    quantile_a, quantile_b
        Empirical fraction of ``a``'s (``b``'s) reference distances ``<=`` the pair's distance,
        the pair itself left out (``nan`` where that side is unusable).
    rank_a, rank_b
        Rank of ``b`` among ``a``'s nearest neighbours (1 = nearest) and of ``a`` among ``b``'s.
    p_value, q_value
        Conformal p-value against the calibration pairs (see the module docstring); ``q_value`` is
        the Benjamini–Hochberg adjusted p-value over all candidates.
    p_normal
        ``Phi(max(z_a, z_b))``: the p-value were each model's unrelated distances normal (evidence
        only; its tail is far too light on real DNA).
    calibration
        ``True`` where the pair is a calibration pair (both models labelled, different families).
    oriented
        ``True`` where release dates order the pair.
    link_score
        The link model's probability that the pair is an undocumented parent link (see
        :mod:`phylo_llm.analysis` ``fit_link_model``; ``nan`` where the order is not ``"link_model"``).
    n_reference
        Per model, how many reference distances its side uses (0 = side unusable).
    n_labelled, n_parent_links
        Models with a family label; documented parent links among the models.
    n_calibration
        Calibration pairs: the resolution of the p-values is ``1 / (n_calibration + 1)``.
    skip_same_organization
        Whether same-organisation pairs were left out of the candidates.
    order
        How the candidates are ordered (see the module docstring).
    link_model
        The fitted link model (``None`` unless the order is ``"link_model"``).
    note
        Why the order differs from the one asked for (empty when it does not).
    """

    labels: tuple[str, ...]
    family: tuple[str | None, ...] = field(repr=False)
    organization: tuple[str | None, ...] = field(repr=False)
    release_year: NDArray[np.float64] = field(repr=False)
    a: NDArray[np.intp] = field(repr=False)
    b: NDArray[np.intp] = field(repr=False)
    distance: NDArray[np.float64] = field(repr=False)
    z_a: NDArray[np.float64] = field(repr=False)
    z_b: NDArray[np.float64] = field(repr=False)
    quantile_a: NDArray[np.float64] = field(repr=False)
    quantile_b: NDArray[np.float64] = field(repr=False)
    rank_a: NDArray[np.intp] = field(repr=False)
    rank_b: NDArray[np.intp] = field(repr=False)
    p_value: NDArray[np.float64] = field(repr=False)
    q_value: NDArray[np.float64] = field(repr=False)
    p_normal: NDArray[np.float64] = field(repr=False)
    calibration: NDArray[np.bool_] = field(repr=False)
    oriented: NDArray[np.bool_] = field(repr=False)
    link_score: NDArray[np.float64] = field(repr=False)
    n_reference: NDArray[np.intp] = field(repr=False)
    n_labelled: int = 0
    n_parent_links: int = 0
    n_calibration: int = 0
    skip_same_organization: bool = False
    order: str = "link_model"
    link_model: LinkModel | None = field(default=None, repr=False)
    note: str = ""

    def __len__(self) -> int:
        return int(self.a.size)

    def n_significant(self, alpha: float = 0.1) -> int:
        """How many candidates have ``q_value <= alpha``."""
        check_fraction("alpha", alpha, open_left=True, open_right=True)
        return int(np.count_nonzero(self.q_value <= alpha))

    def orientation(self, k: int) -> str:
        """Why candidate ``k`` is or is not oriented (``"by release date"``, ...)."""
        i, j = int(self.a[k]), int(self.b[k])
        ya, yb = self.release_year[i], self.release_year[j]
        missing = [self.labels[x] for x, y in ((i, ya), (j, yb)) if not np.isfinite(y)]
        if missing:
            return "unoriented: release date missing for " + " and ".join(missing)
        if not self.oriented[k]:
            return "unoriented: same release date"
        return "by release date"

    def calls(self, alpha: float = 0.1) -> NDArray[np.intp]:
        """Positions in the list of the candidates with ``q_value <= alpha``, in list order."""
        check_fraction("alpha", alpha, open_left=True, open_right=True)
        return np.flatnonzero(self.q_value <= alpha)

    def to_frame(self, top: int | None = None, *, rows: NDArray[np.intp] | None = None) -> pd.DataFrame:
        """One row per candidate (the first ``top``, or the list positions ``rows``), with the evidence.

        ``rank`` is the position in the list (1 = first); ``link_score`` is there in the link-model order.
        """
        if rows is None:
            n = len(self) if top is None else min(int(top), len(self))
            rows = np.arange(n)
        rows = np.asarray(rows, dtype=np.intp)
        a, b = self.a[rows], self.b[rows]
        lab = np.array(self.labels, dtype=object)
        fam = np.array(self.family, dtype=object)
        org = np.array(self.organization, dtype=object)
        rel = [format_release(y) for y in self.release_year]
        rel_arr = np.array(rel, dtype=object)
        frame = pd.DataFrame(
            {
                "rank": rows + 1,
                "model_a": lab[a],
                "model_b": lab[b],
                "orientation": [self.orientation(int(k)) for k in rows],
                "distance": self.distance[rows],
                "rank_a": self.rank_a[rows],
                "rank_b": self.rank_b[rows],
                "mutual_nearest": (self.rank_a[rows] == 1) & (self.rank_b[rows] == 1),
                "z_a": self.z_a[rows],
                "z_b": self.z_b[rows],
                "quantile_a": self.quantile_a[rows],
                "quantile_b": self.quantile_b[rows],
                "p_value": self.p_value[rows],
                "q_value": self.q_value[rows],
                "p_normal": self.p_normal[rows],
                "calibration_pair": self.calibration[rows],
                "family_a": fam[a],
                "family_b": fam[b],
                "organization_a": org[a],
                "organization_b": org[b],
                "release_a": rel_arr[a],
                "release_b": rel_arr[b],
            }
        )
        if self.order == "link_model":
            frame.insert(frame.columns.get_loc("p_value"), "link_score", self.link_score[rows])
        return frame


def benjamini_hochberg(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Benjamini–Hochberg adjusted p-values (q-values) of ``p``, in the same order.

    ``q_k = min_{j >= k} p_(j) * m / j`` over the sorted p-values, capped at 1: calling every
    pair with ``q <= alpha`` controls the false-discovery rate at ``alpha`` (independent or
    positively dependent tests).

    Examples
    --------
    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise PhyloLLMError("p must be a 1-D array of p-values in [0, 1]")
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    q = np.empty(m)
    q[order] = q_sorted
    return q


def _text(values: pd.Series) -> NDArray[np.object_]:
    """Strings with missing/empty values as ``""``."""
    out = values.astype("string").fillna("").str.strip()
    return out.to_numpy(dtype=object)


def _labelled_rows(dm: DistanceMatrix, meta: pd.DataFrame) -> pd.DataFrame:
    if len(dm) < 3:
        raise PhyloLLMError(f"discovery needs at least 3 models in the DNA set, got {len(dm)}")
    if not isinstance(meta, pd.DataFrame):
        raise PhyloLLMError(f"meta must be a pandas DataFrame from read_meta, got {type(meta).__name__}")
    require_columns(meta, ["family"], purpose="discovery")
    rows = join_meta(dm.labels, meta, allow_extra=True, allow_missing=True)
    matched = int(np.count_nonzero(rows.index.isin(meta.index)))
    if matched == 0:
        raise PhyloLLMError(
            f"the labels match none of the {len(dm)} DNA model ids (labels hold {len(meta)} models, "
            f"e.g. {list(meta.index[:3])}; DNA ids e.g. {list(dm.labels[:3])})"
        )
    fam = _text(rows["family"])
    if not (fam != "").any():
        raise PhyloLLMError(
            f"all {len(dm)} models are unlabelled: none of the {matched} matched metadata rows has a family"
        )
    if len(set(fam[fam != ""])) < 2:
        raise PhyloLLMError(
            f"discovery needs at least two families among the labelled models (the unrelated pairs are "
            f"its reference), got only {sorted(set(fam[fam != '']))}"
        )
    return rows


def _parent_links(dm: DistanceMatrix, meta: pd.DataFrame) -> tuple[NDArray[np.bool_], list[tuple[int, int]]]:
    """Symmetric boolean matrix of documented parent links among the models, and the ``(child, parent)`` list."""
    n = len(dm)
    links = np.zeros((n, n), dtype=bool)
    if "base_model" not in meta.columns:
        return links, []
    matched = [lab for lab in dm.labels if lab in meta.index]
    pairs = lineage_pairs(matched, meta)
    pos = np.array([dm.index(lab) for lab in matched], dtype=np.intp)
    c, p = pos[pairs.child], pos[pairs.parent]
    links[c, p] = True
    links[p, c] = True
    return links, sorted(set(zip(c.tolist(), p.tolist())))


def _empirical_quantiles(d: NDArray[np.float64], ref: NDArray[np.bool_]) -> NDArray[np.float64]:
    """``Q[i, j]`` = share of ``i``'s reference distances ``<= d[i, j]``, ``j`` itself left out."""
    n = d.shape[0]
    q = np.full((n, n), np.nan)
    counts = ref.sum(axis=1)
    for i in range(n):  # one sorted search per row: O(n^2 log n), no loop over cells
        r = np.sort(d[i, ref[i]])
        if r.size < 2:
            continue
        le = np.searchsorted(r, d[i], side="right") - ref[i]  # a reference j counts itself once
        q[i] = le / (counts[i] - ref[i])
    return q


def _order_neighbour_rank(ids_a, ids_b, dist, rank, p, p_normal):
    return np.lexsort((ids_b, ids_a, p_normal, p, dist, rank))


def _order_p_value(ids_a, ids_b, dist, rank, p, p_normal):
    # Conformal p-values tie (their resolution is 1 / (n_calibration + 1)): the statistic breaks ties.
    return np.lexsort((ids_b, ids_a, dist, rank, p_normal, p))


def _order_link_model(ids_a, ids_b, dist, rank, p, p_normal, score):
    return np.lexsort((ids_b, ids_a, p, dist, rank, -score))


_ORDERS = {"link_model": _order_link_model, "neighbour_rank": _order_neighbour_rank, "p_value": _order_p_value}


def _link_scores(dm: DistanceMatrix, fam, directed, allowed, pairs, order: str, use):
    """(order used, link score per candidate, link model, note): the link model where asked for and possible."""
    nan = np.full(pairs["a"].size, np.nan)
    if order != "link_model":
        return order, nan, None, ""
    if len(directed) < MIN_LINKS:
        note = (
            f"ordered by neighbour rank: the link model needs at least {MIN_LINKS} documented parent links "
            f"among the models, the labels hold {len(directed)}"
        )
        return "neighbour_rank", nan, None, note
    if (fam != "").all():
        # It learns from hidden links, whose child is unlabelled: with every model labelled no candidate is like them.
        note = (
            "ordered by neighbour rank: every model has a family label, and the link model learns from links "
            "whose child the labels say nothing about, so it has nothing to say about these pairs"
        )
        return "neighbour_rank", nan, None, note
    evidence = PairEvidence(dm.values, dm.labels)
    try:
        model = fit_link_model(evidence, fam, directed, use=use, allowed=allowed)
    except PhyloLLMError as e:  # e.g. no simulated link is a candidate
        return "neighbour_rank", nan, None, f"ordered by neighbour rank: {e}"
    known = fam != ""
    score = model.probability(evidence.features(children_per_model(directed, len(dm)), known, pairs["a"], pairs["b"]))
    return order, score, model, ""


def discover_relationships(
    dm: DistanceMatrix,
    meta: pd.DataFrame,
    *,
    skip_same_organization: bool = False,
    min_reference: int = 10,
    order: Order = "link_model",
    link_evidence: Sequence[str] = ("dna", "names", "labels"),
) -> Discoveries:
    """Rank the pairs the labels do not link by how related their DNA says they are.

    See the module docstring for the exact score. Models without a metadata row are kept as
    unlabelled (they are where undocumented relatives are likeliest).

    Parameters
    ----------
    dm
        Distances between models.
    meta
        Label table (:func:`phylo_llm.data.read_meta`): ``family`` required; ``base_model``
        (documented parents), ``organization`` and ``release`` used when present.
    skip_same_organization
        Also leave out pairs from the same ``organization`` (needs that column).
    min_reference
        Fewest reference distances for a model's side of the score to be used (``>= 2``).
    order
        ``"link_model"`` (most link-like first, by a model learned from the documented links;
        needs at least 8 of them, a model without a family label and a simulated link that can
        be a candidate, else the order falls back to ``"neighbour_rank"`` and
        :attr:`Discoveries.note` says why), ``"neighbour_rank"`` (mutual nearest neighbours
        first) or ``"p_value"`` (calls first); the p- and q-values are the same whatever the
        order.
    link_evidence
        The kinds of evidence the link model may use, among ``"dna"``, ``"names"`` (the ids,
        organisations and documented children) and ``"labels"`` (how many of the pair are
        unlabelled). Leave out ``"names"`` where ids carry no lineage (anonymised or API models).

    Raises
    ------
    PhyloLLMError
        Fewer than 3 models; labels that match no model id; no model with a family; fewer than
        two families; no candidate pair; an unknown ``order``.

    Examples
    --------
    60 labelled models in 30 families, and 20 unlabelled close copies ``u0 .. u19`` of ``m0 .. m19``:

    >>> from phylo_llm.data import meta_frame
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 16)) * 3
    >>> copies = x[:20] + rng.normal(size=(20, 16)) * 0.1
    >>> labels = tuple(f"m{i}" for i in range(60)) + tuple(f"u{i}" for i in range(20))
    >>> families = [f"f{i % 30}" for i in range(60)] + [""] * 20
    >>> meta = meta_frame(pd.DataFrame({"model": labels, "family": families}))
    >>> res = discover_relationships(pairwise_distances(np.vstack([x, copies]), labels), meta)
    >>> sorted(tuple(sorted(p)) for p in res.to_frame(top=20)[["model_a", "model_b"]].values) == sorted(
    ...     (f"m{i}", f"u{i}") for i in range(20))
    True
    >>> res.n_calibration, res.n_significant(0.1)  # the 20 copies, and 3 pairs near the closest labelled pair
    (1740, 23)
    """
    min_reference = check_int("min_reference", min_reference, min=2)
    check_choice("order", order, sorted(_ORDERS))
    if isinstance(link_evidence, str) or not link_evidence:
        raise PhyloLLMError(
            f"link_evidence must be a non-empty list among {sorted(LINK_EVIDENCE)}, got {link_evidence!r}"
        )
    for kind in link_evidence:
        check_choice("link_evidence", kind, sorted(LINK_EVIDENCE))
    rows = _labelled_rows(dm, meta)
    n = len(dm)
    d = np.asarray(dm.values, dtype=np.float64)
    fam = _text(rows["family"])
    known = fam != ""
    links, directed = _parent_links(dm, meta)
    fam_code = pd.factorize(fam)[0]  # integer codes: n^2 comparisons of ints, not of str objects
    same_family = known[:, None] & known[None, :] & (fam_code[:, None] == fam_code[None, :])
    ref = _Reference.of(d, known, same_family, links, min_reference=min_reference)
    allowed = _allowed_pairs(rows, meta, ref.usable, skip_same_organization=skip_same_organization)
    ia, ib = _candidate_pairs(links, same_family, allowed, min_reference=min_reference)
    pairs = _pair_scores(d, ia, ib, ref, calibration=known[ia] & known[ib])
    year = np.full(n, np.nan)
    if "release_year" in rows:
        year = pd.to_numeric(rows["release_year"], errors="coerce").to_numpy(dtype=float)
    pairs["oriented"] = _orient_by_release(pairs, year)
    pairs["q_value"] = benjamini_hochberg(pairs["p_value"])
    used, score, model, note = _link_scores(dm, fam, directed, allowed, pairs, order, tuple(link_evidence))
    by_id = np.argsort(np.argsort(np.array(dm.labels, dtype=object)))  # each id's position in sorted order
    keys = (by_id[pairs["a"]], by_id[pairs["b"]], pairs["distance"], np.maximum(pairs["rank_a"], pairs["rank_b"]))
    perm = _ORDERS[used](*keys, pairs["p_value"], pairs["p_normal"], *((score,) if used == "link_model" else ()))
    pairs["link_score"] = score
    org = _text(rows["organization"]) if "organization" in rows else np.full(n, "", dtype=object)
    return Discoveries(
        labels=dm.labels,
        family=tuple(f or None for f in fam),
        organization=tuple(o or None for o in org),
        release_year=readonly(year, copy=True),
        **{k: readonly(np.ascontiguousarray(v[perm])) for k, v in pairs.items()},
        n_reference=readonly(ref.n_used, np.intp),
        n_labelled=int(known.sum()),
        n_parent_links=int(np.triu(links).sum()),
        n_calibration=int(np.count_nonzero(pairs["calibration"])),
        skip_same_organization=bool(skip_same_organization),
        order=used,
        link_model=model,
        note=note,
    )


@dataclass(frozen=True)
class _Reference:
    """Each model's reference distances (to the models the labels call unrelated) and their robust scale."""

    mask: NDArray[np.bool_]  # mask[i, j]: d[i, j] is one of i's reference distances
    centre: NDArray[np.float64]  # median reference distance
    spread: NDArray[np.float64]  # MAD, scaled to a standard deviation
    usable: NDArray[np.bool_]  # enough reference distances and a spread: i's side of a score is used
    n_used: NDArray[np.intp]  # reference distances per model, 0 where unusable

    @classmethod
    def of(cls, d: NDArray, known: NDArray, same_family: NDArray, links: NDArray, *, min_reference: int) -> _Reference:
        eye = np.eye(d.shape[0], dtype=bool)
        # Reference of i: models the labels call unrelated to i (for an unlabelled i: all unlinked).
        mask = ~links & ~eye & np.where(known[:, None], known[None, :] & ~same_family, True)
        masked = np.where(mask, d, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: those sides are unused below
            centre = np.nanmedian(masked, axis=1)
            spread = _MAD_TO_SD * np.nanmedian(np.abs(masked - centre[:, None]), axis=1)
        n_ref = mask.sum(axis=1)
        usable = (n_ref >= min_reference) & (spread > 0)
        return cls(mask, centre, spread, usable, np.where(usable, n_ref, 0))


def _allowed_pairs(
    rows: pd.DataFrame, meta: pd.DataFrame, usable: NDArray, *, skip_same_organization: bool
) -> NDArray[np.bool_]:
    """Pairs that may be candidates whatever the labels link: a usable side, and (optionally) two organisations."""
    n = usable.size
    allowed = ~np.eye(n, dtype=bool) & (usable[:, None] | usable[None, :])
    if skip_same_organization:
        require_columns(meta, ["organization"], purpose="skip_same_organization")
        org_ = _text(rows["organization"])
        org_code = np.where(org_ != "", pd.factorize(org_)[0], -1)
        allowed &= (org_code[:, None] != org_code[None, :]) | (org_code[:, None] < 0)
    return allowed


def _candidate_pairs(
    links: NDArray, same_family: NDArray, allowed: NDArray, *, min_reference: int
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Pairs ``i < j`` the labels do not link (nor one family) among the allowed ones."""
    n = links.shape[0]
    ia, ib = np.nonzero(np.triu(~links & ~same_family & allowed, k=1))
    if ia.size == 0:
        raise PhyloLLMError(
            f"no candidate pair among the {n} models: every pair is linked by the labels, or no model "
            f"has {min_reference} (min_reference) unrelated models to compare with"
        )
    return ia.astype(np.intp), ib.astype(np.intp)


def conformal_p_values(t: NDArray[np.float64], calibration: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Conformal p-values of statistics ``t`` (small = extreme) against ``t[calibration]``.

    ``p_i = (1 + #{c != i in calibration: t_c <= t_i}) / (1 + #{c != i in calibration})``: for a
    calibration pair itself this is its rank among the calibration pairs divided by their number.

    Examples
    --------
    >>> conformal_p_values(np.array([0.0, 1.0, 2.0, 3.0, -1.0]), np.array([False, True, True, True, False])).tolist()
    [0.25, 0.3333333333333333, 0.6666666666666666, 1.0, 0.25]
    """
    t = np.asarray(t, dtype=np.float64)
    calibration = np.asarray(calibration, dtype=bool)
    ref = np.sort(t[calibration])
    if ref.size == 0:
        raise PhyloLLMError(
            "no calibration pair: discovery needs candidate pairs of two labelled models from different families"
        )
    at_most = np.searchsorted(ref, t, side="right").astype(np.float64)
    # A calibration pair counts itself once in ``at_most`` and once in the size: leave it out of both.
    return np.where(calibration, at_most / ref.size, (1 + at_most) / (1 + ref.size))


def _pair_scores(
    d: NDArray, ia: NDArray[np.intp], ib: NDArray[np.intp], ref: _Reference, *, calibration: NDArray[np.bool_]
) -> dict[str, NDArray]:
    """Per candidate pair: distance, both sides' z-score, quantile and neighbour rank, and the p-values.

    Keys are :class:`Discoveries` field names.
    """
    from scipy.stats import norm, rankdata

    usable, centre, spread = ref.usable, ref.centre, ref.spread
    dist = d[ia, ib]
    with np.errstate(divide="ignore", invalid="ignore"):
        za = np.where(usable[ia], (dist - centre[ia]) / spread[ia], np.nan)
        zb = np.where(usable[ib], (dist - centre[ib]) / spread[ib], np.nan)
    t = np.fmax(za, zb)  # the less extreme side; fmax: a NaN side yields the other side
    quant = _empirical_quantiles(d, ref.mask)
    nn = rankdata(np.where(np.eye(d.shape[0], dtype=bool), np.inf, d), method="min", axis=1).astype(np.intp)
    return {
        "a": ia,
        "b": ib,
        "distance": dist,
        "z_a": za,
        "z_b": zb,
        "quantile_a": np.where(usable[ia], quant[ia, ib], np.nan),
        "quantile_b": np.where(usable[ib], quant[ib, ia], np.nan),
        "rank_a": nn[ia, ib],
        "rank_b": nn[ib, ia],
        "p_value": conformal_p_values(t, calibration),
        "p_normal": norm.cdf(t),
        "calibration": np.asarray(calibration, dtype=bool),
    }


#: Per-side columns of a pair, swapped together when a pair is put in release order.
_SIDES = (("a", "b"), ("z_a", "z_b"), ("quantile_a", "quantile_b"), ("rank_a", "rank_b"))


def _orient_by_release(pairs: dict[str, NDArray], year: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Swap sides in ``pairs`` so ``a`` is the earlier release; ``True`` where the dates order the pair."""
    ia, ib = pairs["a"], pairs["b"]
    swap = year[ib] < year[ia]  # False where either is NaN
    oriented = np.isfinite(year[ia]) & np.isfinite(year[ib]) & (year[ia] != year[ib])
    for ka, kb in _SIDES:
        pairs[ka], pairs[kb] = np.where(swap, pairs[kb], pairs[ka]), np.where(swap, pairs[ka], pairs[kb])
    return oriented


_EVIDENCE_WORDS = {
    "dna": "DNA neighbour ranks and z",
    "names": "shared id tokens, name ranks, organisation, documented children",
    "labels": "how many of the two are unlabelled",
}


def _md(text: object) -> str:
    missing = text is None or text == "" or (isinstance(text, float) and np.isnan(text)) or text is pd.NA
    return "–" if missing else str(text).replace("|", "\\|")


def discoveries_markdown(
    result: Discoveries, *, alpha: float = 0.1, top: int = 30, title: str = "Possible undocumented relatives"
) -> str:
    """A Markdown report: what the score means, the counts, then the ``top`` candidates.

    Examples
    --------
    >>> from phylo_llm.data import meta_frame
    >>> labels = tuple(f"m{i}" for i in range(30))
    >>> x = np.random.default_rng(1).normal(size=(30, 8))
    >>> meta = meta_frame(pd.DataFrame({"model": labels, "family": [f"f{i % 3}" for i in range(30)]}))
    >>> md = discoveries_markdown(discover_relationships(pairwise_distances(x, labels), meta), top=3)
    >>> md.splitlines()[0]
    '# Possible undocumented relatives'
    """
    check_fraction("alpha", alpha, open_left=True, open_right=True)
    top = check_int("top", top, min=0)
    n = len(result.labels)
    sig = result.n_significant(alpha)
    skip = " or the same organisation" if result.skip_same_organization else ""
    lines = [
        f"# {title}",
        "",
        f"{n} models ({result.n_labelled} with a family label, {result.n_parent_links} documented parent "
        f"links); {len(result)} candidate pairs (not parent/child, not the same family{skip}). "
        f"**{sig} pair(s) at FDR {alpha:g}** (Benjamini–Hochberg q ≤ {alpha:g}).",
        "",
        "Statistic t = max over the two models of z, z = the pair's distance as a robust z-score (median, "
        "1.4826·MAD) among that model's distances to models the labels call unrelated: a pair must be "
        "unusually close for *both* models, so a hub cannot flood the list. p = the share of the "
        f"{result.n_calibration} documented-unrelated pairs (two labelled models, different families) with "
        "a t at least as extreme (a conformal p-value: no distribution assumed); those pairs are the null, "
        "so calls are in practice pairs with an unlabelled model. ranks = where each model puts "
        "the other among its nearest neighbours (1 = nearest). A → B: A released first (a parent does "
        "not postdate its child); A — B: unoriented (dates equal or missing).",
        "",
    ]
    shown = min(top, len(result))
    if shown == 0:
        return "\n".join(lines + ["No candidate pairs to show."]) + "\n"
    called = int(np.count_nonzero(result.q_value[:shown] <= alpha))
    if result.order == "p_value":
        if sig < shown:
            lines += [f"Rows after #{sig} are not significant at this level; shown for inspection.", ""]
    elif result.order == "link_model":
        m = result.link_model
        lines += [
            f"Ordered by link score: the probability, under a link model learned from this label table "
            f"({m.splits} simulations hiding {m.hide:.0%} of the documented parent links and those children's "
            f"families; {m.n_positive} hidden links against {m.n_negative} other candidates), that a pair with "
            f"this evidence ({', '.join(_EVIDENCE_WORDS[k] for k in m.evidence)}) is a hidden parent link. "
            f"A ranking, not a test: {called} of these {shown} rows are calls at FDR {alpha:g} (✓).",
            "",
        ]
    else:
        lines += [
            f"Ordered by the larger of the two neighbour ranks (mutual nearest neighbours first), then "
            f"distance; {called} of these {shown} rows are calls at FDR {alpha:g} (✓).",
            "",
        ]
    if result.note:
        lines += [f"Note: {result.note}.", ""]
    link = result.order == "link_model"
    lines += [
        "| # | pair | distance | ranks | families | organisations | released | " + ("link | " if link else "") + "q |",
        "|---:|---|---:|---|---|---|---|" + ("---:|" if link else "") + "---:|",
    ]
    df = result.to_frame(top=shown)
    for r in df.itertuples(index=False):
        arrow = "→" if r.orientation == "by release date" else "—"
        lines.append(
            f"| {r.rank} | {_md(r.model_a)} {arrow} {_md(r.model_b)} | {r.distance:.4g} | {r.rank_a}, {r.rank_b}"
            f"{' (mutual)' if r.mutual_nearest else ''} | {_md(r.family_a)} / {_md(r.family_b)} | "
            f"{_md(r.organization_a)} / {_md(r.organization_b)} | {r.release_a} / {r.release_b} | "
            + (f"{r.link_score:.2g} | " if link else "")
            + f"{r.q_value:.3g}"
            f"{' ✓' if r.q_value <= alpha else ''} |"
        )
    return "\n".join(lines) + "\n"
