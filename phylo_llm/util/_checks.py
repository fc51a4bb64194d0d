"""Argument checks shared by every module: unique labels, read-only arrays, helpful misses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from numpy.typing import NDArray

from ..errors import PhyloLLMError

__all__ = ["check_unique", "missing_label_message", "readonly"]


def readonly(a: NDArray[Any]) -> NDArray[Any]:
    a.flags.writeable = False
    return a


def check_unique(labels: Sequence[str], *, what: str) -> None:
    if len(set(labels)) != len(labels):
        seen: set[str] = set()
        dups = []
        for lab in labels:
            if lab in seen and lab not in dups:
                dups.append(lab)
            seen.add(lab)
        raise PhyloLLMError(f"{what} must be unique; duplicated: {dups[:10]}")


def missing_label_message(label: str, labels: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(label, list(labels), n=3)
    hint = f"; did you mean {close}?" if close else ""
    return f"model {label!r} is not in this set of {len(labels)} models{hint}"

