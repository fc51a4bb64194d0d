"""Tests for extract.recipe: frozen reference statistics and the recipes that use them."""

from __future__ import annotations

import json
import lzma

import numpy as np
import pytest

from extract.probes import ProbeSet
from extract.recipe import (
    BUNDLED_REFERENCE,
    CentredRecipe,
    ConcatRecipe,
    WhitenedRecipe,
    fit_reference,
    get_recipe,
    read_reference,
    write_reference,
)
from phylo_llm.errors import PhyloLLMError

PROMPTS = ("a?", "b?", "c?", "d?")


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    # 40 reference models x 4 probes x 6 dims, with a probe-specific offset to centre away
    emb = rng.normal(size=(40, 4, 6)) + rng.normal(scale=5, size=(1, 4, 6))
    return emb, fit_reference(emb, prompts=PROMPTS, embedder="toy", name="toy", basis_k=3)


def test_fit_covers_every_leading_subset(toy):
    emb, stats = toy
    full = ProbeSet(PROMPTS)
    assert {full.head(n).id: n for n in range(1, 5)} == dict(stats.probe_sets)
    np.testing.assert_allclose(stats.probe_mean, emb.mean(0), rtol=1e-6)
    assert stats.probe_basis.shape == (4, 3, 6)
    # whitening turns the pooled residual covariance into (nearly) the identity
    white = ((emb - stats.probe_mean) @ stats.whiten_probe).reshape(-1, 6)
    cov = np.cov(white.T)
    assert np.allclose(np.diag(cov), np.diag(cov).mean(), rtol=0.05)
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 0.05


def test_statistics_round_trip_and_hash(tmp_path, toy):
    _, stats = toy
    path = write_reference(stats, tmp_path / "ref.npz")
    back = read_reference(path)
    assert back.sha == stats.sha
    assert dict(back.probe_sets) == dict(stats.probe_sets)
    np.testing.assert_array_equal(back.whiten_probe, stats.whiten_probe)
    # any change to an array changes the hash, hence the recipe id and the DNA provenance
    moved = fit_reference(toy[0] + 1e-3, prompts=PROMPTS, embedder="toy", name="toy", basis_k=3)
    assert moved.sha != stats.sha
    assert WhitenedRecipe(moved).id != WhitenedRecipe(stats).id
    assert WhitenedRecipe(stats).id == f"whitened-v2+{stats.sha[:12]}"
    assert WhitenedRecipe(stats, deflate=0).id == f"whitened-v1+{stats.sha[:12]}"
    assert WhitenedRecipe(stats, deflate=0.25).id == f"whitened-v2-deflate0.25+{stats.sha[:12]}"
    assert not stats.probe_mean.flags.writeable


