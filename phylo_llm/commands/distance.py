"""``phylo-llm distance``: DNA → distance matrix (CSV or PHYLIP)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io import write_distance_matrix
from ..util import check_int, check_output_path
from ._common import add_input_args, load_distances


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "distance",
        help="pairwise DNA distances as a CSV or PHYLIP matrix",
        description="Compute the pairwise distance matrix of a DNA set and write it as CSV or "
        "PHYLIP (chosen by the output suffix: .csv, .phy/.phylip/.dist).",
    )
    add_input_args(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="output .csv or .phy file")
    p.add_argument("--precision", type=int, default=10, help="significant digits (default 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_int("--precision", args.precision, min=1, note="significant digits")
    check_output_path(args.output, inputs={"INPUT": args.input}, suffixes=(".csv", ".phy", ".phylip", ".dist"))
    dm = load_distances(args)
    write_distance_matrix(dm, args.output, precision=args.precision)
    print(f"wrote {len(dm)} x {len(dm)} {args.metric} distances to {args.output}", file=sys.stderr)
    return 0
