"""Simulated model lineages with a known tree: the ground truth for tree-accuracy benchmarks.

Real model lineages have no recorded truth we can score an inferred tree against. Here we make
one: from a real base model (SmolLM2-135M-Instruct by default) we derive descendants along a known
topology by seeded steps that mimic training — every branch adds Gaussian noise to every weight
tensor, ``sigma * std(base tensor) * N(0, 1)``, with ``sigma`` the branch length. A leaf's
weights are the base plus the noise of every branch on its root-to-leaf path, so two leaves share
exactly the noise of their common ancestry, as sibling fine-tunes of a common parent share its
training.

Determinism
    The noise of a branch is drawn from ``np.random.default_rng(SeedSequence((seed, len(path),
    *path, tensor_key)))`` where ``path`` is the branch's child-index path from the root and
    ``tensor_key`` a hash of the tensor's name. It depends on nothing else, so adding leaves or
    subtrees to a topology never changes the weights of the nodes that were already there.

Noise schedule
    :func:`balanced_topology` gives depth-``d`` branches (``d = 1`` below the root) the length
    ``noise * decay ** (d - 1)``: big early divergences (pretraining-like forks) and smaller,
    later ones (fine-tunes). The issue's quick look used ``noise=0.06, decay=0.5``.

Caching (why the derived models themselves are cached)
    Backends load models by path, exactly as for real models, so a derived model has to exist as
    a model directory anyway; storing it costs 270 MB per SmolLM2 leaf in float16 (the base is
    4-bit quantised, so float16 loses nothing that matters: its rounding, ~5e-4 relative, is 15x
    below the smallest default perturbation), while rebuilding it needs the base dequantised and
    four 135M-normal draws. Each leaf is written to
    ``<cache>/sim/<key>/<leaf>/`` (``config.json``, ``model.safetensors``, tokenizer files) through
    a temporary directory renamed into place, so an interrupted run leaves no partial model and
    the next call resumes with the leaves still missing. ``key`` hashes the base weights, the
    topology with its branch lengths, the seed and the format version. Only leaves are stored:
    internal nodes are never queried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phylo_llm.errors import PhyloLLMError
from phylo_llm.tree import Tree
from phylo_llm.util import atomic_dir, check_fraction, check_int, check_number, check_unique, sha256_json

__all__ = [
    "SimulatedLineage",
    "balanced_topology",
    "node_paths",
    "branch_noise",
    "derive_leaf_weights",
    "simulate_lineage",
    "lineage_key",
]

#: Bumped whenever the derived weights for the same arguments could change.
SIM_FORMAT = "phylo_llm.sim-v1"
#: The lineage's tree and base, for people and tools. Nothing reads it back, nothing waits for it:
#: a leaf is cached when its directory (moved into place whole) holds ``model.safetensors``.
_MANIFEST = "lineage.json"


# ---------------------------------------------------------------------------------------------
# topology
# ---------------------------------------------------------------------------------------------


def balanced_topology(
    n_leaves: int,
    *,
    noise: float = 0.06,
    decay: float = 0.5,
    prefix: str = "sim",
) -> Tree:
    """A rooted, balanced binary tree whose branch lengths follow a shrinking noise schedule.

    The ``n_leaves`` leaves are split as evenly as possible at every node (left half gets the
    extra leaf). A node is named ``prefix`` + its path of child indices (``"sim0110"``); the root
    is ``"base"`` (the unperturbed base model). The branch into a depth-``d`` node has length
    ``noise * decay ** (d - 1)``.

    Parameters
    ----------
    n_leaves
        Number of leaves, at least 2.
    noise
        Relative noise size of the branches below the root (> 0).
    decay
        Factor applied per level, in ``(0, 1]``.
    prefix
        Start of every non-root node name.

    Examples
    --------
    >>> t = balanced_topology(4, noise=0.1)
    >>> t.tip_names
    ('sim00', 'sim01', 'sim10', 'sim11')
    >>> [float(x) for x in t.length[t.tips]]
    [0.05, 0.05, 0.05, 0.05]
    """
    n_leaves = check_int("n_leaves", n_leaves, min=2)
    check_number("noise", noise, min=0, open_left=True)
    check_fraction("decay", decay, open_left=True)
    parent: list[int] = [-1]
    length: list[float] = [float("nan")]
    name: list[str | None] = ["base"]

    def grow(node: int, path: str, leaves: int, depth: int) -> None:
        if leaves == 1:
            return
        left = (leaves + 1) // 2
        for i, k in enumerate((left, leaves - left)):
            parent.append(node)
            length.append(float(noise * decay**depth))
            name.append(f"{prefix}{path}{i}")
            grow(len(parent) - 1, f"{path}{i}", k, depth + 1)

    grow(0, "", int(n_leaves), 0)
    return Tree(np.array(parent), np.array(length), tuple(name), np.full(len(parent), np.nan), True)


def _as_topology(topology: str | Tree | None, n_leaves: int, noise: float, decay: float) -> Tree:
    if topology is None:
        return balanced_topology(n_leaves, noise=noise, decay=decay)
    if isinstance(topology, str):
        from phylo_llm.io import parse_newick  # the tree helpers' parser

        topology = parse_newick(topology)
    if not isinstance(topology, Tree):
        raise PhyloLLMError(f"topology must be None, a Newick string or a Tree, got {type(topology).__name__}")
    tips = topology.tip_names
    if any(not nm for nm in tips):
        raise PhyloLLMError("every leaf of the topology must be named (leaves become model ids)")
    check_unique(tips, what="leaf names of the topology")  # type: ignore[arg-type]
    if topology.n_tips < 2:
        raise PhyloLLMError(f"topology needs at least 2 leaves, got {topology.n_tips}")
    lengths = topology.length[1:]
    if np.isnan(lengths).all():
        # No branch lengths given: apply the depth schedule.
        depth = np.zeros(len(topology), dtype=int)
        for v in range(1, len(topology)):
            depth[v] = depth[topology.parent[v]] + 1
        new = np.concatenate([[np.nan], noise * decay ** (depth[1:] - 1.0)])
        return Tree(topology.parent, new, topology.name, topology.support, True)
    if np.isnan(lengths).any() or (lengths < 0).any():
        bad = int(np.flatnonzero(np.isnan(lengths) | (lengths < 0))[0]) + 1
        raise PhyloLLMError(
            "topology branch lengths (noise sizes) must be given for every branch and be >= 0, "
            f"or for none; node {topology.name[bad]!r} has length {topology.length[bad]!r}"
        )
    return Tree(topology.parent, topology.length, topology.name, topology.support, True)


def node_paths(tree: Tree) -> tuple[tuple[int, ...], ...]:
    """Child-index path from the root of every node (root: ``()``), in node order.

    The path, not the name, identifies a node's noise, so renaming leaves keeps the weights.

    Examples
    --------
    >>> node_paths(balanced_topology(3))
    ((), (0,), (0, 0), (0, 1), (1,))
    """
    paths: list[tuple[int, ...]] = [()] * len(tree)
    for v in range(len(tree)):
        for i, c in enumerate(tree.children(v)):
            paths[int(c)] = paths[v] + (i,)
    return tuple(paths)


# ---------------------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------------------


def _tensor_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


def branch_noise(shape: tuple[int, ...], *, seed: int, path: tuple[int, ...], tensor: str) -> NDArray[np.float32]:
    """Standard-normal noise of one branch for one weight tensor: a pure function of its inputs.

    Parameters
    ----------
    shape
        Shape of the tensor.
    seed
        Lineage seed (>= 0).
    path
        Child-index path of the branch's lower node from the root (non-empty).
    tensor
        The tensor's parameter name (e.g. ``"model.layers.0.mlp.up_proj.weight"``).

    Examples
    --------
    >>> a = branch_noise((2, 3), seed=0, path=(0, 1), tensor="w")
    >>> bool((a == branch_noise((2, 3), seed=0, path=(0, 1), tensor="w")).all())
    True
    >>> bool((a == branch_noise((2, 3), seed=0, path=(0, 0), tensor="w")).any())
    False
    """
    seed = check_int("seed", seed, min=0)
    if not path:
        raise PhyloLLMError("path must name a branch (non-empty); the root has no noise")
    ss = np.random.SeedSequence((int(seed), len(path), *map(int, path), _tensor_key(tensor)))
    return np.random.default_rng(ss).standard_normal(shape, dtype=np.float32)


def derive_leaf_weights(
    base: Mapping[str, NDArray[np.floating]],
    tree: Tree,
    leaf: str,
    *,
    seed: int,
) -> dict[str, NDArray[np.float32]]:
    """Weights of ``leaf``: ``base + sum over its root path of length * std(base) * noise``.

    Parameters
    ----------
    base
        Parameter name -> float array of the base model (not modified).
    tree
        Topology with branch lengths = relative noise sizes (see :func:`balanced_topology`).
    leaf
        Name of a node of ``tree``.
    seed
        Lineage seed.

    Returns
    -------
    dict
        Parameter name -> float32 array. Tensors with zero spread (constant) are left unchanged.

    Examples
    --------
    >>> base = {"w": np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)}
    >>> t = balanced_topology(2, noise=0.1)
    >>> a = derive_leaf_weights(base, t, "sim0", seed=0)["w"]
    >>> b = derive_leaf_weights(base, t, "sim1", seed=0)["w"]
    >>> bool(np.allclose(a, base["w"], atol=0.5)), bool((a != b).all())
    (True, True)
    """
    v = tree.index_of(leaf)
    paths = node_paths(tree)
    chain = []
    while v > 0:
        chain.append((paths[v], float(tree.length[v])))
        v = int(tree.parent[v])
    out: dict[str, NDArray[np.float32]] = {}
    for tname, arr in base.items():
        w = np.array(arr, dtype=np.float32, copy=True)
        scale = float(np.std(arr, dtype=np.float64))
        if scale > 0:
            for path, sigma in reversed(chain):
                if sigma > 0:
                    w += np.float32(sigma * scale) * branch_noise(w.shape, seed=seed, path=path, tensor=tname)
        out[tname] = w
    return out


# ---------------------------------------------------------------------------------------------
# lineage on disk
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedLineage:
    """Derived models of a simulated lineage and its true tree.

    Attributes
    ----------
    true_tree
        Rooted topology; root = the base model, branch lengths = relative noise sizes.
    model_dirs
        Leaf name -> model directory loadable by :class:`extract.backends.hf.HFBackend`.
    key
        Cache key (hash of base weights, topology, seed, format).
    directory
        ``<cache>/sim/<key>``.
    seed
        Lineage seed.
    base
        What the base model was given as (short name or path).
    created
        Leaves written by this call (the others were found in the cache).
    """

    true_tree: Tree
    model_dirs: Mapping[str, Path] = field(repr=False)
    key: str
    directory: Path
    seed: int
    base: str
    created: tuple[str, ...] = ()

    @property
    def leaves(self) -> tuple[str, ...]:
        return tuple(str(n) for n in self.true_tree.tip_names)


def _file_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        with p.open("rb") as fh:
            while block := fh.read(1 << 22):
                h.update(block)
    return h.hexdigest()


def _base_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    if not files or not (path / "config.json").is_file():
        raise PhyloLLMError(f"base model directory {str(path)!r} needs config.json and *.safetensors weights")
    return [path / "config.json", *files]


def lineage_key(base_digest: str, tree: Tree, *, seed: int) -> str:
    """Cache key of a lineage: hash of base weights, topology (names, paths, lengths) and seed.

    Examples
    --------
    >>> t = balanced_topology(4)
    >>> lineage_key("x", t, seed=0) == lineage_key("x", t, seed=0) != lineage_key("x", t, seed=1)
    True
    """
    doc = {
        "format": SIM_FORMAT,
        "base": base_digest,
        "seed": int(seed),
        "nodes": [[list(p), tree.name[i], repr(float(tree.length[i]))] for i, p in enumerate(node_paths(tree))],
    }
    return sha256_json(doc)[:16]


def _load_base(path: Path) -> tuple[Any, Any]:
    """Base model (float32, CPU) and tokenizer from a GGUF file or a model directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .backends.hf import convert_gguf

    # A GGUF file is dequantised once into the shared model cache (seconds on later loads).
    where = convert_gguf(path) if path.is_file() else path
    model = AutoModelForCausalLM.from_pretrained(str(where), dtype=torch.float32, trust_remote_code=False)
    tok = AutoTokenizer.from_pretrained(str(where), trust_remote_code=False)
    return model, tok


