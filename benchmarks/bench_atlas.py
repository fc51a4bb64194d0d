"""How well does an atlas answer "where does this model come from?" — leave-one-out, cross-fitted.

Every labelled atlas model (curated family, with a family-mate or a documented parent in the atlas)
is placed among all the other atlas models, as `phylo-llm place` would place a new model. The
label-free statistics are **cross-fitted**: models are split into two halves by family (models
without a curated family by their name-family, else organisation), statistics are fitted on one
half and the other half is scored, then the other way round; repeated over ``--splits`` seeded
splits. The confidence calibration is cross-fitted the same way: the confidence of one half's
placements comes from a model fitted on the other half's out-of-fold placements, as the shipped
calibration is fitted out of fold at build time.

Reported per DNA variant (the shipped one is ``basis``: per-probe frozen basis, exact):
nearest-neighbour family accuracy, inferred-family accuracy (rank-weighted vote of the k=10
nearest), parent in top-1 / top-5 (models with a documented parent in the atlas), parent–child
ROC AUC and same-family AUC over the labelled models' distances, ECE and a reliability table of the
confidence, and accuracy when answering only for the 50% / 80% most confident models.

Usage::

    python benchmarks/bench_atlas.py --atlas rand-zh            # probes: the atlas's default
    python benchmarks/bench_atlas.py --atlas paper --probes 32
    python benchmarks/bench_atlas.py --atlas combined   # the composite paper + rand-zh atlas
    python benchmarks/bench_atlas.py --groups           # rand-zh's chat-API members vs raw prompts

``combined`` (a composite atlas: the models in both data sets, DNA = both parts' DNA, each
weighted to unit mean squared norm) is cross-fitted the same way: each part's statistics are
fitted on the fitting half of that part's whole population, the part weights on the fitting
half's shared members; placement is among the shared members only, as in the shipped atlas.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from extract.atlas.build import (
    SOURCES,
    curated_families,
    exclusions,
    family_key,
    half_of,
    label_table,
    member_labels,
    read_population,
)
from extract.atlas.population import embed_population
from extract.embed import load_embedder
from extract.probes import ProbeSet
from extract.projection import project
from extract.recipe import BasisRecipe, WhitenedRecipe, fit_reference
from phylo_llm.analysis import evaluate_lineage
from phylo_llm.atlas import families_seen, family_votes, fit_confidence, name_relabels, shared_members
from phylo_llm.data import (
    meta_frame,
    pairwise_distances,
)

DATA = REPO.parent / "shared" / "data"
K = 10


def variant_dna(name: str, stats, emb: np.ndarray, probe_set: str) -> np.ndarray:
    if name == "basis":
        r = BasisRecipe(stats)
        return np.stack([r.features(e, probe_set=probe_set).ravel() for e in emb])
    v2 = WhitenedRecipe(stats, scope="probe")
    f = np.stack([v2.features(e, probe_set=probe_set) for e in emb])
    if name == "v2-exact":
        return f.reshape(len(emb), -1)
    dims = int(name.split("-")[-1].rstrip("d"))
    return project(f, seed=0, dims=dims)


def loo(dna: np.ndarray, members, rows: np.ndarray):
    """For each row i in ``rows``: neighbours (excluding i) and their distances."""
    return loo_neighbours(pairwise_distances(dna, [str(i) for i in range(len(dna))]).values, rows)


def loo_neighbours(d: np.ndarray, rows: np.ndarray):
    """For each row i in ``rows`` of the distance matrix ``d``: every other model, nearest first
    (ties by index), and its distance."""
    out = []
    for i in rows:
        di = d[i].copy()
        di[i] = np.inf
        order = np.argsort(di, kind="stable")
        out.append((order, di[order]))
    return out


def evaluate_rows(members, rows, neigh, relabel=None):
    """Leave-one-out placements of ``rows``; ``relabel`` (``name_relabels``) hides the name
    families read from the placed model's own label, as for a model that is not in the atlas."""
    index = {m.model: i for i, m in enumerate(members)}
    recs = []
    for i, (order, dist) in zip(rows, neigh):
        m = members[i]
        fam_truth = m.family
        top = order[:K]
        fams = families_seen(members, i, top, relabel)
        fam, share, margin = family_votes(fams, dist[:K])
        parents = [index[p] for p in m.parents if p in index]
        prank = None
        if parents:
            pos = {j: r for r, j in enumerate(order, 1)}
            prank = min(pos[p] for p in parents)
        recs.append(
            dict(
                model=m.model, truth=fam_truth, nn=fams[0], inferred=fam, share=share, margin=margin, parent_rank=prank
            )
        )
    return pd.DataFrame(recs)