def test_statistics_of_an_older_version_are_refused_with_the_way_out(tmp_path, toy):
    path = write_reference(toy[1], tmp_path / "ref.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "global_axis"}
    meta = json.loads(str(arrays.pop("meta")))
    meta["version"] = 1
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    with pytest.raises(
        PhyloLLMError,
        match=r"ref.npz is not reference statistics version 2 .*"
        r"version 1\); .*fit them again with extract.recipe.fit_reference",
    ):
        read_reference(path)


@pytest.mark.parametrize("scope", ["probe", "pca", "global"])
def test_squared_distance_is_two_minus_two_mean_cosine(toy, scope):
    emb, stats = toy
    rec = WhitenedRecipe(stats, scope=scope, deflate=0)
    pid = ProbeSet(PROMPTS).id
    fa, fb = rec.features(emb[0], probe_set=pid), rec.features(emb[1], probe_set=pid)
    # every probe weighs the same: each row has squared length 1/n_probes
    np.testing.assert_allclose((fa**2).sum(1), 0.25)
    cos = (fa * fb).sum(1) * 4
    assert ((fa - fb) ** 2).sum() == pytest.approx(2 - 2 * cos.mean())


def _unit_white(emb, stats):
    z = (emb - stats.probe_mean) @ stats.whiten_probe
    return (z / np.linalg.norm(z, axis=-1, keepdims=True) / np.sqrt(z.shape[-2])).reshape(len(emb), -1)


def test_global_axis_is_the_populations_leading_direction(toy):
    emb, stats = toy
    x = _unit_white(emb, stats)
    v = stats.global_axis.ravel().astype(np.float64)
    assert np.linalg.norm(v) == pytest.approx(1, abs=1e-6)
    # it is the top eigenvector of the reference features' covariance (up to sign)
    w, q = np.linalg.eigh(np.cov(x.T))
    assert abs(q[:, -1] @ v) == pytest.approx(1, abs=1e-5)
    # and no random direction carries more of the population's variance
    rng = np.random.default_rng(1)
    others = rng.normal(size=(200, v.size))
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    assert np.var(x @ v) > np.var(x @ others.T, axis=0).max()


def test_deflation_removes_that_fraction_of_the_axis_coordinate(toy):
    emb, stats = toy
    pid = ProbeSet(PROMPTS).id
    v = stats.global_axis.ravel().astype(np.float64)
    v /= np.linalg.norm(v)  # stored as float32: unit to ~1e-7
    for i in range(5):
        f1 = WhitenedRecipe(stats, deflate=0).features(emb[i], probe_set=pid).ravel()
        f2 = WhitenedRecipe(stats).features(emb[i], probe_set=pid).ravel()  # deflate 0.5
        assert np.linalg.norm(f2) == pytest.approx(1)  # back to unit length
        want = f1 - 0.5 * (f1 @ v) * v
        np.testing.assert_allclose(f2, want / np.linalg.norm(want), atol=1e-12)
        # the part off the axis keeps its direction; the coordinate on it is halved (before norm)
        assert (f2 @ v) * np.linalg.norm(want) == pytest.approx(0.5 * (f1 @ v))


def test_deflation_on_a_leading_subset_uses_the_axis_restricted_to_it(toy):
    emb, stats = toy
    sub = ProbeSet(PROMPTS).head(2).id
    v = stats.global_axis[:2].ravel().astype(np.float64)
    v /= np.linalg.norm(v)
    f1 = WhitenedRecipe(stats, deflate=0).features(emb[3, :2], probe_set=sub).ravel()
    f2 = WhitenedRecipe(stats, deflate=0.3).features(emb[3, :2], probe_set=sub).ravel()
    want = f1 - 0.3 * (f1 @ v) * v
    np.testing.assert_allclose(f2, want / np.linalg.norm(want), atol=1e-12)


def test_deflation_pulls_models_that_differ_only_along_the_axis_together(toy):
    emb, stats = toy
    pid = ProbeSet(PROMPTS).id
    # two models identical except for a shift along the population's leading axis
    x = _unit_white(emb[:1], stats).ravel()
    v = stats.global_axis.ravel().astype(np.float64)
    a = x + 0.3 * v
    b = x - 0.3 * v
    # map the feature-space points back to embeddings: undo unit length (keep it), then whitening
    inv = np.linalg.inv(stats.whiten_probe.astype(np.float64))
    ea = a.reshape(4, 6) @ inv + stats.probe_mean
    eb = b.reshape(4, 6) @ inv + stats.probe_mean
    d = {}
    for a_ in (0.0, 0.5):
        rec = WhitenedRecipe(stats, deflate=a_)
        d[a_] = np.linalg.norm(rec.features(ea, probe_set=pid) - rec.features(eb, probe_set=pid))
    assert d[0.5] < d[0.0]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"deflate": 1.5}, r"deflate must be a number in \[0, 1\], got 1.5"),
        ({"deflate": True}, r"deflate must be a number in \[0, 1\], got True"),
        ({"deflate": 0.5, "scope": "pca"}, "deflate applies only to scope 'probe'.*got deflate=0.5 with scope 'pca'"),
    ],
)
def test_bad_deflate(toy, kw, match):
    with pytest.raises(PhyloLLMError, match=match):
        WhitenedRecipe(toy[1], **kw)


def test_other_scopes_do_not_deflate_by_default(toy):
    assert WhitenedRecipe(toy[1], scope="pca").deflate == 0.0
    assert WhitenedRecipe(toy[1], scope="global").id.startswith("whitened-global-v1+")


def test_leading_subset_uses_the_leading_means(toy):
    emb, stats = toy
    rec = CentredRecipe(stats)
    f2 = rec.features(emb[5, :2], probe_set=ProbeSet(PROMPTS).head(2).id)
    f4 = rec.features(emb[5], probe_set=ProbeSet(PROMPTS).id)
    # same directions, rescaled from 1/sqrt(2) to 1/sqrt(4)
    np.testing.assert_allclose(f2 * np.sqrt(2), f4[:2] * np.sqrt(4))


def test_unknown_probe_set_is_refused_not_replaced(toy):
    emb, stats = toy
    other = ProbeSet(("x?", "y?", "z?", "w?")).id
    for rec in (CentredRecipe(stats), WhitenedRecipe(stats), WhitenedRecipe(stats, scope="pca")):
        with pytest.raises(PhyloLLMError, match=r"not for probe set 'sha256:.*whitened-global"):
            rec.features(emb[0], probe_set=other)
    # the global variant needs no per-probe statistics
    assert WhitenedRecipe(stats, scope="global").features(emb[0, :3], probe_set=other).shape == (3, 6)


