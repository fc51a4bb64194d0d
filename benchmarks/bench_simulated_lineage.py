"""Tree accuracy on a simulated lineage with a known tree (issue 6).

A balanced lineage is derived from the real SmolLM2-135M-Instruct by seeded weight noise that
shrinks with depth (:mod:`extract.simulate`). Every leaf goes through the real pipeline (greedy
responses to random-English probes -> bundled MiniLM embeddings -> recipe -> JL projection), then
NJ and UPGMA trees are scored against the true tree by normalised Robinson-Foulds distance and
quartet agreement, over a grid of probe counts, new-token budgets and DNA dimensions.

The peer, in the same run on the same embeddings: the reference extractor llm-dna's
``TextDNAExtractor`` (pre-aggregation projection to 64 dims, concatenation, projection to the DNA
dimension), whose DNA then goes through the same tree builders. ``exact`` rows use the
unprojected features (the limit of large DNA dimension).

Responses, embeddings and derived models are cached (``$PHYLO_LLM_CACHE``), so a rerun only
rescores. Run::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_simulated_lineage.py            # full
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_simulated_lineage.py --quick    # 8 leaves
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from phylo_llm.data import DistanceMatrix, dna_distances, pairwise_distances
from phylo_llm.tree import (
    Tree,
    nj,
    patristic_distances,
    robinson_foulds,
    upgma,
)


def quartet_agreement(true: Tree, inferred: Tree) -> float:
    """Fraction of 4-leaf subsets whose (unrooted) topology is the same, resolved, in both trees.

    Each tree's quartet topology is read from edge-count path lengths: ``ab|cd`` when
    ``d(a,b) + d(c,d)`` is the strict minimum of the three pairings.
    """
    leaves = sorted(str(n) for n in true.tip_names)

    def edge_counts(t: Tree) -> np.ndarray:
        unit = Tree(t.parent, np.ones(len(t)), t.name, t.support, t.rooted)
        pd = patristic_distances(unit)
        idx = [pd.labels.index(lab) for lab in leaves]
        return pd.values[np.ix_(idx, idx)]

    q = np.array(list(itertools.combinations(range(len(leaves)), 4)))
    i, j, k, l = q.T  # noqa: E741  (the quartet's four leaves)

    def topo(d: np.ndarray) -> np.ndarray:
        s = np.stack([d[i, j] + d[k, l], d[i, k] + d[j, l], d[i, l] + d[j, k]], axis=1)
        resolved = (s == s.min(axis=1, keepdims=True)).sum(axis=1) == 1
        return np.where(resolved, s.argmin(axis=1), -1)

    a, b = topo(edge_counts(true)), topo(edge_counts(inferred))
    return float(np.mean((a == b) & (a >= 0)))


def score(true: Tree, dm: DistanceMatrix) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, build in (("nj", nj), ("upgma", upgma)):
        t = build(dm)
        out[f"{name}_rf"] = robinson_foulds(t, true)
        out[f"{name}_nrf"] = robinson_foulds(t, true, normalize=True)
        out[f"{name}_quartets"] = quartet_agreement(true, t)
    return out


def responses_for(lineage, probes, max_new_tokens: int, threads: int | None, batch_size: int):
    """Every leaf's responses (cached by :mod:`extract.store`), plus generation statistics."""
    from extract.backends.hf import HFBackend
    from extract.store import collect_responses

    texts, gen_s, tokens, load_s = {}, 0.0, 0, 0.0
    settings = None
    for leaf in lineage.leaves:
        b = HFBackend(
            lineage.model_dirs[leaf],
            model_id=leaf,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            threads=threads,
        )
        load_s += b.load_seconds
        r = collect_responses(b, probes)
        texts[leaf] = r.texts
        gen_s += r.seconds
        tokens += r.new_tokens or 0
        settings = b.settings()
        print(f"  {leaf}: {r.generated} generated, {r.seconds:.0f} s", file=sys.stderr, flush=True)
        del b
    return texts, {"generate_s": gen_s, "new_tokens": tokens, "load_s": load_s}, settings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leaves", type=int, default=16)
    ap.add_argument("--noise", type=float, default=0.06)
    ap.add_argument("--decay", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--probes", default="random:64:0", help="largest probe set; smaller = its head")
    ap.add_argument("--probe-grid", default="16,32,64")
    ap.add_argument("--tokens-grid", default="32", help="max_new_tokens values, e.g. 16,32")
    ap.add_argument("--dims-grid", default="128,256,512,1024,2048")
    ap.add_argument("--proj-seeds", default="0,1,2,3,4", help="projection seeds per setting")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument(
        "--quick", action="store_true", help="the demo's lineage: 8 leaves, 32 probes x 32 tokens (shares its cache)"
    )
    ap.add_argument("--json", type=Path, help="write every row here")
    args = ap.parse_args(argv)
    if args.quick:
        args.leaves, args.probes, args.probe_grid = 8, "random:32:0", "16,32"
        args.tokens_grid, args.dims_grid = "32", "128,1024"

    from llm_dna.dna.TextDNAExtractor import TextDNAExtractor

    from extract.dna import embeddings_to_dna
    from extract.embed import SentenceEmbedder, embed_texts
    from extract.probes import load_probes
    from extract.runner import generation_label
    from extract.simulate import simulate_lineage

    started = time.perf_counter()
    t0 = time.perf_counter()
    lineage = simulate_lineage("smollm2-135m", n_leaves=args.leaves, noise=args.noise, decay=args.decay, seed=args.seed)
    sim_s = time.perf_counter() - t0
    true = lineage.true_tree
    full = load_probes(args.probes)
    probe_grid = [int(x) for x in args.probe_grid.split(",")]
    dims_grid = [int(x) for x in args.dims_grid.split(",")]
    proj_seeds = [int(x) for x in args.proj_seeds.split(",")]
    embedder = SentenceEmbedder(threads=args.threads)
    rows = []
    timing = {"simulate_s": round(sim_s, 1)}
    for ntok in (int(x) for x in args.tokens_grid.split(",")):
        print(
            f"responses: {len(lineage.leaves)} leaves x {len(full)} probes x {ntok} tokens", file=sys.stderr, flush=True
        )
        texts, stats, settings = responses_for(lineage, full, ntok, args.threads, args.batch_size)
        timing[f"tokens{ntok}"] = {k: round(v, 1) for k, v in stats.items()}
        t0 = time.perf_counter()
        emb = {leaf: embed_texts(embedder, texts[leaf], label=leaf) for leaf in lineage.leaves}
        timing[f"tokens{ntok}"]["embed_s"] = round(time.perf_counter() - t0, 1)
        identical = np.mean(
            [
                np.mean([x == y for x, y in zip(texts[a], texts[b])])
                for a, b in itertools.combinations(lineage.leaves, 2)
            ]
        )
        for n_probes in probe_grid:
            probes = full.head(n_probes)
            sub = {leaf: np.asarray(e[:n_probes]) for leaf, e in emb.items()}
            labels = tuple(lineage.leaves)
            # Exact: no projection (all per-probe features, euclidean).
            flat = np.stack([sub[leaf].reshape(-1) for leaf in labels])
            rows.append(
                {
                    "tokens": ntok,
                    "probes": n_probes,
                    "dims": "exact",
                    "method": "ours",
                    **score(true, pairwise_distances(flat, labels)),
                }
            )
            for dims in dims_grid:
                for pseed in proj_seeds:
                    dna = embeddings_to_dna(
                        sub,
                        probes=probes,
                        embedder=embedder.id,
                        generation=generation_label(settings),
                        dims=dims,
                        seed=pseed,
                    )
                    rows.append(
                        {
                            "tokens": ntok,
                            "probes": n_probes,
                            "dims": dims,
                            "method": "ours",
                            "proj_seed": pseed,
                            **score(true, dna_distances(dna)),
                        }
                    )
                    peer = TextDNAExtractor(
                        dna_dim=dims,
                        pre_agg_embed_dim=64,
                        random_seed=pseed,
                        encoder_name="sentence-transformers/all-MiniLM-L6-v2",
                    )
                    pv = np.stack([peer.reduce_embeddings(sub[leaf]) for leaf in labels])
                    rows.append(
                        {
                            "tokens": ntok,
                            "probes": n_probes,
                            "dims": dims,
                            "method": "llm-dna",
                            "proj_seed": pseed,
                            **score(true, pairwise_distances(pv.astype(np.float64), labels)),
                        }
                    )
        rows.append({"tokens": ntok, "identical_response_fraction": float(identical)})
    timing["total_s"] = round(time.perf_counter() - started, 1)

    n = len(lineage.leaves)
    print(
        f"\n{n}-leaf lineage from SmolLM2-135M-Instruct, noise {args.noise} x {args.decay}^(depth-1), "
        f"seed {args.seed}; RF max {2 * (n - 3)}; {len(proj_seeds)} projection seeds per row"
    )
    print(
        "| tokens | probes | DNA dims | DNA from | NJ RF mean (max) | NJ exact | NJ quartets | "
        "UPGMA RF mean (max) | UPGMA exact |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if "method" in r:
            groups.setdefault((r["tokens"], r["probes"], r["dims"], r["method"]), []).append(r)
    for (ntok, n_probes, dims, method), rs in groups.items():
        nj_rf = np.array([r["nj_rf"] for r in rs])
        up_rf = np.array([r["upgma_rf"] for r in rs])
        q = np.mean([r["nj_quartets"] for r in rs])
        print(
            f"| {ntok} | {n_probes} | {dims} | {method} | {nj_rf.mean():.1f} ({nj_rf.max():g}) | "
            f"{int((nj_rf == 0).sum())}/{len(rs)} | {q:.3f} | {up_rf.mean():.1f} ({up_rf.max():g}) | "
            f"{int((up_rf == 0).sum())}/{len(rs)} |"
        )
    for r in rows:
        if "identical_response_fraction" in r:
            print(f"tokens {r['tokens']}: {r['identical_response_fraction']:.3f} of leaf-pair responses identical")
    print(f"timing: {json.dumps(timing)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": str(args.json)}, "rows": rows, "timing": timing}, indent=1, default=str
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
