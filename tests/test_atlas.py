"""phylo_llm.atlas: the atlas value, its file format, settings checks and placement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phylo_llm import cli
from phylo_llm.atlas import (
    Atlas,
    AtlasMember,
    check_settings,
    family_from_name,
    family_votes,
    fit_confidence,
    load_atlas,
    name_relabels,
    name_relative,
    place,
    placement_parents,
    placement_votes,
    read_atlas,
    write_atlas,
)
from phylo_llm.data import DnaSet, Provenance
from phylo_llm.errors import PhyloLLMError, ProvenanceError

MATCH = {"chat_template": False, "decoding": "greedy"}
GEN = json.dumps(MATCH, separators=(",", ":"), sort_keys=True)


def make_atlas(n_per_family: int = 6, dims: int = 8, seed: int = 0) -> Atlas:
    """Three families whose members scatter around well-separated centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(3, dims))
    members, rows = [], []
    for f, c in enumerate(centres):
        for j in range(n_per_family):
            name = f"org{f}/fam{f}-m{j}"
            parent = f"org{f}/fam{f}-m0" if j else None
            members.append(
                AtlasMember(
                    name,
                    organisation=f"org{f}",
                    family=f"F{f}",
                    family_source="curated" if j % 2 == 0 else "name",
                    base_model=parent,
                    relation="finetune" if j else "pretrained",
                )
            )
            rows.append(c + rng.normal(scale=0.3, size=dims))
    prov = Provenance(
        probe_set="sha256:toy",
        n_probes=2,
        embedder="toy",
        generation=GEN,
        recipe="toy-recipe",
        projection="none",
        seed=None,
        dims=dims,
    )
    return Atlas(
        "toy",
        "toy atlas",
        ("a?", "b?"),
        {"decoding": "greedy"},
        MATCH,
        prov,
        tuple(members),
        np.array(rows),
        {"gone/x": "2 of 2 answers empty"},
        "(a,b);",
        {"k": 5, "coef": [-2.0, 5.0, 1.0]},
        {"probe_mean": np.zeros((2, 3))},
        {"name": "s"},
        {"n_probes": 2},
    )


def test_file_round_trip_keeps_everything(tmp_path: Path) -> None:
    a = make_atlas()
    path = write_atlas(a, tmp_path / "toy.npz")
    b = read_atlas(path)
    assert b.models == a.models and b.members == a.members
    assert b.provenance == a.provenance and dict(b.match) == MATCH
    assert np.allclose(b.dna, a.dna, atol=2e-3)  # float16 storage
    assert b.sha == read_atlas(path).sha
    assert dict(b.excluded) == {"gone/x": "2 of 2 answers empty"}
    assert not b.dna.flags.writeable


def test_an_atlas_pickles_frozen_and_unchanged() -> None:
    """How an atlas reaches a worker process (place --jobs): same content, still read-only."""
    import pickle
    from types import MappingProxyType

    a = make_atlas()
    b = pickle.loads(pickle.dumps(a))
    assert b.sha == a.sha and b.members == a.members and dict(b.match) == MATCH
    assert isinstance(b.match, MappingProxyType) and not b.dna.flags.writeable
    assert not b.stats["probe_mean"].flags.writeable


