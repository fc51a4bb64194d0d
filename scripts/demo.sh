#!/usr/bin/env bash
# The README's main command: on a fresh machine with only python3, install everything
# (scripts/setup.sh) and answer "where does this model come from?" offline for the two bundled
# real models (SmolLM2-135M-Instruct Q4_1, Gemma-3-270M Q4_K_M): each is run on the rand-zh
# atlas's probes with the atlas's settings and placed among its 1,518 real LLMs -> nearest models,
# family with a calibrated confidence, neighbourhood figures in phylo-llm-demo/ (or -o DIR).
# Extra arguments go to `phylo-llm place` (see `phylo-llm place --help`). Cached: reruns are fast.
# The simulated-lineage demo is `.venv/bin/phylo-llm demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
out=phylo-llm-demo
for a in "$@"; do case "$a" in -o|--output) out="";; esac; done
if [ -n "$out" ]; then set -- -o "$out" "$@"; fi
# --jobs 2: the two models answer side by side, one thread each (one model's decoding does not
# use both cores of this 2-core machine; measured in BENCHMARKS.md).
exec .venv/bin/phylo-llm place smollm2-135m gemma3-270m --atlas rand-zh --jobs 2 "$@"
