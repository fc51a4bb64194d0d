"""extract.atlas.build + extract.atlas.place on a synthetic population with a toy embedder (no torch)."""

from __future__ import annotations

import dataclasses
import json
import lzma
from pathlib import Path

import numpy as np
import pytest

from extract.atlas.build import build_atlas, exclusions
from extract.atlas.place import place_models
from extract.atlas.population import distinct_windows, embed_population
from extract.backends.recorded import RecordedBackend
from extract.embed import load_embedder
from extract.probes import ProbeSet
from phylo_llm import cli
from phylo_llm.atlas import read_atlas
from phylo_llm.errors import PhyloLLMError, ProvenanceError

FAMILIES = {"alpha": "aaab", "beta": "ccdd", "gamma": "eeff"}
MATCH = {"chat_template": False, "decoding": "greedy"}
PROMPTS = ["first probe?", "second probe?", "third probe?"]


class Letters:
    """Toy embedder: letter counts of the text (26-d); the window is the first 12 characters."""

    id, dim = "letters", 26

    def encode(self, texts):
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t[:12]:
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out + 0.01

    def window_keys(self, texts):
        return [t[:12] for t in texts]


def answer(family: str, model: int, probe: int, rng: np.random.Generator) -> str:
    noise = "".join(rng.choice(list("ghijklmnop"), size=3))
    return FAMILIES[family] * 2 + "xyz"[probe] + noise


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    folder = root / "llm-dna-rand-zh"
    folder.mkdir(parents=True)
    (folder / "prompts.json").write_text(json.dumps(PROMPTS))
    lines, meta = [], ["model,organization,family,base_model,relation,architecture,release,params_b,source"]
    for fam in FAMILIES:
        for j in range(6):
            model = f"org-{fam}/{fam}-{j}"
            lines.append({"model": model, "responses": [answer(fam, j, p, rng) for p in range(3)]})
            if j < 3:
                parent = f"org-{fam}/{fam}-0" if j else ""
                meta.append(
                    f"{model},org-{fam},{fam},{parent},{'finetune' if j else 'pretrained'},decoder-only,2024-0{j + 1},1,test"
                )
    lines.append({"model": "empty/model", "responses": ["", " ", "x"]})
    with lzma.open(folder / "responses.jsonl.xz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r) for r in lines) + "\n")
    (root / "llm-dna-paper").mkdir()
    (root / "llm-dna-paper" / "models_meta.csv").write_text("\n".join(meta) + "\n")
    return root


@pytest.fixture()
def atlas_path(data_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "toy.npz"
    build_atlas(
        "rand-zh", data_dir=data_dir, n_probes=3, out=out, embedder=Letters(), cache_dir=tmp_path / "cache", basis_k=4
    )
    return out


def test_build_writes_a_complete_atlas(atlas_path: Path) -> None:
    a = read_atlas(atlas_path)
    assert len(a) == 18 and dict(a.excluded) == {"empty/model": "3 of 3 answers empty or without content (2 empty)"}
    # rand-zh stores its whitened-v2 features exact: 3 probes x the embedder's 26 dims.
    assert (a.provenance.dims, a.provenance.projection, a.provenance.seed) == (78, "none", None)
    assert a.provenance.recipe.startswith("whitened-v2+")
    by = {m.model: m for m in a.members}
    assert by["org-alpha/alpha-1"].family_source == "curated"
    assert by["org-alpha/alpha-1"].parents == ("org-alpha/alpha-0",)
    assert by["org-alpha/alpha-4"].organisation == "org-alpha"
    # three perfectly separated families: every out-of-fold placement is right, no confidence
    # model fits on that, so the build falls back to the in-sample one
    assert a.calibration["n"] == 9 and len(a.calibration["coef"]) == 3
    assert a.calibration["note"].startswith("fitted in sample")
    # the six curated fine-tunes (documented parent in the atlas) are judged on their parent candidates
    rec = a.calibration["parents"]
    assert rec["n"] == 6 and 0 <= rec["first"] <= rec["among"] <= 1
    assert a.newick.count(",") == 17  # 18 tips
    assert dict(a.match) == MATCH


def test_placing_a_members_own_answers_reproduces_its_atlas_dna(
    atlas_path: Path, data_dir: Path, tmp_path: Path
) -> None:
    """The placement path (answers -> embedder -> atlas recipe) makes exactly the members' DNA."""
    with lzma.open(data_dir / "llm-dna-rand-zh" / "responses.jsonl.xz", "rt") as fh:
        rec = [json.loads(line) for line in fh][8]  # org-beta/beta-2
    probes = ProbeSet(tuple(PROMPTS), name="rand-zh")
    new = RecordedBackend("reupload/beta-2", probes, rec["responses"])
    out = tmp_path / "placed"
    dna, (p,) = place_models(
        [new], atlas=atlas_path, out_dir=out, settings=MATCH, embedder=Letters(), cache_dir=tmp_path / "cache", k=3
    )
    assert p.neighbours[0].model == rec["model"] and p.neighbours[0].distance < 1e-2  # float16 atlas
    assert p.neighbours[0].family == "beta"
    assert dna.provenance.recipe == read_atlas(atlas_path).provenance.recipe
    doc = json.loads((out / "placement.json").read_text())
    assert doc["placements"][0]["neighbours"][0]["model"] == rec["model"]
    assert f"| 1 | `{rec['model']}` |" in (out / "placement.md").read_text()
    assert "(parent candidates): `org-beta/beta-2`" in (out / "placement.md").read_text()
    rates = read_atlas(atlas_path).calibration["parents"]
    assert (
        # placed with k=3 here, measured with the calibration's k=10: the note says so
        f"placed as if new (6 placements, measured with k=10), the parent was the first candidate {rates['first']:.0%} and among "
        f"them {rates['among']:.0%} of the time" in (out / "placement.md").read_text()
    )
    png = out / "reupload__beta-2-neighbourhood.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_recorded_answers_with_other_settings_are_refused(atlas_path: Path, tmp_path: Path) -> None:
    probes = ProbeSet(tuple(PROMPTS), name="rand-zh")
    new = RecordedBackend("m", probes, ["aa", "bb", "cc"])
    with pytest.raises(ProvenanceError, match="chat_template=True, but atlas 'rand-zh'"):
        place_models(
            [new],
            atlas=atlas_path,
            settings={"chat_template": True, "decoding": "greedy"},
            embedder=Letters(),
            cache_dir=tmp_path / "cache",
        )


def test_an_api_model_is_refused_before_any_request(atlas_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ProvenanceError, match="chat_template=True"):
        place_models(
            ["openai:http://127.0.0.1:9#m"], atlas=atlas_path, embedder=Letters(), cache_dir=tmp_path / "cache"
        )


def test_embed_population_equals_embedding_each_answer(tmp_path: Path) -> None:
    answers = [["aaab", "ccdd-long-tail-1"], ["aaab", "ccdd-long-tail-2"], ["eeff", ""]]
    got = embed_population(Letters(), answers, cache_dir=tmp_path)
    want = np.stack([Letters().encode(r) for r in answers])
    assert np.array_equal(got, want)
    reps, index = distinct_windows(Letters(), [r[1] for r in answers])
    assert reps == ["ccdd-long-tail-1", ""]  # the two long tails agree within the 12-character window
    assert index.tolist() == [0, 0, 1]


def test_exclusions_rule() -> None:
    assert exclusions(["a", "b", "c"], [["xyz", "yzx"], ["", "yzx"], ["", ""]]) == {
        "c": "2 of 2 answers empty or without content (2 empty)"
    }
    # junk that is not empty counts too: one-character runs, special tokens, punctuation
    junk = ["<|im_end|>", "AAAAAAAAAAAA", " . . . ", "a real answer"]
    assert exclusions(["j"], [junk]) == {"j": "3 of 4 answers empty or without content (0 empty)"}
    assert exclusions(["k"], [junk[2:] + ["another answer"]]) == {}


@pytest.mark.parametrize(
    "argv,match",
    [
        (["place"], "give MODELs to run or --responses FILE"),
        (["place", "--responses", "x.jsonl"], "--responses needs --settings"),
        (["place", "--responses", "x.jsonl", "--settings", "[1]"], "--settings must be a JSON object"),
    ],
)
def test_place_cli_errors_are_one_line(argv: list[str], match: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_build_refuses_unknown_atlas(tmp_path: Path) -> None:
    with pytest.raises(PhyloLLMError, match="atlas name must be one of"):
        build_atlas("nope", data_dir=tmp_path)


# ---- composite atlases --------------------------------------------------------------------------

PAPER_MATCH = {"decoding": "sampling", "temperature": 0.7, "top_p": 0.9}
PAPER_PROMPTS = ["paper one?", "paper two?"]


@pytest.fixture()
def composite_path(data_dir: Path, atlas_path: Path, tmp_path: Path) -> Path:
    """A toy ``paper`` atlas beside the toy ``rand-zh`` one, and their composite ``combined``."""
    from extract.atlas.build import build_composite

    rng = np.random.default_rng(1)
    folder = data_dir / "llm-dna-paper"
    (folder / "prompts.json").write_text(json.dumps(PAPER_PROMPTS))
    rows = [
        {"model": f"org-{fam}/{fam}-{j}", "responses": [answer(fam, j, p, rng) for p in range(2)]}
        for fam in FAMILIES
        for j in range(4)
    ]  # models 4 and 5 of each family are rand-zh only
    with lzma.open(folder / "responses.jsonl.xz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows) + "\n")
    atlas_path.rename(tmp_path / "rand-zh.npz")
    build_atlas(
        "paper",
        data_dir=data_dir,
        n_probes=2,
        out=tmp_path / "paper.npz",
        embedder=Letters(),
        cache_dir=tmp_path / "cache",
        basis_k=4,
    )
    build_composite("combined", out=tmp_path / "combined.npz")
    return tmp_path / "combined.npz"


def test_composite_atlas_holds_the_shared_models_with_both_parts_dna(composite_path: Path) -> None:
    c = read_atlas(composite_path)
    rz, pp = read_atlas(composite_path.parent / "rand-zh.npz"), read_atlas(composite_path.parent / "paper.npz")
    assert len(c) == 12 and [p.name for p in c.parts] == ["paper", "rand-zh"]
    assert c.dna.shape[1] == pp.dna.shape[1] + rz.dna.shape[1] == c.provenance.dims
    i, j, k = c.models.index("org-beta/beta-2"), pp.models.index("org-beta/beta-2"), rz.models.index("org-beta/beta-2")
    wp, wr = c.parts[0].weight, c.parts[1].weight
    assert np.array_equal(c.dna[i], np.concatenate([wp * pp.dna[j], wr * rz.dna[k]]).astype(np.float32))
    # each part weighs the same: mean squared norm 1 over the shared members
    assert np.allclose(
        [
            (c.dna[:, : pp.dna.shape[1]].astype(np.float64) ** 2).sum(1).mean(),
            (c.dna[:, pp.dna.shape[1] :].astype(np.float64) ** 2).sum(1).mean(),
        ],
        1.0,
        atol=1e-3,
    )
    assert dict(c.match) == {"paper": PAPER_MATCH, "rand-zh": MATCH}
    assert composite_path.stat().st_size < 20_000  # the parts' DNA is not stored twice


def test_composite_calibration_is_fitted_out_of_fold_from_the_parts_answers(
    composite_path: Path, data_dir: Path, tmp_path: Path
) -> None:
    from extract.atlas.build import CALIBRATION_SPLITS, build_composite

    class NoisyLetters(Letters):
        """The parts' embedder id with noise added: the toy families (perfectly separated, so no
        confidence model could be fitted) become confusable, and the out-of-fold fit runs."""

        rng = np.random.default_rng(0)

        def encode(self, texts):
            return super().encode(texts) + self.rng.normal(scale=3.0, size=(len(texts), 26)).astype(np.float32)

    in_sample = read_atlas(composite_path)
    c = build_composite(
        "combined",
        out=composite_path,
        data_dir=data_dir,
        cache_dir=tmp_path / "noisy-cache",  # not the parts' cached (noise-free) embeddings
        embedders={"paper": NoisyLetters(), "rand-zh": NoisyLetters()},
    )
    assert in_sample.calibration["note"].startswith("fitted in sample")
    assert c.calibration["note"].startswith("fitted out of fold")
    # every member with a family is placed once per split, from the half its family is not in
    assert c.calibration["n"] == CALIBRATION_SPLITS * sum(m.family is not None for m in c.members)
    assert c.calibration["parents"]["n"] == CALIBRATION_SPLITS * sum(
        any(p in c.models for p in m.parents) for m in c.members
    )
    assert np.array_equal(c.dna, in_sample.dna) and read_atlas(composite_path).sha == c.sha
    with pytest.raises(PhyloLLMError, match="was embedded with 'letters', not 'char-ngram"):
        build_composite(
            "combined", out=composite_path, data_dir=data_dir, embedders={"paper": load_embedder("char-ngram")}
        )
    # answers that are not the ones a part was built from are refused, naming what differs
    answers = data_dir / "llm-dna-paper" / "responses.jsonl.xz"
    with lzma.open(answers, "rt", encoding="utf-8") as fh:
        text = fh.read().replace("aaab", "aaac")
    with lzma.open(answers, "wt", encoding="utf-8") as fh:
        fh.write(text)
    with pytest.raises(PhyloLLMError, match=r"atlas 'paper' was not built from the data in .* \(its answers differ\)"):
        build_composite("combined", out=composite_path, data_dir=data_dir, embedders={"paper": Letters()})


def test_composite_refuses_a_changed_part(composite_path: Path, tmp_path: Path) -> None:
    from phylo_llm.atlas import write_atlas

    pp = read_atlas(composite_path.parent / "paper.npz")
    write_atlas(dataclasses.replace(pp, description="edited"), composite_path.parent / "paper.npz")
    with pytest.raises(PhyloLLMError, match="part 'paper' has changed"):
        read_atlas(composite_path)


def test_placing_in_a_composite_answers_every_part_with_its_settings(
    composite_path: Path, data_dir: Path, tmp_path: Path
) -> None:
    answers = {}
    for folder, prompts in (("llm-dna-paper", PAPER_PROMPTS), ("llm-dna-rand-zh", PROMPTS)):
        with lzma.open(data_dir / folder / "responses.jsonl.xz", "rt") as fh:
            rec = next(r for r in map(json.loads, fh) if r["model"] == "org-gamma/gamma-1")
        answers.update(zip(prompts, rec["responses"]))
    probes = ProbeSet(tuple(PAPER_PROMPTS + PROMPTS), name="both")
    new = RecordedBackend("copy/gamma-1", probes, [answers[p] for p in probes.prompts])
    settings = {"paper": {**PAPER_MATCH, "seed": 0}, "rand-zh": MATCH}
    dna, (p,) = place_models(
        [new], atlas=composite_path, settings=settings, embedder=Letters(), cache_dir=tmp_path / "cache", k=3
    )
    assert p.neighbours[0].model == "org-gamma/gamma-1" and p.neighbours[0].distance < 1e-2
    assert json.loads(dna.provenance.generation) == settings
    # the DNA's own record is checked part by part too
    from phylo_llm.atlas import place
    from phylo_llm.data import DnaSet, Provenance

    wrong = Provenance(**{**dna.provenance.to_dict(), "generation": json.dumps({"paper": MATCH, "rand-zh": MATCH})})
    with pytest.raises(ProvenanceError, match=r"the DNA \(part 'paper'\) was generated with decoding='greedy'"):
        place(read_atlas(composite_path), DnaSet(dna.labels, dna.vectors, wrong))
    with pytest.raises(ProvenanceError, match=r"chat_template=True, but atlas 'rand-zh'"):
        place_models(
            [new],
            atlas=composite_path,
            embedder=Letters(),
            cache_dir=tmp_path / "cache",
            settings={"paper": PAPER_MATCH, "rand-zh": {**MATCH, "chat_template": True}},
        )


def test_embedder_window_stop_needs_the_window_plus_a_margin() -> None:
    """place's local models stop once MiniLM has its 254 word pieces (plus 16 past the boundary)."""
    from extract.atlas.place import embedder_window_stop
    from extract.embed import SentenceEmbedder

    stop = embedder_window_stop(SentenceEmbedder())
    assert (stop.needed, stop.margin) == (254, 16)
    assert stop.id == "sentence-transformers/all-MiniLM-L6-v2 window 254+16"
    assert stop.full(["word " * 269, "word " * 270, "word " * 2000]) == [False, True, True]


def test_models_answering_side_by_side_give_the_serial_placements(atlas_path: Path, tmp_path: Path) -> None:
    """--jobs 2: two local models answer in spawned processes; answers, DNA and placements are
    those of one-at-a-time, and the workers' answers are in the shared response cache."""
    from test_hf_backend import _build

    from extract.progress import ProgressEvent

    specs = [str(_build(tmp_path, "gpt2")), str(_build(tmp_path, "llama"))]
    kw = {"atlas": atlas_path, "embedder": Letters(), "k": 4, "max_new_tokens": 6, "figures": False}
    serial, placed = place_models(specs, cache_dir=tmp_path / "serial", **kw)
    events: list[ProgressEvent] = []
    side, placed2 = place_models(specs, cache_dir=tmp_path / "side", jobs=2, progress=events.append, **kw)
    assert side.labels == serial.labels and np.array_equal(side.vectors, serial.vectors)
    assert [p.neighbours for p in placed2] == [p.neighbours for p in placed]
    notes = [e.message for e in events if e.stage == "note"]
    assert sum("worker process (1 thread)" in m for m in notes) == 2, notes
    assert sum("3 answers on" in m for m in notes) == 2, notes
    # what the workers generated is cached: the same run again generates nothing
    again: list[ProgressEvent] = []
    place_models(specs, cache_dir=tmp_path / "side", progress=again.append, **kw)
    assert not any(e.stage == "responses" and e.tokens for e in again)
    with pytest.raises(PhyloLLMError, match="jobs must be a positive integer, got 0"):
        place_models(specs, cache_dir=tmp_path / "side", jobs=0, **kw)
