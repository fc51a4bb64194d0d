"""resolve_backend: which backend a model spec names, and settings that do not apply."""

from __future__ import annotations

import pytest

from extract.backends import resolve_backend, settings_for_specs
from extract.backends.openai_http import OpenAIBackend
from phylo_llm.errors import PhyloLLMError


def test_openai_spec() -> None:
    b = resolve_backend("openai:http://127.0.0.1:8000/v1#org/model-x", max_new_tokens=9, model_id="mine")
    assert isinstance(b, OpenAIBackend)
    assert b.model == "org/model-x" and b.model_id == "mine"
    assert b.settings()["endpoint"] == "http://127.0.0.1:8000/v1/chat/completions"
    assert b.settings()["max_tokens"] == 9


@pytest.mark.parametrize(
    ("spec", "kwargs", "match"),
    [
        ("openai:http://host", {}, r"must look like 'openai:<base_url>#<model>'"),
        ("openai:#m", {}, r"must look like"),
        ("openai:http://h#m", {"batch_size": 4}, r"\['batch_size'\] only apply to a local model"),
        ("smollm2-135m", {"api_key_env": "K"}, r"\['api_key_env'\] only apply to an HTTP server"),
        ("", {}, "non-empty string"),
    ],
)
def test_bad_specs(spec: str, kwargs: dict, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        resolve_backend(spec, **kwargs)


def test_local_specs_go_to_the_transformers_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("extract.backends.hf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Neither bundled, nor a path, nor an 'owner/name' id: the HF resolver's own error.
    with pytest.raises(PhyloLLMError, match="smollm2-135m"):
        resolve_backend("no-such-model-anywhere")


def test_a_run_drops_settings_of_the_other_kind_of_model_and_refuses_a_mix() -> None:
    given = {"max_new_tokens": 8, "device": "cpu", "batch_size": 4, "api_key_env": "KEY", "chat_template": None}
    assert settings_for_specs(["openai:http://h:1#m"], given) == {"max_new_tokens": 8, "api_key_env": "KEY"}
    local = {"max_new_tokens": 8, "device": "cpu", "batch_size": 4}
    assert settings_for_specs(["smollm2-135m", "vllm:gemma3-270m"], given) == local
    with pytest.raises(PhyloLLMError, match="mixing local models and openai: servers"):
        settings_for_specs(["smollm2-135m", "openai:http://h:1#m"], given)
