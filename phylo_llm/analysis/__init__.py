"""Analyses over DNA, distances and trees: lineage evaluation, probe bootstrap, evolutionary
speed, architecture trends, nearest relatives, architecture families, relationship discovery.
"""

from ._bootstrap import (
    BootstrapResult,
    SupportKind,
    TreeMethod,
    bootstrap,
    split_support,
)
from ._discover import (
    Discoveries,
    benjamini_hochberg,
    conformal_p_values,
    discover_relationships,
    discoveries_markdown,
)
from ._evaluate import (
    AucEstimate,
    LineageEvaluation,
    LineagePairs,
    bootstrap_auc,
    evaluate_lineage,
    lineage_pairs,
    roc_auc,
    roc_curve,
)
from ._family import (
    FamilyFingerprint,
    family_vs_lineage,
    fingerprint,
    fingerprint_gguf,
    group_families,
    model_families,
    vocab_hash,
)
from ._links import (
    LINK_EVIDENCE,
    LINK_FEATURES,
    LinkModel,
    PairEvidence,
    fit_link_model,
    name_tokens,
)
from ._relatives import (
    Relative,
    nearest_relatives,
)
from ._speed import (
    STATUS_OK,
    FamilySpeed,
    Rooting,
    SpeedResult,
    check_speed_options,
    family_clades,
    family_speeds,
    speed_markdown,
)
from ._trends import (
    architecture_by_year,
    architecture_clades,
    centroid_distances,
    tree_positions,
)

__all__ = [
    "LINK_EVIDENCE",
    "LINK_FEATURES",
    "LinkModel",
    "PairEvidence",
    "fit_link_model",
    "name_tokens",
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
    "conformal_p_values",
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