def reliability(conf: np.ndarray, right: np.ndarray) -> tuple[float, list[tuple[str, int, float, float]]]:
    edges = [0.0, 0.5, 0.7, 0.8, 0.9, 1.0001]
    table, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf >= lo) & (conf < hi)
        if sel.any():
            table.append(
                (f"[{lo:.1f}, {min(hi, 1):.1f})", int(sel.sum()), float(conf[sel].mean()), float(right[sel].mean()))
            )
            ece += sel.mean() * abs(conf[sel].mean() - right[sel].mean())
    return float(ece), table


def summarise(variant: str, frames, aucs, same, dims: int, splits: int) -> None:
    ev = pd.concat(frames)
    right = (ev["inferred"] == ev["truth"]).to_numpy()
    conf = ev["conf"].to_numpy()
    ece, table = reliability(conf, right)
    order = np.argsort(-conf, kind="stable")
    cov = {c: float(right[order[: max(1, int(round(c * len(order))))]].mean()) for c in (0.5, 0.8)}
    thr = {c: float(conf[order[max(1, int(round(c * len(order)))) - 1]]) for c in (0.5, 0.8)}
    pr = ev["parent_rank"].dropna()
    hi = conf >= 0.9
    print(f"\n## {variant}  (dims {dims}; {splits} splits x 2 halves; {len(ev) // splits} placements per split)")
    print(
        f"nearest-neighbour family {np.mean(ev['nn'] == ev['truth']):.3f} | inferred family {right.mean():.3f} | "
        f"parent top-1 {np.mean(pr <= 1):.3f} top-5 {np.mean(pr <= 5):.3f} (n={len(pr) // splits}) | "
        f"parent-child AUC {np.mean(aucs):.3f} | same-family AUC {np.nanmean(same):.3f}"
    )
    print(
        f"confidence: ECE {ece:.3f}; answering for 50% (conf >= {thr[0.5]:.2f}): accuracy {cov[0.5]:.3f}; "
        f"80% (conf >= {thr[0.8]:.2f}): {cov[0.8]:.3f}; where conf >= 0.9: accuracy "
        f"{right[hi].mean() if hi.any() else float('nan'):.3f} (n={int(hi.sum())})"
    )
    print("| confidence | n | mean confidence | accuracy |\n|---|---|---|---|")
    for row in table:
        print(f"| {row[0]} | {row[1]} | {row[2]:.3f} | {row[3]:.3f} |")


def load_population(name: str, data: Path, n_probes: int | None = None, embedder: str | None = None):
    """``(source, prompts, members, embeddings, excluded)`` of an atlas population, as its build
    makes them (same exclusions, labels, embedder and cached embeddings)."""
    src = SOURCES[name]
    prompts, models, answers = read_population(data / src.folder, n_probes or src.n_probes)
    excluded = exclusions(models, answers)
    emb_all = embed_population(load_embedder(embedder or src.embedder, batch_size=32), answers)
    keep = [i for i, m in enumerate(models) if m not in excluded]
    members = member_labels([models[i] for i in keep], data / "llm-dna-paper" / "models_meta.csv")
    return src, prompts, members, emb_all[keep], excluded


def evaluable_rows(members, relabel=None) -> np.ndarray:
    """Curated members with a documented parent or a family-mate in the atlas (a mate whose
    family was read from the member's own label does not count: ``relabel``)."""
    index = {m.model: i for i, m in enumerate(members)}

    def mates(i, m):
        others = [j for j in range(len(members)) if j != i]
        return sum(f == m.family for f in families_seen(members, i, others, relabel))

    return np.array(
        [
            m.family_source == "curated" and (any(p in index for p in m.parents) or mates(i, m) > 0)
            for i, m in enumerate(members)
        ]
    )


