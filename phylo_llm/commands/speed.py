"""``phylo-llm speed``: evolutionary speed per family from a tree (or DNA -> NJ -> midpoint root)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..analysis import family_speeds, speed_markdown
from ..data import read_families, read_meta
from ..errors import PhyloLLMError
from ..io import accepted, find_format
from ..tree import Tree, nj
from ..util import atomic_write_text, check_output_path, write_table
from ._common import add_input_args, load_distances


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "speed",
        help="evolutionary speed per model family (DNA change per year of release)",
        description="Per family: regress each model's divergence from the family's common ancestor "
        "(path length from the MRCA in the rooted tree) on its release date. INPUT is a Newick/NEXUS tree "
        f"({accepted('tree')}) or DNA / a distance matrix (then NJ, rooted at the midpoint). "
        "Writes a ranked CSV and, with --report, a Markdown report; families with too few dated "
        "models are listed without an estimate.",
    )
    add_input_args(p)
    p.add_argument("--meta", type=Path, required=True, help="model metadata (.csv/.tsv): model,family,release,...")
    p.add_argument("-o", "--output", type=Path, required=True, help="output CSV (one row per family, ranked)")
    p.add_argument("--report", type=Path, help="also write a Markdown report here")
    p.add_argument(
        "--rooting",
        choices=("midpoint", "as-is"),
        default="midpoint",
        help="root the tree at its midpoint (default) or keep the root of a rooted Newick tree",
    )
    p.add_argument("--min-models", type=int, default=4, help="fewest dated models for an estimate (default 4)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CI (default 1000; 0 = none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--families", type=Path, help="model,family table overriding the metadata's family (e.g. structural)"
    )
    p.add_argument("--strict-meta", action="store_true", help="error on metadata rows for models not in the input")
    p.set_defaults(func=run)


def load_tree(args: argparse.Namespace) -> Tree:
    """A Newick file as is, or NJ over the input's distances (unrooted; rooted later)."""
    path: Path = args.input
    if not path.exists():
        raise PhyloLLMError(f"input {str(path)!r} does not exist")
    tree_format = find_format(path, kind="tree")  # the io registry's tree suffixes
    if tree_format is not None:
        return tree_format.read(path)
    return nj(load_distances(args))


def run(args: argparse.Namespace) -> int:
    inputs = {"INPUT": args.input, "--meta": args.meta, "--families": args.families}
    check_output_path(args.output, inputs=inputs, suffixes=(".csv",))
    if args.report is not None:
        check_output_path(
            args.report, name="--report", inputs={**inputs, "-o": args.output}, suffixes=(".md", ".markdown")
        )
    meta = read_meta(args.meta)
    families = read_families(args.families) if args.families else None
    tree = load_tree(args)
    print(f"estimating speed over {tree.n_tips} models ({args.n_boot} bootstrap resamples)", file=sys.stderr)
    result = family_speeds(
        tree,
        meta,
        rooting=args.rooting,
        min_models=args.min_models,
        n_boot=args.n_boot,
        seed=args.seed,
        families=families,
        allow_extra=not args.strict_meta,
    )
    write_table(result.to_frame(), args.output, index=False)
    ok = sum(f.estimable for f in result.families)
    print(f"wrote {len(result.families)} families ({ok} with an estimate) to {args.output}", file=sys.stderr)
    if args.report:
        atomic_write_text(args.report, speed_markdown(result))
        print(f"wrote report to {args.report}", file=sys.stderr)
    return 0
