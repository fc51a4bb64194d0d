"""``phylo-llm simulate`` and ``phylo-llm demo``: thin CLI over :mod:`extract.simulate` / :mod:`extract.demo`.

Registered through the ``phylo_llm.commands`` entry-point group. Nothing heavy (torch,
transformers) is imported until a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register_simulate", "register_demo"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _add_lineage_args(p: argparse.ArgumentParser, *, leaves: int) -> None:
    g = p.add_argument_group("simulated lineage")
    g.add_argument(
        "--leaves", type=_positive_int, default=leaves, help=f"leaves of the balanced binary lineage (default {leaves})"
    )
    g.add_argument(
        "--noise",
        type=float,
        default=0.06,
        help="relative weight noise of the first branches, x std of each tensor (default 0.06)",
    )
    g.add_argument(
        "--decay", type=float, default=0.5, help="noise factor per level below the root (default 0.5: halved per level)"
    )
    g.add_argument("--seed", type=int, default=0, help="lineage (and projection) seed (default 0)")
    g.add_argument(
        "--base",
        default="smollm2-135m",
        help="base model: bundled name, .gguf file or model directory (default smollm2-135m)",
    )


def register_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="derive a model lineage with a known tree from a real base model",
        description="Derive descendants of a base model along a known topology by seeded weight "
        "noise that shrinks with depth; cache them as model directories and write the true tree.",
    )
    _add_lineage_args(p, leaves=8)
    p.add_argument(
        "--topology",
        help="Newick string or file with named leaves (overrides --leaves); "
        "branch lengths, when given, are the noise sizes",
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("true_tree.nwk"),
        help="where to write the true tree (default true_tree.nwk)",
    )
    p.add_argument("--cache", type=Path, help="cache root (default $PHYLO_LLM_CACHE or ~/.cache/phylo_llm)")
    p.set_defaults(func=run_simulate)


def _quiet_transformers() -> None:
    # transformers draws a bar per model load; with one load per leaf they drown the output.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def run_simulate(args: argparse.Namespace) -> int:
    from phylo_llm.io import write_newick

    from ..simulate import simulate_lineage

    _quiet_transformers()
    topology = args.topology
    if topology is not None and Path(topology).is_file():
        topology = Path(topology).read_text(encoding="utf-8")
    lin = simulate_lineage(
        args.base,
        n_leaves=args.leaves,
        topology=topology,
        noise=args.noise,
        decay=args.decay,
        seed=args.seed,
        cache=args.cache,
    )
    write_newick(lin.true_tree, args.output)
    print(f"{len(lin.leaves)} leaves ({len(lin.created)} derived now) in {lin.directory}", file=sys.stderr)
    print(f"true tree -> {args.output}", file=sys.stderr)
    for leaf in lin.leaves:
        print(f"{leaf}\t{lin.model_dirs[leaf]}")
    return 0


def register_demo(sub: argparse._SubParsersAction) -> None:
    from ..demo import DEMO_DEFAULTS as D

    p = sub.add_parser(
        "demo",
        help="end to end in minutes: simulated SmolLM2 lineage -> DNA -> NJ tree -> score + figure",
        description="Simulate a lineage with a known tree from the bundled SmolLM2-135M, extract "
        "every descendant's DNA, build the NJ tree, score it against the truth (Robinson-Foulds) "
        "and write DNA, Newick trees, a summary and a figure. Cached: a second run is fast.",
    )
    p.add_argument(
        "-o", "--output", type=Path, default=Path("phylo-llm-demo"), help="output folder (default phylo-llm-demo/)"
    )
    _add_lineage_args(p, leaves=D["n_leaves"])
    p.add_argument("--probes", default=D["probes"], help=f"probe set (default {D['probes']})")
    p.add_argument(
        "--max-new-tokens",
        type=_positive_int,
        default=D["max_new_tokens"],
        help=f"greedy tokens per response (default {D['max_new_tokens']})",
    )
    p.add_argument("--dims", type=_positive_int, default=D["dims"], help=f"DNA dimension (default {D['dims']})")
    p.add_argument(
        "--no-outgroup",
        dest="outgroup",
        action="store_false",
        help="leave out the real Gemma-3-270M outgroup (bundled; rooted on by default)",
    )
    p.add_argument("--threads", type=_positive_int, help="torch CPU threads")
    p.add_argument("--no-figure", action="store_true", help="skip tree.png")
    p.add_argument("--cache", type=Path, help="cache root (default $PHYLO_LLM_CACHE or ~/.cache/phylo_llm)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_demo_cmd)


def run_demo_cmd(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    _quiet_transformers()
    from ..progress import TqdmProgress

    progress = None if args.quiet else TqdmProgress()
    res = run_demo(
        args.output,
        n_leaves=args.leaves,
        probes=args.probes,
        max_new_tokens=args.max_new_tokens,
        dims=args.dims,
        noise=args.noise,
        decay=args.decay,
        seed=args.seed,
        base=args.base,
        outgroup=args.outgroup,
        threads=args.threads,
        cache=args.cache,
        figure=not args.no_figure,
        progress=progress,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    if progress is not None:
        progress.close()
    n = res.true_tree.n_tips
    verdict = "exact recovery" if res.rf == 0 else f"{res.rf:g} of {2 * (n - 3)} splits differ"
    print(f"NJ tree vs true tree: Robinson-Foulds {res.rf:g} ({verdict}), normalised {res.rf_normalized:.3f}")
    for role, path in res.files.items():
        print(f"  {role:10s} {path}")
    for note in res.notes:
        print(f"  note: {note}")
    print(f"done in {res.seconds:.0f} s{' (DNA from cache)' if res.dna_cached else ''}")
    return 0
