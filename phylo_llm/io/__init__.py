"""File formats: Newick/NEXUS trees, DNA files (ours, CSV, llm-dna JSON), distance matrices
(CSV, PHYLIP), per-probe contribution archives and GGUF headers; one registry maps each file
suffix to its kind, reader and writer (:data:`FORMATS`, :func:`format_for`).
"""

from ._contributions import (
    read_contributions,
    write_contributions,
)
from ._distance import (
    DistanceFormat,
    read_distance_matrix,
    read_phylip,
    write_distance_matrix,
    write_phylip,
)
from ._dna import (
    FORMAT_NAME,
    FORMAT_VERSION,
    DnaFormat,
    read_dna,
    read_dna_csv,
    read_llm_dna_json,
    write_dna,
)
from ._gguf import (
    read_gguf_metadata,
)
from ._newick import (
    parse_newick,
    parse_newick_all,
    parse_nexus,
    read_newick,
    to_newick,
    to_nexus,
    write_newick,
    write_nexus,
)
from ._registry import (
    FORMATS,
    FileFormat,
    FileKind,
    accepted,
    find_format,
    format_for,
    kinds_of,
)

__all__ = [
    "DistanceFormat",
    "DnaFormat",
    "FORMATS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "FileFormat",
    "FileKind",
    "accepted",
    "find_format",
    "format_for",
    "kinds_of",
    "parse_newick",
    "parse_newick_all",
    "parse_nexus",
    "read_contributions",
    "read_distance_matrix",
    "read_dna",
    "read_dna_csv",
    "read_gguf_metadata",
    "read_llm_dna_json",
    "read_newick",
    "read_phylip",
    "to_newick",
    "to_nexus",
    "write_contributions",
    "write_distance_matrix",
    "write_dna",
    "write_newick",
    "write_nexus",
    "write_phylip",
]
