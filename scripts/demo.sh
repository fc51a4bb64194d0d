#!/usr/bin/env bash
# The README's main command: on a fresh machine with only python3, install everything
# (scripts/setup.sh) and run the end-to-end demo offline: a simulated SmolLM2 lineage with a known
# tree -> DNA -> NJ tree -> Robinson-Foulds score + figure in phylo-llm-demo/ (or -o DIR).
# Extra arguments go to `phylo-llm demo` (see `phylo-llm demo --help`). Cached: reruns are fast.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
exec .venv/bin/phylo-llm demo "$@"
