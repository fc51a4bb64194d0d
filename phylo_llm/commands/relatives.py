"""``phylo-llm relatives``: the models closest to one model by DNA distance."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..analysis import nearest_relatives
from ..data import read_meta
from ._common import METRICS, load_distances


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "relatives",
        help="list the models nearest to MODEL by DNA distance",
        description="List the k models whose DNA is closest to MODEL, with their distances and, "
        "when --labels is given, their documented family.",
    )
    p.add_argument("model", help="model id, as it labels the DNA")
    p.add_argument(
        "--dna",
        dest="input",
        type=Path,
        required=True,
        help="DNA file/dir (.json, .csv) or distance matrix (.phy, .csv)",
    )
    p.add_argument(
        "--input-kind",
        choices=("auto", "dna", "distance"),
        default="auto",
        help="what --dna holds (default: detect from suffix and CSV header)",
    )
    p.add_argument("--metric", choices=METRICS, default="euclidean", help="distance between DNA vectors")
    p.add_argument("-k", type=int, default=5, help="how many neighbours (default 5)")
    p.add_argument("--labels", type=Path, help="model metadata table, to show each one's family")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    meta = read_meta(args.labels) if args.labels is not None else None
    dm = load_distances(args)
    rels = nearest_relatives(dm, args.model, k=args.k, meta=meta)
    width = max(len(r.model) for r in rels)
    for r in rels:
        fam = "" if meta is None else f"  {r.family or '?'}"
        print(f"{r.rank:>3}  {r.model:<{width}}  {r.distance:.6g}{fam}")
    return 0
