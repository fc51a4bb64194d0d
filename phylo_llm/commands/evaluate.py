"""``phylo-llm evaluate``: ROC AUC of DNA distances against documented lineage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..analysis import evaluate_lineage
from ..data import read_meta
from ..util import check_output_path, write_table
from ._common import add_input_args, load_distances


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="how well DNA distances recover documented parent-child links (ROC AUC)",
        description="Score every parent-child pair (a model and its documented base_model) and "
        "every different-family pair by DNA distance; report the ROC AUC with a bootstrap CI, a "
        "breakdown by relation (instruct, finetune, merge, ...) and the same-family AUC.",
    )
    add_input_args(p)
    p.add_argument("--labels", type=Path, required=True, help="model metadata table (models_meta.csv)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--plot", type=Path, help="write the ROC curve to this .png/.pdf/.svg")
    p.add_argument("--csv", type=Path, help="write the table of AUCs to this CSV file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = {"INPUT": args.input, "--labels": args.labels}
    if args.plot is not None:
        from ..plot import check_figure_path

        check_figure_path(args.plot)  # fail before the work, not after
        check_output_path(args.plot, name="--plot", inputs=inputs)
    if args.csv is not None:
        check_output_path(args.csv, name="--csv", inputs=inputs, suffixes=(".csv",))
    meta = read_meta(args.labels)
    dm = load_distances(args)
    ev = evaluate_lineage(dm, meta, n_boot=args.n_boot, seed=args.seed)
    print(ev.summary())
    if args.csv is not None:
        write_table(ev.to_frame(), args.csv, index=False)
        print(f"wrote {args.csv}", file=sys.stderr)
    if args.plot is not None:
        from ..plot import save_figure
        from ..plot.roc import plot_roc

        save_figure(plot_roc({args.input.stem: ev}), args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
