"""File formats: Newick/NEXUS trees, DNA files (ours, CSV, llm-dna JSON), distance matrices
(CSV, PHYLIP), per-probe contribution archives and GGUF headers.
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

__all__ = [
    "DistanceFormat",
    "DnaFormat",
    "FORMAT_NAME",
    "FORMAT_VERSION",
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