def test_tampered_file_fails_its_content_check(tmp_path: Path) -> None:
    a = make_atlas()
    path = write_atlas(a, tmp_path / "toy.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["dna"] = arrays["dna"] * np.float16(2)
    np.savez_compressed(path, **arrays)
    with pytest.raises(PhyloLLMError, match="fails its content check"):
        read_atlas(path)


@pytest.mark.parametrize("content", [b"", b"not an npz"])
def test_garbage_file_is_named(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "bad.npz"
    p.write_bytes(content)
    with pytest.raises(PhyloLLMError, match="is not a phylo_llm atlas file"):
        read_atlas(p)


def test_placement_matches_brute_force_and_infers_the_family() -> None:
    a = make_atlas()
    rng = np.random.default_rng(1)
    q = a.dna[7] + rng.normal(scale=0.05, size=a.dna.shape[1])  # next to a member of F1
    (p,) = place(a, DnaSet(("new",), [q], a.provenance), k=5)
    d = np.linalg.norm(a.dna.astype(np.float64) - q, axis=1)
    assert [n.model for n in p.neighbours] == [a.models[i] for i in np.argsort(d)[:5]]
    assert np.allclose([n.distance for n in p.neighbours], np.sort(d)[:5])
    assert p.family == "F1" and p.sure and 0.5 <= p.confidence <= 1
    assert all(c.startswith("org1/") for c in p.parent_candidates)


def test_far_from_everyone_is_unsure() -> None:
    a = make_atlas()
    # Between two family centres: the vote splits, the margin vanishes.
    q = (a.dna[0].astype(np.float64) + a.dna[6]) / 2
    (p,) = place(a, DnaSet(("mid",), [q], a.provenance), k=6, threshold=0.9)
    assert not p.sure


@pytest.mark.parametrize(
    "field,value", [("embedder", "other"), ("recipe", "concat-v1"), ("probe_set", "sha256:else"), ("dims", 8)]
)
def test_dna_made_differently_is_refused_naming_the_field(field: str, value: object) -> None:
    a = make_atlas()
    prov = Provenance(**{**a.provenance.to_dict(), field: value if field != "dims" else None})
    with pytest.raises(ProvenanceError, match=f"provenance {field} is"):
        place(a, DnaSet(("x",), [a.dna[0]], prov))


def test_dna_generated_with_other_settings_is_refused() -> None:
    a = make_atlas()
    prov = Provenance(
        **{**a.provenance.to_dict(), "generation": json.dumps({"chat_template": True, "decoding": "greedy"})}
    )
    with pytest.raises(ProvenanceError, match="chat_template=True, but atlas 'toy'"):
        place(a, DnaSet(("x",), [a.dna[0]], prov))


def test_settings_check_names_a_missing_field() -> None:
    with pytest.raises(ProvenanceError, match="does not record 'decoding'"):
        check_settings(make_atlas(), {"chat_template": False}, what="model 'm'")


@pytest.mark.parametrize(
    "kw,match",
    [({"k": 0}, "k must be an integer >= 1"), ({"threshold": 1.5}, r"threshold must be a number in \[0, 1\]")],
)
def test_bad_options(kw: dict, match: str) -> None:
    a = make_atlas()
    with pytest.raises(PhyloLLMError, match=match):
        place(a, DnaSet(("x",), [a.dna[0]], a.provenance), **kw)


@pytest.mark.parametrize(
    "model,family",
    [
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2"),
        ("unsloth/gemma-3-270m-it-bnb-4bit", "gemma-3"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5"),
        ("meta-llama/Llama-2-7b-hf", "llama-2"),
        ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", "tinyllama"),
        ("EleutherAI/pythia-160m", "pythia"),
        ("openai-community/gpt2", "gpt2"),
        ("acme/secret-model", None),
        # a specific name before the general one it contains
        ("unsloth/DeepSeek-R1-Distill-Qwen-7B", "qwen2.5"),
        ("RedHatAI/DeepSeek-R1-Distill-Llama-8B-quantized.w8a8", "llama-3"),
        ("unsloth/Phi-4-mini-instruct", "phi-4-mini"),
        ("google/recurrentgemma-2b-it", "recurrentgemma"),
    ],
)
def test_family_from_name(model: str, family: str | None) -> None:
    assert family_from_name(model) == family


KNOWN = {
    "Nexusflow/Starling-LM-7B-beta": "mistral-7b",
    "huggyllama/llama-7b": "llama-1",
    "Vision-CAIR/vicuna": "llama-1",
    "microsoft/phi-4": "phi-4",
    "microsoft/phi-1": "phi-1",
    "openchat/openchat-3.5-0106": "mistral-7b",
    "openchat/openchat_3.5": "mistral-7b",
    "y/Starling-LM-7B-beta-pro": "other",
}


@pytest.mark.parametrize(
    "model,relative",
    [
        ("chujiezheng/Starling-LM-7B-beta-ExPO", "Nexusflow/Starling-LM-7B-beta"),  # an edit keeps the name
        ("someone/starling_lm_7b_beta", "Nexusflow/Starling-LM-7B-beta"),  # case and separators alike
        ("Enoch/llama-7b-hf", "huggyllama/llama-7b"),
        ("codellama/CodeLlama-7b-hf", None),  # contains "llama-7b" but does not start with it
        ("lmsys/vicuna-13b-v1.5", None),  # a number after the name is a version or size, not an edit
        ("microsoft/phi-1_5", None),
        ("QuixiAI/openchat-3.5-0106-laser", "openchat/openchat-3.5-0106"),
        ("x/Starling-LM-7B-beta-pro-gguf", "y/Starling-LM-7B-beta-pro"),  # the longest name wins
        ("mlx-community/llama-7b-4bit", "huggyllama/llama-7b"),  # a quantisation width is an edit
        ("turbo/llama-7b-4.0bpw-exl2", "huggyllama/llama-7b"),
        ("x/llama-7b-8-bit", "huggyllama/llama-7b"),
        ("Nexusflow/Starling-LM-7B-beta", None),  # never itself
    ],
)
def test_name_relative_is_a_word_boundary_extension(model: str, relative: str | None) -> None:
    assert name_relative(model, KNOWN) == relative


def test_name_relative_ties_go_to_the_first_known() -> None:
    known = {"a/foo-chat": "f1", "b/Foo_Chat": "f2"}
    assert name_relative("x/foo-chat-gguf", known) == "a/foo-chat"
    assert name_relative("x/foo-chat-gguf", dict(reversed(known.items()))) == "b/Foo_Chat"


def test_name_relative_ignores_very_short_names() -> None:
    assert name_relative("x/gpt-4-clone", {"y/gpt": "f"}) is None
    assert name_relative("x/gpt2-clone", {"y/gpt2": "gpt2"}) == "y/gpt2"


@pytest.mark.parametrize(
    "model,family",
    [
        ("chujiezheng/Starling-LM-7B-beta-ExPO", "mistral-7b"),  # no pattern matches: the relative decides
        ("Enoch/llama-7b-hf", "llama-1"),  # the relative refines the pattern's coarser "llama"
        ("unsloth/Phi-4-mini-instruct", "phi-4-mini"),  # the pattern is finer than phi-4's label: kept
        ("acme/secret-model", None),
    ],
)
def test_family_from_name_reads_a_relatives_curated_label(model: str, family: str | None) -> None:
    assert family_from_name(model, KNOWN) == family


def test_leave_one_out_hides_the_labels_read_from_the_placed_model() -> None:
    # b1 is a re-upload of a0 (its family read from a0's label) and a0's nearest model
    members = [
        AtlasMember("org/alpha-7b", family="fa", family_source="curated"),
        AtlasMember("up/alpha-7b-bnb-4bit", family="fa", family_source="name"),
        AtlasMember("org/beta", family="fb", family_source="curated"),
        AtlasMember("org/beta-2", family="fb", family_source="curated"),
    ]
    known = {"org/alpha-7b": "fa", "org/beta": "fb", "org/beta-2": "fb"}
    relabel = name_relabels(members, known)
    assert relabel == {0: {1: None}}  # without a0's label b1's name says nothing
    d = np.array([[0, 1, 3, 3], [1, 0, 3, 3], [3, 3, 0, 1], [3, 3, 1, 0]], dtype=float)
    # placed as if new, a0 sees an unlabelled nearest model and the fb pair: wrong, not right
    assert placement_votes(members, d, rows=[0], k=3)[2] == [True]
    assert placement_votes(members, d, rows=[0], k=3, relabel=relabel)[2] == [False]
    # the re-upload itself is judged by the label it carries, and nobody else's view changes
    assert placement_votes(members, d, rows=[1, 2], k=3, relabel=relabel) == placement_votes(
        members, d, rows=[1, 2], k=3
    )


def test_member_labels_read_a_relatives_family_from_the_label_table(tmp_path: Path) -> None:
    from extract.atlas.build import member_labels

    meta = tmp_path / "models_meta.csv"
    meta.write_text("model,organization,family,base_model\nNexusflow/Starling-LM-7B-beta,Nexusflow,mistral-7b,\n")
    a, b, c = member_labels(["Nexusflow/Starling-LM-7B-beta", "x/Starling-LM-7B-beta-ExPO", "x/other"], meta)
    assert (a.family, a.family_source) == ("mistral-7b", "curated")
    assert (b.family, b.family_source, b.organisation) == ("mistral-7b", "name", "x")
    assert b.family_from == "Nexusflow/Starling-LM-7B-beta" and a.family_from is None
    assert (c.family, c.family_source, c.family_from) == (None, None, None)


def test_family_votes_weights_by_rank_and_ignores_unlabelled() -> None:
    fam, share, margin = family_votes([None, "b", "a", "a"], [1.0, 2.0, 2.2, 2.4])
    # b gets 1/2, a gets 1/3 + 1/4 = 0.583: a wins although b is nearer.
    assert fam == "a" and share == pytest.approx((1 / 3 + 1 / 4) / (1 / 2 + 1 / 3 + 1 / 4))
    assert margin == pytest.approx((2.0 - 2.2) / 2.2)
    assert family_votes([None, None], [1.0, 2.0]) == (None, 0.0, 0.0)


def test_fit_confidence_is_calibrated_on_data_it_can_learn() -> None:
    rng = np.random.default_rng(0)
    share = rng.uniform(0, 1, 4000)
    margin = rng.uniform(0, 0.2, 4000)
    p_true = 1 / (1 + np.exp(-(-3 + 6 * share + 5 * margin)))
    right = rng.uniform(size=4000) < p_true
    w = fit_confidence(share, margin, right)
    p_hat = 1 / (1 + np.exp(-(w[0] + w[1] * share + w[2] * margin)))
    assert np.abs(p_hat - p_true).mean() < 0.03
    assert w[1] == pytest.approx(6, abs=0.8)
    with pytest.raises(PhyloLLMError, match="both right and wrong"):
        fit_confidence([0.1, 0.2, 0.3], [0, 0, 0], [True, True, True])


def test_load_atlas_unknown_name_lists_the_bundled_ones() -> None:
    with pytest.raises(PhyloLLMError, match="atlas must be one of"):
        load_atlas("no-such-atlas")


def test_cli_show_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_atlas(make_atlas(), tmp_path / "toy.npz")
    assert cli.main(["atlas", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "models      18 (1 recorded models excluded)" in out
        and "family curated 9, from name 9 (0 of them a curated relative's)" in out
    )
    assert cli.main(["atlas", "show", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sha256"] == read_atlas(path).sha
    assert cli.main(["atlas", "list"]) == 0
    assert "placed " not in out  # a calibration without its placement record says nothing


def test_cli_show_tells_how_placements_of_the_atlas_own_models_went(tmp_path: Path, capsys) -> None:
    import dataclasses

    cal = {"k": 5, "coef": [0, 1, 1], "n": 40, "loo_accuracy": 0.625, "parents": {"n": 8, "first": 0.25, "among": 0.5}}
    path = write_atlas(dataclasses.replace(make_atlas(), calibration=cal), tmp_path / "toy.npz")
    assert cli.main(["atlas", "show", str(path)]) == 0
    assert (
        "placed      family right for 62% of 40 leave-one-out placements (every member with a family, curated "
        "or from its name); parent first candidate 25%, among them 50% (8)" in capsys.readouterr().out
    )


@pytest.mark.parametrize(
    "argv,match",
    [
        (["atlas", "show"], "atlas show needs a NAME"),
        (["atlas", "show", "nope"], "atlas must be one of"),
        (["atlas", "list", "x"], "atlas list takes no name"),
    ],
)
def test_cli_errors_are_one_line(argv: list[str], match: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_discover_runs_on_an_atlas_with_its_own_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_atlas(make_atlas(), tmp_path / "toy.npz")
    assert cli.main(["discover", f"atlas:{path}", "-o", str(tmp_path / "out"), "--min-reference", "3"]) == 0
    assert "candidate pairs" in capsys.readouterr().out
    rows = (tmp_path / "out" / "discoveries.csv").read_text().splitlines()
    # Same-family pairs are never candidates: every proposed pair joins two families.
    header = rows[0].split(",")
    fa, fb = header.index("family_a"), header.index("family_b")
    assert all(r.split(",")[fa] != r.split(",")[fb] for r in rows[1:])


def test_labels_frame_carries_the_members_labels() -> None:
    df = make_atlas().labels_frame()
    assert df.loc["org1/fam1-m2", "family"] == "F1" and df.loc["org1/fam1-m2", "base_model"] == "org1/fam1-m0"
    assert df.loc["org1/fam1-m2", "organization"] == "org1"


def test_out_of_fold_calibration_places_each_member_once_per_split_with_the_other_halfs_statistics() -> None:
    from extract.atlas.build import crossfit_calibration, family_key, half_of

    rng = np.random.default_rng(0)
    fams = [f"f{i}" for i in range(8) for _ in range(4)]
    members = [AtlasMember(f"m{i}", family=f, family_source="curated") for i, f in enumerate(fams)]
    centre = {f: rng.normal(size=6) * 3 for f in set(fams)}
    clean = np.stack([centre[f] + rng.normal(size=6) for f in fams])
    calls = []

    def dna_for(seed: int, halves: np.ndarray, fit_half: int) -> np.ndarray:
        # the fitting half's statistics tell only the fitting half apart: the scored half is noise
        calls.append((seed, fit_half))
        assert halves.tolist() == [half_of(family_key(m), seed) for m in members]
        return np.where((halves == fit_half)[:, None], clean, rng.normal(size=clean.shape))

    cal = crossfit_calibration(members, dna_for, splits=3, k=3)
    assert calls == [(s, h) for s in range(3) for h in (0, 1)]
    assert cal["n"] == 3 * len(members) and cal["note"].startswith("fitted out of fold")
    # judged only where its own half did not shape the distances: far from the in-sample 1.0
    assert cal["loo_accuracy"] < 0.6


def test_the_neighbourhood_figure_is_quiet_about_nj_clamping_but_not_about_other_warnings(monkeypatch) -> None:
    """NJ's clamped negative branches are routine on a placement's 31 tips and change no tip's
    place: the figure's tree does not warn about them (it did on every demo placement), and any
    other warning still reaches the user."""
    import warnings

    import phylo_llm.plot.atlas as plot_atlas
    from phylo_llm import PhyloLLMWarning
    from phylo_llm.tree import nj

    atlas = make_atlas()

    def clamping_nj(dm, *, other: bool = False):
        warnings.warn(
            "nj: 2 negative branch length(s) set to 0, each value moved to its sibling branch so the joined "
            "pair's path length is kept",
            PhyloLLMWarning,
            stacklevel=2,
        )
        if other:
            warnings.warn("something else", PhyloLLMWarning, stacklevel=2)
        return nj(dm)

    monkeypatch.setattr(plot_atlas, "nj", clamping_nj)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tree, meta = plot_atlas.neighbourhood(atlas, atlas.dna[0], "new", n=10)
    assert len(meta) == 11 and meta["family"].iloc[-1] == plot_atlas.PLACED
    monkeypatch.setattr(plot_atlas, "nj", lambda dm: clamping_nj(dm, other=True))
    with pytest.warns(PhyloLLMWarning, match="something else"):
        plot_atlas.neighbourhood(atlas, atlas.dna[0], "new", n=10)


def test_placement_parents_finds_the_parent_among_the_candidates_place_names() -> None:
    members = [
        AtlasMember("p", family="fa"),  # the parent
        AtlasMember("c1", family="fa", base_model="p"),  # its fine-tune: parent first
        AtlasMember("x", family="fa"),
        AtlasMember("c2", family="fa", base_model="p|elsewhere"),  # parent second, after x
        AtlasMember("y", family="fb", base_model="gone"),  # parent not in the atlas: not judged
        AtlasMember("z", family="fb", base_model="p"),  # its vote says fb: p is no candidate
        AtlasMember("w", family="fb"),
    ]
    d = np.array(
        [
            [0, 1, 2, 3, 9, 6, 9],
            [1, 0, 2, 3, 9, 9, 9],
            [2, 2, 0, 1, 9, 9, 9],
            [3, 3, 1, 0, 9, 9, 9],
            [9, 9, 9, 9, 0, 1, 1],
            [6, 9, 9, 9, 1, 0, 1],
            [9, 9, 9, 9, 1, 1, 0],
        ],
        dtype=float,
    )
    assert placement_parents(members, d, k=3) == [1, 2, None]
    assert placement_parents(members, d, rows=[3], k=3) == [2]
    # hiding x's family (as name_relabels would) moves p up for c2
    assert placement_parents(members, d, rows=[3], k=3, relabel={3: {2: None}}) == [1]


def test_placement_names_the_relative_a_name_family_was_read_from(tmp_path: Path) -> None:
    import dataclasses

    from extract.atlas.place import write_placement

    a = make_atlas()
    members = list(a.members)
    assert members[1].family_source == "name"
    members[1] = dataclasses.replace(members[1], family_from="org0/fam0-m0")
    a = dataclasses.replace(a, members=tuple(members))
    dna = DnaSet(("new",), np.asarray(a.dna[1:2], dtype=np.float64), a.provenance)
    (p,) = place(a, dna, k=6)
    assert p.neighbours[0].model == "org0/fam0-m1" and p.neighbours[0].family_from == "org0/fam0-m0"
    write_placement(a, dna, [p], tmp_path, figures=False)
    assert (
        "| `org0/fam0-m1` | 0.0000 | F0 (from name: is or extends `org0/fam0-m0`) |"
        in (tmp_path / "placement.md").read_text()
    )
    doc = json.loads((tmp_path / "placement.json").read_text())
    assert doc["placements"][0]["neighbours"][0]["family_from"] == "org0/fam0-m0"
    plain = [n for n in p.neighbours[1:] if n.family_source == "name"]
    assert plain  # make_atlas labels every other member from its name
    for n in plain:
        assert f"| `{n.model}` | {n.distance:.4f} | {n.family} (from name) |" in (tmp_path / "placement.md").read_text()


def test_members_without_a_relative_keep_the_old_file_format_and_unknown_labels_are_refused(tmp_path: Path) -> None:
    import dataclasses

    a = make_atlas()  # no member has family_from: written as before the field existed
    path = write_atlas(a, tmp_path / "toy.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    assert all("family_from" not in m for m in meta["members"])
    b = dataclasses.replace(a, members=(dataclasses.replace(a.members[0], family_from="x/y"), *a.members[1:]))
    write_atlas(b, tmp_path / "b.npz")
    assert read_atlas(tmp_path / "b.npz").members[0].family_from == "x/y"
    # a label field this version does not know: one line, not a TypeError
    meta["members"][0]["newer_label"] = 1
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    np.savez_compressed(tmp_path / "newer.npz", **arrays)
    with pytest.raises(PhyloLLMError, match=r"has member labels this phylo_llm does not know \(\['newer_label'\]\)"):
        read_atlas(tmp_path / "newer.npz")
