"""Lineage detection on llm-dna-paper: how well does each DNA recipe find documented parents?

Reproduces, from the shared data in one run, the reference rows (the authors' published DNA, the
naive concatenated MiniLM DNA, per-probe centring + cosine) and our recipes' rows, all scored on
the same models and the same pairs by :func:`phylo_llm.analysis.evaluate_lineage`; then the
ablations of ``docs/recipe.md``. Every figure is computed here, nothing is copied.

Embeddings (bundled all-MiniLM-L6-v2, the pipeline's :class:`extract.embed.SentenceEmbedder`) are
cached per probe under ``--cache`` as ``<embedder fingerprint>/p<probe>-<texts hash>.npy``, so a
re-run embeds nothing and an interrupted run resumes. A cold run embeds 345 x N responses (about
1 minute per probe on 2 busy CPU cores).

Usage::

    python benchmarks/bench_lineage.py --probes 48
    python benchmarks/bench_lineage.py --probes 48 --fit-reference extract/data/reference_llm-dna-paper_minilm.npz
    python benchmarks/bench_lineage.py --probes 48 --rand-zh 16   # the held-out check, run once
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from extract.probes import ProbeSet
from extract.recipe import (
    BUNDLED_REFERENCE,
    CentredRecipe,
    ConcatRecipe,
    WhitenedRecipe,
    fit_reference,
    read_reference,
    write_reference,
)
from phylo_llm.analysis import evaluate_lineage, lineage_pairs, roc_auc
from phylo_llm.data import (
    DistanceMatrix,
    dna_distances,
    pairwise_distances,
    read_meta,
)
from phylo_llm.io import read_dna

DATA = REPO.parent / "shared" / "data"
MAX_EMPTY = 0.5  # the extraction's rule: more than half empty -> no DNA


def load_responses(path: Path) -> tuple[list[str], list[list[str]]]:
    models, responses = [], []
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            models.append(doc["model"])
            responses.append(doc["responses"])
    return models, responses


class Embeddings:
    """Per-probe embedding cache; loads the embedder only when a probe is missing."""

    def __init__(self, cache: Path) -> None:
        from extract.embed import SentenceEmbedder, _fingerprint, bundled_minilm_path

        self._make = SentenceEmbedder
        self.dir = cache / f"minilm-{_fingerprint(bundled_minilm_path())}"
        self._embedder = None
        self.seconds = 0.0
        self.embedded = 0

    def probe(self, index: int, texts: list[str]) -> np.ndarray:
        key = hashlib.sha256(json.dumps(texts).encode("utf-8")).hexdigest()[:16]
        path = self.dir / f"p{index:03d}-{key}.npy"
        if path.exists():
            return np.load(path)
        if self._embedder is None:
            self._embedder = self._make(batch_size=64)
        t = time.perf_counter()
        emb = self._embedder.encode(texts)
        self.seconds += time.perf_counter() - t
        self.embedded += len(texts)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, emb)
        tmp.replace(path)
        return emb

    def all(self, responses: list[list[str]], n_probes: int) -> np.ndarray:
        out = []
        for p in range(n_probes):
            out.append(self.probe(p, [r[p] for r in responses]))
            print(f"\rembeddings: probe {p + 1}/{n_probes}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        return np.stack(out, axis=1)  # (n_models, n_probes, dim)


def features(recipe, emb: np.ndarray, probe_set: str) -> np.ndarray:
    return np.stack([recipe.features(e, probe_set=probe_set) for e in emb])


def exact_dm(feats: np.ndarray, labels, metric="euclidean") -> DistanceMatrix:
    return pairwise_distances(feats.reshape(len(labels), -1), labels, metric=metric)


def jl_dm(feats: np.ndarray, labels, dims: int, seed: int = 0) -> DistanceMatrix:
    from extract.projection import project

    return pairwise_distances(project(feats, seed=seed, dims=dims), labels)


def fmt(ev) -> str:
    pc, sf = ev.parent_child, ev.same_family
    return f"{pc.auc:.3f} [{pc.low:.3f}, {pc.high:.3f}] | {sf.auc:.3f}"


def quick_auc(dm: DistanceMatrix, pairs) -> tuple[float, float]:
    d = np.asarray(dm.values)
    neg = d[pairs.diff_a, pairs.diff_b]
    return (
        roc_auc(d[pairs.child, pairs.parent], neg),
        roc_auc(d[pairs.same_a, pairs.same_b], neg),
    )


def _held_out_auc(feats: np.ndarray, pairs, held: np.ndarray) -> float:
    """Parent-child AUC over the pairs (and different-family negatives) inside ``held``."""
    d = np.asarray(exact_dm(feats, pairs.labels).values)
    pos = held[pairs.child] & held[pairs.parent]
    neg = held[pairs.diff_a] & held[pairs.diff_b]
    return roc_auc(d[pairs.child[pos], pairs.parent[pos]], d[pairs.diff_a[neg], pairs.diff_b[neg]])


def curve(args, cache: Embeddings, responses, prompts, keep, rows, pairs) -> None:
    """Parent-child AUC against the number of probes, statistics refitted for each count."""
    print("\nProbe count (statistics fitted on the first n prompts; parent-child AUC):")
    print("| probes | whitened v1 exact | whitened v2 exact | v2 JL 1024-d | v2 JL 4096-d |\n|---|---|---|---|---|")
    counts = [c for c in (16, 32, 48, 96, 128, 192, 256, 384, 512, 600) if c < args.curve] + [args.curve]
    emb_all = cache.all(responses, args.curve)
    for c in counts:
        st = fit_reference(emb_all[keep, :c], prompts=prompts[:c], embedder="minilm", name="curve")
        pid = ProbeSet(tuple(prompts)).head(c).id
        e = emb_all[rows, :c]
        f1 = features(WhitenedRecipe(st, deflate=0), e, pid)
        f2 = features(WhitenedRecipe(st), e, pid)
        labels = pairs.labels
        a = [quick_auc(exact_dm(f1, labels), pairs)[0], quick_auc(exact_dm(f2, labels), pairs)[0]]
        a += [quick_auc(jl_dm(f2, labels, dims), pairs)[0] for dims in (1024, 4096)]
        print(f"| {c} | " + " | ".join(f"{x:.3f}" for x in a) + " |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--probes", type=int, default=48, help="leading probes of the paper set used")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "phylo_llm" / "bench_lineage")
    ap.add_argument("--fit-reference", type=Path, help="fit frozen statistics, write them here, exit")
    ap.add_argument("--rand-zh", type=int, default=0, help="also run the held-out rand-zh check on N probes")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--plot", type=Path, help="ROC figure of the main rows (.png/.pdf/.svg)")
    ap.add_argument(
        "--curve",
        type=int,
        default=0,
        metavar="N",
        help="also measure AUC against the number of probes, up to the first N",
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    paper = args.data / "llm-dna-paper"
    if not paper.is_dir():
        print(f"shared data not found at {paper}", file=sys.stderr)
        return 2
    models, responses = load_responses(paper / "responses.jsonl.xz")
    prompts = json.loads((paper / "prompts.json").read_text(encoding="utf-8"))
    n = args.probes
    probes = ProbeSet(tuple(prompts)).head(n)
    cache = Embeddings(args.cache)
    emb_all = cache.all(responses, n)
    n_empty = np.array([sum(r[p].strip() == "" for p in range(n)) for r in responses])
    keep = n_empty <= MAX_EMPTY * n
    dropped = [m for m, k in zip(models, keep) if not k]
    print(
        f"{len(dropped)} of {len(models)} models excluded: more than half of their {n} responses are empty: {dropped}"
    )

    if args.fit_reference is not None:
        stats = fit_reference(
            emb_all[keep],
            prompts=prompts[:n],
            embedder="sentence-transformers/all-MiniLM-L6-v2",
            name=f"llm-dna-paper ({int(keep.sum())} models, first {n} prompts)",
        )
        write_reference(stats, args.fit_reference)
        print(f"wrote {args.fit_reference} (sha {stats.sha[:12]}, {args.fit_reference.stat().st_size} bytes)")
        return 0

    meta = read_meta(paper / "models_meta.csv")
    pub = read_dna(paper / "dna_qwen3-embedding-8b.csv")
    index = {m: i for i, m in enumerate(models)}
    labels = tuple(m for m in pub.labels if keep[index[m]])
    if len(labels) < len(pub):
        print(
            f"evaluating on {len(labels)} of the {len(pub)} models with published DNA "
            f"({len(pub) - len(labels)} excluded for empty responses)"
        )
    rows = np.array([index[m] for m in labels])
    emb = emb_all[rows]
    pairs = lineage_pairs(labels, meta)
    print(
        f"{len(labels)} models, {pairs.n_parent_child} parent-child pairs, "
        f"{pairs.diff_a.size} different-family pairs, {pairs.same_a.size} same-family pairs; "
        f"MiniLM, first {n} of {len(prompts)} prompts"
    )
    stats = read_reference(BUNDLED_REFERENCE)
    print(f"frozen statistics: {BUNDLED_REFERENCE.name} sha {stats.sha[:12]} ({stats.name})")

    ev = {}

    def run(name, dm):
        ev[name] = evaluate_lineage(dm, meta, n_boot=args.n_boot, seed=0)
        print(f"| {name:<58} | {fmt(ev[name])} |", flush=True)

    print("\n| DNA | parent-child AUC [95% CI] | same-family AUC |\n|---|---|---|")
    run("authors' published DNA (Qwen3-Embedding-8B, 128-d)", dna_distances(pub.subset(labels)))
    concat = features(ConcatRecipe(), emb, probes.id)
    run("naive: concat, euclidean (exact)", exact_dm(concat, labels))
    run("naive: concat, JL 128-d DNA, euclidean", jl_dm(concat, labels, 128))
    centred_pop = emb - emb_all[keep].mean(axis=0)
    run("population-centred per probe, concat, cosine", exact_dm(centred_pop, labels, "cosine"))
    rec = {
        "centred": CentredRecipe(stats),
        "whitened-global": WhitenedRecipe(stats, scope="global"),
        "whitened v1 (no deflation)": WhitenedRecipe(stats, scope="probe", deflate=0),
        "whitened": WhitenedRecipe(stats, scope="probe"),
        "whitened-pca": WhitenedRecipe(stats, scope="pca"),
    }
    feats = {k: features(r, emb, probes.id) for k, r in rec.items()}
    for k in rec:
        run(f"recipe {k} (exact)", exact_dm(feats[k], labels))
    for k, dims in (("whitened", 1024), ("whitened", 4096), ("whitened-pca", 128), ("whitened-pca", 1024)):
        run(f"recipe {k}, JL {dims}-d DNA", jl_dm(feats[k], labels, dims))
    t_main = time.perf_counter() - t0
    print("\nProjection seeds (parent-child AUC, mean +- sd over seeds 0-4):")
    for k in ("whitened v1 (no deflation)", "whitened"):
        for dims in (1024, 4096):
            a = [quick_auc(jl_dm(feats[k], labels, dims, seed=s), pairs)[0] for s in range(5)]
            print(
                f"| recipe {k}, JL {dims}-d | {np.mean(a):.3f} +- {np.std(a):.3f} "
                f"({' / '.join(f'{x:.3f}' for x in a)}) |",
                flush=True,
            )
    keys = list(ev)
    cols = {
        "published": keys[0],
        "naive": keys[1],
        "whitened v1": "recipe whitened v1 (no deflation) (exact)",
        "whitened": "recipe whitened (exact)",
    }
    print(
        "\nParent-child AUC by relation (pairs):\n| relation | pairs | "
        + " | ".join(cols)
        + " |\n|---|---|"
        + "---|" * len(cols)
    )
    for rel, est in ev[keys[0]].by_relation:
        aucs = [dict(ev[k].by_relation)[rel].auc for k in cols.values()]
        print(f"| {rel} | {est.n_pos} | " + " | ".join(f"{a:.3f}" for a in aucs) + " |")

    # ---- ablations (point AUCs; exact distances) ------------------------------------------
    print("\nAblations (parent-child AUC | same-family AUC, exact distances):")

    def abl(name, f, metric="euclidean"):
        a, s = quick_auc(exact_dm(f, labels, metric), pairs)
        print(f"| {name:<62} | {a:.3f} | {s:.3f} |", flush=True)

    ref = emb_all[keep]
    for a in (0.0, 0.25, 0.5, 0.75, 1.0):
        abl(f"whitened, deflate {a} of the leading axis", features(WhitenedRecipe(stats, deflate=a), emb, probes.id))
    fam_ev = meta.reindex(list(labels))["family"].astype(str).to_numpy()
    ref_fam = meta.reindex([m for m, k in zip(models, keep) if k])["family"].astype(str).to_numpy()
    gain = []
    split_rng = np.random.default_rng(1)
    for _rep in range(5):
        fams = split_rng.permutation(np.unique(ref_fam))
        half = set(fams[: len(fams) // 2])
        for fit_in in (True, False):
            fit = np.isin(ref_fam, list(half)) == fit_in
            st = fit_reference(ref[fit], prompts=prompts[:n], embedder="minilm", name="fam-half")
            held = ~np.isin(fam_ev, list(half)) if fit_in else np.isin(fam_ev, list(half))
            a1 = _held_out_auc(features(WhitenedRecipe(st, deflate=0), emb, probes.id), pairs, held)
            a2 = _held_out_auc(features(WhitenedRecipe(st), emb, probes.id), pairs, held)
            gain.append((a1, a2))
    g = np.array(gain)
    print(
        f"| statistics fitted on half of the families, pairs of the other half (10 fits): "
        f"v1 {g[:, 0].mean():.3f}, v2 {g[:, 1].mean():.3f}, v2 better in {(g[:, 1] > g[:, 0]).sum()}/10 |"
    )
    abl("whitened, no unit length per probe", (emb - stats.probe_mean[:n]) @ stats.whiten_probe)
    for shrink in (1.0, 0.1, 0.01, 0.001):
        st = fit_reference(ref, prompts=prompts[:n], embedder="minilm", name="abl", shrinkage=shrink)
        abl(f"whitened, shrinkage {shrink}", features(WhitenedRecipe(st), emb, probes.id))
    for bk in (4, 8, 16, 32):
        st = fit_reference(ref, prompts=prompts[:n], embedder="minilm", name="abl", basis_k=bk)
        f = features(WhitenedRecipe(st, scope="pca"), emb, probes.id)
        a128 = quick_auc(jl_dm(f, labels, 128), pairs)[0]
        a, s_ = quick_auc(exact_dm(f, labels), pairs)
        print(f"| whitened-pca, k={bk:<2} per probe (exact; JL 128-d: {a128:.3f}){'':<17} | {a:.3f} | {s_:.3f} |")
    rng = np.random.default_rng(0)
    for k in (4, 8, 16):
        if k < n:
            aucs = []
            for _ in range(5):
                idx = np.sort(rng.choice(n, k, replace=False))
                z = (emb[:, idx] - stats.probe_mean[idx]) @ stats.whiten_probe
                z /= np.linalg.norm(z, axis=2, keepdims=True)
                aucs.append(quick_auc(exact_dm(z, labels), pairs)[0])
            print(f"| whitened, {k} random probes (mean of 5 draws){'':<25} | {np.mean(aucs):.3f} | |")
    for rep in range(3):
        half = rng.choice(len(ref), len(ref) // 2, replace=False)
        st = fit_reference(ref[half], prompts=prompts[:n], embedder="minilm", name="half")
        abl(
            f"whitened, statistics from a random half of the models ({rep + 1})",
            features(WhitenedRecipe(st), emb, probes.id),
        )
    fam = meta.reindex([m for m, k in zip(models, keep) if k])["family"].astype(str)
    not_llama = ~fam.str.startswith("llama").to_numpy()
    st = fit_reference(ref[not_llama], prompts=prompts[:n], embedder="minilm", name="nollama")
    abl(
        f"whitened, statistics without any llama* model ({int(not_llama.sum())} models)",
        features(WhitenedRecipe(st), emb, probes.id),
    )

    if args.plot is not None:
        from phylo_llm.plot import save_figure
        from phylo_llm.plot.roc import plot_roc

        pick = {
            "published DNA (Qwen3-Embedding-8B)": ev[keys[0]],
            "naive concat": ev[keys[1]],
            "whitened (exact)": ev["recipe whitened (exact)"],
            "whitened-pca, 128-d DNA": ev["recipe whitened-pca, JL 128-d DNA"],
        }
        save_figure(plot_roc(pick, title=f"parent-child pairs, {n} probes"), args.plot)
        print(f"wrote {args.plot}")

    if args.curve:
        curve(args, cache, responses, prompts, keep, rows, pairs)
    if args.rand_zh:
        rand_zh(args, cache, meta, stats)
    print(
        f"\nrun time: {time.perf_counter() - t0:.1f} s (main table {t_main:.1f} s; "
        f"embedded {cache.embedded} texts in {cache.seconds:.1f} s this run)"
    )
    return 0


def rand_zh(args, cache: Embeddings, meta, stats) -> None:
    """Held-out check: a different probe set and language; per-probe stats fitted on its own
    population with the same procedure, never tuned here."""
    d = args.data / "llm-dna-rand-zh"
    models, responses = load_responses(d / "responses.jsonl.xz")
    prompts = json.loads((d / "prompts.json").read_text(encoding="utf-8"))
    n = args.rand_zh
    labelled = [i for i, m in enumerate(models) if m in meta.index]
    models = [models[i] for i in labelled]
    responses = [responses[i] for i in labelled]
    zh = Embeddings(args.cache / "rand-zh")
    emb_all = zh.all(responses, n)
    n_empty = np.array([sum(r[p].strip() == "" for p in range(n)) for r in responses])
    keep = n_empty <= MAX_EMPTY * n
    labels = tuple(m for m, k in zip(models, keep) if k)
    emb = emb_all[keep]
    probes = ProbeSet(tuple(prompts)).head(n)
    pairs = lineage_pairs(labels, meta)
    print(
        f"\nrand-zh held-out check: {len(labels)} labelled models ({int((~keep).sum())} excluded "
        f"for empty responses), {pairs.n_parent_child} parent-child pairs, {n} probes"
    )
    own = fit_reference(emb, prompts=prompts[:n], embedder="minilm", name="rand-zh")
    rows = {
        "naive concat, euclidean": features(ConcatRecipe(), emb, probes.id),
        "whitened-global, paper statistics (no refit)": features(WhitenedRecipe(stats, scope="global"), emb, probes.id),
        "whitened v1 (no deflation), statistics refitted on rand-zh": features(
            WhitenedRecipe(own, deflate=0), emb, probes.id
        ),
        "whitened, statistics refitted on rand-zh": features(WhitenedRecipe(own), emb, probes.id),
        "whitened-pca, statistics refitted on rand-zh": features(WhitenedRecipe(own, scope="pca"), emb, probes.id),
    }
    for name, f in rows.items():
        e = evaluate_lineage(exact_dm(f, labels), meta, n_boot=args.n_boot, seed=0)
        print(f"| {name + ' (exact)':<58} | {fmt(e)} |")
        e = evaluate_lineage(jl_dm(f, labels, 1024), meta, n_boot=args.n_boot, seed=0)
        print(f"| {name + ', JL 1024-d':<58} | {fmt(e)} |")


if __name__ == "__main__":
    raise SystemExit(main())
