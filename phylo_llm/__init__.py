"""phylo_llm: distances, trees and analyses over LLM DNA vectors.

Re-exports the public API of the core modules; nothing else lives here. Figures live in
:mod:`phylo_llm.plot` (imported on demand, so the core never loads matplotlib).
"""

# `bootstrap` itself stays phylo_llm.bootstrap.bootstrap: re-exporting the function here would
# shadow the module of the same name.
from .bootstrap import BootstrapResult, ProbeContributions, read_contributions, split_support, write_contributions
from .build import build_tree, nj, upgma
from .discover import Discoveries, discover_relationships, discoveries_markdown
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
from .errors import DistanceMatrixError, NewickError, PhyloLLMError, PhyloLLMWarning, ProvenanceError
from .evaluate import LineageEvaluation, evaluate_lineage, lineage_pairs, roc_auc
from .family import FamilyFingerprint, family_vs_lineage, fingerprint, group_families, model_families
from .meta import join_meta, read_meta
from .newick import parse_newick, parse_newick_all, read_newick, to_newick, to_nexus, write_newick, write_nexus
from .relatives import Relative, nearest_relatives
from .report import Report, make_report
from .speed import FamilySpeed, SpeedResult, family_speeds
from .tree import Tree
from .treeops import (
    collapse_short_branches,
    ladderize,
    mrca,
    patristic_distances,
    prune,
    robinson_foulds,
    root_midpoint,
    root_outgroup,
    splits,
    unroot,
)

__version__ = "0.1.0"

__all__ = [
    "BootstrapResult",
    "DistanceMatrix",
    "DistanceMatrixError",
    "Discoveries",
    "DnaSet",
    "FamilyFingerprint",
    "FamilySpeed",
    "LineageEvaluation",
    "NewickError",
    "PhyloLLMError",
    "PhyloLLMWarning",
    "ProbeContributions",
    "Provenance",
    "ProvenanceError",
    "Relative",
    "Report",
    "SpeedResult",
    "Tree",
    "build_tree",
    "collapse_short_branches",
    "discover_relationships",
    "discoveries_markdown",
    "dna_distances",
    "evaluate_lineage",
    "family_speeds",
    "family_vs_lineage",
    "fingerprint",
    "group_families",
    "join_meta",
    "ladderize",
    "lineage_pairs",
    "make_report",
    "merge_dna",
    "model_families",
    "mrca",
    "nearest_relatives",
    "nj",
    "pairwise_distances",
    "parse_newick",
    "parse_newick_all",
    "patristic_distances",
    "prune",
    "read_contributions",
    "read_distance_matrix",
    "read_dna",
    "read_dna_csv",
    "read_llm_dna_json",
    "read_meta",
    "read_newick",
    "read_phylip",
    "robinson_foulds",
    "roc_auc",
    "root_midpoint",
    "root_outgroup",
    "split_support",
    "splits",
    "to_newick",
    "to_nexus",
    "unroot",
    "upgma",
    "write_contributions",
    "write_distance_matrix",
    "write_dna",
    "write_newick",
    "write_nexus",
    "write_phylip",
]
