"""Shared toolbox: atomic file writes and reads, argument checks (integers, ranges, options).
Imports nothing else of phylo_llm but :mod:`phylo_llm.errors`.
"""
from ._checks import (
    check_choice,
    check_fraction,
    check_int,
    check_number,
    check_unique,
    missing_label_message,
    readonly,
)
from ._files import (
    atomic_open,
    atomic_path,
    atomic_write_text,
    check_output_dir,
    check_output_path,
    read_text,
    write_table,
)

__all__ = [
    "atomic_open",
    "atomic_path",
    "atomic_write_text",
    "check_output_dir",
    "check_output_path",
    "check_choice",
    "check_fraction",
    "check_int",
    "check_number",
    "check_unique",
    "missing_label_message",
    "read_text",
    "readonly",
    "write_table",
]
