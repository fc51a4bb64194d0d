"""Shared toolbox: atomic file writes and reads, argument checks (integers, ranges,
options), sha256 ids, a small logistic fit.
Imports nothing else of phylo_llm but :mod:`phylo_llm.errors`.
"""

from ._checks import (
    Picklable,
    check_choice,
    check_fraction,
    check_int,
    check_number,
    check_unique,
    labelled_rows,
    missing_label_message,
    readonly,
)
from ._files import (
    atomic_dir,
    atomic_open,
    atomic_path,
    atomic_write_text,
    check_output_dir,
    check_output_path,
    read_text,
    write_table,
)
from ._hashing import (
    canonical_json,
    sha256_bytes,
    sha256_file,
    sha256_json,
    sha256_text,
    short_id,
)
from ._logistic import fit_logistic

__all__ = [
    "Picklable",
    "atomic_dir",
    "atomic_open",
    "atomic_path",
    "atomic_write_text",
    "canonical_json",
    "check_output_dir",
    "check_output_path",
    "check_choice",
    "check_fraction",
    "check_int",
    "check_number",
    "check_unique",
    "fit_logistic",
    "labelled_rows",
    "missing_label_message",
    "read_text",
    "readonly",
    "sha256_bytes",
    "sha256_file",
    "sha256_json",
    "sha256_text",
    "short_id",
    "write_table",
]
