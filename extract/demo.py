"""The end-to-end demo: a simulated lineage with a known tree, its DNA, the inferred tree, a score.

:func:`run_demo` is what ``phylo-llm demo`` and ``scripts/demo.sh`` run on a fresh machine:

1. derive a small lineage from the bundled SmolLM2-135M-Instruct (:mod:`extract.simulate`);
2. extract every leaf's DNA with the real pipeline (greedy responses to random-English probes ->
   MiniLM embeddings -> JL projection; :func:`extract.runner.run_extraction`), optionally with the
   real Gemma-3-270M as an outgroup;
3. build the neighbour-joining tree and score it against the true tree (Robinson-Foulds);
4. write DNA, both trees (Newick), a JSON summary and a figure into the output folder.

Everything is cached: derived models and responses by their own modules, and the finished DNA of
a demo configuration under ``<cache>/sim/<lineage key>/demo-<hash>.json`` so that a second run
skips loading models altogether (it only rebuilds the tree and the figure).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phylo_llm.io import read_dna, write_dna
from phylo_llm.tree import Tree
from phylo_llm.util import atomic_write_text, sha256_json

from .defaults import DEFAULT_DIMS, DEFAULT_SEED

__all__ = ["DemoResult", "run_demo", "DEMO_DEFAULTS", "clade_groups"]

#: Defaults chosen so a fresh 2-core machine finishes in a few minutes (see BENCHMARKS.md).
DEMO_DEFAULTS: dict[str, Any] = {
    "n_leaves": 8,
    "probes": "random:32:0",
    "max_new_tokens": 32,
    "dims": DEFAULT_DIMS,
    "noise": 0.06,
    "decay": 0.5,
    "seed": DEFAULT_SEED,
    "outgroup": True,
}
_DEMO_FORMAT = "phylo_llm.demo-v1"
OUTGROUP = "gemma3-270m"


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` made.

    Attributes
    ----------
    tree
        The inferred NJ tree (midpoint-rooted, or rooted on the outgroup).
    true_tree
        The simulated lineage's tree.
    rf, rf_normalized
        Unrooted Robinson-Foulds distance between both trees over the simulated leaves.
    files
        Role -> path of every file written (``"dna"``, ``"tree"``, ``"true_tree"``,
        ``"summary"``, and ``"figure"`` when matplotlib is available).
    dna_cached
        Whether the DNA came from the demo cache (no model was loaded).
    seconds
        Wall time of the call.
    notes
        Anything the caller should know (models excluded, figure skipped).
    """

    tree: Tree
    true_tree: Tree
    rf: float
    rf_normalized: float
    files: dict[str, Path] = field(repr=False)
    dna_cached: bool
    seconds: float
    notes: tuple[str, ...] = ()


def clade_groups(true_tree: Tree, *, depth: int) -> dict[str, str]:
    """Leaf -> name of its ancestor ``depth`` branches below the root (or itself if shallower).

    Used to colour the figure by true clade.

    Examples
    --------
    >>> from extract.simulate import balanced_topology
    >>> clade_groups(balanced_topology(4), depth=1)
    {'sim00': 'sim0', 'sim01': 'sim0', 'sim10': 'sim1', 'sim11': 'sim1'}
    """
    out: dict[str, str] = {}
    for tip in true_tree.tips:
        chain = [int(tip)]
        while true_tree.parent[chain[-1]] > 0:
            chain.append(int(true_tree.parent[chain[-1]]))
        anc = chain[-depth] if len(chain) >= depth else chain[0]
        out[str(true_tree.name[tip])] = str(true_tree.name[anc])
    return out


def _demo_key(lineage_key: str, cfg: dict[str, Any], probes_id: str) -> str:
    doc = {"format": _DEMO_FORMAT, "lineage": lineage_key, "probes": probes_id, **cfg}
    return sha256_json(doc)[:16]


