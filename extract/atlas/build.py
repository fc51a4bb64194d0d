"""Building an atlas from recorded answers of a real model population (the shared reference data).

``phylo-llm build-atlas NAME`` runs :func:`build_atlas`, a table of contents of named steps:

1. :func:`read_population` — the prompts and every model's answers to the first ``n_probes``;
2. :func:`exclusions` — models whose answers are mostly empty get no DNA (the reason is kept);
3. :func:`extract.atlas.population.embed_population` — every answer embedded once per distinct window,
   cached and resumable (the long step: about 4 minutes per 1,200 answers on 2 CPU cores);
4. :func:`extract.recipe.fit_reference` — label-free statistics of the kept population;
5. ``whitened`` (v2) features = the atlas DNA: exact for ``paper``; for ``rand-zh`` a seeded
   4,096-d Gaussian projection of them, to keep both atlases within 25 MB (docs/atlas.md);
6. :func:`member_labels` — curated labels where the reference table has the model, else the
   organisation from the id and a family guessed from the name (marked ``"name"``);
7. the atlas NJ tree, and the confidence calibration from leave-one-out placements of its own
   members (:func:`calibrate`);
8. :func:`phylo_llm.atlas.write_atlas` into ``phylo_llm/atlas/bundled/<name>.npz``.

The sources and their settings are in :data:`SOURCES`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import lzma
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phylo_llm.atlas import (
    ATLAS_DIR,
    Atlas,
    AtlasMember,
    calibrate,
    calibration_record,
    compose_atlas,
    family_and_relative,
    load_atlas,
    name_relabels,
    placement_parents,
    placement_votes,
    shared_members,
    write_atlas,
)
from phylo_llm.data import Provenance, pairwise_distances
from phylo_llm.errors import PhyloLLMError
from phylo_llm.io import to_newick
from phylo_llm.tree import nj
from phylo_llm.util import canonical_json, check_choice, check_int, sha256_file

from ..embed import load_embedder
from ..probes import ProbeSet
from ..progress import ProgressCallback
from ..projection import PROJECTION, project
from ..recipe import WhitenedRecipe, fit_reference, stats_to_arrays
from .population import embed_population

__all__ = [
    "SOURCES",
    "AtlasSource",
    "build_atlas",
    "read_population",
    "exclusions",
    "degenerate",
    "member_labels",
    "label_table",
    "curated_families",
    "calibrate",
    "atlas_recipe",
    "API_MEMBERS",
    "COMPOSITES",
    "build_composite",
    "crossfit_calibration",
    "family_key",
    "half_of",
    "CALIBRATION_SPLITS",
]


@dataclass(frozen=True)
class AtlasSource:
    """Where an atlas's population comes from and how its answers were generated."""

    folder: str
    description: str
    settings: Mapping[str, Any]
    match: Mapping[str, Any]
    n_probes: int
    #: DNA dims: ``None`` = the exact whitened-v2 features (n_probes x embedder dim), else a seeded
    #: Gaussian projection to this many dims (to keep all atlases within the 25 MB budget).
    dims: int | None = None
    basis_k: int = 1  # the per-probe basis is not used by the atlas DNA; keep it small
    #: The embedder id (:func:`extract.embed.load_embedder` makes it; recorded in the provenance).
    embedder: str = "sentence-transformers/all-MiniLM-L6-v2"


