"""Analyses over DNA, distances and trees: lineage evaluation, probe bootstrap, evolutionary
speed, architecture trends, nearest relatives, architecture families, relationship discovery.
"""
from ._evaluate import (
    AucEstimate,
    LineagePairs,
    LineageEvaluation,
    roc_auc,
    roc_curve,
    bootstrap_auc,
    lineage_pairs,
    evaluate_lineage,
)
from ._bootstrap import (
    TreeMethod,
    SupportKind,
    BootstrapResult,
    bootstrap,
    split_support,
)
from ._speed import (
    FamilySpeed,
    SpeedResult,
    family_speeds,
    family_clades,
    check_speed_options,
    speed_markdown,
    Rooting,
    STATUS_OK,
)
from ._trends import (
    architecture_by_year,
    centroid_distances,
    tree_positions,
    architecture_clades,
)
from ._relatives import (
    Relative,
    nearest_relatives,
)
from ._family import (
    FamilyFingerprint,
    vocab_hash,
    fingerprint_gguf,
    fingerprint,
    group_families,
    model_families,
    family_vs_lineage,
)
from ._discover import (
    Discoveries,
    discover_relationships,
    benjamini_hochberg,
    discoveries_markdown,
)

__all__ = [
    "AucEstimate",
    "BootstrapResult",
    "Discoveries",
    "FamilyFingerprint",
    "FamilySpeed",
    "LineageEvaluation",
    "LineagePairs",
    "Relative",
    "Rooting",
    "STATUS_OK",
    "SpeedResult",
    "SupportKind",
    "TreeMethod",
    "architecture_by_year",
    "architecture_clades",
    "benjamini_hochberg",
    "bootstrap",
    "bootstrap_auc",
    "centroid_distances",
    "check_speed_options",
    "discover_relationships",
    "discoveries_markdown",
    "evaluate_lineage",
    "family_clades",
    "family_speeds",
    "family_vs_lineage",
    "fingerprint",
    "fingerprint_gguf",
    "group_families",
    "lineage_pairs",
    "model_families",
    "nearest_relatives",
    "roc_auc",
    "roc_curve",
    "speed_markdown",
    "split_support",
    "tree_positions",
    "vocab_hash",
]