def curated_labels(members):
    """The curated members' labels as a metadata table, and their rows in ``members``."""
    meta = meta_frame(
        pd.DataFrame(
            [
                {"model": m.model, "family": m.family, "base_model": m.base_model, "relation": m.relation}
                for m in members
                if m.family_source == "curated"
            ]
        )
    )
    index = {m.model: i for i, m in enumerate(members)}
    return meta, np.array([index[x] for x in meta.index])


def score_half(
    members, dna, halves, fit_half, evaluable, curated_meta, lab_rows, aucs, same, relabel=None
) -> pd.DataFrame:
    """Placements of the scored half (``halves != fit_half``), out of fold (the statistics behind
    ``dna`` were fitted on the other half); the scored half's parent-child and same-family AUCs
    are appended to ``aucs`` / ``same``."""
    score_rows = np.flatnonzero((halves != fit_half) & evaluable)
    ev_score = evaluate_rows(members, score_rows, loo(dna, members, score_rows), relabel)
    # AUC: distances among labelled models of the scored half's side
    sub = lab_rows[halves[lab_rows] != fit_half]
    try:
        ev = evaluate_lineage(pairwise_distances(dna[sub], [members[i].model for i in sub]), curated_meta, n_boot=10)
        aucs.append(ev.parent_child.auc)
        same.append(ev.same_family.auc)
    except ValueError:
        pass
    return ev_score


def calibrate_halves(placed: list[pd.DataFrame]) -> pd.DataFrame:
    """Both halves' out-of-fold placements of one split, each with a confidence from the model
    fitted on the *other* half's out-of-fold placements — as the shipped calibration is fitted
    (out of fold, ``extract.atlas.build.crossfit_calibration``). The scored half's labels still
    enter second-hand: the other half's placements were made among all members (their
    neighbours' votes) with statistics fitted on the scored half's answers."""
    out = []
    for ev, other in ((placed[0], placed[1]), (placed[1], placed[0])):
        coef = fit_confidence(other["share"], other["margin"], other["inferred"] == other["truth"])
        z = coef[0] + coef[1] * ev["share"] + coef[2] * ev["margin"]
        out.append(ev.assign(conf=1 / (1 + np.exp(-z))))
    return pd.concat(out)


def combined(args: argparse.Namespace) -> None:
    from extract.atlas.build import COMPOSITES

    t0 = time.time()
    parts = [load_population(n, args.data, embedder=args.embedder) for n in COMPOSITES["combined"][0]]
    members, rows = shared_members([p[2] for p in parts])  # as compose_atlas matches them
    evaluable = evaluable_rows(members)
    print(
        f"# atlas combined: {len(members)} shared models, {int(evaluable.sum())} evaluable; "
        f"embeddings ready in {time.time() - t0:.0f} s"
    )
    curated_meta, lab_rows = curated_labels(members)
    frames, aucs, same = [], [], []
    for seed in range(args.splits):
        halves = np.array([half_of(family_key(m), seed) for m in members])
        placed = []
        for fit_half in (0, 1):
            blocks = []
            for (src, prompts, pmembers, emb, _), r in zip(parts, rows):
                phalves = np.array([half_of(family_key(m), seed) for m in pmembers])
                phalves[r] = halves  # as the build does: a shared model falls in its composite half
                stats = fit_reference(
                    emb[phalves == fit_half], prompts=prompts, embedder="minilm", name="x", basis_k=src.basis_k
                )
                variant = "v2-exact" if src.dims is None else f"v2-jl-{src.dims}d"
                x = variant_dna(variant, stats, emb[r], ProbeSet(prompts).id)
                w = 1.0 / np.sqrt((x[halves == fit_half] ** 2).sum(axis=1).mean())
                blocks.append(w * x)
            dna = np.concatenate(blocks, axis=1)
            placed.append(score_half(members, dna, halves, fit_half, evaluable, curated_meta, lab_rows, aucs, same))
        frames.append(calibrate_halves(placed).assign(seed=seed))
    summarise("combined (both parts exact, as shipped)", frames, aucs, same, dna.shape[1], args.splits)
    print(f"\ntotal {time.time() - t0:.0f} s")


