"""Exception and warning types. Errors subclass :class:`ValueError` so callers can catch user mistakes simply."""

from __future__ import annotations


class PhyloLLMError(ValueError):
    """A user-facing error: bad input, incompatible data, impossible request."""


class ProvenanceError(PhyloLLMError):
    """Two DNA sets were extracted differently (probes, embedder, projection...) and cannot be compared."""


class DistanceMatrixError(PhyloLLMError):
    """A distance matrix violates a rule (square, symmetric, finite, non-negative, hollow, unique labels)."""


class NewickError(PhyloLLMError):
    """A Newick string could not be parsed; the message gives the position."""


class PhyloLLMWarning(UserWarning):
    """Something the user should know that does not stop the work (excluded models, clamped branches).

    ``warnings.filterwarnings("error", category=PhyloLLMWarning)`` turns them into errors.
    """