def run_demo(
    output_dir: str | Path = "phylo-llm-demo",
    *,
    n_leaves: int = DEMO_DEFAULTS["n_leaves"],
    probes: str = DEMO_DEFAULTS["probes"],
    max_new_tokens: int = DEMO_DEFAULTS["max_new_tokens"],
    dims: int = DEMO_DEFAULTS["dims"],
    noise: float = DEMO_DEFAULTS["noise"],
    decay: float = DEMO_DEFAULTS["decay"],
    seed: int = DEMO_DEFAULTS["seed"],
    base: str | Path = "smollm2-135m",
    outgroup: bool = DEMO_DEFAULTS["outgroup"],
    threads: int | None = None,
    cache: str | Path | None = None,
    figure: bool = True,
    progress: Callable[[Any], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> DemoResult:
    """Simulate a lineage, extract its DNA, infer the NJ tree, score it, write files.

    Parameters
    ----------
    output_dir
        Folder for the results (created).
    n_leaves, noise, decay, seed, base
        The simulated lineage (see :func:`extract.simulate.simulate_lineage`).
    probes
        Probe-set spec (see :func:`extract.probes.load_probes`).
    max_new_tokens
        Greedy tokens per response.
    dims
        DNA dimension (projection seed = ``seed``).
    outgroup
        Also extract the real Gemma-3-270M (bundled; ~1 min more on a fresh machine) and root
        the tree on it; the score is over the simulated leaves only.
    threads
        torch CPU threads (default: torch's choice).
    cache
        Cache root (default ``$PHYLO_LLM_CACHE`` or ``~/.cache/phylo_llm``).
    figure
        Draw ``tree.png`` (needs matplotlib).
    progress
        Per-model progress callback (see :mod:`extract.progress`).
    log
        Receives one-line status messages (the CLI prints them); ``None`` is silent.

    Returns
    -------
    DemoResult

    Examples
    --------
    Not run by the test suite: it takes minutes (tests/test_demo.py runs it on a tiny model).

    >>> res = run_demo("phylo-llm-demo")  # doctest: +SKIP
    >>> res.rf  # doctest: +SKIP
    0.0
    """
    from .models import cache_dir
    from .probes import load_probes

    say = log or (lambda _msg: None)
    og_label = Path(str(OUTGROUP)).name  # the bundled name, or a directory's name
    started = time.perf_counter()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache_root = Path(cache).expanduser() if cache is not None else cache_dir()
    probe_set = load_probes(probes)
    lineage = _lineage(base, n_leaves=n_leaves, noise=noise, decay=decay, seed=seed, cache=cache_root, say=say)

    notes: list[str] = []
    dna, cached, cfg = _demo_dna(
        lineage,
        probe_set,
        out,
        max_new_tokens=max_new_tokens,
        dims=dims,
        seed=seed,
        outgroup=outgroup,
        threads=threads,
        cache=cache_root,
        progress=progress,
        notes=notes,
        say=say,
    )

    files: dict[str, Path] = {"dna": write_dna(dna, out / "dna.json")}
    scored = _score(dna, lineage, og_label if outgroup else None)
    files.update(_write_trees(scored.shown, lineage.true_tree, out))
    if figure:
        fig = _figure(
            scored.shown,
            lineage.true_tree,
            out / "tree.png",
            rf=scored.rf,
            n=len(scored.leaves),
            base=str(base),
            outgroup=og_label if outgroup else None,
        )
        if fig is None:
            notes.append("no figure: matplotlib is not installed (pip install 'phylo-llm[plot]')")
        else:
            files["figure"] = fig
    seconds = time.perf_counter() - started
    summary = _summary(
        base=base,
        lineage=lineage,
        probes=probes,
        probe_set=probe_set,
        cfg=cfg,
        scored=scored,
        dna=dna,
        outgroup=og_label if outgroup else None,
        noise=noise,
        decay=decay,
        cached=cached,
        seconds=seconds,
        notes=notes,
    )
    files["summary"] = out / "demo.json"
    atomic_write_text(files["summary"], json.dumps(summary, indent=1) + "\n")
    return DemoResult(
        scored.shown, lineage.true_tree, scored.rf, scored.rf_normalized, files, cached, seconds, tuple(notes)
    )


def _summary(
    *,
    base: Any,
    lineage: Any,
    probes: str,
    probe_set: Any,
    cfg: dict[str, Any],
    scored: Any,
    dna: Any,
    outgroup: str | None,
    noise: float,
    decay: float,
    cached: bool,
    seconds: float,
    notes: list[str],
) -> dict[str, Any]:
    """``demo.json``: what was run (lineage, probes, settings) and how well the tree came back."""
    return {
        "format": _DEMO_FORMAT,
        "base": str(base),
        "lineage_key": lineage.key,
        "leaves": list(lineage.leaves),
        "probes": {"spec": probes, "id": probe_set.id, "n": len(probe_set)},
        **cfg,
        "outgroup": outgroup,
        "noise": noise,
        "decay": decay,
        "rf": scored.rf,
        "rf_max": 2 * (len(scored.leaves) - 3),
        "rf_normalized": scored.rf_normalized,
        "dna_cached": cached,
        "seconds": round(seconds, 1),
        "provenance": dna.provenance.to_dict(),
        "notes": notes,
    }


def _lineage(
    base: str | Path,
    *,
    n_leaves: int,
    noise: float,
    decay: float,
    seed: int,
    cache: Path,
    say: Callable[[str], None],
) -> Any:
    from .simulate import simulate_lineage

    t0 = time.perf_counter()
    lineage = simulate_lineage(base, n_leaves=n_leaves, noise=noise, decay=decay, seed=seed, cache=cache)
    made = f"derived {len(lineage.created)}" if lineage.created else "reused"
    say(
        f"lineage: {len(lineage.leaves)} leaves from {base} ({made}; {time.perf_counter() - t0:.0f} s)"
        f" in {lineage.directory}"
    )
    return lineage


def _demo_dna(
    lineage: Any,
    probe_set: Any,
    out: Path,
    *,
    max_new_tokens: int,
    dims: int,
    seed: int,
    outgroup: bool,
    threads: int | None,
    cache: Path,
    progress: Callable[[Any], None] | None,
    notes: list[str],
    say: Callable[[str], None],
) -> tuple[Any, bool, dict[str, Any]]:
    """``(dna, reused from the cache, the run's settings)``: the cached DNA of this lineage when it
    was made exactly so, else a fresh extraction (then cached)."""
    from .defaults import DEFAULT_RECIPE
    from .embed import DEFAULT_EMBEDDER
    from .projection import PROJECTION
    from .recipe import resolve_recipe

    # The recipe the extraction uses ("auto" resolved for these probes), so the cache key and
    # demo.json name it, and a cached DNA made otherwise is not taken for this run's.
    recipe = resolve_recipe(DEFAULT_RECIPE, probe_set=probe_set.id)
    cfg = {
        "max_new_tokens": int(max_new_tokens),
        "dims": int(dims),
        "seed": int(seed),
        "recipe": recipe.id,
        "embedder": DEFAULT_EMBEDDER,
        "outgroup": bool(outgroup),
    }
    dna_cache = lineage.directory / f"demo-{_demo_key(lineage.key, cfg, probe_set.id)}.json"
    expected = {
        "probe_set": probe_set.id,
        "n_probes": len(probe_set),
        "recipe": recipe.id,
        "projection": PROJECTION,
        "seed": int(seed),
        "dims": int(dims),
    }
    dna = _cached_dna(dna_cache, expected, say)
    cached = dna is not None
    if dna is None:  # the cache names the recipe, so a DNA made otherwise is never reused
        dna = _extract(
            lineage,
            probe_set,
            out / "extraction",
            max_new_tokens=max_new_tokens,
            dims=dims,
            seed=seed,
            outgroup=outgroup,
            threads=threads,
            cache=cache,
            progress=progress,
            notes=notes,
            say=say,
            recipe=recipe,
            embedder=DEFAULT_EMBEDDER,
        )
        write_dna(dna, dna_cache)
    return dna, cached, cfg


def _cached_dna(path: Path, expected: dict[str, Any], say: Callable[[str], None]) -> Any:
    """The cached DNA when it exists and its provenance is this run's, else ``None`` (said why)."""
    if not path.is_file():
        return None
    dna = read_dna(path)
    got = dna.provenance.to_dict()
    stale = [f"{k}: {got[k]!r} != {v!r}" for k, v in expected.items() if got[k] != v]
    if stale:
        say(f"DNA: {path} was made differently ({'; '.join(stale)}); extracting again")
        return None
    say(f"DNA: reused {path}")
    return dna


def _extract(
    lineage: Any,
    probe_set: Any,
    out_dir: Path,
    *,
    max_new_tokens: int,
    dims: int,
    seed: int,
    outgroup: bool,
    threads: int | None,
    cache: Path,
    progress: Callable[[Any], None] | None,
    notes: list[str],
    say: Callable[[str], None],
    recipe: Any,
    embedder: str,
) -> Any:
    """The DNA of every leaf (and the outgroup) through the real pipeline; exclusions go to ``notes``."""
    from .backends.hf import HFBackend
    from .runner import run_extraction

    og_label = Path(str(OUTGROUP)).name

    def backends() -> Iterator[Any]:
        # Loaded one at a time: only one model's weights in memory.
        for leaf in lineage.leaves:
            yield HFBackend(
                lineage.model_dirs[leaf], model_id=leaf, max_new_tokens=max_new_tokens, batch_size=16, threads=threads
            )
        if outgroup:
            yield HFBackend(OUTGROUP, model_id=og_label, max_new_tokens=max_new_tokens, batch_size=16, threads=threads)

    t0 = time.perf_counter()
    # The outgroup may lack a chat template; the label says the set was made on purpose.
    generation = f"greedy, max_new_tokens={max_new_tokens}, chat template when the model has one" if outgroup else None
    res = run_extraction(
        backends(),
        probe_set,
        out_dir=out_dir,
        seed=seed,
        dims=dims,
        threads=threads,
        cache_dir=cache,
        progress=progress,
        generation=generation,
        embedder=embedder,
        recipe=recipe,
    )
    if res.excluded:
        notes.append(f"{len(res.excluded)} model(s) excluded for empty responses")
    say(f"DNA: {len(res.dna)} models x {res.dna.dims} dims ({time.perf_counter() - t0:.0f} s)")
    return res.dna


@dataclass(frozen=True)
class _Scored:
    shown: Tree  # the NJ tree as drawn: rooted on the outgroup, else at the midpoint
    rf: float
    rf_normalized: float
    leaves: tuple[str, ...]  # the simulated leaves that got DNA (the score is over these)


def _score(dna: Any, lineage: Any, outgroup: str | None) -> _Scored:
    """The NJ tree, rooted for display, and its RF distance to the true tree over the simulated leaves."""
    from phylo_llm.data import dna_distances
    from phylo_llm.tree import nj, prune, robinson_foulds, root_midpoint, root_outgroup

    dm = dna_distances(dna)
    inferred = nj(dm)
    sim_leaves = [leaf for leaf in lineage.leaves if leaf in dna.labels]
    if outgroup is not None and outgroup in dna.labels:
        shown = root_outgroup(inferred, outgroup)
        scored = nj(dm.subset(sim_leaves))
    else:
        shown = root_midpoint(inferred)
        scored = inferred
    true_tree = lineage.true_tree
    if len(sim_leaves) != len(lineage.leaves):
        true_tree = prune(true_tree, sim_leaves)
    rf = robinson_foulds(scored, true_tree)
    rf_norm = robinson_foulds(scored, true_tree, normalize=True)
    return _Scored(shown, rf, rf_norm, tuple(sim_leaves))


def _write_trees(shown: Tree, true_tree: Tree, out: Path) -> dict[str, Path]:
    from phylo_llm.io import write_newick

    files = {"tree": out / "tree_nj.nwk", "true_tree": out / "true_tree.nwk"}
    write_newick(shown, files["tree"])
    write_newick(true_tree, files["true_tree"])
    return files


def _figure(
    tree: Tree, true_tree: Tree, path: Path, *, rf: float, n: int, base: str, outgroup: str | None
) -> Path | None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None
    import pandas as pd

    from phylo_llm.plot.tree import save_tree

    # Colour tips by their true clade two levels below the root: a correct tree keeps colours
    # together.
    groups = clade_groups(true_tree, depth=2 if n >= 8 else 1)
    meta = pd.DataFrame({"family": pd.Series(groups)})
    meta.index.name = "model"
    what = f"{n} simulated descendants of {base}" + (f" + {outgroup} outgroup" if outgroup else "")
    title = f"NJ tree of {what} (RF to true tree = {rf:g} of {2 * (n - 3)})"
    return save_tree(tree, path, meta=meta, title=title)
