from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phylo_llm import (
    DnaSet,
    PhyloLLMError,
    Provenance,
    ProvenanceError,
    merge_dna,
    read_dna,
    read_dna_csv,
    write_dna,
)

PROV = Provenance(
    probe_set="sha256:abc",
    n_probes=4,
    embedder="all-MiniLM-L6-v2",
    generation="g1",
    recipe="concat-v1",
    projection="gaussian-jl",
    seed=7,
    dims=3,
)


def _dna(labels=("a", "b", "c"), prov=PROV, seed=0) -> DnaSet:
    rng = np.random.default_rng(seed)
    return DnaSet(tuple(labels), rng.normal(size=(len(labels), 3)), prov)


def test_vectors_are_read_only_copies():
    x = np.zeros((2, 3))
    dna = DnaSet(("a", "b"), x, PROV)
    x[0, 0] = 5
    assert dna.vectors[0, 0] == 0
    with pytest.raises(ValueError):
        dna.vectors[0, 0] = 1


@pytest.mark.parametrize(
    "labels, vectors, prov, match",
    [
        (("a", "a"), np.zeros((2, 3)), PROV, r"unique; duplicated: \['a'\]"),
        (("a",), np.zeros((2, 3)), PROV, r"number of labels \(1\) must match the number of DNA vectors \(2\)"),
        (("a", "b"), np.zeros(3), PROV, r"2-D array"),
        (("a", "b"), [[0, 0, 0], [0, np.nan, 0]], PROV, r"finite.*\['b'\]"),
        (("a", "b"), np.zeros((2, 4)), PROV, r"provenance.dims \(3\) must match the vectors' width \(4\)"),
        (("a", ""), np.zeros((2, 3)), PROV, r"non-empty strings"),
    ],
)
def test_invalid_dna_sets_are_rejected_with_a_clear_message(labels, vectors, prov, match):
    with pytest.raises(PhyloLLMError, match=match):
        DnaSet(labels, vectors, prov)


def test_missing_label_suggests_close_names():
    dna = _dna(labels=("llama-2-7b", "llama-2-13b", "qwen"))
    with pytest.raises(PhyloLLMError, match=r"'llama-2-7' is not in.*did you mean"):
        dna.index("llama-2-7")


def test_subset_and_drop_keep_rows_aligned():
    dna = _dna()
    sub = dna.subset(["c", "a"])
    np.testing.assert_array_equal(sub.vectors, dna.vectors[[2, 0]])
    assert dna.drop(["b"]).labels == ("a", "c")


def test_json_round_trip_is_exact(tmp_path: Path):
    dna = _dna()
    write_dna(dna, tmp_path / "x.json")
    back = read_dna(tmp_path / "x.json")
    assert back.labels == dna.labels
    assert back.provenance == dna.provenance
    np.testing.assert_array_equal(back.vectors, dna.vectors)  # exact, thanks to repr floats


def test_csv_round_trip_and_provenance_argument(tmp_path: Path):
    dna = _dna()
    write_dna(dna, tmp_path / "x.csv")
    header = (tmp_path / "x.csv").read_text().splitlines()[0]
    assert header == "model,d0,d1,d2"
    back = read_dna(tmp_path / "x.csv")
    np.testing.assert_array_equal(back.vectors, dna.vectors)
    assert back.provenance == Provenance(dims=3)  # CSV carries no provenance
    assert read_dna_csv(tmp_path / "x.csv", PROV).provenance == PROV


def test_reads_the_papers_published_csv(paper_data: Path):
    dna = read_dna(paper_data / "dna_qwen3-embedding-8b.csv")
    assert len(dna) == 313 and dna.dims == 128
    assert all("/" in lab for lab in dna.labels[:20])  # hub ids like org/name


