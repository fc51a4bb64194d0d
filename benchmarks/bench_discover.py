"""Can ``discover`` find documented links it was not shown? Precision, recall and realised FDR.

Validation that can fail: in each of ``--reps`` repetitions a seeded random ``--hide`` share of
the documented parent links is hidden, together with the hidden children's family labels; then
:func:`phylo_llm.analysis.discover_relationships` runs on the masked labels and its ranked list is
scored against what was hidden. The same candidate pairs are ranked by two baselines in the same
run: plain DNA distance, and the token similarity of the two ids (Jaccard over the lower-cased
alphanumeric tokens of ``org/name``; ties count at their expected value).

What counts (stated in docs/discover.md):

hidden link
    A documented ``(child, parent)`` pair whose link was removed; *the* target of precision@k and
    recall@k (``hits in the first k / k``, ``/ number hidden``).
hidden relation
    A pair the full labels link (parent link or same family) that the masking turned into a
    candidate: a hidden link, or a hidden child with a member of its (hidden) family.
documented-unrelated
    A candidate the full labels also call unrelated (different families, no parent link).

Realised FDR at nominal ``alpha`` (calls: ``q <= alpha``), three readings, because the labels
cannot judge the tool's own claims (the *standing proposals*: pairs called on the full labels,
whatever is hidden):

new calls (primary)
    among the calls that are not standing proposals, the share that are not a hidden relation;
touching a hidden child
    among the calls that involve a hidden child, the share that are not a hidden relation;
all calls (upper bound)
    among all calls, the share that are not a hidden relation (standing proposals count as false).
 Per repetition, 0 calls = FDR 0 (the usual
``E[V/R; R > 0]``); mean and median over repetitions.

Usage::

    python benchmarks/bench_discover.py \\
        --dna ../shared/data/llm-dna-paper/dna_qwen3-embedding-8b.csv \\
        --labels ../shared/data/llm-dna-paper/models_meta.csv \\
        --responses ../shared/data/llm-dna-paper/responses.jsonl.xz

``--responses`` applies the extraction's rule (a model with more than half empty answers has no
DNA) to a published DNA file made without it; leave it out for DNA made by ``phylo-llm extract``.

``--data rand-zh`` runs on the shipped rand-zh atlas instead (its DNA for 1,518 models and its
labels: curated family/parent/organisation/release where ``models_meta`` has them, else the family
from the name). Its whitening statistics were fitted on the whole rand-zh population (label-free,
no families involved). ``--cross-fit`` refits them per repetition on half the families (the
atlas's character n-gram features are remade from ``--shared`` in seconds) and hides links only
in the other half.

The first row is the shipped order (``discover_relationships`` with its defaults: the link model,
learned per repetition from the masked labels alone). Besides it and the two baselines, the run
scores *variants* of the ranking on the same candidates (the older DNA orders, and the link model
refitted with less evidence: without the label counts, without the DNA, without the names, DNA
only; see docs/discover.md), so that a choice between them can be made on one data set and
reported on the other.
"""

from __future__ import annotations

import argparse
import json
import lzma
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scipy.stats import norm, rankdata

from phylo_llm.analysis import discover_relationships, lineage_pairs, name_tokens
from phylo_llm.atlas import load_atlas
from phylo_llm.data import dna_distances, pairwise_distances, read_meta
from phylo_llm.io import read_distance_matrix, read_dna

MAX_EMPTY = 0.5


def mostly_empty(path: Path) -> set[str]:
    out = set()
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            r = doc["responses"]
            if sum(1 for x in r if not str(x).strip()) > MAX_EMPTY * len(r):
                out.add(doc["model"])
    return out


