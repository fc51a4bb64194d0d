"""``phylo-llm bootstrap``: tree with clade supports from per-probe DNA contributions."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..analysis import bootstrap
from ..io import find_format, read_contributions, write_newick
from ..util import check_output_path
from ._common import METRICS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bootstrap",
        help="tree with bootstrap supports (resampling probes) as Newick",
        description="Resample the probes with replacement, rebuild the tree for every replicate, "
        "and write the full-data tree with the support of each internal branch (Felsenstein "
        "proportion, or transfer bootstrap expectation for large trees).",
    )
    p.add_argument("contributions", type=Path, help="per-probe contributions (.npz from write_contributions)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output Newick file (NEXUS for .nex/.nexus)")
    p.add_argument("-n", "--replicates", type=int, default=100, help="bootstrap replicates (default 100)")
    p.add_argument("--method", choices=("nj", "upgma"), default="nj", help="tree builder (default nj)")
    p.add_argument("--metric", choices=METRICS, default="euclidean", help="DNA distance (default euclidean)")
    p.add_argument(
        "--support",
        choices=("felsenstein", "transfer"),
        default="felsenstein",
        help="support measure (default felsenstein; transfer = TBE, kinder to deep branches of big trees)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for the probe resampling (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_output_path(args.output, inputs={"CONTRIBUTIONS": args.contributions})
    pc = read_contributions(args.contributions)
    start = time.perf_counter()
    res = bootstrap(
        pc,
        n_replicates=args.replicates,
        method=args.method,
        metric=args.metric,
        kind=args.support,
        seed=args.seed,
    )
    fmt = find_format(args.output, kind="tree")  # NEXUS for .nex/.nexus; any other name gets Newick
    (write_newick if fmt is None else fmt.write)(res.tree, args.output)
    print(
        f"wrote {args.method} tree of {pc.n_models} models with {args.support} support from "
        f"{args.replicates} replicates over {pc.n_probes} probes to {args.output} "
        f"({time.perf_counter() - start:.1f} s)",
        file=sys.stderr,
    )
    return 0
