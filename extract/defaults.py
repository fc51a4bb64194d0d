"""Extraction defaults, defined once: the runner, the ``extract`` command and the demo use these.

From measurements (docs/recipe.md, BENCHMARKS.md): whitening on frozen MiniLM statistics beats the
paper's plain concatenation on any probe set (parent-child AUC 0.72 vs 0.66), and 1024 dimensions
keep the random projection's distortion from erasing that gain (at 128 it did, and it flipped
splits of a simulated lineage). ``"auto"`` is ``"whitened"`` (0.83) for the paper's prompts, which
the bundled statistics cover, and ``"whitened-global"`` for any other probe set.

The array-level functions of :mod:`extract.dna` and :mod:`extract.projection` keep the paper's
settings (:data:`PAPER_RECIPE`, :data:`PAPER_DIMS`): they take no probe set, which ``"auto"`` needs.
"""

from __future__ import annotations

__all__ = ["DEFAULT_RECIPE", "DEFAULT_DIMS", "DEFAULT_SEED", "PAPER_RECIPE", "PAPER_DIMS"]

#: Embedding -> DNA recipe of a user-facing extraction.
DEFAULT_RECIPE = "auto"
#: DNA dimension of a user-facing extraction.
DEFAULT_DIMS = 1024
#: Projection seed (every DNA that is compared must share it).
DEFAULT_SEED = 0
#: The paper's recipe and dimension: defaults of the array-level DNA functions.
PAPER_RECIPE = "concat"
PAPER_DIMS = 128
