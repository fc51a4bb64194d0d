"""Recipe and distance variants of an atlas, measured as ``bench_atlas.py`` measures the shipped one.

Cross-fitted leave-one-out placement (statistics fitted on half of the families, the other half
placed among all members, both ways, seeded splits); reported: nearest-neighbour family,
inferred family, parent top-1 / top-5. Variants (docs/atlas.md, "Goals not met"):

- ``--shrinkage S`` / ``--deflate A``: the whitened-v2 recipe's two parameters (shipped 0.01 / 0.5);
- ``--distances``: other ways to combine the per-probe cosine distances than the shipped
  Euclidean distance over the whitened probes (median, trimmed means, a soft minimum) and the
  CSLS hubness correction.

Usage::

    python benchmarks/bench_atlas_recipe.py --atlas paper --shrinkage 0.003,0.03,0.1,0.3
    python benchmarks/bench_atlas_recipe.py --atlas paper --deflate 0,0.25,0.75,0.9
    python benchmarks/bench_atlas_recipe.py --atlas paper --distances
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_atlas as B  # noqa: E402  (the shipped benchmark's loading and scoring)

from extract.atlas.build import curated_families, family_key, half_of, label_table  # noqa: E402
from extract.probes import ProbeSet  # noqa: E402
from extract.recipe import WhitenedRecipe, fit_reference  # noqa: E402
from phylo_llm.atlas import name_relabels  # noqa: E402
from phylo_llm.data import pairwise_distances  # noqa: E402


def per_probe_distances(f: np.ndarray) -> np.ndarray:
    """``(n_probes, n, n)`` cosine distances between the models' features, probe by probe."""
    fn = f / np.maximum(np.linalg.norm(f, axis=2, keepdims=True), 1e-12)
    return np.stack([1.0 - fn[:, p] @ fn[:, p].T for p in range(f.shape[1])])


def csls(d: np.ndarray, k: int) -> np.ndarray:
    """Cross-domain similarity local scaling on distances: ``2 d - r_i - r_j`` with ``r`` the mean
    distance to the ``k`` nearest others."""
    r = np.sort(d + np.diag(np.full(len(d), np.inf)), axis=1)[:, :k].mean(axis=1)
    return 2 * d - r[:, None] - r[None, :]


def euclidean(f: np.ndarray) -> np.ndarray:
    """The shipped distance: Euclidean over the concatenated features, as bench_atlas computes it."""
    return pairwise_distances(f.reshape(len(f), -1), [str(i) for i in range(len(f))]).values


def distance_variants(f: np.ndarray) -> dict[str, np.ndarray]:
    dp = per_probe_distances(f)
    n_p = dp.shape[0]
    euclid = euclidean(f)
    srt = np.sort(dp, axis=0)
    out = {
        "euclidean": euclid,
        "median": np.median(dp, axis=0),
        "mean of the best 75%": srt[: max(1, int(0.75 * n_p))].mean(axis=0),
        "mean of square roots": np.sqrt(np.maximum(dp, 0)).mean(axis=0),
    }
    for tau in (0.05, 0.1, 0.2, 0.4):
        out[f"soft-min tau {tau}"] = -np.log(np.exp(-dp / tau).mean(axis=0) + 1e-300)
    for k in (5, 10, 40):
        out[f"CSLS k={k}"] = csls(euclid, k)
    return out


def scores(members, evaluable, halves_list, dna_for, relabel) -> dict[str, pd.DataFrame]:
    """``{variant: placements}`` over every split and half; ``dna_for(fit_rows)`` gives
    ``{variant: distance matrix}`` with statistics fitted on ``fit_rows``."""
    out: dict[str, list] = {}
    for halves in halves_list:
        for fit_half in (0, 1):
            rows = np.flatnonzero((halves != fit_half) & evaluable)
            for name, d in dna_for(np.flatnonzero(halves == fit_half)).items():
                neigh = B.loo_neighbours(d, rows)
                out.setdefault(name, []).append(B.evaluate_rows(members, rows, neigh, relabel))
    return {k: pd.concat(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--atlas", choices=sorted(B.SOURCES), default="paper")
    ap.add_argument("--probes", type=int)
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--data", type=Path, default=B.DATA)
    ap.add_argument("--shrinkage", help="comma-separated whitening shrinkages (shipped 0.01)")
    ap.add_argument("--deflate", help="comma-separated deflate fractions (shipped 0.5)")
    ap.add_argument("--distances", action="store_true", help="other combinations of the per-probe distances")
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"reference data not found at {args.data}: this benchmark needs ../shared/data")
    t0 = time.time()
    src, prompts, members, emb, _ = B.load_population(args.atlas, args.data, args.probes)
    probe_set = ProbeSet(prompts).id
    # as bench_atlas: a placement does not see labels read from the placed model's own
    relabel = name_relabels(members, curated_families(label_table(args.data / "llm-dna-paper" / "models_meta.csv")))
    evaluable = B.evaluable_rows(members, relabel)
    halves_list = [np.array([half_of(family_key(m), s) for m in members]) for s in range(args.splits)]
    shrinks = [float(x) for x in args.shrinkage.split(",")] if args.shrinkage else [0.01]
    deflates = [float(x) for x in args.deflate.split(",")] if args.deflate else [None]

    def dna_for(fit_rows):
        out = {}
        for sh in shrinks:
            stats = fit_reference(
                emb[fit_rows], prompts=prompts, embedder="x", name="x", shrinkage=sh, basis_k=src.basis_k
            )
            for de in deflates:
                f = np.stack(
                    [WhitenedRecipe(stats, scope="probe", deflate=de).features(e, probe_set=probe_set) for e in emb]
                )
                label = f"shrinkage {sh:g}, deflate {0.5 if de is None else de:g}"
                if args.distances:
                    out.update({f"{label}: {k}": v for k, v in distance_variants(f).items()})
                else:
                    out[label] = euclidean(f)
        return out

    print(
        f"# atlas {args.atlas}: {len(members)} models, {len(prompts)} probes, {int(evaluable.sum())} placed per split"
    )
    print("| variant | nn family | inferred family | parent top-1 / top-5 |\n|---|---|---|---|")
    for name, ev in scores(members, evaluable, halves_list, dna_for, relabel).items():
        pr = ev["parent_rank"].dropna()
        print(
            f"| {name} | {np.mean(ev['nn'] == ev['truth']):.3f} | {np.mean(ev['inferred'] == ev['truth']):.3f} | "
            f"{np.mean(pr <= 1):.3f} / {np.mean(pr <= 5):.3f} |"
        )
    print(f"\ntotal {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
