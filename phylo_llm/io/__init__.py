"""File formats: Newick/NEXUS trees, DNA files (ours, CSV, llm-dna JSON), distance matrices
(CSV, PHYLIP), per-probe contribution archives and GGUF headers.
"""
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
from ._dna import (
    FORMAT_NAME,
    FORMAT_VERSION,
    DnaFormat,
    write_dna,
    read_dna,
    read_dna_csv,
    read_llm_dna_json,
)
from ._distance import (
    DistanceFormat,
    write_phylip,
    read_phylip,
    write_distance_matrix,
    read_distance_matrix,
)
from ._contributions import (
    write_contributions,
    read_contributions,
)
from ._gguf import (
    read_gguf_metadata,
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
