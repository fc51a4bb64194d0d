"""``phylo-llm tree``: DNA or a distance matrix → NJ/UPGMA tree as Newick (or NEXUS)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io import find_format, to_newick, write_newick
from ..tree import build_tree, ladderize, root_midpoint, root_outgroup
from ..util import check_int, check_output_path
from ._common import add_input_args, input_kind, load_distances


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tree",
        help="build an NJ or UPGMA tree and write Newick/NEXUS",
        description="Build a neighbor-joining or UPGMA tree from a DNA set or a distance matrix. "
        "Writes Newick (or NEXUS for .nex/.nexus) to -o, or Newick to stdout.",
    )
    add_input_args(p)
    p.add_argument("--method", choices=("nj", "upgma"), default="nj")
    p.add_argument(
        "--root",
        default="none",
        metavar="none|midpoint|OUTGROUP",
        help="root the tree: 'midpoint', a tip name (outgroup), or 'none' (default)",
    )
    p.add_argument("--ladderize", action="store_true", help="sort clades by size for drawing")
    p.add_argument("--precision", type=int, default=6, help="significant digits for branch lengths, >= 1 (default 6)")
    p.add_argument("-o", "--output", type=Path, help="output .nwk/.newick/.tre or .nex/.nexus")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_int("--precision", args.precision, min=1, note="significant digits")  # what write_newick takes
    if args.output is not None:
        check_output_path(args.output, inputs={"INPUT": args.input})
    dm = load_distances(args)
    tree = build_tree(dm, method=args.method)
    if args.root == "midpoint":
        tree = root_midpoint(tree)
    elif args.root != "none":
        tree = root_outgroup(tree, args.root)
    if args.ladderize:
        tree = ladderize(tree)
    out: Path | None = args.output
    if out is None:
        sys.stdout.write(to_newick(tree, precision=args.precision) + "\n")
    else:
        fmt = find_format(out, kind="tree")  # NEXUS for .nex/.nexus; any other name gets Newick
        (write_newick if fmt is None else fmt.write)(tree, out, precision=args.precision)
    where = "stdout" if out is None else str(out)
    source = (
        "given distances" if input_kind(args.input, args.input_kind) == "distance" else f"{args.metric} DNA distances"
    )
    print(f"{args.method.upper()} tree of {tree.n_tips} models ({source}) -> {where}", file=sys.stderr)
    return 0
