#!/usr/bin/env bash
# Set up (.venv, see setup.sh; .venv-vllm for the vLLM engine tests, see setup_vllm.sh) and run
# the whole test suite, slow real-model tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_vllm.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
exec .venv/bin/python -m pytest "$@"
