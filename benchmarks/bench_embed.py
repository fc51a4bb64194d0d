"""Embedding throughput of an atlas build: phylo_llm's population path vs plain sentence-transformers.

Both embed the same recorded answers (the first ``--models`` models x ``--probes`` probes of a
reference data set) with the same all-MiniLM-L6-v2 weights and threads, in the same run:

- **plain**: ``SentenceTransformer.encode`` per probe over all models' answers (batch 32; it
  sorts by character length itself), what a user would write;
- **phylo_llm**: :func:`extract.atlas.population.embed_population` with a cold cache: each distinct
  embedder window once (token-level), longest first, chunked and cached.

Reported: texts per second for each (wall time over all answers), the speed-up, the fraction of
answers that were duplicates within the window, and the largest ``1 - cosine`` between the two
paths' embeddings (must stay below 1e-4). Repeats ``--repeats`` times; medians.

Usage::

    python benchmarks/bench_embed.py --data llm-dna-rand-zh --models 400 --probes 2
"""

from __future__ import annotations

import argparse
import json
import lzma
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from extract.atlas.population import distinct_windows, embed_population
from extract.embed import SentenceEmbedder

DATA = REPO.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="llm-dna-rand-zh")
    ap.add_argument("--models", type=int, default=400)
    ap.add_argument("--probes", type=int, default=2)
    ap.add_argument("--offset", type=int, default=20, help="first probe (not the atlas's cached ones)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    path = DATA / args.data / "responses.jsonl.xz"
    if not path.is_file():
        sys.exit(f"reference data not found at {path}")
    answers = []
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            answers.append(json.loads(line)["responses"][args.offset : args.offset + args.probes])
            if len(answers) == args.models:
                break
    emb = SentenceEmbedder(batch_size=32, threads=args.threads)
    st = emb._model
    n = len(answers) * args.probes
    dup = 1 - sum(len(distinct_windows(emb, [a[p] for a in answers])[0]) for p in range(args.probes)) / n
    plain_t, ours_t = [], []
    for _ in range(args.repeats):
        import torch

        torch.set_num_threads(args.threads)
        t = time.perf_counter()
        plain = np.stack(
            [
                st.encode([a[p] for a in answers], batch_size=32, convert_to_numpy=True, show_progress_bar=False)
                for p in range(args.probes)
            ],
            axis=1,
        )
        plain_t.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            ours = embed_population(emb, answers, cache_dir=cache)
            ours_t.append(time.perf_counter() - t)
    cos = (plain * ours).sum(-1) / (np.linalg.norm(plain, axis=-1) * np.linalg.norm(ours, axis=-1))
    tp, to = statistics.median(plain_t), statistics.median(ours_t)
    print(
        f"{args.data}: {len(answers)} models x {args.probes} probes = {n} answers; "
        f"{dup:.1%} duplicates within the {emb.max_seq_length}-word-piece window; threads {args.threads}"
    )
    print(f"plain sentence-transformers: {n / tp:.2f} texts/s ({tp:.1f} s)")
    print(f"phylo_llm embed_population:  {n / to:.2f} texts/s ({to:.1f} s)  -> {tp / to:.2f}x")
    print(f"max 1 - cosine between the two: {float((1 - cos).max()):.2e}")


if __name__ == "__main__":
    main()
