"""Per-probe contributions: the additive per-probe distance pieces that make probe resampling cheap."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..errors import PhyloLLMError
from ..util import check_unique, labelled_rows, readonly
from ._dna import DnaSet, Provenance

__all__ = ["ProbeContributions"]


@dataclass(frozen=True)
class ProbeContributions:
    """Each probe's additive share of each model's DNA.

    Parameters
    ----------
    labels
        Model ids, unique.
    values
        ``(n_models, n_probes, dims)`` finite array; ``values.sum(axis=1)`` is the DNA. Stored
        read-only as float64.
    provenance
        How the DNA was made; when set, ``n_probes`` and ``dims`` must match ``values``.

    Examples
    --------
    >>> pc = ProbeContributions(("a", "b"), np.ones((2, 3, 4)))
    >>> pc.n_models, pc.n_probes, pc.dims
    (2, 3, 4)
    >>> pc.dna().vectors[0].tolist()
    [3.0, 3.0, 3.0, 3.0]
    """

    labels: tuple[str, ...]
    values: NDArray[np.float64] = field(repr=False)
    provenance: Provenance = field(default_factory=Provenance)

    def __post_init__(self) -> None:
        labels, values = labelled_rows(
            self.labels,
            self.values,
            ndim=3,
            what="contribution",
            array="contributions",
            axes="models x probes x dims",
            rows="models in the contributions",
        )
        if values.shape[1] == 0 or values.shape[2] == 0:
            raise PhyloLLMError(f"contributions need at least one probe and one dim, got shape {values.shape}")
        check_unique(labels, what="contribution labels")
        bad = ~np.isfinite(values).all(axis=(1, 2))
        if bad.any():
            names = [labels[i] for i in np.flatnonzero(bad)[:5]]
            raise PhyloLLMError(
                f"contributions must be finite; {int(bad.sum())} model(s) have NaN/inf values, e.g. {names}"
            )
        prov = self.provenance
        for what, want, got in (
            ("n_probes", prov.n_probes, values.shape[1]),
            ("dims", prov.dims, values.shape[2]),
        ):
            if want is not None and want != got:
                raise PhyloLLMError(f"provenance.{what} ({want}) must match the contributions' {what} ({got})")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "values", readonly(values))

    @property
    def n_models(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_probes(self) -> int:
        return int(self.values.shape[1])

    @property
    def dims(self) -> int:
        return int(self.values.shape[2])

    def dna(self) -> DnaSet:
        """The full-data DNA: contributions summed over probes."""
        return DnaSet(self.labels, self.values.sum(axis=1), self.provenance)