def test_reads_an_llm_dna_json_file(tmp_path: Path):
    # Layout written by llm-dna's DNASignature.save(format="json").
    doc = {
        "signature": [0.5, -1.0, 2.0],
        "metadata": {
            "model_name": "distilgpt2",
            "extraction_method": "text_embeddings_random_projection_concat",
            "probe_set_id": "rand",
            "probe_count": 100,
            "dna_dimension": 3,
            "embedding_dimension": 384,
            "reduction_method": "random_projection",
            "extraction_time": "2026-01-01T00:00:00+00:00",
            "computation_time_seconds": 1.0,
            "model_metadata": {},
            "extractor_config": {
                "pipeline_version": "text-dna-concat-v1",
                "encoder_name": "Qwen/Qwen3-Embedding-8B",
                "random_seed": 42,
                "projection_rng": "numpy.random.RandomState(MT19937).randn",
            },
        },
    }
    (tmp_path / "distilgpt2_dna.json").write_text(json.dumps(doc))
    dna = read_dna(tmp_path / "distilgpt2_dna.json")
    assert dna.labels == ("distilgpt2",)
    assert dna.vectors.tolist() == [[0.5, -1.0, 2.0]]
    p = dna.provenance
    assert (p.seed, p.n_probes, p.probe_set, p.dims) == (42, 100, "rand", 3)
    assert p.embedder == "Qwen/Qwen3-Embedding-8B"
    assert p.recipe == "llm-dna:text-dna-concat-v1/text_embeddings_random_projection_concat"


def test_a_json_that_is_neither_format_is_rejected(tmp_path: Path):
    (tmp_path / "x.json").write_text(json.dumps({"vector": [1, 2]}))
    with pytest.raises(PhyloLLMError, match=r"neither a phylo_llm DNA file nor an llm-dna file.*\['vector'\]"):
        read_dna(tmp_path / "x.json")


def test_directory_of_files_is_merged(tmp_path: Path):
    write_dna(_dna(labels=("a", "b")), tmp_path / "one.json")
    write_dna(_dna(labels=("c",), seed=1), tmp_path / "two.json")
    assert read_dna(tmp_path).labels == ("a", "b", "c")


def test_directory_prefers_merged_dna_json_and_skips_summaries(tmp_path: Path):
    write_dna(_dna(labels=("a", "b")), tmp_path / "one.json")
    (tmp_path / "one_summary.json").write_text(json.dumps({"elapsed": 3}))
    assert read_dna(tmp_path).labels == ("a", "b")
    write_dna(_dna(labels=("x", "y", "z")), tmp_path / "dna.json")
    assert read_dna(tmp_path).labels == ("x", "y", "z")


def test_directory_without_dna_files_is_an_error(tmp_path: Path):
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(PhyloLLMError, match="holds no DNA files"):
        read_dna(tmp_path)


def test_merge_refuses_different_provenance_and_names_the_field():
    other = Provenance(**{**PROV.to_dict(), "seed": 8})
    with pytest.raises(ProvenanceError, match=r"seed: 7 != 8"):
        merge_dna([_dna(labels=("a",)), _dna(labels=("b",), prov=other)])


def test_merge_refuses_repeated_labels():
    with pytest.raises(PhyloLLMError, match=r"duplicated: \['a'\]"):
        merge_dna([_dna(labels=("a",)), _dna(labels=("a",))])


def test_unknown_provenance_is_not_assumed_to_match():
    unknown = Provenance(dims=3)
    with pytest.raises(ProvenanceError, match="embedder"):
        merge_dna([_dna(labels=("a",)), _dna(labels=("b",), prov=unknown)])


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("x.txt", "", r"cannot tell the format of .*x.txt.*expected a .json or .csv file"),
        ("x.json", "{nope", r"not valid JSON"),
        ("x.json", json.dumps({"format": "phylo_llm.dna", "version": 99}), r"version 99"),
        ("x.csv", "model,d0\na,1,2\n", r"x.csv:2: expected 2 fields, got 3"),
        ("x.csv", "model,d0\na,abc\n", r"x.csv:2"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path: Path, name, content, match):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(PhyloLLMError, match=match):
        read_dna(p)


def test_missing_file_and_bad_format_option(tmp_path: Path):
    with pytest.raises(PhyloLLMError, match="does not exist"):
        read_dna(tmp_path / "nope.json")
    with pytest.raises(PhyloLLMError, match=r"format must be one of .* got 'xml'"):
        read_dna(tmp_path / "nope.json", format="xml")  # type: ignore[arg-type]


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path):
    write_dna(_dna(), tmp_path / "x.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_written_files_get_normal_permissions(tmp_path: Path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        p = write_dna(_dna(), tmp_path / "x.json")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
