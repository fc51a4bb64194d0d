"""extract: turn language models into DNA vectors (probes -> responses -> embeddings -> DNA).

The only part of phylo_llm that needs torch/transformers; it produces :class:`phylo_llm.DnaSet`
values that the core package compares, and never the other way round.
"""
