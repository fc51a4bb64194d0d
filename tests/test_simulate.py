"""extract.simulate: deterministic per-branch noise, the noise schedule, the true tree, the cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from extract import simulate as sim
from extract.simulate import (
    balanced_topology,
    branch_noise,
    derive_leaf_weights,
    lineage_key,
    node_paths,
    simulate_lineage,
)
from phylo_llm.errors import PhyloLLMError
from phylo_llm.tree import Tree

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _base(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "w": rng.normal(0.0, 0.5, size=(200, 300)).astype(np.float32),
        "norm": (1.0 + 0.1 * rng.standard_normal(300)).astype(np.float32),
        "const": np.ones(7, dtype=np.float32),
    }


# ---- topology --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5, 8, 16])
def test_balanced_topology_is_binary_with_n_named_leaves(n):
    t = balanced_topology(n)
    assert t.n_tips == n
    assert len(set(t.tip_names)) == n
    inner = np.flatnonzero(~t.is_tip)
    assert (t.n_children[inner] == 2).all()
    # Balanced: leaf depths (edge counts) differ by at most one.
    depth = np.array([len(p) for p in node_paths(t)])
    assert depth[t.tips].max() - depth[t.tips].min() <= 1


def test_noise_shrinks_with_depth():
    t = balanced_topology(16, noise=0.06, decay=0.5)
    depth = np.array([len(p) for p in node_paths(t)])
    for d in range(1, 5):
        assert np.allclose(t.length[depth == d], 0.06 * 0.5 ** (d - 1))
    assert t.name[0] == "base" and t.rooted


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_leaves": 1}, "n_leaves must be an integer >= 2"),
        ({"n_leaves": 4, "noise": 0.0}, "noise must be"),
        ({"n_leaves": 4, "noise": float("nan")}, "noise must be"),
        ({"n_leaves": 4, "decay": 1.5}, r"decay must be a number in \(0, 1\]"),
    ],
)
def test_balanced_topology_errors(kwargs, match):
    with pytest.raises(PhyloLLMError, match=match):
        balanced_topology(**kwargs)


def test_topology_without_lengths_gets_the_depth_schedule():
    t = Tree.from_parents([-1, 0, 0, 1, 1], name=["r", "x", "c", "a", "b"])
    out = sim._as_topology(t, 0, 0.2, 0.5)
    assert out.length[out.index_of("x")] == pytest.approx(0.2)
    assert out.length[out.index_of("a")] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "tree, match",
    [
        (Tree.from_parents([-1, 0, 0], name=["r", "a", None]), "every leaf of the topology must be named"),
        (Tree.from_parents([-1, 0, 0], name=["r", "a", "a"]), "must be unique"),
        (Tree.from_parents([-1, 0, 0], length=[np.nan, 0.1, np.nan], name=["r", "a", "b"]), "for every branch"),
        (Tree.from_parents([-1, 0, 0], length=[np.nan, 0.1, -0.1], name=["r", "a", "b"]), ">= 0"),
        (Tree.from_parents([-1, 0], name=["r", "a"]), "at least 2 leaves"),
    ],
)
def test_bad_topologies(tree, match):
    with pytest.raises(PhyloLLMError, match=match):
        sim._as_topology(tree, 0, 0.1, 0.5)


# ---- noise -----------------------------------------------------------------------------------


def test_branch_noise_is_a_pure_function_of_seed_path_and_tensor():
    a = branch_noise((50, 40), seed=3, path=(0, 1), tensor="w")
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, branch_noise((50, 40), seed=3, path=(0, 1), tensor="w"))
    for other in (
        dict(seed=4, path=(0, 1), tensor="w"),
        dict(seed=3, path=(1, 0), tensor="w"),
        dict(seed=3, path=(0, 1, 0), tensor="w"),
        dict(seed=3, path=(0, 1), tensor="v"),
    ):
        b = branch_noise((50, 40), **other)
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.1, other


@pytest.mark.parametrize(
    "kwargs, match",
    [({"seed": -1, "path": (0,)}, "seed must be an integer >= 0"), ({"seed": 0, "path": ()}, "non-empty")],
)
def test_branch_noise_errors(kwargs, match):
    with pytest.raises(PhyloLLMError, match=match):
        branch_noise((2,), tensor="w", **kwargs)


def test_same_seed_same_weights_different_node_different_weights():
    base, t = _base(), balanced_topology(4, noise=0.1)
    a = derive_leaf_weights(base, t, "sim00", seed=0)
    np.testing.assert_array_equal(a["w"], derive_leaf_weights(base, t, "sim00", seed=0)["w"])
    assert not np.array_equal(a["w"], derive_leaf_weights(base, t, "sim01", seed=0)["w"])
    assert not np.array_equal(a["w"], derive_leaf_weights(base, t, "sim00", seed=1)["w"])
    np.testing.assert_array_equal(a["const"], base["const"])  # zero spread: no noise
    assert base["w"].flags.writeable  # base untouched (copied)


def test_noise_size_is_sigma_times_tensor_std_summed_over_the_path():
    base, t = _base(), balanced_topology(4, noise=0.1, decay=0.5)
    leaf = derive_leaf_weights(base, t, "sim10", seed=0)
    for name in ("w", "norm"):
        diff = leaf[name].astype(np.float64) - base[name]
        expected = np.sqrt(0.1**2 + 0.05**2) * base[name].std()
        assert diff.std() == pytest.approx(expected, rel=0.08), name


def test_siblings_share_their_ancestors_noise():
    base, t = _base(), balanced_topology(8, noise=0.1, decay=0.5)
    w = {n: derive_leaf_weights(base, t, n, seed=0)["w"] - base["w"] for n in t.tip_names}
    d = lambda a, b: float(np.linalg.norm(w[a] - w[b]))  # noqa: E731
    assert d("sim000", "sim001") < d("sim000", "sim010") < d("sim000", "sim100")


def test_adding_leaves_does_not_change_existing_nodes():
    base = _base()
    small, big = balanced_topology(2, noise=0.1), balanced_topology(8, noise=0.1)
    # 'sim0' is a leaf of the small tree and an inner node of the big one: same path, same noise.
    np.testing.assert_array_equal(
        derive_leaf_weights(base, small, "sim0", seed=5)["w"],
        derive_leaf_weights(base, big, "sim0", seed=5)["w"],
    )


def test_lineage_key_tracks_base_topology_lengths_and_seed():
    t = balanced_topology(4)
    k = lineage_key("b", t, seed=0)
    assert k == lineage_key("b", balanced_topology(4), seed=0)
    assert k != lineage_key("c", t, seed=0)
    assert k != lineage_key("b", t, seed=1)
    assert k != lineage_key("b", balanced_topology(4, noise=0.05), seed=0)
    assert k != lineage_key("b", balanced_topology(5), seed=0)


# ---- models on disk (tiny random model) --------------------------------------------------------


def _tiny_model(path: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = "the a cat dog sat ran on under mat log red blue big small and then".split()
    vocab = {w: i for i, w in enumerate(["<pad>", "<s>", "</s>", "<unk>", *words])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    cfg = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    model = LlamaForCausalLM(cfg)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 1.0, generator=g)  # logits far apart: greedy choices are stable
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("tinybase") / "tiny")


def test_simulate_writes_loadable_leaves_with_the_derived_weights(tiny_base, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    lin = simulate_lineage(tiny_base, n_leaves=4, noise=0.2, seed=0, cache=tmp_path)
    assert lin.leaves == ("sim00", "sim01", "sim10", "sim11")
    assert lin.created == lin.leaves
    assert lin.directory == tmp_path / "sim" / lin.key
    base = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    base_w = {k: p.detach().numpy() for k, p in base.named_parameters()}
    want = derive_leaf_weights(base_w, lin.true_tree, "sim01", seed=0)
    got = AutoModelForCausalLM.from_pretrained(lin.model_dirs["sim01"], dtype=torch.float32)
    for k, p in got.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), want[k], rtol=2e-3, atol=1e-4)
    cfg = json.loads((lin.model_dirs["sim01"] / "config.json").read_text())
    assert cfg["phylo_llm_simulated"] == {"key": lin.key, "leaf": "sim01"}
    manifest = json.loads((lin.directory / "lineage.json").read_text())
    assert manifest["name"] == list(lin.true_tree.name)


def test_second_call_loads_from_cache_and_resumes_missing_leaves(tiny_base, tmp_path, monkeypatch):
    first = simulate_lineage(tiny_base, n_leaves=4, seed=2, cache=tmp_path)
    stamp = {k: (d / "model.safetensors").stat().st_mtime_ns for k, d in first.model_dirs.items()}

    def boom(path):
        raise AssertionError("the base model must not be loaded when every leaf is cached")

    monkeypatch.setattr(sim, "_load_base", boom)
    again = simulate_lineage(tiny_base, n_leaves=4, seed=2, cache=tmp_path)
    assert again.created == () and again.key == first.key
    assert {k: (d / "model.safetensors").stat().st_mtime_ns for k, d in again.model_dirs.items()} == stamp
    monkeypatch.undo()
    import shutil

    shutil.rmtree(first.model_dirs["sim10"])
    resumed = simulate_lineage(tiny_base, n_leaves=4, seed=2, cache=tmp_path)
    assert resumed.created == ("sim10",)
    assert not [p for p in first.directory.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_interrupted_write_leaves_no_partial_model(tiny_base, tmp_path, monkeypatch):
    real = sim._write_leaf
    calls = []

    def dies_on_second(final, *a, **k):
        calls.append(final.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(final, *a, **k)

    monkeypatch.setattr(sim, "_write_leaf", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        simulate_lineage(tiny_base, n_leaves=2, seed=0, cache=tmp_path)
    monkeypatch.undo()
    lin = simulate_lineage(tiny_base, n_leaves=2, seed=0, cache=tmp_path)
    assert lin.created == ("sim1",)


def test_hub_ids_are_refused_as_base(tmp_path):
    with pytest.raises(PhyloLLMError, match="base must be a local or bundled model"):
        simulate_lineage("someone/some-model", n_leaves=2, cache=tmp_path)


# ---- the real base model -----------------------------------------------------------------------


@pytest.mark.slow
def test_smollm2_lineage_siblings_are_closer_in_dna_than_cousins(tmp_path):
    """4 leaves from the bundled SmolLM2-135M: true siblings are nearer in DNA than cousins."""
    pytest.importorskip("transformers")
    from extract.demo import run_demo
    from phylo_llm.data import dna_distances
    from phylo_llm.io import read_dna

    # noise 0.02 (siblings differ by 0.01 per branch) keeps responses off saturation at 4 leaves.
    res = run_demo(
        tmp_path / "out",
        n_leaves=4,
        noise=0.02,
        probes="random:16:0",
        max_new_tokens=16,
        dims=1024,
        cache=tmp_path,
        figure=False,
        threads=2,
        outgroup=False,
    )
    dm = dna_distances(read_dna(res.files["dna"]))
    sibling = {"sim00": "sim01", "sim01": "sim00", "sim10": "sim11", "sim11": "sim10"}
    cousin_d = {leaf: [dm[leaf, c] for c in sibling if c[:4] != leaf[:4]] for leaf in sibling}
    for leaf, sib in sibling.items():
        assert dm[leaf, sib] < np.mean(cousin_d[leaf]), (leaf, dm.values)
    assert dm["sim00", "sim01"] + dm["sim10", "sim11"] < min(
        dm["sim00", "sim10"] + dm["sim01", "sim11"], dm["sim00", "sim11"] + dm["sim01", "sim10"]
    ), dm.values  # the four-point condition: the true quartet topology
