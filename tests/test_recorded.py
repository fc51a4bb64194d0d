"""Recorded responses: streaming (also from .xz/.gz), validation, model subsets."""

from __future__ import annotations

import gzip
import itertools
import json
import lzma
from pathlib import Path

import numpy as np
import pytest

from extract.backends.recorded import RecordedBackend, iter_recorded, load_recorded
from extract.probes import ProbeSet, reference_prompts
from extract.store import collect_responses
from phylo_llm.errors import PhyloLLMError

PROBES = ProbeSet(("a?", "b?", "c?"), name="abc")


def _write(path: Path, records: list[dict]) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in records)
    if path.suffix == ".xz":
        path.write_bytes(lzma.compress(text.encode()))
    elif path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


RECORDS = [
    {"model": "org/one", "responses": ["1a", "1b", "1c"]},
    {"model": "org/two", "responses": ["2a", "", "2c"]},
    {"model": "three", "responses": ["3a", "3b", "3c"]},
]


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.xz", "r.jsonl.gz"])
def test_reads_plain_and_compressed(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name, RECORDS)
    backends = load_recorded(path, PROBES)
    assert [b.model_id for b in backends] == ["org/one", "org/two", "three"]
    assert backends[1].generate(["c?", "b?"]) == ["2c", ""]


def test_subset_and_limit(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.jsonl", RECORDS)
    (b,) = load_recorded(path, PROBES, models=["three"], limit=2)
    assert b.model_id == "three" and b.probes.prompts == ("a?", "b?") and b.responses == ("3a", "3b")


def test_missing_model_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.jsonl", RECORDS)
    with pytest.raises(PhyloLLMError, match=r"1 requested model\(s\) not in r.jsonl: \['thre'\].*did you mean 'three'"):
        load_recorded(path, PROBES, models=["org/one", "thre"])


@pytest.mark.parametrize(
    ("records", "match"),
    [
        (
            [{"model": "m", "responses": ["x"]}],
            r"r.jsonl:1: model 'm' has 1 responses but the probe set 'abc' has 3 prompts",
        ),
        ([RECORDS[0], RECORDS[0]], r"r.jsonl:2: model 'org/one' appears twice"),
        ([{"name": "m", "responses": []}], r"r.jsonl:1: expected"),
        ([{"model": "m", "responses": ["x", 2, "z"]}], r"recorded response 1 must be a string"),
    ],
)
def test_invalid_files(tmp_path: Path, records: list[dict], match: str) -> None:
    path = _write(tmp_path / "r.jsonl", records)
    with pytest.raises(PhyloLLMError, match=match):
        load_recorded(path, PROBES)


def test_broken_json_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n{oops\n")
    with pytest.raises(PhyloLLMError, match=r"r.jsonl:2: invalid JSON"):
        load_recorded(path, PROBES)


def test_backend_protocol_and_settings_identify_the_recording(tmp_path: Path) -> None:
    a = RecordedBackend("m", PROBES, ["x", "y", "z"], source="f.jsonl")
    b = RecordedBackend("m", PROBES, ["x", "y", "Z"], source="f.jsonl")
    assert a.settings() != b.settings()
    assert collect_responses(a, PROBES, cache_dir=tmp_path).texts == ("x", "y", "z")
    with pytest.raises(PhyloLLMError, match="no recorded response for prompt 'zzz'"):
        a.generate(["zzz"])
    with pytest.raises(PhyloLLMError, match="must be distinct"):
        RecordedBackend("m", ProbeSet(("a", "a")), ["x", "y"])


def test_paper_responses_stream_first_models(paper_data: Path) -> None:
    probes = reference_prompts(paper_data / "prompts.json")
    first = list(itertools.islice(iter_recorded(paper_data / "responses.jsonl.xz", probes, limit=8), 3))
    assert len(first) == 3 and all(len(b.responses) == 8 for b in first)
    assert first[0].model_id == "01-ai/Yi-1.5-34B-Chat"
    assert first[0].probes == probes.head(8)
    assert "grapes" in first[0].responses[0]


def test_paper_slice_to_dna_with_real_minilm(paper_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """First 3 models x 8 probes of the shared paper data -> DNA with the bundled MiniLM."""
    from extract.runner import run_extraction
    from phylo_llm.io import read_dna

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    probes = reference_prompts(paper_data / "prompts.json")
    models = itertools.islice(iter_recorded(paper_data / "responses.jsonl.xz", probes, limit=8), 3)
    res = run_extraction(models, probes.head(8), out_dir=tmp_path / "out", cache_dir=tmp_path / "c", threads=1)
    dna = read_dna(tmp_path / "out" / "dna.json")
    assert dna.labels == ("01-ai/Yi-1.5-34B-Chat", *dna.labels[1:]) and len(dna) == 3
    p = dna.provenance
    assert p.probe_set == probes.head(8).id and p.n_probes == 8
    assert p.embedder == "sentence-transformers/all-MiniLM-L6-v2"
    assert p.generation == '{"backend":"recorded","source":"llm-dna-paper/responses.jsonl.xz"}'
    # the default "auto" resolves to "whitened" for the paper's prompts; its stats hash is recorded
    assert p.recipe.startswith("whitened-v2+")
    assert (p.projection, p.seed, p.dims) == ("gaussian-jl", 0, 1024)
    assert np.isfinite(dna.vectors).all() and np.linalg.norm(dna.vectors, axis=1).min() > 0.5
    assert [m.n_probes for m in res.models] == [8, 8, 8]


def test_rand_zh_responses_stream(shared_data: Path) -> None:
    folder = shared_data / "llm-dna-rand-zh"
    probes = reference_prompts(folder / "prompts.json")
    (first,) = itertools.islice(iter_recorded(folder / "responses.jsonl.xz", probes), 1)
    assert len(probes) == 100 and len(first.responses) == 100
    assert first.settings()["source"] == "llm-dna-rand-zh/responses.jsonl.xz"