def name_similarity(labels: tuple[str, ...], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    toks = [name_tokens(x) for x in labels]
    return np.array([len(toks[i] & toks[j]) / max(1, len(toks[i] | toks[j])) for i, j in zip(a, b)])


def expected_hits(score: np.ndarray, truth: np.ndarray, ks: list[int]) -> list[float]:
    """Expected true pairs among the k lowest scores, ties broken uniformly at random."""
    order = np.argsort(score, kind="stable")
    s, t = score[order], truth[order].astype(float)
    uniq, start, counts = np.unique(s, return_index=True, return_counts=True)
    group_hits = np.add.reduceat(t, start)
    cum_n = np.cumsum(counts)
    cum_h = np.cumsum(group_hits)
    out = []
    for k in ks:
        g = int(np.searchsorted(cum_n, k, side="left"))  # group holding position k
        if g >= len(counts):
            out.append(float(cum_h[-1]))
            continue
        before_n = cum_n[g] - counts[g]
        before_h = cum_h[g] - group_hits[g]
        out.append(float(before_h + (k - before_n) * group_hits[g] / counts[g]))
    return out


def mask_labels(meta: pd.DataFrame, hidden: list[tuple[str, str]]) -> pd.DataFrame:
    m = meta.copy()
    m["base_model"] = m["base_model"].astype("string")
    m["family"] = m["family"].astype("string")
    for child, parent in hidden:
        bases = [x.strip() for x in str(m.at[child, "base_model"]).split("|")]
        kept = [x for x in bases if x != parent]
        m.at[child, "base_model"] = "|".join(kept) if kept else pd.NA
        m.at[child, "family"] = pd.NA
    return m


def pair_keys(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return lo.astype(np.int64) * n + hi


def candidate_ranks(n: int, a: np.ndarray, b: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank of ``b`` among ``a``'s *candidate* partners (1 = nearest), and of ``a`` among ``b``'s.

    Unlike the plain neighbour rank, the models the labels link to ``a`` (its family, its parents)
    do not count, so a dense family does not push an out-of-family relative down.
    """
    c = np.full((n, n), np.inf)
    c[a, b] = d
    c[b, a] = d
    r = rankdata(c, method="min", axis=1)
    return r[a, b], r[b, a]


def positions(*keys: np.ndarray) -> np.ndarray:
    """Each candidate's position when sorted by ``keys`` (last key first, as ``np.lexsort``)."""
    order = np.lexsort(keys)
    out = np.empty(len(order))
    out[order] = np.arange(len(order))
    return out


def variant_scores(res, n: int, name_sim: np.ndarray) -> dict[str, np.ndarray]:
    """Lower = better, one per candidate of ``res`` (in its order)."""
    a, b, d = res.a, res.b, res.distance
    tie = d / (2 * max(float(d.max()), 1e-300))  # < 0.5: breaks ties of integer ranks by distance only
    p = res.p_value
    fam = np.array([f or "" for f in res.family], dtype=object)
    ref = (fam[a] != "") & (fam[b] != "") & (fam[a] != fam[b])  # labelled, different families (masked labels)
    m = float(np.median(d[ref]))
    s = 1.4826 * float(np.median(np.abs(d[ref] - m)))
    p_pool = norm.cdf((d - m) / s)
    ca, cb = candidate_ranks(n, a, b, d)
    pos_pd = positions(d, p)
    pos_p3 = positions(d, np.fmax(p, p_pool))
    return {
        "empirical quantile (max)": np.fmax(res.quantile_a, res.quantile_b),
        # ties by distance: "mutual nearest neighbours first, closest first"
        "neighbour rank (max)": np.maximum(res.rank_a, res.rank_b) + tie,
        "p, ties by distance": pos_pd,
        "p with a pooled side, ties by distance": pos_p3,
        "candidate rank (max)": np.maximum(ca, cb) + tie,
        "candidate rank (sum)": ca + cb + tie,
        "empirical quantile (max), ties by distance": np.fmax(res.quantile_a, res.quantile_b) + tie * 1e-6,
        # Two kinds of evidence: the names, then the DNA among pairs whose names are as alike.
        "name tokens, ties by neighbour rank": positions(np.maximum(res.rank_a, res.rank_b) + tie, -name_sim),
        # Rank product (Breitling et al. 2004): both orders count, name ties at their mean rank.
        "rank product (name tokens x neighbour rank)": rankdata(-name_sim)
        * rankdata(np.maximum(res.rank_a, res.rank_b) + tie),
    }


#: Ablations of the shipped link model: which kinds of evidence it may use.
ABLATIONS = {
    "link model, DNA + names (no label counts)": ("dna", "names"),
    "link model, names + labels (no DNA)": ("names", "labels"),
    "link model, DNA + labels (no names)": ("dna", "labels"),
    "link model, DNA only": ("dna",),
}


def link_ablations(dm, masked, key, n, min_reference) -> dict[str, np.ndarray]:
    """The shipped order with the link model refitted on less evidence: each candidate's position
    in that list (``key``: the pair keys of the candidates to score)."""
    out = {}
    for name, use in ABLATIONS.items():
        r = discover_relationships(dm, masked, min_reference=min_reference, link_evidence=use)
        out[name] = positions_in(pair_keys(n, r.a, r.b), key)
    return out


def positions_in(ref_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Position in the list ``ref_keys`` of each of ``keys`` (the same set of pair keys)."""
    order = np.argsort(ref_keys, kind="stable")
    return order[np.searchsorted(ref_keys[order], keys)].astype(float)


def crossfit_distances(atlas, data: Path):
    """``dm_for(rep) -> (distances, scored)`` for the cross-fitted rand-zh run: for repetition
    ``rep`` the members are split in two halves by family (``extract.atlas.build.family_key``,
    split seed ``rep``), the atlas's statistics are refitted on half 0 alone, every member's DNA
    is remade with them (exact, as shipped), and ``scored`` marks half 1, where links are hidden."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_atlas import load_population, variant_dna

    from extract.atlas.build import family_key, half_of
    from extract.probes import ProbeSet
    from extract.recipe import fit_reference

    src, prompts, members, emb, _ = load_population("rand-zh", data, embedder=atlas.provenance.embedder)
    if [m.model for m in members] != list(atlas.models):
        raise SystemExit("the shipped rand-zh atlas was not built from this data: rebuild it first")
    variant = "v2-exact" if src.dims is None else f"v2-jl-{src.dims}d"

    def dm_for(rep: int):
        halves = np.array([half_of(family_key(m), rep) for m in members])
        stats = fit_reference(emb[halves == 0], prompts=prompts, embedder="x", name="fit half", basis_k=src.basis_k)
        dna = variant_dna(variant, stats, emb, ProbeSet(prompts).id)
        return pairwise_distances(dna, list(atlas.models)), halves == 1

    return dm_for


def load(args: argparse.Namespace):
    """(distances, labels, per-repetition distances or None) for ``--data``."""
    if args.data == "rand-zh":
        atlas = load_atlas("rand-zh")
        if args.cross_fit and args.responses:
            raise SystemExit("--cross-fit remakes every atlas member's DNA: leave out --responses")
        dm_for = crossfit_distances(atlas, args.shared) if args.cross_fit else None
        return dna_distances(atlas.as_dna()), atlas.labels_frame(), dm_for
    if args.dna is None or args.labels is None:
        raise SystemExit("--dna and --labels are required with --data files")
    dm = read_distance_matrix(args.dna) if args.input_kind == "distance" else dna_distances(read_dna(args.dna))
    return dm, read_meta(args.labels), None


def run(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    dm, meta, dm_for = load(args)
    dropped = sorted(mostly_empty(args.responses) & set(dm.labels)) if args.responses else []
    if dropped:
        dm = dm.subset([x for x in dm.labels if x not in set(dropped)])
    labels = dm.labels
    n = len(labels)
    meta = meta.loc[[x for x in labels if x in meta.index]]
    fam_full = meta["family"].reindex(list(labels)).astype("string").fillna("").to_numpy(dtype=object)
    pairs = lineage_pairs(list(meta.index), meta)
    pos = np.array([dm.index(x) for x in meta.index])
    child, parent = pos[pairs.child], pos[pairs.parent]
    links = sorted(set(zip(child.tolist(), parent.tolist())))
    n_hide = int(round(args.hide * len(links)))
    full_link_keys = set(pair_keys(n, child, parent).tolist())
    print(
        f"{n} models ({len(dropped)} dropped as mostly empty), {len(links)} documented parent links, "
        f"hiding {n_hide} per repetition, {args.reps} repetitions",
        file=sys.stderr,
    )

    prec, rec, prec_rel, prec_touch = {}, {}, {}, {}
    diag = {
        k: []
        for k in (
            "hidden_link_median_position_discover",
            "hidden_link_median_position_distance",
            "top20_discover_standing_share",
            "top20_distance_standing_share",
            "candidates_at_min_p",
            "hidden_child_nn_in_true_family_share",
            "hidden_parent_rank_among_child_neighbours_median",
            "hidden_parent_rank_among_child_candidates_median",
            "hidden_child_rank_among_parent_neighbours_median",
            "hidden_child_rank_among_parent_candidates_median",
        )
    }
    labelled_full = fam_full != ""
    fdr_touch = {a: [] for a in args.alphas}
    fdr_all = {a: [] for a in args.alphas}
    fdr_strict = {a: [] for a in args.alphas}
    fdr_judged = {a: [] for a in args.alphas}
    n_judged = {a: [] for a in args.alphas}
    n_calls = {a: [] for a in args.alphas}
    n_calls_touch = {a: [] for a in args.alphas}
    tp_links = {a: [] for a in args.alphas}
    hidden_in_candidates = []
    fdr_new = {a: [] for a in args.alphas}
    n_new = {a: [] for a in args.alphas}
    # Held-out null check: a hidden child's pairs with models of another (true) family, unlinked,
    # are null pairs that are not calibration pairs; their p-values should be uniform.
    null_p = {"p_value": [], "p_normal": []}
    # Standing proposals: pairs called on the full labels, whatever is hidden (the tool's own claims).
    full = discover_relationships(dm, meta, min_reference=args.min_reference)
    full_key = pair_keys(n, full.a, full.b)
    standing = {al: set(full_key[full.q_value <= al].tolist()) for al in args.alphas}
    dm_full, links_all, standing_full, hidden_counts = dm, links, standing, []
    for rep in range(args.reps):
        rng = np.random.default_rng([args.seed, rep])
        if dm_for is not None:  # cross-fitted: statistics from half 0, links hidden in half 1 only
            dm, scored = dm_for(rep)
            links = [(c, p) for c, p in links_all if scored[c] and scored[p]]
            n_hide = int(round(args.hide * len(links)))
            rep_full = discover_relationships(dm, meta, min_reference=args.min_reference)
            rep_key = pair_keys(n, rep_full.a, rep_full.b)
            standing = {al: set(rep_key[rep_full.q_value <= al].tolist()) for al in args.alphas}
        pick = rng.choice(len(links), size=n_hide, replace=False)
        hidden = [links[i] for i in sorted(pick)]
        hidden_counts.append(n_hide)
        hidden_children = np.zeros(n, dtype=bool)
        hidden_children[[c for c, _ in hidden]] = True
        masked = mask_labels(meta, [(labels[c], labels[p]) for c, p in hidden])
        # p-value order: the "discover (p-order)" row and the base of the DNA-order variants; the
        # shipped default order (the link model) is its own call below (q-values do not depend on it).
        res = discover_relationships(dm, masked, min_reference=args.min_reference, order="p_value")
        a, b = res.a, res.b
        key = pair_keys(n, a, b)
        hk = pair_keys(n, np.array([c for c, _ in hidden]), np.array([p for _, p in hidden]))
        is_link = np.isin(key, hk)
        same_full = (fam_full[a] != "") & (fam_full[a] == fam_full[b])
        is_rel = is_link | same_full | np.isin(key, list(full_link_keys))
        touch = hidden_children[a] | hidden_children[b]
        hidden_in_candidates.append(int(is_link.sum()))
        held_null = touch & ~is_rel & (fam_full[a] != "") & (fam_full[b] != "")
        for k_ in null_p:
            null_p[k_].append(getattr(res, k_)[held_null])
        d = res.distance
        name_sim = name_similarity(labels, a, b)
        shipped = discover_relationships(dm, masked, min_reference=args.min_reference)  # the default order
        scores = {
            f"discover (shipped order: {shipped.order})": positions_in(pair_keys(n, shipped.a, shipped.b), key),
            "discover (p-order)": np.arange(len(res), dtype=float),
            "distance": d,
            "name tokens": -name_sim,
            **variant_scores(res, n, name_sim),
            **link_ablations(dm, masked, key, n, args.min_reference),
        }
        for m, s in scores.items():
            h = np.array(expected_hits(s, is_link, args.ks))
            prec.setdefault(m, []).append(h / np.array(args.ks))
            rec.setdefault(m, []).append(h / max(1, n_hide))
            prec_rel.setdefault(m, []).append(np.array(expected_hits(s, is_rel, args.ks)) / np.array(args.ks))
            prec_touch.setdefault(m, []).append(
                np.array(expected_hits(s[touch], is_link[touch], args.ks)) / np.array(args.ks)
            )
        # Diagnosis: where the hidden links sit, what fills the top, how the ranks look from each side.
        by_d = np.empty(len(d))
        by_d[np.argsort(d, kind="stable")] = np.arange(len(d))
        diag["hidden_link_median_position_discover"].append(float(np.median(np.nonzero(is_link)[0] + 1)))
        diag["hidden_link_median_position_distance"].append(float(np.median(by_d[is_link] + 1)))
        st = np.isin(key, list(standing[0.1] if 0.1 in standing else standing[args.alphas[0]]))
        diag["top20_discover_standing_share"].append(float(st[:20].mean()))
        diag["top20_distance_standing_share"].append(float(st[np.argsort(d, kind="stable")[:20]].mean()))
        diag["candidates_at_min_p"].append(int((res.p_value == res.p_value.min()).sum()))
        dd = np.where(np.eye(n, dtype=bool), np.inf, dm.values)
        nn = np.argmin(dd, axis=1)
        hc = np.nonzero(hidden_children)[0]
        diag["hidden_child_nn_in_true_family_share"].append(
            float(np.mean(labelled_full[nn[hc]] & (fam_full[nn[hc]] == fam_full[hc])))
        )
        ca, cb = candidate_ranks(n, a, b, d)
        nbr = rankdata(dd, method="min", axis=1)
        hc_, hp_ = np.array([c for c, _ in hidden]), np.array([p for _, p in hidden])
        rc = {
            (int(x), int(y)): (int(u), int(v)) for x, y, u, v in zip(a[is_link], b[is_link], ca[is_link], cb[is_link])
        }
        pr_cand, ch_cand = [], []
        for c_, p_ in zip(hc_, hp_):
            if (c_, p_) in rc:
                u, v = rc[(c_, p_)]
                pr_cand.append(u)
                ch_cand.append(v)
            elif (p_, c_) in rc:
                u, v = rc[(p_, c_)]
                pr_cand.append(v)
                ch_cand.append(u)
        diag["hidden_parent_rank_among_child_neighbours_median"].append(float(np.median(nbr[hc_, hp_])))
        diag["hidden_parent_rank_among_child_candidates_median"].append(float(np.median(pr_cand)))
        diag["hidden_child_rank_among_parent_neighbours_median"].append(float(np.median(nbr[hp_, hc_])))
        diag["hidden_child_rank_among_parent_candidates_median"].append(float(np.median(ch_cand)))
        for al in args.alphas:
            call = res.q_value <= al
            ct = call & touch
            n_calls[al].append(int(call.sum()))
            n_calls_touch[al].append(int(ct.sum()))
            tp_links[al].append(int((call & is_link).sum()))
            fdr_touch[al].append(float((ct & ~is_rel).sum() / ct.sum()) if ct.any() else 0.0)
            fdr_strict[al].append(float((ct & ~is_link).sum() / ct.sum()) if ct.any() else 0.0)
            # the calls the full labels can judge: a hidden child with a model that has a family label
            cj = ct & (fam_full[a] != "") & (fam_full[b] != "")
            n_judged[al].append(int(cj.sum()))
            fdr_judged[al].append(float((cj & ~is_rel).sum() / cj.sum()) if cj.any() else 0.0)
            fdr_all[al].append(float((call & ~is_rel).sum() / call.sum()) if call.any() else 0.0)
            new = call & ~np.isin(key, list(standing[al]))
            n_new[al].append(int(new.sum()))
            fdr_new[al].append(float((new & ~is_rel).sum() / new.sum()) if new.any() else 0.0)
        print(f"\rrepetition {rep + 1}/{args.reps}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    dm, links, standing = dm_full, links_all, standing_full

    # Calibration on the full labels: the normal model's p-values of documented-unrelated pairs
    # against nominal t (the conformal ones are uniform on these pairs by construction).
    diff = (fam_full[full.a] != "") & (fam_full[full.b] != "") & (fam_full[full.a] != fam_full[full.b])
    calib = {t: float((full.p_normal[diff] <= t).mean()) for t in (1e-2, 1e-3, 1e-4, 1e-5)}
    held = {k_: np.concatenate(v) for k_, v in null_p.items()}
    held_calib = {k_: {f"{t:g}": float((v <= t).mean()) for t in (1e-1, 1e-2, 1e-3)} for k_, v in held.items()}

    out = {
        "data": args.data + (" (cross-fitted)" if dm_for is not None else ""),
        "dna": str(args.dna),
        "labels": str(args.labels),
        "models": n,
        "dropped_mostly_empty": dropped,
        "parent_links": len(links),
        "hidden_per_rep": float(np.mean(hidden_counts)),
        "reps": args.reps,
        "seed": args.seed,
        "hidden_links_among_candidates": hidden_in_candidates,
        "candidates_full_labels": len(full),
        "ks": args.ks,
        "alphas": args.alphas,
        "precision": {m: {"mean": np.mean(v, 0).tolist(), "median": np.median(v, 0).tolist()} for m, v in prec.items()},
        "recall": {m: {"mean": np.mean(v, 0).tolist(), "median": np.median(v, 0).tolist()} for m, v in rec.items()},
        "precision_any_hidden_relation": {m: np.mean(v, 0).tolist() for m, v in prec_rel.items()},
        "precision_touching_hidden_child": {m: np.mean(v, 0).tolist() for m, v in prec_touch.items()},
        "fdr": {
            str(al): {
                "calls_mean": float(np.mean(n_calls[al])),
                "calls_touching_hidden_mean": float(np.mean(n_calls_touch[al])),
                "hidden_links_called_mean": float(np.mean(tp_links[al])),
                "fdr_touching_hidden_mean": float(np.mean(fdr_touch[al])),
                "fdr_touching_hidden_median": float(np.median(fdr_touch[al])),
                "fdr_strict_links_only_mean": float(np.mean(fdr_strict[al])),
                "judged_calls_mean": float(np.mean(n_judged[al])),
                "fdr_judged_mean": float(np.mean(fdr_judged[al])),
                "fdr_judged_median": float(np.median(fdr_judged[al])),
                "fdr_new_calls_mean": float(np.mean(fdr_new[al])),
                "fdr_new_calls_median": float(np.median(fdr_new[al])),
                "standing_calls": len(standing[al]),
                "new_calls_mean": float(np.mean(n_new[al])),
                "fdr_all_calls_mean": float(np.mean(fdr_all[al])),
                "fdr_all_calls_median": float(np.median(fdr_all[al])),
            }
            for al in args.alphas
        },
        "calibration_documented_unrelated": {"pairs": int(diff.sum()), **{f"{t:g}": v for t, v in calib.items()}},
        "held_out_null": {"pairs": int(held["p_value"].size), **held_calib},
        "calibration_pairs_full_labels": int(full.n_calibration),
        "diagnosis": {k: float(np.mean(v)) for k, v in diag.items()},
        "seconds": time.perf_counter() - t0,
    }
    return out


def report(out: dict) -> str:
    ks = out["ks"]
    lines = [
        f"{out['models']} models, {out['parent_links']} documented parent links, {out['hidden_per_rep']} hidden "
        f"per repetition x {out['reps']} (seed {out['seed']}); {len(out['dropped_mostly_empty'])} mostly-empty models dropped.",
        "",
        "| method | " + " | ".join(f"P@{k}" for k in ks) + " | " + " | ".join(f"R@{k}" for k in ks) + " |",
        "|---|" + "---:|" * (2 * len(ks)),
    ]
    for m in out["precision"]:
        p, r = out["precision"][m], out["recall"][m]
        lines.append(
            f"| {m} | "
            + " | ".join(f"{x:.3f} ({y:.3f})" for x, y in zip(p["mean"], p["median"]))
            + " | "
            + " | ".join(f"{x:.3f} ({y:.3f})" for x, y in zip(r["mean"], r["median"]))
            + " |"
        )
    lines += [
        "",
        "(mean (median) over repetitions; hidden links only)",
        "",
        "| method | " + " | ".join(f"P@{k} any hidden relation" for k in ks) + " |",
        "|---|" + "---:|" * len(ks),
    ]
    for m, v in out["precision_any_hidden_relation"].items():
        lines.append(f"| {m} | " + " | ".join(f"{x:.3f}" for x in v) + " |")
    lines += [
        "",
        "| method | " + " | ".join(f"P@{k} among pairs touching a hidden child" for k in ks) + " |",
        "|---|" + "---:|" * len(ks),
    ]
    for m, v in out["precision_touching_hidden_child"].items():
        lines.append(f"| {m} | " + " | ".join(f"{x:.3f}" for x in v) + " |")
    lines += [
        "",
        "| nominal FDR | calls | calls touching a hidden child | hidden links called | FDR touching hidden, mean (median) "
        "| FDR, hidden links only count | judged calls (hidden child, labelled partner): n, FDR mean (median) "
        "| FDR of new calls, mean (median) | FDR all calls, mean (median) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for al, f in out["fdr"].items():
        lines.append(
            f"| {al} | {f['calls_mean']:.1f} | {f['calls_touching_hidden_mean']:.1f} | {f['hidden_links_called_mean']:.1f} | "
            f"{f['fdr_touching_hidden_mean']:.3f} ({f['fdr_touching_hidden_median']:.3f}) | {f['fdr_strict_links_only_mean']:.3f} | "
            f"{f['judged_calls_mean']:.1f}, {f['fdr_judged_mean']:.3f} ({f['fdr_judged_median']:.3f}) | "
            f"{f['fdr_new_calls_mean']:.3f} ({f['fdr_new_calls_median']:.3f}) [{f['new_calls_mean']:.1f} new, {f['standing_calls']} standing] | "
            f"{f['fdr_all_calls_mean']:.3f} ({f['fdr_all_calls_median']:.3f}) |"
        )
    c = out["calibration_documented_unrelated"]
    lines += [
        "",
        f"Normal model on the full labels ({c['pairs']} documented-unrelated pairs): share with p_normal <= t: "
        + ", ".join(f"t={t}: {v:.2e}" for t, v in c.items() if t != "pairs"),
        f"Held-out null ({out['held_out_null']['pairs']} pairs over all repetitions: a hidden child with a model "
        f"of another true family, unlinked; not calibration pairs): share with p <= t: "
        + "; ".join(
            f"{k_} " + ", ".join(f"t={t}: {v:.2e}" for t, v in out["held_out_null"][k_].items())
            for k_ in ("p_value", "p_normal")
        ),
        f"hidden links that were candidates per repetition: {out['hidden_links_among_candidates']}",
        "diagnosis (mean over repetitions): " + "; ".join(f"{k} {v:.3g}" for k, v in out["diagnosis"].items()),
        f"run time {out['seconds']:.0f} s",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data",
        choices=("files", "rand-zh"),
        default="files",
        help="files: --dna and --labels; rand-zh: the shipped rand-zh atlas (its DNA and labels)",
    )
    ap.add_argument("--dna", type=Path, help="DNA file (.csv/.json) or distance matrix")
    ap.add_argument("--input-kind", choices=("dna", "distance"), default="dna")
    ap.add_argument("--labels", type=Path, help="metadata table (models_meta.csv)")
    ap.add_argument("--responses", type=Path, help="responses.jsonl.xz: drop models with > half empty answers")
    ap.add_argument(
        "--cross-fit",
        action="store_true",
        help="rand-zh only: per repetition, refit the statistics on half the families and hide links in the other half",
    )
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data", help="reference data (--cross-fit)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--hide", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ks", type=int, nargs="+", default=[5, 10, 20, 50])
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    ap.add_argument("--min-reference", type=int, default=10)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()
    out = run(args)
    print(report(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
