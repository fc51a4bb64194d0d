"""phylo_llm: distances, trees and analyses over LLM DNA vectors.

Re-exports the public API of the subpackages; nothing else lives here. The layout, lowest layer
first (each imports only from the layers above it in this list; ``tests/test_package.py`` checks it):

``errors``, ``util``
    exceptions; the shared toolbox (atomic writes, argument checks).
``data``
    the values: :class:`DnaSet` + :class:`Provenance`, :class:`DistanceMatrix`, metadata tables,
    per-probe contributions.
``tree``
    :class:`Tree`, the NJ / UPGMA builders, tree operations, splits.
``io``
    file formats: Newick / NEXUS, DNA files, distance matrices, contribution archives, GGUF headers.
``analysis``
    lineage evaluation, probe bootstrap, evolutionary speed, trends, relatives, families, discovery.
``atlas``
    the bundled reference populations and placement in them.
``plot``, ``report``, ``commands``
    figures (matplotlib, imported on demand: the core never loads it), the one-command report,
    the CLI's subcommands.
"""

from .analysis import (
    BootstrapResult,
    Discoveries,
    FamilyFingerprint,
    FamilySpeed,
    LineageEvaluation,
    Relative,
    SpeedResult,
    bootstrap,
    discover_relationships,
    discoveries_markdown,
    evaluate_lineage,
    family_speeds,
    family_vs_lineage,
    fingerprint,
    group_families,
    lineage_pairs,
    model_families,
    nearest_relatives,
    roc_auc,
    split_support,
)
from .data import (
    DistanceMatrix,
    DnaSet,
    ProbeContributions,
    Provenance,
    dna_distances,
    join_meta,
    merge_dna,
    pairwise_distances,
    read_meta,
)
from .errors import (
    DistanceMatrixError,
    NewickError,
    PhyloLLMError,
    PhyloLLMWarning,
    ProvenanceError,
)
from .io import (
    parse_newick,
    parse_newick_all,
    read_contributions,
    read_distance_matrix,
    read_dna,
    read_dna_csv,
    read_llm_dna_json,
    read_newick,
    read_phylip,
    to_newick,
    to_nexus,
    write_contributions,
    write_distance_matrix,
    write_dna,
    write_newick,
    write_nexus,
    write_phylip,
)
from .report import Report, make_report
from .tree import (
    Tree,
    build_tree,
    collapse_short_branches,
    ladderize,
    mrca,
    nj,
    patristic_distances,
    prune,
    robinson_foulds,
    root_midpoint,
    root_outgroup,
    splits,
    unroot,
    upgma,
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
    "bootstrap",
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
