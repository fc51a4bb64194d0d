"""phylo_llm: distances, trees and analyses over LLM DNA vectors.

Re-exports the public API; nothing else lives here.
"""

from .distance import (
    DistanceMatrix,
    dna_distances,
    pairwise_distances,
    read_distance_matrix,
    read_phylip,
    write_distance_matrix,
    write_phylip,
)
from .dna import DnaSet, Provenance, merge_dna, read_dna, read_dna_csv, read_llm_dna_json, write_dna
from .errors import DistanceMatrixError, NewickError, PhyloLLMError, ProvenanceError
from .tree import Tree

__version__ = "0.1.0"

__all__ = [
    "DistanceMatrix",
    "DistanceMatrixError",
    "DnaSet",
    "NewickError",
    "PhyloLLMError",
    "Provenance",
    "ProvenanceError",
    "Tree",
    "dna_distances",
    "merge_dna",
    "pairwise_distances",
    "read_distance_matrix",
    "read_dna",
    "read_dna_csv",
    "read_llm_dna_json",
    "read_phylip",
    "write_distance_matrix",
    "write_dna",
    "write_phylip",
]
