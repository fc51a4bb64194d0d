"""``phylo-llm discover``: pairs the DNA calls related that the labels do not link, with q-values."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..analysis import discover_relationships, discoveries_markdown
from ..atlas import load_atlas
from ..data import dna_distances, read_meta
from ..errors import PhyloLLMError
from ..util import atomic_open, atomic_write_text, check_fraction, check_int
from ._common import add_input_args, load_distances

ATLAS_PREFIX = "atlas:"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "discover",
        help="propose undocumented relationships (pairs the labels do not link), with FDR q-values",
        description="Rank the model pairs that the labels do not link (not parent/child, not the same "
        "family) by a link model learned from the documented links (or by mutual nearest-neighbour rank, or by "
        "p-value), with Benjamini-Hochberg q-values of how unusually close their DNA is for both models over all "
        "candidate pairs (conformal p-values against the pairs of labelled models from different families, so "
        "calls involve a model without a family label); each proposed edge is oriented by release date where "
        "known. Prints the top of the list; with -o writes discoveries.csv (evidence per pair: the first --top "
        "rows and every call) and discoveries.md.",
    )
    add_input_args(p)  # INPUT may also be atlas:NAME, a shipped atlas (phylo-llm atlas list)
    p.add_argument(
        "--labels",
        type=Path,
        help="model metadata (.csv/.tsv) with a family column (default for atlas:NAME: the atlas's labels)",
    )
    p.add_argument("-o", "--output", type=Path, help="output folder (created) for discoveries.csv and discoveries.md")
    p.add_argument("--fdr", type=float, default=0.1, help="false-discovery rate of the reported calls (default 0.1)")
    p.add_argument("--top", type=int, default=30, help="rows to show, and the fewest the CSV holds (default 30)")
    p.add_argument(
        "--skip-same-organization", action="store_true", help="also leave out pairs of the same organization"
    )
    p.add_argument(
        "--min-reference",
        type=int,
        default=10,
        help="fewest unrelated models a model needs for its side of the score (default 10)",
    )
    p.add_argument(
        "--order",
        choices=("link_model", "neighbour_rank", "p_value"),
        default="link_model",
        help="list order: link_model (most like the documented parent links, learned from them; default; "
        "needs 8 of them and a model without a family label, else neighbour_rank, and the output says why), "
        "neighbour_rank (mutual nearest neighbours first) or p_value (calls first); the q-values are the same",
    )
    p.add_argument(
        "--link-evidence",
        default="dna,names,labels",
        help="what the link model may use, comma-separated among dna, names, labels (default: all three); "
        "leave out names where the ids carry no lineage (anonymised or API models)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_fraction("--fdr", args.fdr, open_left=True, open_right=True)
    check_int("--top", args.top, min=0)
    if str(args.input).startswith(ATLAS_PREFIX):
        # A shipped atlas: its DNA, and its labels (curated, else the family from the name).
        atlas = load_atlas(str(args.input)[len(ATLAS_PREFIX) :])
        meta = read_meta(args.labels) if args.labels is not None else atlas.labels_frame()
        dm = dna_distances(atlas.as_dna(), metric=args.metric)
    else:
        if args.labels is None:
            raise PhyloLLMError("--labels is required (except with INPUT atlas:NAME)")
        meta = read_meta(args.labels)
        dm = load_distances(args)
    res = discover_relationships(
        dm,
        meta,
        skip_same_organization=args.skip_same_organization,
        min_reference=args.min_reference,
        order=args.order,
        link_evidence=[x.strip() for x in args.link_evidence.split(",") if x.strip()],
    )
    md = discoveries_markdown(res, alpha=args.fdr, top=args.top)
    if args.output is None:
        print(md, end="")
        return 0
    args.output.mkdir(parents=True, exist_ok=True)
    # The first --top rows of the list, and every call further down (the order is not by q).
    keep = np.union1d(np.arange(min(args.top, len(res))), res.calls(args.fdr))
    df = res.to_frame(rows=keep)
    df.insert(1, "significant", df["q_value"] <= args.fdr)
    with atomic_open(args.output / "discoveries.csv") as fh:
        df.to_csv(fh, index=False)
    atomic_write_text(args.output / "discoveries.md", md)
    print(
        f"{res.n_significant(args.fdr)} of {len(res)} candidate pairs at FDR {args.fdr:g}; "
        f"wrote {len(df)} rows to {args.output / 'discoveries.csv'} and {args.output / 'discoveries.md'}"
    )
    return 0