def _write_leaf(final: Path, model: Any, tok: Any, weights: Mapping[str, NDArray[np.float32]], info: dict) -> None:
    import torch
    from safetensors.torch import save_file

    # A leaf some other run finished meanwhile (same key, same weights) is as good as ours.
    with atomic_dir(final, complete=lambda d: (d / "model.safetensors").is_file()) as tmp:
        sd = {k: torch.from_numpy(v).to(torch.float16).contiguous() for k, v in weights.items()}
        save_file(sd, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        cfg = model.config.to_dict()
        # Stored in float16 to halve the disk; computed in float32 like the base (CPU fp16 is slow).
        cfg["dtype"] = "float32"
        cfg.pop("torch_dtype", None)
        cfg.pop("quantization_config", None)
        # Backends fingerprint a model directory by its config; this makes every leaf's unique.
        cfg["phylo_llm_simulated"] = {"key": info["key"], "leaf": info["leaf"]}
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        (tmp / "simulated.json").write_text(json.dumps(info, indent=2, sort_keys=True))


def simulate_lineage(
    base: str | Path = "smollm2-135m",
    *,
    n_leaves: int = 8,
    topology: str | Tree | None = None,
    noise: float = 0.06,
    decay: float = 0.5,
    seed: int = 0,
    cache: str | Path | None = None,
) -> SimulatedLineage:
    """Derive (or load from the cache) the models of a simulated lineage from a real base model.

    Parameters
    ----------
    base
        Bundled model name (see :func:`extract.models.resolve_model`), a ``.gguf`` file or a
        transformers model directory.
    n_leaves
        Leaves of the balanced topology (ignored when ``topology`` is given).
    topology
        A Newick string or :class:`~phylo_llm.tree.Tree` with named leaves. Branch lengths, when
        present, are the relative noise sizes; when absent, the ``noise``/``decay`` depth
        schedule applies.
    noise, decay
        Noise schedule: depth-``d`` branches get ``noise * decay ** (d - 1)``.
    seed
        Lineage seed; the noise of a branch depends only on (seed, branch path, tensor name).
    cache
        Cache root; default :func:`extract.models.cache_dir`. Models go to ``<cache>/sim/<key>/``.

    Returns
    -------
    SimulatedLineage

    Examples
    --------
    Not run by the test suite: it writes four perturbed 135M models (tests/test_simulate.py uses a
    tiny one).

    >>> lin = simulate_lineage("smollm2-135m", n_leaves=4)  # doctest: +SKIP
    >>> lin.leaves  # doctest: +SKIP
    ('sim00', 'sim01', 'sim10', 'sim11')
    """
    from . import models

    seed = check_int("seed", seed, min=0)
    tree = _as_topology(topology, n_leaves, noise, decay)
    resolved = models.resolve_model(base)
    if not isinstance(resolved, Path):
        raise PhyloLLMError(f"base must be a local or bundled model (the weights are perturbed), got hub id {base!r}")
    digest = _file_digest(_base_files(resolved))
    key = lineage_key(digest, tree, seed=seed)
    root = (Path(cache).expanduser() if cache is not None else models.cache_dir()) / "sim" / key
    root.mkdir(parents=True, exist_ok=True)
    leaves = [str(n) for n in tree.tip_names]
    dirs = {leaf: root / leaf for leaf in leaves}
    missing = [leaf for leaf in leaves if not (dirs[leaf] / "model.safetensors").is_file()]
    if missing:
        import torch

        model, tok = _load_base(resolved)
        with torch.no_grad():
            base_w = {k: p.detach().numpy() for k, p in model.named_parameters()}
        for leaf in missing:
            w = derive_leaf_weights(base_w, tree, leaf, seed=seed)
            info = {
                "format": SIM_FORMAT,
                "base": str(base),
                "base_sha256": digest,
                "seed": int(seed),
                "leaf": leaf,
                "key": key,
            }
            _write_leaf(dirs[leaf], model, tok, w, info)
    manifest = {
        "format": SIM_FORMAT,
        "base": str(base),
        "base_sha256": digest,
        "seed": int(seed),
        "parent": tree.parent.tolist(),
        "name": list(tree.name),
        "length": [None if np.isnan(x) else float(x) for x in tree.length],
    }
    from phylo_llm.util import atomic_write_text

    atomic_write_text(root / _MANIFEST, json.dumps(manifest, indent=1))
    return SimulatedLineage(tree, dirs, key, root, int(seed), str(base), tuple(missing))