SOURCES: dict[str, AtlasSource] = {
    "rand-zh": AtlasSource(
        folder="llm-dna-rand-zh",
        description="1,585 real LLMs answering random classical-Chinese texts (llm-dna 0.2 run)",
        settings={
            "prompt": "raw (no chat template)",
            "decoding": "greedy (llm-dna 0.2 default)",
            "dtype": "bfloat16",
            "max_length": 1024,
            "engine": "vLLM where available",
            "source": "JerryLife/dna-web dna-out/rand (authors' run records)",
        },
        match={"chat_template": False, "decoding": "greedy"},
        n_probes=16,
        # exact: 16 probes x 256 buckets. At half the exact size, fewer buckets beat a projection
        # on paper (docs/atlas.md); a 256-character window costs no more generation than MiniLM's.
        embedder="char-ngram-1-3-d256-w256-v1",
    ),
    "paper": AtlasSource(
        folder="llm-dna-paper",
        description="345 real LLMs answering SQuAD/CQA/HellaSwag/WinoGrande/ARC/MMLU questions (the ICLR 2026 paper's run)",
        settings={
            "prompt": "as given",
            "decoding": "sampling",
            "temperature": 0.7,
            "top_p": 0.9,
            "max_length": 1024,
            "engine": "vLLM",
            "samples": 1,
            "source": "JerryLife/dna-web dna-out/squad_cqa_hs_wg_arc_mmlu",
        },
        match={"decoding": "sampling", "temperature": 0.7, "top_p": 0.9},
        n_probes=32,
        embedder="char-ngram-1-3-d512-w512-v1",  # buckets and window chosen on this population
    ),
}

#: Members of rand-zh that answered through a chat API rather than raw prompts (issue 12 names
#: them; the lowercase ``qwen/...`` and ``arcee-ai/trinity-mini`` ids are API routes of models
#: that also appear under their Hugging Face spelling).
API_MEMBERS = frozenset(
    {
        "qwen/qwen3-14b",
        "qwen/qwen2.5-coder-7b-instruct",
        "qwen/qwen3-coder-next",
        "moonshotai/kimi-k2-thinking",
        "tencent/hunyuan-a13b-instruct",
        "arcee-ai/trinity-mini",
    }
)

#: Composite atlases (:func:`phylo_llm.atlas.compose_atlas`): built from bundled atlases, over the
#: models every part holds. Probe diversity is the lever measured in BENCHMARKS.md ("combined").
COMPOSITES: dict[str, tuple[tuple[str, ...], str]] = {
    "combined": (
        ("paper", "rand-zh"),
        "the models in both paper and rand-zh, each answering both probe sets (their DNA concatenated)",
    ),
}

MAX_EMPTY = 0.5


