"""The link model of ``discover``: how much a candidate pair looks like an undocumented parent link.

The labels that *are* documented teach what an undocumented link looks like, by simulation: hide
a quarter of the documented parent links together with those children's family labels (the
situation of a model whose lineage nobody wrote down), and the hidden links become candidates
among all the others. Done ``splits`` times, this gives positives (the hidden links) and negatives
(every other candidate of the same simulated table, subsampled), described by the same evidence
the real candidates have; a ridge logistic regression on them is the link model.

Evidence of a pair ``(i, j)`` (the columns of :data:`LINK_FEATURES`):

DNA
    the log of the larger and of the smaller of the two nearest-neighbour ranks (rank of ``j``
    among ``i``'s neighbours and of ``i`` among ``j``'s; ties share their average rank), and the
    larger and the smaller robust z-score of the distance among each model's distances to all others;
names
    the Jaccard similarity of the two ids' tokens (lower-cased alphanumeric runs of ``org/name``),
    same organisation (the ids' owners, the part before ``/``: label-free, so a model without a
    metadata row has one too), the share of the shorter id's tokens found in the other and whether all
    are, ``log(1 + documented children)`` of the pair's more prolific model, and the log of the
    larger and the smaller *name rank* (where each model puts the other among all models by token
    similarity);
labels
    whether exactly one of the two models has no family label, and whether both have none.

The score (``link_score``) is the fitted probability that a pair with this evidence is a hidden
parent link among the simulated candidates (the intercept is corrected for the subsampling of
negatives). It is a ranking score learned from this label table; it is not a p-value, and the
calls of ``discover`` stay those of its conformal p-values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import PhyloLLMError
from ..util import check_fraction, check_int, fit_logistic

__all__ = ["LINK_EVIDENCE", "LINK_FEATURES", "LinkModel", "PairEvidence", "fit_link_model", "name_tokens", "owner"]

#: Columns of the link model's evidence, in order.
LINK_FEATURES = (
    "log larger neighbour rank",
    "log smaller neighbour rank",
    "larger distance z",
    "smaller distance z",
    "name token Jaccard",
    "same organisation",
    "shorter name contained (share)",
    "shorter name contained (all)",
    "log1p documented children",
    "log larger name rank",
    "log smaller name rank",
    "one model unlabelled",
    "both models unlabelled",
)
#: Which columns each kind of evidence holds.
LINK_EVIDENCE = {"dna": (0, 1, 2, 3), "names": (4, 5, 6, 7, 8, 9, 10), "labels": (11, 12)}

#: Fewest documented parent links the simulation needs (a quarter of them are hidden per split).
MIN_LINKS = 8


#: Robust z-scores beyond this are clipped (a near-constant model's scale would dominate the fit).
Z_CLIP = 100.0


def owner(model: str) -> str:
    """The organisation of a model id: the part before the first ``/`` (lower-cased), else ``""``.

    >>> owner("Qwen/Qwen2.5-7B"), owner("gpt2")
    ('qwen', '')
    """
    return model.split("/", 1)[0].strip().lower() if "/" in model else ""


def name_tokens(model: str) -> frozenset[str]:
    """Lower-cased alphanumeric runs of a model id.

    >>> sorted(name_tokens("Qwen/Qwen2.5-7B-Instruct"))
    ['5', '7b', 'instruct', 'qwen', 'qwen2']
    """
    return frozenset(t for t in re.split(r"[^a-z0-9]+", model.lower()) if t)


class PairEvidence:
    """The label-free evidence of every pair (n x n), made once per distance matrix."""

    def __init__(self, d: NDArray[np.float64], labels: Sequence[str]):
        from scipy.stats import rankdata

        d = np.asarray(d, dtype=np.float64)
        n = d.shape[0]
        eye = np.eye(n, dtype=bool)
        self.rank = rankdata(np.where(eye, np.inf, d), method="average", axis=1)
        off = np.where(eye, np.nan, d)
        centre = np.nanmedian(off, axis=1)
        spread = 1.4826 * np.nanmedian(np.abs(off - centre[:, None]), axis=1)
        # a model with no spread (its distances mostly equal) has no usable z: 0, as for a typical pair
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(spread[:, None] > 0, (d - centre[:, None]) / spread[:, None], 0.0)
        self.z = np.clip(z, -Z_CLIP, Z_CLIP)
        toks = [name_tokens(x) for x in labels]
        vocab = {t: k for k, t in enumerate(sorted(set().union(*toks)))}
        incidence = np.zeros((n, max(1, len(vocab))), dtype=np.float32)
        for i, ts in enumerate(toks):
            incidence[i, [vocab[t] for t in ts]] = 1.0
        size = incidence.sum(axis=1).astype(np.float64)
        inter = (incidence @ incidence.T).astype(np.float64)
        self.jaccard = inter / np.maximum(size[:, None] + size[None, :] - inter, 1.0)
        self.contained = inter / np.maximum(np.minimum(size[:, None], size[None, :]), 1.0)
        org = np.array([owner(x) for x in labels], dtype=object)
        self.same_org = (org[:, None] != "") & (org[:, None] == org[None, :])
        self.name_rank = rankdata(np.where(eye, np.inf, -self.jaccard), method="average", axis=1)

    def features(
        self, children: NDArray[np.float64], labelled: NDArray[np.bool_], i: NDArray[np.intp], j: NDArray[np.intp]
    ) -> NDArray[np.float64]:
        """Rows of :data:`LINK_FEATURES` for pairs ``(i, j)``; ``children``: documented children per model."""
        ri, rj = self.rank[i, j], self.rank[j, i]
        ni, nj = self.name_rank[i, j], self.name_rank[j, i]
        zi, zj = self.z[i, j], self.z[j, i]
        cont = self.contained[i, j]
        return np.column_stack(
            [
                np.log(np.maximum(ri, rj)),
                np.log(np.minimum(ri, rj)),
                np.maximum(zi, zj),
                np.minimum(zi, zj),
                self.jaccard[i, j],
                self.same_org[i, j].astype(np.float64),
                cont,
                (cont >= 1).astype(np.float64),
                np.log1p(np.maximum(children[i], children[j])),
                np.log(np.maximum(ni, nj)),
                np.log(np.minimum(ni, nj)),
                (labelled[i] != labelled[j]).astype(np.float64),
                (~labelled[i] & ~labelled[j]).astype(np.float64),
            ]
        )


@dataclass(frozen=True)
class LinkModel:
    """A fitted link model: ``P(link) = sigmoid(w0 + sum_k w_k (x_k - mean_k) / scale_k)``.

    Attributes
    ----------
    features
        The evidence columns used (names from :data:`LINK_FEATURES`).
    columns
        Their positions in :data:`LINK_FEATURES`.
    weights
        Intercept, then one weight per feature (on standardised features).
    mean, scale
        Standardisation of each feature (from the training pairs).
    n_positive, n_negative
        Simulated hidden links and (subsampled) other candidates the model was fitted on.
    splits, hide
        Simulated maskings and the share of documented links each one hid.
    evidence
        The kinds of evidence used (keys of :data:`LINK_EVIDENCE`).
    """

    features: tuple[str, ...]
    columns: tuple[int, ...]
    weights: NDArray[np.float64]
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    n_positive: int
    n_negative: int
    splits: int
    hide: float
    evidence: tuple[str, ...]

    def probability(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """``P(link)`` of evidence rows ``x`` (all :data:`LINK_FEATURES` columns)."""
        s = self.weights[0] + ((x[:, list(self.columns)] - self.mean) / self.scale) @ self.weights[1:]
        return 1.0 / (1.0 + np.exp(-np.clip(s, -50.0, 50.0)))


def candidate_pairs_of(family: NDArray[np.object_], links: Sequence[tuple[int, int]], n: int):
    """Pairs ``i < j`` not of one (labelled) family and not a link of ``links``."""
    iu, ju = np.triu_indices(n, 1)
    keep = ~((family[iu] != "") & (family[iu] == family[ju]))
    if len(links):
        lk = np.sort(np.asarray(links, dtype=np.int64), axis=1)
        keep &= ~np.isin(iu.astype(np.int64) * n + ju, lk[:, 0] * n + lk[:, 1])
    return iu[keep].astype(np.intp), ju[keep].astype(np.intp)


def children_per_model(links: Sequence[tuple[int, int]], n: int) -> NDArray[np.float64]:
    """Documented children of each model, from ``(child, parent)`` links."""
    return np.bincount(np.array([p for _, p in links], dtype=np.intp), minlength=n).astype(np.float64)


def fit_link_model(
    evidence: PairEvidence,
    family: NDArray[np.object_],
    links: Sequence[tuple[int, int]],
    *,
    use: Sequence[str] = ("dna", "names", "labels"),
    allowed: NDArray[np.bool_] | None = None,
    splits: int = 4,
    hide: float = 0.25,
    max_negatives: int = 100_000,
    seed: int = 0,
) -> LinkModel:
    """Fit the link model on simulated discoveries of the table (``family`` per model, ``""`` =
    unlabelled; ``links`` = documented ``(child, parent)`` index pairs); see the module docstring.

    ``allowed`` (n x n, symmetric) marks the pairs that may be candidates at all, whatever the
    labels (``discover``'s usable-side and same-organisation rules); simulated candidates outside
    it are left out, so the model learns from pairs like the ones it will score. The documented
    children of each model are counted on the links a simulation keeps, scaled by
    ``len(links) / len(kept)``, so that they read like the full table's counts at scoring time.
    """
    splits = check_int("splits", splits, min=1)
    check_fraction("hide", hide, open_left=True, open_right=True)
    unknown = sorted(set(use) - set(LINK_EVIDENCE))
    if unknown or not use:
        raise PhyloLLMError(f"link model evidence must be among {sorted(LINK_EVIDENCE)}, got {list(use)}")
    links = sorted(set(links))
    if len(links) < MIN_LINKS:
        raise PhyloLLMError(f"the link model needs at least {MIN_LINKS} documented parent links, got {len(links)}")
    n = len(family)
    rng = np.random.default_rng(seed)
    xs, ys, n_neg, n_kept = [], [], 0, 0
    for _ in range(splits):
        pick = set(rng.choice(len(links), size=max(1, int(round(hide * len(links)))), replace=False).tolist())
        hidden = [v for k, v in enumerate(links) if k in pick]
        kept = [v for k, v in enumerate(links) if k not in pick]
        fam = family.copy()
        fam[[c for c, _ in hidden]] = ""
        ci, cj = candidate_pairs_of(fam, kept, n)
        if allowed is not None:
            ok = allowed[ci, cj]
            ci, cj = ci[ok], cj[ok]
        hk = np.array([min(c, p) * n + max(c, p) for c, p in hidden], dtype=np.int64)
        pos = np.isin(ci.astype(np.int64) * n + cj, hk)
        neg = np.flatnonzero(~pos)
        n_neg += neg.size
        if neg.size > max_negatives:
            neg = rng.choice(neg, max_negatives, replace=False)
        n_kept += neg.size
        take = np.r_[np.flatnonzero(pos), neg]
        children = children_per_model(kept, n) * (len(links) / max(1, len(kept)))
        xs.append(evidence.features(children, fam != "", ci[take], cj[take]))
        ys.append(np.r_[np.ones(int(pos.sum())), np.zeros(neg.size)])
    kinds = tuple(kind for kind in LINK_EVIDENCE if kind in use)
    columns = tuple(c for kind in kinds for c in LINK_EVIDENCE[kind])
    x, y = np.vstack(xs)[:, list(columns)], np.concatenate(ys)
    if not y.any():
        raise PhyloLLMError(
            f"no simulated hidden link is a candidate ({len(links)} documented links, none allowed as a candidate "
            "once hidden, e.g. all within one organisation while same-organisation pairs are skipped)"
        )
    mean, std = x.mean(axis=0), x.std(axis=0)
    scale = np.where(std > 0, std, 1.0)  # a constant column (e.g. same organisation, all skipped) weighs nothing
    w = fit_logistic(np.column_stack([np.ones(len(x)), (x - mean) / scale]), y, ridge=1e-2, max_iter=60, tol=1e-9)
    w[0] += float(np.log(n_kept / max(1, n_neg)))  # negatives were subsampled: back to the candidates' odds
    return LinkModel(
        features=tuple(LINK_FEATURES[c] for c in columns),
        columns=columns,
        weights=w,
        mean=mean,
        scale=scale,
        n_positive=int(y.sum()),
        n_negative=int(len(y) - y.sum()),
        splits=splits,
        hide=float(hide),
        evidence=kinds,
    )
