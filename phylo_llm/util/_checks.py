"""Argument checks shared by every module: unique labels, read-only arrays, helpful misses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ..errors import PhyloLLMError

__all__ = ["check_unique", "missing_label_message", "readonly"]


def readonly(a: ArrayLike, dtype: DTypeLike = None, *, copy: bool = False) -> NDArray[Any]:
    """Return ``a`` as a read-only array: how frozen dataclasses keep their arrays immutable.

    Parameters
    ----------
    a : array_like
        The values.
    dtype : data-type, optional
        Convert to this type (a copy only where the type differs).
    copy : bool, default False
        Always copy, so the caller's array stays writable. Without it an array of the right type
        is frozen in place (for arrays the caller has just built and hands over).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(3)
    >>> b = readonly(a, np.float32, copy=True)
    >>> b.flags.writeable, a.flags.writeable, b.dtype.name
    (False, True, 'float32')
    >>> readonly(a) is a, a.flags.writeable
    (True, False)
    """
    arr = np.array(a, dtype=dtype, copy=True) if copy else np.asarray(a, dtype=dtype)
    arr.flags.writeable = False
    return arr


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

