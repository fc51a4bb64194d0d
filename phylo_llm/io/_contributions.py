"""Per-probe contribution files (``.npz``, versioned)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from ..data import ProbeContributions, Provenance
from ..errors import PhyloLLMError
from ..util import atomic_open

__all__ = ["write_contributions", "read_contributions"]


_NPZ_FORMAT = "phylo_llm.contributions"


def write_contributions(contributions: ProbeContributions, path: str | Path) -> Path:
    """Save contributions as ``.npz`` (``values``, ``labels``, provenance JSON), atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.npz"
    >>> _ = write_contributions(ProbeContributions(("a", "b"), np.ones((2, 3, 4))), p)
    >>> read_contributions(p).values.shape
    (2, 3, 4)
    """
    from ._registry import format_for  # the registry imports this module's reader and writer

    path = Path(path)
    format_for(path, kind="contributions")
    buf = io.BytesIO()
    np.savez(
        buf,
        format=np.array(_NPZ_FORMAT),
        labels=np.array(contributions.labels, dtype=str),
        values=contributions.values,
        provenance=np.array(json.dumps(contributions.provenance.to_dict())),
    )
    with atomic_open(path, "wb") as fh:
        fh.write(buf.getvalue())
    return path


def read_contributions(path: str | Path) -> ProbeContributions:
    """Read a ``.npz`` file written by :func:`write_contributions`."""
    path = Path(path)
    if not path.is_file():
        raise PhyloLLMError(f"contributions file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if "format" not in keys or str(data["format"]) != _NPZ_FORMAT:
                raise PhyloLLMError(f"{path.name}: not a phylo_llm contributions file (no format={_NPZ_FORMAT!r})")
            missing = sorted({"labels", "values", "provenance"} - keys)
            if missing:
                raise PhyloLLMError(f"{path.name}: missing array(s) {missing}")
            labels = tuple(str(x) for x in data["labels"].tolist())
            values = data["values"]
            prov = Provenance.from_dict(json.loads(str(data["provenance"])))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, PhyloLLMError):
            raise
        # numpy's own words would hint at allow_pickle=True, unsafe on a file of unknown origin.
        why = "the file is empty" if path.stat().st_size == 0 else "it is not a .npz archive or it is damaged"
        raise PhyloLLMError(
            f"contributions file {str(path)!r} cannot be read: {why} (write it with phylo-llm extract --contributions)"
        ) from None
    return ProbeContributions(labels, values, prov)
