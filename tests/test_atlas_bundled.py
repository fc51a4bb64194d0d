"""The atlases shipped in phylo_llm/atlases/: consistent, reproducible from the reference data, and
placing the bundled real models where their real counterparts are (the demo's real-world check)."""

from __future__ import annotations

import hashlib
import json
import lzma
from pathlib import Path

import numpy as np
import pytest

from phylo_llm.atlas import ATLAS_DIR, atlas_names, load_atlas

BUNDLED = sorted(p.stem for p in ATLAS_DIR.glob("*.npz"))
SIZE_BUDGET = 25 * 2**20


def test_rand_zh_atlas_is_shipped_within_the_size_budget() -> None:
    assert "rand-zh" in atlas_names()
    assert sum(p.stat().st_size for p in ATLAS_DIR.glob("*.npz")) <= SIZE_BUDGET


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_atlas_is_consistent(name: str) -> None:
    from extract.atlas_build import SOURCES
    from extract.place import atlas_pipeline

    a = load_atlas(name)  # checks the content hash
    src = SOURCES[name]
    assert dict(a.match) == dict(src.match)
    assert a.provenance.n_probes == len(a.prompts) == a.build["n_probes"]
    assert len(a) + len(a.excluded) == a.build["n_recorded"]
    assert a.calibration["n"] > 50 and len(a.calibration["coef"]) == 3
    pipe = atlas_pipeline(a)  # prompts hash, recipe id from the stored statistics, embedder id
    assert pipe.recipe.id == a.provenance.recipe


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_atlas_reproduces_from_the_reference_data(name: str, shared_data: Path, tmp_path: Path) -> None:
    """The recorded file is the one it was built from, and a member's DNA is remade exactly."""
    from extract.atlas_build import SOURCES
    from extract.place import atlas_dna, atlas_pipeline

    a = load_atlas(name)
    path = shared_data / SOURCES[name].folder / "responses.jsonl.xz"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == a.build["responses_sha256"]
    members = {a.models[i]: i for i in (0, len(a) // 2, len(a) - 1)}
    pipe = atlas_pipeline(a)
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            if doc["model"] in members:
                v = atlas_dna(pipe, doc["responses"][: len(a.prompts)], cache_dir=tmp_path)
                ref = a.dna[members.pop(doc["model"])]
                assert np.abs(v - ref).max() < 2e-3  # float16 storage
    assert not members


COUNTERPARTS = {
    "smollm2-135m": ("smollm2", {"HuggingFaceTB/SmolLM2-135M-Instruct", "unsloth/SmolLM2-135M-Instruct-bnb-4bit",
                                 "HuggingFaceTB/SmolLM2-135M", "axolotl-ai-co/SmolLM2-135M-bnb-nf4-bf16"}),
    "gemma3-270m": ("gemma-3", {"google/gemma-3-270m", "unsloth/gemma-3-270m", "google/gemma-3-270m-it",
                                "unsloth/gemma-3-270m-it", "unsloth/gemma-3-270m-it-bnb-4bit",
                                "unsloth/gemma-3-270m-it-unsloth-bnb-4bit"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(COUNTERPARTS))
def test_bundled_model_lands_in_its_family_next_to_its_counterpart(model: str, tmp_path: Path) -> None:
    from extract.place import place_models

    family, counterparts = COUNTERPARTS[model]
    _, (p,) = place_models([model], atlas="rand-zh", cache_dir=tmp_path / "cache", figures=False, k=5)
    assert p.family == family
    assert counterparts & {n.model for n in p.neighbours}
