"""Helpers shared by subcommands: loading DNA or a distance matrix from whatever the user gives."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from ..data import DistanceMatrix, dna_distances
from ..errors import PhyloLLMError
from ..io import kinds_of, read_distance_matrix, read_dna
from ..util import read_text

METRICS = ("euclidean", "cosine", "correlation")


def add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, help="DNA file/dir (.json, .csv) or distance matrix (.phy, .csv)")
    p.add_argument(
        "--input-kind",
        choices=("auto", "dna", "distance"),
        default="auto",
        help="what INPUT holds (default: detect from suffix and CSV header)",
    )
    p.add_argument("--metric", choices=METRICS, default="euclidean", help="distance between DNA vectors")


def input_kind(path: Path, kind: str) -> str:
    if kind != "auto":
        return kind
    kinds = kinds_of(path)  # the io registry: which kinds of file this suffix may hold
    if "distance" in kinds and "dna" not in kinds:
        return "distance"
    if "distance" in kinds and path.is_file():
        header = next(csv.reader(io.StringIO(read_text(path, what="input", newline=""))), [])
        # A labelled square matrix starts with an empty corner cell; a DNA CSV with "model".
        if header and header[0] == "":
            return "distance"
    return "dna"


def load_distances(args: argparse.Namespace) -> DistanceMatrix:
    path: Path = args.input
    if not path.exists():
        raise PhyloLLMError(f"input {str(path)!r} does not exist")
    if input_kind(path, args.input_kind) == "distance":
        return read_distance_matrix(path)
    return dna_distances(read_dna(path), metric=args.metric)
