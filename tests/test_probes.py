"""Probe sets: content ids, the random-English grammar, prompt files and specs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from extract.probes import (
    ProbeSet,
    load_probes,
    probe_set_id,
    random_english,
    read_prompts,
    reference_prompts,
)
from phylo_llm.errors import PhyloLLMError


def test_id_is_a_content_hash_of_the_ordered_prompts() -> None:
    a = ProbeSet(("x?", "y?"), name="one")
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", a.id)
    assert a.id == ProbeSet(("x?", "y?"), name="other name").id
    assert a.id != ProbeSet(("y?", "x?")).id
    assert a.id != ProbeSet(("x?", "y? ")).id
    # Pinned: the id must not change across versions/platforms, or every cache is invalidated.
    assert probe_set_id(["x?", "y?"]) == "sha256:" + __import__("hashlib").sha256(b'["x?","y?"]').hexdigest()[:16]


def test_head_is_a_different_probe_set() -> None:
    p = ProbeSet(("a", "b", "c"))
    assert p.head(2).prompts == ("a", "b") and p.head(2).id != p.id
    assert p.head(10) is p


@pytest.mark.parametrize(
    ("prompts", "match"),
    [((), "at least one prompt"), (("ok", ""), "prompt 1 must be a non-empty string"), (("ok", 3), "prompt 1")],
)
def test_bad_probe_sets(prompts: tuple, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        ProbeSet(prompts)


def test_random_english_is_seeded_and_deterministic() -> None:
    a = random_english(50, seed=3)
    assert a == random_english(50, seed=3)
    assert a != random_english(50, seed=4)
    assert len(set(a)) == 50
    # A prefix of a longer run is the same prompts: the generator state only moves forward.
    assert random_english(60, seed=3)[:50] == a


def test_random_english_looks_like_english_of_varied_kinds_and_lengths() -> None:
    prompts = random_english(300, seed=0)
    ends = [p[-1] for p in prompts]
    assert {".", "?"} <= set(ends)
    assert all(p[0].isupper() for p in prompts)
    lengths = [len(p.split()) for p in prompts]
    assert min(lengths) <= 4 and max(lengths) >= 30
    sentences = [s for p in prompts for s in re.split(r"(?<=[.?])\s+", p)]
    assert sum(s.endswith("?") for s in sentences) > 0.2 * len(sentences)
    assert any(s.startswith(("Describe", "Tell me", "Please")) for s in sentences)
    # article agreement and no doubled spaces
    assert not re.search(r"\ba [aeiou]", " ".join(prompts))
    assert not any("  " in p for p in prompts)


@pytest.mark.parametrize(("kwargs", "match"), [({"n": 0}, "n must be"), ({"n": 2, "seed": -1}, "seed must be")])
def test_random_english_bad_args(kwargs: dict, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        random_english(**kwargs)


def test_read_txt_jsonl_json(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text("one?\ntwo.\n\n", encoding="utf-8")
    assert read_prompts(tmp_path / "p.txt") == ("one?", "two.")
    (tmp_path / "p.jsonl").write_text('"one?"\n{"prompt": "two.", "id": 7}\n', encoding="utf-8")
    assert read_prompts(tmp_path / "p.jsonl") == ("one?", "two.")
    (tmp_path / "p.json").write_text(json.dumps(["one?", {"prompt": "two."}]), encoding="utf-8")
    assert read_prompts(tmp_path / "p.json") == ("one?", "two.")
    (tmp_path / "q.json").write_text(json.dumps({"prompts": ["é?"]}), encoding="utf-8")
    assert read_prompts(tmp_path / "q.json") == ("é?",)


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("a.txt", "one\n\nthree\n", r"a\.txt:2: prompt is empty"),
        ("a.jsonl", '"ok"\n{"prompt": 3}\n', r"a\.jsonl:2: expected a prompt string"),
        ("a.jsonl", '"ok"\n{bad\n', r"a\.jsonl:2: invalid JSON"),
        ("a.jsonl", '{"text": "x"}\n', r"a\.jsonl:1: object has no 'prompt' key"),
        ("a.json", '{"x": 1}', r"expected a JSON list"),
        ("a.json", '["ok",\n  ]', r"a\.json:2: invalid JSON"),
        ("a.txt", "\n", "holds no prompts"),
        ("a.csv", "x\n", r"must end in \.txt, \.jsonl or \.json"),
    ],
)
def test_bad_prompt_files(tmp_path: Path, name: str, text: str, match: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(PhyloLLMError, match=match):
        read_prompts(tmp_path / name)


def test_load_probes_specs(tmp_path: Path) -> None:
    p = load_probes("random:7:2")
    assert p.prompts == random_english(7, seed=2) and p.name == "random-en:7:2"
    assert load_probes("random:7").prompts == random_english(7, seed=0)
    (tmp_path / "mine.txt").write_text("a?\nb?\n", encoding="utf-8")
    assert load_probes(str(tmp_path / "mine.txt")).name == "mine"
    assert load_probes(["a?", "b?"]).id == load_probes(tmp_path / "mine.txt").id
    assert load_probes(p) is p


@pytest.mark.parametrize("spec", ["random:x", "random:3:4:5", "random:", "nope/missing.txt"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(PhyloLLMError, match="random:N|prompt file"):
        load_probes(spec)


def test_paper_reference_prompts(paper_data: Path) -> None:
    p = reference_prompts(paper_data / "prompts.json")
    assert len(p) == 600 and p.name == "llm-dna-paper"
    assert p.prompts[0] == json.loads((paper_data / "prompts.json").read_text())[0]
    assert load_probes(paper_data).id == p.id