@pytest.mark.parametrize(
    ("make", "emb", "match"),
    [
        (lambda s: WhitenedRecipe(s), np.zeros((4, 5)), r"statistics for 'toy' \(6-d embeddings\), got 5-d"),
        (lambda s: WhitenedRecipe(s), np.zeros((3, 6)), "has 4 probes but the embeddings have 3 rows"),
        (lambda s: CentredRecipe(s), "mean", r"1 probe\(s\) have a response embedding equal to the reference mean"),
        (lambda s: WhitenedRecipe(s), np.full((4, 6), np.nan), "must be finite"),
    ],
)
def test_recipe_errors(toy, make, emb, match):
    _, stats = toy
    if isinstance(emb, str):
        emb = np.array(stats.probe_mean, dtype=np.float64)
        emb[1:] += 1.0
    with pytest.raises(PhyloLLMError, match=match):
        make(stats).features(emb, probe_set=ProbeSet(PROMPTS).id)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"shrinkage": 0.0}, "shrinkage must be a finite number > 0"),
        ({"basis_k": 40}, r"basis_k must be an integer in \[1, 39\] \(fewer than n_models=40\)"),
        ({"prompts": PROMPTS[:3]}, r"number of prompts \(3\) must match the embeddings' probes \(4\)"),
    ],
)
def test_fit_errors(toy, kw, match):
    args = {"prompts": PROMPTS, "embedder": "toy", "name": "toy", **kw}
    with pytest.raises(PhyloLLMError, match=match):
        fit_reference(toy[0], **args)


def test_bad_scope_and_unknown_recipe(toy):
    with pytest.raises(PhyloLLMError, match=r"scope must be one of \['global', 'pca', 'probe'\], got 'x'"):
        WhitenedRecipe(toy[1], scope="x")
    with pytest.raises(PhyloLLMError, match="recipe must be one of .*'whitened'.*got 'nope'"):
        get_recipe("nope")


def test_bundled_statistics_are_the_registered_ones():
    stats = read_reference(BUNDLED_REFERENCE)
    assert stats.embedder == "sentence-transformers/all-MiniLM-L6-v2"
    assert stats.dim == 384 and stats.n_models > 300
    assert get_recipe("whitened").id == f"whitened-v2+{stats.sha[:12]}"
    assert get_recipe("whitened-pca").id == f"whitened-pca-v1+{stats.sha[:12]}"
    assert get_recipe("concat").id == ConcatRecipe().id


# Real responses: a quantised model must be nearer its parent than models of other families,
# with only 8 probes, the bundled embedder and the bundled statistics.
CHILD, PARENT = "Qwen/Qwen3-4B-Thinking-2507-FP8", "Qwen/Qwen3-4B-Thinking-2507"
UNRELATED = (
    "mistralai/Mistral-7B-Instruct-v0.1",
    "meta-llama/Meta-Llama-3-8B-Instruct",
    "BioMistral/BioMistral-7B",
    "EleutherAI/pythia-6.9b",
)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["whitened", "whitened-pca"])
def test_real_quantised_model_is_nearest_its_parent(paper_data, name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from extract.embed import SentenceEmbedder

    n = 8
    wanted = {CHILD, PARENT, *UNRELATED}
    responses = {}
    with lzma.open(paper_data / "responses.jsonl.xz", "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            if doc["model"] in wanted:
                responses[doc["model"]] = doc["responses"][:n]
    assert set(responses) == wanted
    prompts = json.loads((paper_data / "prompts.json").read_text(encoding="utf-8"))
    pid = ProbeSet(tuple(prompts)).head(n).id
    embedder = _embedder(SentenceEmbedder)
    rec = get_recipe(name)
    dna = {m: rec.features(embedder.encode(r), probe_set=pid).ravel() for m, r in responses.items()}
    to_parent = np.linalg.norm(dna[CHILD] - dna[PARENT])
    to_others = [np.linalg.norm(dna[CHILD] - dna[m]) for m in UNRELATED]
    assert to_parent < min(to_others), (to_parent, to_others)


_EMBEDDER = []


def _embedder(make):
    if not _EMBEDDER:
        _EMBEDDER.append(make())
    return _EMBEDDER[0]


def test_auto_picks_the_best_recipe_the_bundled_statistics_allow():
    from extract.recipe import resolve_recipe

    stats = read_reference(BUNDLED_REFERENCE)
    covered = next(iter(stats.probe_sets))  # one of the paper's leading prompt subsets
    assert resolve_recipe("auto", probe_set=covered).id == get_recipe("whitened").id
    other = ProbeSet(("x?", "y?")).id
    assert resolve_recipe("auto", probe_set=other).id == get_recipe("whitened-global").id
    assert resolve_recipe("whitened-pca", probe_set=other).id == get_recipe("whitened-pca").id
    with pytest.raises(PhyloLLMError, match="recipe must be one of .*got 'nope'"):
        resolve_recipe("nope", probe_set=other)