def settings_groups(args: argparse.Namespace) -> None:
    """Where rand-zh's chat-API members land: their nearest models, the ranks of the other
    chat-API members and of the same model's raw-prompt entry (its "twin", the id spelt
    otherwise), with statistics cross-fitted (fitted on the half of the families the member
    is not in)."""
    t0 = time.time()
    src, prompts, members, emb, _ = load_population("rand-zh", args.data, args.probes, args.embedder)
    probe_set = ProbeSet(prompts).id
    api = [i for i, m in enumerate(members) if m.group == "chat-api"]
    ids = [m.model for m in members]
    halves = np.array([half_of(family_key(m), 0) for m in members])
    print(f"# rand-zh settings groups: {len(api)} chat-API members of {len(members)}; split 0, both halves")
    print("| chat-API member | nearest model (distance) | other chat-API members' ranks | raw twin's rank |")
    print("|---|---|---|---|")
    within, twin_ranks = [], []
    for fit_half in (0, 1):
        rows = [i for i in api if halves[i] != fit_half]
        if not rows:
            continue
        stats = fit_reference(emb[halves == fit_half], prompts=prompts, embedder="x", name="x", basis_k=src.basis_k)
        dna = variant_dna("v2-exact", stats, emb, probe_set)
        for i, (order, dist) in zip(rows, loo(dna, members, np.array(rows))):
            rank = {j: r for r, j in enumerate(order, 1)}
            others = sorted(rank[j] for j in api if j != i)
            twins = [rank[j] for j, x in enumerate(ids) if j != i and x.lower() == ids[i].lower()]
            within += others
            twin_ranks += twins
            print(
                f"| `{ids[i]}` | `{ids[order[0]]}` ({dist[0]:.3f}) | {', '.join(map(str, others))} | "
                f"{', '.join(map(str, twins)) or '—'} |"
            )
    n = len(members) - 1
    print(
        f"\nother chat-API members: median rank {np.median(within):.0f} of {n} (random: {(n + 1) / 2:.0f}); "
        f"raw twins: ranks {sorted(twin_ranks)}; {time.time() - t0:.0f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--atlas", choices=sorted([*SOURCES, "combined"]), default="rand-zh")
    ap.add_argument("--probes", type=int)
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--variants", default="basis,v2-exact,v2-jl-1024d,v2-jl-4096d")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--embedder", help="embedder name or id (default: the atlas's own)")
    ap.add_argument(
        "--groups", action="store_true", help="rand-zh only: where the members that answered through a chat API land"
    )
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"reference data not found at {args.data}: this benchmark needs ../shared/data")
    if args.groups:
        if args.atlas != "rand-zh":
            ap.error(f"--groups is about rand-zh's chat-API members, got --atlas {args.atlas!r}")
        return settings_groups(args)
    if args.atlas == "combined":
        return combined(args)
    t0 = time.time()
    src, prompts, members, emb, excluded = load_population(args.atlas, args.data, args.probes, args.embedder)
    probe_set = ProbeSet(prompts).id
    fam_count = pd.Series([m.family for m in members if m.family_source == "curated"]).value_counts()
    relabel = name_relabels(members, curated_families(label_table(args.data / "llm-dna-paper" / "models_meta.csv")))
    evaluable = evaluable_rows(members, relabel)
    print(
        f"# atlas {args.atlas}: {len(members)} models ({len(excluded)} excluded), {len(prompts)} probes, "
        f"embedder {args.embedder or src.embedder}; "
        f"{int(evaluable.sum())} evaluable labelled models; {len(fam_count)} curated families; "
        f"embeddings ready in {time.time() - t0:.0f} s"
    )
    curated_meta, lab_rows = curated_labels(members)

    for variant in args.variants.split(","):
        frames, aucs, same = [], [], []
        for seed in range(args.splits):
            halves = np.array([half_of(family_key(m), seed) for m in members])
            placed = []
            for fit_half in (0, 1):
                fit_rows = np.flatnonzero(halves == fit_half)
                stats = fit_reference(emb[fit_rows], prompts=prompts, embedder="minilm", name="x", basis_k=src.basis_k)
                dna = variant_dna(variant, stats, emb, probe_set)
                placed.append(
                    score_half(members, dna, halves, fit_half, evaluable, curated_meta, lab_rows, aucs, same, relabel)
                )
            frames.append(calibrate_halves(placed).assign(seed=seed))
        summarise(variant, frames, aucs, same, dna.shape[1], args.splits)
    print(f"\ntotal {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
