"""``phylo-llm plot-tree``: an annotated tree figure from a Newick file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data import read_meta
from ..errors import PhyloLLMError
from ..io import read_newick
from ..plot import check_figure_path
from ..plot.tree import render_tree_ete3, save_tree
from ..tree import ladderize, root_midpoint
from ..util import check_output_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot-tree",
        help="draw a Newick tree (tips coloured by family, marker by architecture)",
        description="Draw a tree as a rectangular or circular figure; format from the output suffix "
        "(.png, .pdf, .svg). With --meta, tips are coloured by family and shaped by architecture. "
        "Truncated or numbered labels get a <stem>.labels.csv index with the full names.",
    )
    p.add_argument("input", type=Path, help="Newick tree file")
    p.add_argument("-o", "--output", type=Path, required=True, help="figure file (.png, .pdf, .svg)")
    p.add_argument("--meta", type=Path, help="model metadata (.csv/.tsv) for colours, markers, release strip")
    p.add_argument("--layout", choices=("rectangular", "circular"), default="rectangular")
    p.add_argument("--labels", choices=("auto", "names", "numbers", "none"), default="auto")
    p.add_argument("--label-max-chars", type=int, default=40, help="truncate longer names (default 40)")
    p.add_argument("--release-strip", action="store_true", help="draw a release-year strip (needs --meta)")
    p.add_argument("--support", choices=("auto", "text", "dots", "none"), default="auto")
    p.add_argument("--midpoint", action="store_true", help="root at the midpoint before drawing")
    p.add_argument("--no-ladderize", action="store_true", help="keep the file's child order")
    p.add_argument("--title", help="figure title")
    p.add_argument(
        "--engine",
        choices=("matplotlib", "ete3"),
        default="matplotlib",
        help="renderer; ete3 needs PyQt5 and supports only --meta colours and --layout",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.input.exists():
        raise PhyloLLMError(f"input {str(args.input)!r} does not exist")
    check_figure_path(args.output)
    check_output_path(args.output, inputs={"INPUT": args.input, "--meta": args.meta})
    tree = read_newick(args.input)
    if args.midpoint:
        tree = root_midpoint(tree)
    if not args.no_ladderize:
        tree = ladderize(tree)
    meta = read_meta(args.meta) if args.meta else None
    if args.engine == "ete3":
        render_tree_ete3(tree, args.output, meta=meta, layout=args.layout)
        print(f"drew {tree.n_tips} tips to {args.output} with ete3", file=sys.stderr)
        return 0
    save_tree(
        tree,
        args.output,
        meta=meta,
        layout=args.layout,
        labels=args.labels,
        label_max_chars=args.label_max_chars,
        release_strip=args.release_strip,
        support=args.support,
        title=args.title,
    )
    print(f"drew {tree.n_tips} tips to {args.output}", file=sys.stderr)
    return 0
