"""Atlases: reference populations of real LLMs shipped with the package (``bundled/``), and
placing a new model's DNA among them with a calibrated family answer.
"""

from ._atlas import (
    ATLAS_DIR,
    Atlas,
    AtlasMember,
    AtlasPart,
    Neighbour,
    Placement,
    atlas_names,
    atlas_parts,
    calibrate,
    check_settings,
    compose_atlas,
    family_from_name,
    family_votes,
    fit_confidence,
    load_atlas,
    place,
    read_atlas,
    shared_members,
    write_atlas,
)

__all__ = [
    "ATLAS_DIR",
    "Atlas",
    "AtlasMember",
    "AtlasPart",
    "Neighbour",
    "Placement",
    "atlas_names",
    "atlas_parts",
    "calibrate",
    "check_settings",
    "compose_atlas",
    "family_from_name",
    "family_votes",
    "fit_confidence",
    "load_atlas",
    "place",
    "read_atlas",
    "shared_members",
    "write_atlas",
]