def read_population(folder: Path, n_probes: int) -> tuple[tuple[str, ...], list[str], list[list[str]]]:
    """``(prompts, model ids, answers)`` of the first ``n_probes`` probes of a reference folder."""
    prompts_path, responses_path = folder / "prompts.json", folder / "responses.jsonl.xz"
    for p in (prompts_path, responses_path):
        if not p.is_file():
            raise PhyloLLMError(f"reference data file {str(p)!r} does not exist")
    prompts = json.loads(prompts_path.read_text(encoding="utf-8"))
    check_int("n_probes", n_probes, min=1, max=len(prompts))
    models, answers = [], []
    with lzma.open(responses_path, "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            models.append(doc["model"])
            answers.append(list(doc["responses"][:n_probes]))
    return tuple(prompts[:n_probes]), models, answers


#: Special-token text models print when they have nothing to say (``<|endoftext|>``, ``</s>``,
#: ``<unk>``, ``[UNK]``, ``<|im_end|>``...), removed before judging whether an answer has content.
_SPECIAL_TOKENS = re.compile(r"<\|?[^<>\s]{1,40}\|?>|\[UNK\]")


def degenerate(answer: str) -> bool:
    """Whether an answer has no content: empty, or at most 2 distinct characters once special
    tokens and white space are removed (``"."``, ``"AAAA…"``, ``"<|im_end|>"``, ``"\\n\\n…"``).

    Examples
    --------
    >>> [degenerate(a) for a in ["", " . ", "AAAAAAAA", "<|endoftext|>", "ab ab", "虽以学为风", "no"]]
    [True, True, True, True, True, False, True]
    """
    return len(set(_SPECIAL_TOKENS.sub("", answer).replace(" ", "").replace("\n", "").strip())) <= 2


def exclusions(
    models: Sequence[str], answers: Sequence[Sequence[str]], *, max_empty: float = MAX_EMPTY
) -> dict[str, str]:
    """``{model: reason}`` for models more than ``max_empty`` of whose answers are empty or
    :func:`degenerate`: their DNA says nothing about lineage, and identical junk DNA (measured
    on rand-zh: 81 models have an exact DNA twin through junk answers) crowds every neighbourhood.

    Examples
    --------
    >>> exclusions(["a", "b", "c"], [["xyz", ""], ["", " "], ["<|endoftext|>", "...", "xyz"]])
    {'b': '2 of 2 answers empty or without content (2 empty)', 'c': '2 of 3 answers empty or without content (0 empty)'}
    """
    out = {}
    for m, r in zip(models, answers):
        junk = sum(degenerate(a) for a in r)
        if junk > max_empty * len(r):
            empty = sum(not a.strip() for a in r)
            out[m] = f"{junk} of {len(r)} answers empty or without content ({empty} empty)"
    return out


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def label_table(meta_path: Path | None) -> dict[str, dict[str, str]]:
    """The curated label table (``models_meta.csv``) by model id; empty when there is none."""
    if meta_path is None or not meta_path.is_file():
        return {}
    import csv

    with meta_path.open(encoding="utf-8", newline="") as fh:
        return {row["model"]: row for row in csv.DictReader(fh)}


def curated_families(table: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """``{model: family}`` of the label table's rows that have a family: what a name family
    is read from when an id is or extends a curated model's name (:func:`family_from_name`)."""
    return {m: f for m, row in table.items() if (f := _text(row.get("family")))}


def member_labels(models: Sequence[str], meta_path: Path | None) -> list[AtlasMember]:
    """Labels per model: the curated table's row when present, else organisation + name family
    (from the curated model whose name the id is or extends, else from name patterns)."""
    table = label_table(meta_path)
    known = curated_families(table)
    out = []
    for m in models:
        org = m.split("/", 1)[0] if "/" in m else None
        group = "chat-api" if m in API_MEMBERS else "raw"
        row = table.get(m)
        if row is not None:
            params = _text(row.get("params_b"))
            out.append(
                AtlasMember(
                    m,
                    organisation=_text(row.get("organization")) or org,
                    family=_text(row.get("family")),
                    family_source="curated" if _text(row.get("family")) else None,
                    base_model=_text(row.get("base_model")),
                    relation=_text(row.get("relation")),
                    architecture=_text(row.get("architecture")),
                    release=_text(row.get("release")),
                    params_b=float(params) if params else None,
                    group=group,
                )
            )
        else:
            fam, rel = family_and_relative(m, known)
            out.append(
                AtlasMember(
                    m, organisation=org, family=fam, family_source="name" if fam else None, group=group, family_from=rel
                )
            )
    return out


def atlas_recipe(stats_meta: Mapping[str, Any], stats: Mapping[str, NDArray[np.floating]]) -> WhitenedRecipe:
    """The recipe an atlas's DNA is made with (``whitened`` v2), rebuilt from the statistics it stores."""
    from ..recipe import stats_from_arrays

    return WhitenedRecipe(stats_from_arrays(stats_meta, stats), scope="probe")


def atlas_vectors(
    recipe: WhitenedRecipe,
    emb: NDArray[np.floating],
    *,
    probe_set: str,
    projection: str | None,
    seed: int | None,
    dims: int,
) -> NDArray[np.float64]:
    """DNA of models from their ``(n_models, n_probes, dim)`` embeddings, as an atlas makes it:
    the recipe's features, exact (``projection="none"``) or projected (``"gaussian-jl"``)."""
    feats = np.stack([recipe.features(e, probe_set=probe_set) for e in np.asarray(emb)])
    if projection == "none":
        return feats.reshape(len(feats), -1)
    if projection != PROJECTION or seed is None:
        raise PhyloLLMError(f"atlas projection must be 'none' or {PROJECTION!r} with a seed, got {projection!r}")
    return project(feats, seed=seed, dims=dims)


def build_atlas(
    name: str,
    *,
    data_dir: str | Path,
    n_probes: int | None = None,
    out: str | Path | None = None,
    embedder: Any = None,
    cache_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
    threads: int | None = None,
    basis_k: int | None = None,
    meta_path: str | Path | None = None,
) -> Atlas:
    """Build the atlas ``name`` (a key of :data:`SOURCES`) from the reference data in ``data_dir``.

    Returns the atlas, also written to ``out`` (default ``phylo_llm/atlas/bundled/<name>.npz``).
    """
    if name in COMPOSITES:
        return build_composite(name, out=out, data_dir=data_dir, cache_dir=cache_dir, progress=progress)
    check_choice("atlas name", name, sorted([*SOURCES, *COMPOSITES]))
    src = SOURCES[name]
    n = src.n_probes if n_probes is None else n_probes
    folder = Path(data_dir) / src.folder
    prompts, models, answers = read_population(folder, n)
    excluded = exclusions(models, answers)
    emb_model = embedder or load_embedder(src.embedder, batch_size=32, threads=threads)
    emb = embed_population(emb_model, answers, cache_dir=cache_dir, progress=progress)
    keep = [i for i, m in enumerate(models) if m not in excluded]
    kept = [models[i] for i in keep]
    stats = fit_reference(
        emb[keep],
        prompts=prompts,
        embedder=emb_model.id,
        name=f"atlas {name}",
        basis_k=src.basis_k if basis_k is None else basis_k,
    )
    recipe = WhitenedRecipe(stats, scope="probe")
    probes = ProbeSet(prompts, name=name)
    projection, seed, dims = _projection(src, n, stats.dim)
    dna = atlas_vectors(recipe, emb[keep], probe_set=probes.id, projection=projection, seed=seed, dims=dims)
    labels_file = Path(meta_path) if meta_path else Path(data_dir) / "llm-dna-paper" / "models_meta.csv"
    members = member_labels(kept, labels_file)
    relabel = name_relabels(members, curated_families(label_table(labels_file)))
    dm = pairwise_distances(dna, kept)  # one matrix for the tree and the calibration
    tree = nj(dm)
    stats_meta, stats_arrays = stats_to_arrays(stats)
    prov = Provenance(
        probe_set=probes.id,
        n_probes=len(probes),
        embedder=emb_model.id,
        generation=canonical_json(dict(src.match)),
        recipe=recipe.id,
        projection=projection,
        seed=seed,
        dims=int(dna.shape[1]),
    )
    atlas = Atlas(
        name=name,
        description=src.description,
        prompts=prompts,
        settings=src.settings,
        match=src.match,
        provenance=prov,
        members=tuple(members),
        dna=dna.astype(np.float32),
        excluded=excluded,
        newick=to_newick(tree, precision=5),
        calibration=crossfit_calibration(members, _single_dna_for(src, prompts, probes.id, emb[keep]), relabel=relabel)
        or calibrate(members, dm.values, relabel=relabel),
        stats=stats_arrays,
        stats_meta=stats_meta,
        build={
            "source": src.folder,
            "responses_sha256": sha256_file(folder / "responses.jsonl.xz"),
            "n_recorded": len(models),
            "n_probes": n,
            "command": f"phylo-llm build-atlas {name} --data {data_dir} --probes {n}",
        },
    )
    write_atlas(atlas, Path(out) if out is not None else ATLAS_DIR / f"{name}.npz")
    return atlas


def build_composite(
    name: str,
    *,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
    embedders: Mapping[str, Any] | None = None,
) -> Atlas:
    """Build the composite atlas ``name`` (a key of :data:`COMPOSITES`) from the atlases next to
    ``out`` (default: the bundled ones); written to ``out`` (default the bundled location).

    With ``data_dir`` (the reference data the parts were built from) the confidence calibration
    is fitted out of fold (:func:`crossfit_calibration`: each part's statistics refitted on half
    of that part's population, its answers re-embedded with the part's embedder, or with
    ``embedders[part name]`` when given); without it, in sample on the composite distances."""
    parts, description = COMPOSITES[name]
    target = Path(out) if out is not None else ATLAS_DIR / f"{name}.npz"
    atlases = []
    for part in parts:
        local = target.parent / f"{part}.npz"
        atlases.append(load_atlas(local if local.is_file() else part))
    atlas = compose_atlas(name, description, atlases)
    if data_dir is not None:
        feats = [_part_features(a, Path(data_dir), cache_dir, progress, (embedders or {}).get(a.name)) for a in atlases]
        dna_for = _composite_dna_for(atlases, feats)
        known = curated_families(label_table(Path(data_dir) / "llm-dna-paper" / "models_meta.csv"))
        relabel = name_relabels(atlas.members, known)
        atlas = dataclasses.replace(
            atlas, calibration=crossfit_calibration(atlas.members, dna_for, relabel=relabel) or atlas.calibration
        )
    write_atlas(atlas, target)
    return atlas


#: Seeded family splits of the out-of-fold confidence calibration (each split is used both ways).
CALIBRATION_SPLITS = 3


def family_key(m: AtlasMember) -> str:
    """The group a member is split by in cross-fitting: its family (curated or from its name),
    else its organisation, else its id; a family never straddles the two halves."""
    return "fam:" + m.family if m.family is not None else "org:" + (m.organisation or m.model)


def half_of(key: str, seed: int) -> int:
    """Which half (0 or 1) a split key falls in, for split ``seed`` (a hash: stable everywhere).

    >>> half_of("fam:llama", 0), half_of("fam:llama", 1)
    (0, 1)
    """
    return hashlib.sha256(f"{seed}:{key}".encode()).digest()[0] % 2


def crossfit_calibration(
    members: Sequence[AtlasMember],
    dna_for: Any,
    *,
    splits: int = CALIBRATION_SPLITS,
    k: int = 10,
    relabel: Mapping[int, Mapping[int, str | None]] | None = None,
) -> dict[str, Any] | None:
    """Confidence calibration fitted **out of fold**: for each seeded split of the members into
    two halves by :func:`family_key`, ``dna_for(seed, halves, fit_half)`` gives every member's DNA
    made with statistics fitted on the fitting half (``halves == fit_half``) only, and the other half's members are placed
    (leave-one-out, among all members; ``relabel``, from :func:`~phylo_llm.atlas.name_relabels`,
    hides the name families read from the placed model's own label); the logistic model is
    fitted on all those placements.
    A placed model's own answers then never shaped the distances it is judged by, as for a new
    model placed by a user (in-sample fitting made the composite atlas over-confident).

    ``None`` when there are fewer than 3 such placements or they are all right or all wrong (a
    tiny or perfectly separated population): no confidence model can be fitted on them, and the caller falls back to
    :func:`~phylo_llm.atlas.calibrate` in sample."""
    share, margin, right, parents = [], [], [], []
    ids = [m.model for m in members]
    for seed in range(splits):
        halves = np.array([half_of(family_key(m), seed) for m in members])
        for fit_half in (0, 1):
            if (halves == fit_half).sum() < 2 or not (halves != fit_half).any():
                continue  # a tiny population whose families all fell in one half: nothing to fit or score
            d = pairwise_distances(dna_for(seed, halves, fit_half), ids).values
            rows = np.flatnonzero(halves != fit_half)
            s, g, r = placement_votes(members, d, rows=rows, k=k, relabel=relabel)
            parents += placement_parents(members, d, rows=rows, k=k, relabel=relabel)
            share += s
            margin += g
            right += r
    if len(right) < 3 or len(set(right)) < 2:
        return None
    note = (
        f"fitted out of fold: {splits} seeded family splits, statistics fitted on one half and the other "
        "half placed leave-one-out, both ways"
    )
    return calibration_record(share, margin, right, k=k, note=note, parents=parents)


def _projection(src: AtlasSource, n_probes: int, dim: int) -> tuple[str, int | None, int]:
    """``(projection, seed, dims)`` of an atlas's DNA: exact features, or the seeded projection."""
    if src.dims is None:
        return "none", None, n_probes * dim
    return PROJECTION, 0, src.dims


def _fit_dna(src: AtlasSource, prompts: Sequence[str], probe_set: str, emb: NDArray, rows: NDArray) -> NDArray:
    """Every model's DNA (``emb``'s rows) with statistics fitted on ``rows`` alone, as the build makes it."""
    stats = fit_reference(emb[rows], prompts=prompts, embedder="crossfit", name="cross-fit half", basis_k=src.basis_k)
    projection, seed, dims = _projection(src, len(prompts), stats.dim)
    return atlas_vectors(
        WhitenedRecipe(stats, scope="probe"), emb, probe_set=probe_set, projection=projection, seed=seed, dims=dims
    )


def _single_dna_for(src: AtlasSource, prompts: Sequence[str], probe_set: str, emb: NDArray):
    def dna_for(seed: int, halves: NDArray, fit_half: int) -> NDArray:
        return _fit_dna(src, prompts, probe_set, emb, np.flatnonzero(halves == fit_half))

    return dna_for


def _part_features(
    part: Atlas, data_dir: Path, cache_dir: str | Path | None, progress: ProgressCallback | None, embedder: Any = None
):
    """The embeddings of a part atlas's members, re-read from the reference data (checked: the
    same models in the same order, else the part must be rebuilt first)."""
    src = SOURCES[part.name]
    prompts, models, answers = read_population(data_dir / src.folder, len(part.prompts))
    keep = [i for i, m in enumerate(models) if m not in part.excluded]
    recorded = part.build.get("responses_sha256")
    differs = [
        what
        for what, same in (
            ("models", [models[i] for i in keep] == list(part.models)),
            ("prompts", tuple(prompts) == tuple(part.prompts)),
            ("answers", recorded is None or recorded == sha256_file(data_dir / src.folder / "responses.jsonl.xz")),
        )
        if not same
    ]
    if differs:
        raise PhyloLLMError(
            f"atlas {part.name!r} was not built from the data in {str(data_dir)!r} (its {' and '.join(differs)} "
            "differ): rebuild it first"
        )
    emb_model = embedder or load_embedder(part.provenance.embedder, batch_size=32)
    if emb_model.id != part.provenance.embedder:
        raise PhyloLLMError(f"atlas {part.name!r} was embedded with {part.provenance.embedder!r}, not {emb_model.id!r}")
    emb = embed_population(emb_model, [answers[i] for i in keep], cache_dir=cache_dir, progress=progress)
    return src, prompts, emb


def _composite_dna_for(parts: Sequence[Atlas], feats: Sequence[tuple]):
    _, rows = shared_members([p.members for p in parts])

    def dna_for(seed: int, halves: NDArray, fit_half: int) -> NDArray:
        blocks = []
        for part, (src, prompts, emb), r in zip(parts, feats, rows):
            phalves = np.array([half_of(family_key(m), seed) for m in part.members])
            phalves[r] = halves  # a shared model falls in its composite half, whatever the part's label says
            x = _fit_dna(src, prompts, part.provenance.probe_set, emb, np.flatnonzero(phalves == fit_half))[r]
            blocks.append(x / np.sqrt((x[halves == fit_half] ** 2).sum(axis=1).mean()))  # weights: fitting half
        return np.concatenate(blocks, axis=1)

    return dna_for
