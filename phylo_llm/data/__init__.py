"""The values every analysis takes: DNA sets with their provenance, distance matrices, model
metadata tables and per-probe contributions. No file formats here (see :mod:`phylo_llm.io`).
"""

from ._contributions import (
    ProbeContributions,
)
from ._distance import (
    DistanceMatrix,
    Metric,
    check_precision,
    dna_distances,
    pairwise_distances,
)
from ._dna import (
    DnaSet,
    Provenance,
    merge_dna,
)
from ._meta import (
    META_COLUMNS,
    format_release,
    join_meta,
    meta_frame,
    parse_release,
    read_families,
    read_meta,
    require_columns,
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
