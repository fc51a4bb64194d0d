"""The values every analysis takes: DNA sets with their provenance, distance matrices, model
metadata tables and per-probe contributions. No file formats here (see :mod:`phylo_llm.io`).
"""
from ._dna import (
    Provenance,
    DnaSet,
    merge_dna,
)
from ._distance import (
    Metric,
    DistanceMatrix,
    pairwise_distances,
    dna_distances,
    check_precision,
)
from ._meta import (
    META_COLUMNS,
    read_meta,
    parse_release,
    join_meta,
    require_columns,
    format_release,
    read_families,
    meta_frame,
)
from ._contributions import (
    ProbeContributions,
)

__all__ = [
    "DistanceMatrix",
    "DnaSet",
    "META_COLUMNS",
    "Metric",
    "ProbeContributions",
    "Provenance",
    "check_precision",
    "dna_distances",
    "format_release",
    "join_meta",
    "merge_dna",
    "meta_frame",
    "pairwise_distances",
    "parse_release",
    "read_families",
    "read_meta",
    "require_columns",
]
