"""Does stopping at the embedder's window change the DNA? Full-length vs window-stopped answers.

``phylo-llm place`` stops each local model's answer once the atlas embedder's window is full
(:func:`extract.atlas.place.embedder_window_stop`: 254 MiniLM word pieces + a margin of 16),
instead of always decoding ``max_new_tokens`` (512). The embedder truncates every answer to its
window, so the DNA should be *identical*; this script checks it on the bundled models and the
rand-zh atlas probes, with the atlas's settings (raw prompt, greedy):

- the share of answers whose embedder window (the token ids it reads) is the same both ways;
- the largest cosine distance between the two embeddings of an answer;
- the DNA distance between the two versions, against the distance to the nearest atlas model;
- the 5 nearest atlas models both ways;
- decoding time and new tokens both ways (only for what is not cached yet: give an empty
  ``--cache-dir`` for a cold timing).

Usage::

    python benchmarks/bench_window_stop.py                 # both bundled models, the default cache
    python benchmarks/bench_window_stop.py --models smollm2-135m --cache-dir /tmp/cold
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from extract.atlas.place import WINDOW_TOKENS, atlas_dna, atlas_pipeline, embedder_window_stop
from extract.backends.hf import HFBackend
from extract.store import collect_responses, default_cache_dir
from phylo_llm.atlas import place
from phylo_llm.data import DnaSet


def answers(model: str, pipe, cache: Path, stop) -> tuple[tuple[str, ...], dict]:
    backend = HFBackend(model, max_new_tokens=WINDOW_TOKENS, chat_template=False, window_stop=stop)
    t0 = time.perf_counter()
    res = collect_responses(backend, pipe.probes, cache_dir=cache, chunk_size=len(pipe.probes))
    stats = backend.last_stats
    return res.texts, {
        "seconds": time.perf_counter() - t0,
        "new_tokens": stats.new_tokens if stats is not None else None,
        "generated": stats is not None,
    }


def compare(model: str, pipe, cache: Path) -> dict:
    full, t_full = answers(model, pipe, cache, None)
    short, t_short = answers(model, pipe, cache, embedder_window_stop(pipe.embedder))
    emb = pipe.embedder
    same_window = [a == b for a, b in zip(emb.window_keys(full), emb.window_keys(short))]
    ea, eb = emb.encode(list(full)), emb.encode(list(short))
    cos = 1 - np.sum(ea * eb, axis=1) / (np.linalg.norm(ea, axis=1) * np.linalg.norm(eb, axis=1))
    da = atlas_dna(pipe, full, cache_dir=cache, label=f"{model} full")
    db = atlas_dna(pipe, short, cache_dir=cache, label=f"{model} window-stopped")
    pa, pb = place(pipe.atlas, DnaSet(("full", "window-stopped"), np.stack([da, db])), k=5, check=False)
    return {
        "model": model,
        "answers": len(full),
        "same_window": int(np.sum(same_window)),
        "shorter": int(sum(len(b) < len(a) for a, b in zip(full, short))),
        "max_cosine_distance": float(cos.max()),
        "dna_distance": float(np.linalg.norm(da - db)),
        "nearest_atlas_distance": float(pa.neighbours[0].distance),
        "top5_full": [n.model for n in pa.neighbours],
        "top5_short": [n.model for n in pb.neighbours],
        "full": t_full,
        "short": t_short,
    }


def recorded(n: int, models: list[str], pipe) -> None:
    """The same check on ``n`` recorded rand-zh answers (the population's own, full length):
    re-tokenise each with each model's tokenizer, cut it where the window stop would have stopped
    it (checked every ``every`` tokens), and compare the embedder windows of the cut and the full
    decoded answer."""
    import json
    import lzma

    from transformers import AutoTokenizer

    from extract.backends.hf import model_source

    path = REPO.parent / "shared" / "data" / "llm-dna-rand-zh" / "responses.jsonl.xz"
    if not path.exists():
        print(f"skipped: {path} not found")
        return
    texts: list[str] = []
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            texts += [t for t in json.loads(line)["responses"] if t.strip()][:4]
            if len(texts) >= n:
                break
    texts = texts[:n]
    stop = embedder_window_stop(pipe.embedder)
    emb = pipe.embedder
    print(f"\n{len(texts)} recorded rand-zh answers (4 per model, file order), cut where the window stop ends them:")
    print("| tokenizer | answers cut | same embedder window | tokens kept (median) |\n|---|---:|---:|---:|")
    for m in models:
        tok = AutoTokenizer.from_pretrained(model_source(m).load_from)
        cut, same, kept = 0, 0, []
        # A backend's answer is always a decode of token ids: compare with the full answer decoded
        # the same way (special-token text such as "<|im_end|>" in the recorded answers goes too).
        ids_all = [tok(text, add_special_tokens=False)["input_ids"] for text in texts]
        full_keys = emb.window_keys([tok.decode(ids, skip_special_tokens=True) for ids in ids_all])
        for ids, key in zip(ids_all, full_keys):
            end = len(ids)
            for k in range(stop.every, len(ids), stop.every):
                if stop.full([tok.decode(ids[:k], skip_special_tokens=True)])[0]:
                    end = k
                    break
            short = tok.decode(ids[:end], skip_special_tokens=True)
            cut += end < len(ids)
            same += emb.window_keys([short])[0] == key
            kept.append(end)
        print(f"| {m} | {cut} | {same}/{len(texts)} | {int(np.median(kept))} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    ap.add_argument("--cache-dir", type=Path, default=None, help="response/embedding cache (default: the user cache)")
    ap.add_argument("--recorded", type=int, default=400, help="also check this many recorded answers (0: skip)")
    args = ap.parse_args()
    cache = args.cache_dir or default_cache_dir()
    pipe = atlas_pipeline("rand-zh")
    if args.recorded:
        recorded(args.recorded, args.models, pipe)
    print(
        "| model | same embedder window | shorter answers | max cosine distance | DNA distance (nearest atlas model) "
        "| same top 5 | full: s, new tokens | window-stopped: s, new tokens |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for m in args.models:
        r = compare(m, pipe, cache)

        def timing(t: dict) -> str:
            return f"{t['seconds']:.0f}, {t['new_tokens']}" if t["generated"] else "cached"

        print(
            f"| {r['model']} | {r['same_window']}/{r['answers']} | {r['shorter']}/{r['answers']} | "
            f"{r['max_cosine_distance']:.1e} | {r['dna_distance']:.2e} ({r['nearest_atlas_distance']:.3f}) | "
            f"{'yes' if r['top5_full'] == r['top5_short'] else 'no: ' + str(r['top5_short'])} | "
            f"{timing(r['full'])} | {timing(r['short'])} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
