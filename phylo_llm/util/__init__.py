"""Shared toolbox: atomic file writes and reads, argument checks. Imports nothing else of phylo_llm
but :mod:`phylo_llm.errors`.
"""
from ._checks import (
    check_unique,
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

__all__ = [
    "atomic_dir",
    "atomic_open",
    "atomic_path",
    "atomic_write_text",
    "check_output_dir",
    "check_output_path",
    "check_unique",
    "missing_label_message",
    "read_text",
    "readonly",
    "write_table",
]
