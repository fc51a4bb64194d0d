"""``phylo-llm report``: the whole analysis of a DNA set in one folder, with an index."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..data import read_families, read_meta
from ..errors import PhyloLLMError
from ..io import read_dna
from ..report import make_report
from ..util import check_output_dir
from ._common import METRICS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="trees, distances, speed, trend plots, tree figures and DNA map in one folder",
        description="Write NJ and UPGMA trees (Newick), the distance matrix, the evolutionary-speed "
        "report, architecture trend plots, annotated tree figures, a static and an interactive DNA "
        "map, and index.md/index.html linking them.",
    )
    p.add_argument("input", type=Path, help="DNA file or directory (.json, .csv)")
    p.add_argument("--meta", type=Path, required=True, help="model metadata (.csv/.tsv)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder (created)")
    p.add_argument("--metric", choices=METRICS, default="euclidean", help="distance between DNA vectors")
    p.add_argument(
        "--formats", default="png,pdf", help="figure formats, comma-separated from png,pdf,svg (default png,pdf)"
    )
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for speed CIs (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--min-models", type=int, default=4, help="fewest dated models for a speed estimate (default 4)")
    p.add_argument("--families", type=Path, help="model,family table overriding the metadata's family")
    p.add_argument("--strict-meta", action="store_true", help="error on metadata rows for models without DNA")
    p.add_argument("--title", default="phylo_llm report", help="title of the index page")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.input.exists():
        raise PhyloLLMError(f"input {str(args.input)!r} does not exist")
    check_output_dir(args.output)
    out = args.output.resolve()
    for name, path in (("INPUT", args.input), ("--meta", args.meta), ("--families", args.families)):
        # The folder is replaced as a whole: an input inside it would be deleted.
        if path is not None and out in (path.resolve(), *path.resolve().parents):
            raise PhyloLLMError(
                f"-o {str(args.output)!r} holds the {name} file {str(path)!r}; write the report elsewhere"
            )
    dna = read_dna(args.input)
    meta = read_meta(args.meta)
    families = read_families(args.families) if args.families else None
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    start = time.monotonic()

    def progress(step: str, i: int, n: int) -> None:
        print(f"[{i}/{n}] {step}... ({time.monotonic() - start:.0f}s)", file=sys.stderr, flush=True)

    report = make_report(
        dna,
        meta,
        args.output,
        metric=args.metric,
        formats=formats,
        n_boot=args.n_boot,
        seed=args.seed,
        min_models=args.min_models,
        families=families,
        allow_extra=not args.strict_meta,
        title=args.title,
        progress=progress,
    )
    again = " (replaced the earlier report there)" if report.replaced else ""
    print(f"wrote {len(report.files)} files to {report.out_dir}{again}; open {report.index}", file=sys.stderr)
    return 0
