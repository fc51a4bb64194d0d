"""Atlases: reference populations of real LLMs, shipped with the package, to place a new model in.

An atlas holds the DNA of hundreds of real models made from their recorded answers to one probe
set, with everything a new model's DNA must share to be comparable with it: the prompts, the
generation settings of the population, the embedder, the recipe (with its frozen statistics) —
together the atlas's :class:`~phylo_llm.Provenance` — plus the labels we have for its members,
the reason each left-out model was left out, the atlas's NJ tree and a confidence calibration
learned from its own labelled members. :func:`place` answers "where does this model come from?":
its nearest atlas models, the family they point to and how sure that answer is.

Files are ``.npz`` (arrays float16/float32, metadata as JSON), versioned and content-hashed;
the bundled ones live in ``phylo_llm/atlas/bundled/`` and are built from the shared reference data by
``phylo-llm build-atlas`` (see ``docs/atlas.md``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..data import DnaSet, Provenance
from ..errors import PhyloLLMError, ProvenanceError
from ..io import find_format, format_for
from ..util import Picklable, atomic_open, check_fraction, check_int, check_unique, fit_logistic, readonly, sha256_json

__all__ = [
    "Atlas",
    "AtlasMember",
    "AtlasPart",
    "Neighbour",
    "Placement",
    "ATLAS_DIR",
    "atlas_names",
    "load_atlas",
    "read_atlas",
    "write_atlas",
    "compose_atlas",
    "shared_members",
    "atlas_parts",
    "calibrate",
    "calibration_record",
    "placement_votes",
    "placement_parents",
    "PARENT_CANDIDATES",
    "place",
    "family_from_name",
    "family_and_relative",
    "name_relative",
    "name_relabels",
    "families_seen",
    "check_settings",
    "family_votes",
    "fit_confidence",
]

#: Folder of the bundled atlases (``<name>.npz``).
ATLAS_DIR = Path(__file__).resolve().parent / "bundled"

_FORMAT = "phylo_llm.atlas"
_VERSION = 1
_LABEL_FIELDS = (
    "organisation",
    "family",
    "family_source",
    "base_model",
    "relation",
    "architecture",
    "release",
    "params_b",
    "group",
)


# ---------------------------------------------------------------------------------------------
# Family from a model id (a weak label, always marked as such)
# ---------------------------------------------------------------------------------------------

# Ordered: the first pattern that matches the repository name (after the organisation) wins, so
# a specific name comes before the general one it contains ("deepseek-r1-distill-qwen" before
# "qwen"). Names follow the curated labels' vocabulary (models_meta.csv) where one exists.
_NAME_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"deepseek-r1-distill-qwen", "qwen2.5"),
    (r"deepseek-r1-distill-llama", "llama-3"),
    (r"smollm3", "smollm3"),
    (r"smollm2", "smollm2"),
    (r"smollm", "smollm"),
    (r"recurrentgemma", "recurrentgemma"),
    (r"gemma-?3n", "gemma-3n"),
    (r"gemma-?3", "gemma-3"),
    (r"gemma-?2", "gemma-2"),
    (r"codegemma|gemma", "gemma"),
    (r"qwen3", "qwen3"),
    (r"qwen2\.5|qwen2_5|qwq", "qwen2.5"),
    (r"qwen2", "qwen2"),
    (r"qwen1\.5", "qwen1.5"),
    (r"qwen", "qwen"),
    (r"tinyllama", "tinyllama"),
    (r"open[-_]?llama", "open-llama"),
    (r"codellama|code-llama", "llama-2"),
    (r"llama-?3|llama3", "llama-3"),
    (r"llama-?2|llama2", "llama-2"),
    (r"llama", "llama"),
    (r"mixtral", "mixtral"),
    (r"mistral-nemo", "mistral-nemo"),
    (r"mistral-small", "mistral-small-3"),
    (r"mistral|zephyr|openhermes-2\.5", "mistral-7b"),
    (r"phi-?4-mini", "phi-4-mini"),
    (r"phi-?4", "phi-4"),
    (r"phi-?3", "phi-3"),
    (r"phi-?2", "phi-2"),
    (r"phi-?1", "phi-1"),
    (r"pythia", "pythia"),
    (r"gpt-?neox", "gpt-neox"),
    (r"gpt-?neo", "gpt-neo"),
    (r"gpt-?j", "gpt-j"),
    (r"gpt-?oss", "gpt-oss"),
    (r"distilgpt2|gpt-?2", "gpt2"),
    (r"^opt-|[-_]opt-\d", "opt"),
    (r"bloom", "bloom"),
    (r"falcon-?3|falcon3", "falcon3"),
    (r"falcon", "falcon"),
    (r"^yi-|[-_]yi-", "yi"),
    (r"deepseek-coder", "deepseek-coder"),
    (r"deepseek-llm", "deepseek-llm"),
    (r"deepseek", "deepseek"),
    (r"olmoe", "olmoe"),
    (r"olmo-?2", "olmo-2"),
    (r"olmo", "olmo"),
    (r"granite", "granite"),
    (r"minicpm-?4", "minicpm4"),
    (r"minicpm", "minicpm"),
    (r"internlm", "internlm"),
    (r"baichuan", "baichuan"),
    (r"chatglm|glm-?4", "glm"),
    (r"starcoder2", "starcoder2"),
    (r"starcoder", "starcoder"),
    (r"exaone", "exaone"),
    (r"lfm2", "lfm2"),
    (r"solar", "solar"),
    (r"t5", "t5"),
    (r"cerebras-gpt", "cerebras-gpt"),
    (r"stablelm", "stablelm"),
    (r"hunyuan", "hunyuan"),
    (r"kimi|moonlight", "kimi"),
    (r"nemotron", "nemotron"),
    (r"aya|command-r", "cohere"),
)
_NAME_RE = tuple((re.compile(p), fam) for p, fam in _NAME_FAMILIES)
_NAME_SEP = re.compile(r"[-_.\s]+")

#: Shortest repository name (normalised) that another id may extend in :func:`name_relative`.
MIN_RELATIVE_NAME = 4


def _repo_name(model_id: str) -> str:
    """The id's repository name, lower case, every run of ``- _ .`` and white space one ``-``."""
    return _NAME_SEP.sub("-", model_id.rsplit("/", 1)[-1].lower()).strip("-")


_QUANT_SUFFIX = re.compile(r"\d+(-\d+)?-?(bits?|bpw)(-|$)")


def _is_edit(rest: str) -> bool:
    """Whether what follows a known name (``rest``, after its ``-``) reads as an edit of that model
    rather than a sibling: not a number (a size or version: ``vicuna-13b``, ``phi-1-5``) unless
    it is a quantisation width (``4bit``, ``4-0bpw``)."""
    return not rest[0].isdigit() or _QUANT_SUFFIX.match(rest) is not None


def name_relative(model_id: str, known: Sequence[str] | Mapping[str, Any]) -> str | None:
    """The known model whose repository name ``model_id``'s repository name is or extends.

    "Extends" is at a word boundary: ``unsloth/DeepSeek-R1-Distill-Qwen-7B-bnb-4bit`` extends
    ``deepseek-ai/DeepSeek-R1-Distill-Qwen-7B`` (a quantisation), ``chujiezheng/Starling-LM-7B-beta-ExPO``
    extends ``Nexusflow/Starling-LM-7B-beta``, but ``codellama/CodeLlama-7b-hf`` does not extend
    ``huggyllama/llama-7b``, nor ``lmsys/vicuna-13b-v1.5`` ``Vision-CAIR/vicuna`` (what follows
    may not start with a digit, unless it is a quantisation width such as ``4bit`` or ``4.0bpw``).
    Names are compared lower case, with ``-``, ``_``, ``.`` and spaces alike; the longest match
    wins (ties: the first in ``known``); ``model_id`` itself and names shorter than
    :data:`MIN_RELATIVE_NAME` characters never match. ``None`` when nothing does.

    Examples
    --------
    >>> known = ["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "huggyllama/llama-7b"]
    >>> name_relative("unsloth/DeepSeek-R1-Distill-Qwen-7B-bnb-4bit", known)
    'deepseek-ai/DeepSeek-R1-Distill-Qwen-7B'
    >>> name_relative("codellama/CodeLlama-7b-hf", known) is None
    True
    """
    name = _repo_name(model_id)
    best, best_len = None, MIN_RELATIVE_NAME - 1
    for k in known:
        if k == model_id:
            continue
        kn = _repo_name(k)
        if len(kn) > best_len and (name == kn or (name.startswith(kn + "-") and _is_edit(name[len(kn) + 1 :]))):
            best, best_len = k, len(kn)
    return best


def family_from_name(model_id: str, known: Mapping[str, str] | None = None) -> str | None:
    """A family guessed from the model id's repository name, or ``None`` when nothing matches.

    An ordered list of name patterns guesses; with ``known`` (``{model id: curated family}``),
    the family of the known model whose name this id's name is or extends (:func:`name_relative`:
    re-uploads, quantisations and edits keep their source's name) is taken instead where no
    pattern matches or where it refines the pattern's guess (pattern ``llama``, relative
    ``llama-1``); a finer pattern is kept (``phi-4-mini`` over a ``phi-4`` relative).
    A weak label either way: renamed merges and distillations fool it. Atlases mark it
    ``family_source="name"``.

    Examples
    --------
    >>> family_from_name("unsloth/gemma-3-270m-it"), family_from_name("someone/my-model")
    ('gemma-3', None)
    >>> family_from_name("chujiezheng/Starling-LM-7B-beta-ExPO", {"Nexusflow/Starling-LM-7B-beta": "mistral-7b"})
    'mistral-7b'
    """
    return family_and_relative(model_id, known)[0]


def family_and_relative(model_id: str, known: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """``(family, relative)``: :func:`family_from_name`'s family and the known model it was read
    from (``None`` when name patterns decided).

    Examples
    --------
    >>> family_and_relative("x/Starling-LM-7B-beta-ExPO", {"Nexusflow/Starling-LM-7B-beta": "mistral-7b"})
    ('mistral-7b', 'Nexusflow/Starling-LM-7B-beta')
    """
    name = model_id.rsplit("/", 1)[-1].lower()
    guess = next((fam for rx, fam in _NAME_RE if rx.search(name)), None)
    rel = name_relative(model_id, known) if known else None
    if rel is not None and known is not None and (guess is None or known[rel].startswith(guess)):
        return known[rel], rel
    return guess, None


def name_relabels(members: Sequence[AtlasMember], known: Mapping[str, str]) -> dict[int, dict[int, str | None]]:
    """What a leave-one-out placement of member ``i`` must not see: ``{i: {j: family}}`` for the
    members ``j`` whose name family was read from ``i``'s curated label (``j``'s name is or
    extends ``i``'s, :func:`name_relative`) and is another without it, with that other family.

    A model a user places is not in the atlas, so no atlas label was read from its own; placing
    a member as if new must hide those labels too, or a re-upload "labelled" by the placed model
    would vouch for it.

    Examples
    --------
    >>> ms = [AtlasMember("org/Star-7B", family="mistral-7b", family_source="curated"),
    ...       AtlasMember("x/Star-7B-ExPO", family="mistral-7b", family_source="name")]
    >>> name_relabels(ms, {"org/Star-7B": "mistral-7b"})
    {0: {1: None}}
    """
    index = {m.model: i for i, m in enumerate(members)}
    out: dict[int, dict[int, str | None]] = {}
    for j, m in enumerate(members):
        if m.family_source != "name":
            continue
        donor = m.family_from if m.family_from is not None else name_relative(m.model, known)
        if donor is None or donor not in index or known.get(donor) != m.family:
            continue
        without = family_from_name(m.model, {k: v for k, v in known.items() if k != donor})
        if without != m.family:
            out.setdefault(index[donor], {})[j] = without
    return out


# ---------------------------------------------------------------------------------------------
# The atlas value
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AtlasMember:
    """Labels of one atlas model; ``None`` where unknown. ``family_source`` says where the family
    comes from: ``"curated"`` (the reference labels) or ``"name"`` (:func:`family_from_name`);
    ``family_from`` names the curated model a name family was read from, when it was
    (:func:`name_relative`)."""

    model: str
    organisation: str | None = None
    family: str | None = None
    family_source: str | None = None
    base_model: str | None = None
    relation: str | None = None
    architecture: str | None = None
    release: str | None = None
    params_b: float | None = None
    group: str | None = None
    family_from: str | None = None

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(p for p in (self.base_model or "").split("|") if p)


@dataclass(frozen=True)
class AtlasPart:
    """One component of a composite atlas (:func:`compose_atlas`).

    ``name`` and ``sha`` identify the component atlas; ``members`` are its ids of the composite's
    members, in the composite's order; the component's DNA is multiplied by ``weight`` before
    the components are concatenated.
    """

    name: str
    sha: str
    weight: float
    dims: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Atlas(Picklable):
    """A reference population of model DNA with everything needed to compare a new model with it.

    Attributes
    ----------
    name, description
        Short name (``"rand-zh"``) and one line of what it is.
    prompts
        The probe prompts, in order.
    settings
        Generation settings of the population as recorded by its makers (for display).
    match
        The settings a new model's answers must share (e.g. ``{"chat_template": False,
        "decoding": "greedy"}``); checked by :func:`check_settings`.
    provenance
        Provenance every placed DNA must equal (probe set, embedder, recipe, projection, dims).
    members
        One :class:`AtlasMember` per row of ``dna``.
    dna
        ``(n_models, dims)`` DNA, read-only float32 (stored as float16).
    excluded
        ``{model: reason}`` for recorded models left out.
    newick
        The atlas's NJ tree.
    calibration
        Coefficients of the family-confidence model (:func:`fit_confidence`) and its ``k``.
    stats
        The recipe's frozen statistics as arrays (used by ``extract`` to make a new model's DNA).
    stats_meta
        The statistics' metadata.
    build
        How the atlas was built (sources and their hashes, probe count, code version).
    parts
        Empty for an atlas made from one population; for a composite atlas (:func:`compose_atlas`)
        its components: a member's DNA is the weighted concatenation of its DNA in each, and a new
        model's DNA is made the same way, each part with that part's probes and settings.
    """

    name: str
    description: str
    prompts: tuple[str, ...]
    settings: Mapping[str, Any]
    match: Mapping[str, Any]
    provenance: Provenance
    members: tuple[AtlasMember, ...]
    dna: NDArray[np.float32] = field(repr=False)
    excluded: Mapping[str, str] = field(repr=False)
    newick: str = field(repr=False)
    calibration: Mapping[str, Any] = field(repr=False)
    stats: Mapping[str, NDArray[np.float32]] = field(repr=False)
    stats_meta: Mapping[str, Any] = field(repr=False)
    build: Mapping[str, Any] = field(repr=False)
    parts: tuple[AtlasPart, ...] = ()

    def __post_init__(self) -> None:
        dna = readonly(self.dna, np.float32, copy=True)
        if dna.ndim != 2 or dna.shape[0] != len(self.members):
            raise PhyloLLMError(
                f"atlas {self.name!r}: dna must be (n_members={len(self.members)}, dims), got {dna.shape}"
            )
        if self.provenance.dims is not None and self.provenance.dims != dna.shape[1]:
            raise PhyloLLMError(
                f"atlas {self.name!r}: provenance.dims ({self.provenance.dims}) != dna width {dna.shape[1]}"
            )
        ids = [m.model for m in self.members]
        check_unique(ids, what=f"atlas {self.name!r}: member ids")
        object.__setattr__(self, "dna", dna)
        object.__setattr__(self, "prompts", tuple(self.prompts))
        object.__setattr__(self, "members", tuple(self.members))
        object.__setattr__(self, "parts", tuple(self.parts))
        for name in ("settings", "match", "excluded", "calibration", "stats_meta", "build"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(
            self, "stats", MappingProxyType({k: readonly(v, np.float32, copy=True) for k, v in self.stats.items()})
        )

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(m.model for m in self.members)

    def __len__(self) -> int:
        return len(self.members)

    @property
    def sha(self) -> str:
        """Content hash (hex) of the metadata and every array."""
        stats = (
            b
            for k in sorted(self.stats)
            for b in (k.encode(), np.ascontiguousarray(self.stats[k], dtype="<f4").tobytes())
        )
        return sha256_json(_meta(self), extra=[np.ascontiguousarray(self.dna, dtype="<f2").tobytes(), *stats])

    def as_dna(self) -> DnaSet:
        """The members' DNA as a :class:`~phylo_llm.DnaSet` (float64) with the atlas provenance."""
        return DnaSet(self.models, self.dna.astype(np.float64), self.provenance)

    def labels_frame(self) -> Any:
        """The members' labels as a metadata table (:func:`phylo_llm.data.meta_frame`), with
        ``organization`` for the organisation, as the analyses (discover, evaluate) expect."""
        import pandas as pd

        from ..data import meta_frame

        rows = [
            {
                "model": m.model,
                "organization": m.organisation,
                "family": m.family,
                "family_source": m.family_source,
                "base_model": m.base_model,
                "relation": m.relation,
                "architecture": m.architecture,
                "release": m.release,
            }
            for m in self.members
        ]
        return meta_frame(pd.DataFrame(rows), source=f"atlas {self.name}")

    def summary(self) -> dict[str, Any]:
        """Counts, settings, label coverage and hash, as shown by ``phylo-llm atlas show``."""
        fam = [m.family_source for m in self.members]
        return {
            "name": self.name,
            "description": self.description,
            "models": len(self),
            "excluded": len(self.excluded),
            "probes": len(self.prompts),
            "dims": int(self.dna.shape[1]),
            "embedder": self.provenance.embedder,
            "recipe": self.provenance.recipe,
            "settings": dict(self.settings),
            "match": dict(self.match),
            "labels": {
                "family_curated": fam.count("curated"),
                "family_from_name": fam.count("name"),
                "family_from_relative": sum(m.family_from is not None for m in self.members),
                "no_family": fam.count(None),
                "with_parent": sum(bool(m.parents) for m in self.members),
                "with_release": sum(m.release is not None for m in self.members),
            },
            "groups": _counts(m.group for m in self.members),
            "calibration": {
                key: self.calibration[key]
                for key in ("n", "loo_accuracy", "parents", "note")
                if key in self.calibration
            },
            "parts": [{"name": p.name, "sha256": p.sha, "weight": p.weight, "dims": p.dims} for p in self.parts],
            "sha256": self.sha,
            "build": dict(self.build),
        }


def _counts(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))


def _meta(atlas: Atlas) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "version": _VERSION,
        "name": atlas.name,
        "description": atlas.description,
        "prompts": list(atlas.prompts),
        "settings": dict(atlas.settings),
        "match": dict(atlas.match),
        "provenance": atlas.provenance.to_dict(),
        # family_from only where set: files written before the field existed keep their hash
        "members": [{k: v for k, v in vars(m).items() if k != "family_from" or v is not None} for m in atlas.members],
        "excluded": dict(atlas.excluded),
        "newick": atlas.newick,
        "calibration": dict(atlas.calibration),
        "stats_meta": dict(atlas.stats_meta),
        "build": dict(atlas.build),
        **({"parts": [{**vars(p), "members": list(p.members)} for p in atlas.parts]} if atlas.parts else {}),
    }


def _members(rows: Sequence[Mapping[str, Any]], path: Path) -> tuple[AtlasMember, ...]:
    known = {f.name for f in dataclasses.fields(AtlasMember)}
    for row in rows:
        extra = sorted(set(row) - known)
        if extra:
            raise PhyloLLMError(
                f"atlas {str(path)!r} has member labels this phylo_llm does not know ({extra}): "
                "it was written by a newer version; upgrade phylo_llm"
            )
    return tuple(AtlasMember(**row) for row in rows)


def write_atlas(atlas: Atlas, path: str | Path) -> Path:
    """Write ``atlas`` as ``.npz`` (DNA float16, statistics float32, metadata JSON), atomically."""
    path = Path(path)
    format_for(path, kind="atlas")
    meta = _meta(atlas)
    meta["sha256"] = atlas.sha
    arrays = {f"stats__{k}": np.asarray(v, dtype=np.float32) for k, v in atlas.stats.items()}
    # A composite's DNA is its parts' (checked by hash when read): not stored twice.
    dna = np.zeros((0, 0), np.float16) if atlas.parts else atlas.dna.astype(np.float16)
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, meta=np.array(json.dumps(meta, sort_keys=True)), dna=dna, **arrays)
    return path


def read_atlas(path: str | Path) -> Atlas:
    """Read an atlas file written by :func:`write_atlas`; its content hash is checked."""
    path = Path(path)
    if not path.is_file():
        raise PhyloLLMError(f"atlas file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            dna = z["dna"].astype(np.float32)
            stats = {k.removeprefix("stats__"): z[k] for k in z.files if k.startswith("stats__")}
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise PhyloLLMError(f"{str(path)!r} is not a phylo_llm atlas file: {exc}") from None
    if meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
        raise PhyloLLMError(
            f"{str(path)!r} is not a phylo_llm atlas version {_VERSION} "
            f"(format {meta.get('format')!r}, version {meta.get('version')!r})"
        )
    parts = tuple(AtlasPart(**{**p, "members": tuple(p["members"])}) for p in meta.get("parts", ()))
    if parts:
        dna = _assemble(parts, path.parent)
    atlas = Atlas(
        name=meta["name"],
        description=meta["description"],
        prompts=tuple(meta["prompts"]),
        settings=meta["settings"],
        match=meta["match"],
        provenance=Provenance(**meta["provenance"]),
        members=_members(meta["members"], path),
        dna=dna,
        excluded=meta["excluded"],
        newick=meta["newick"],
        calibration=meta["calibration"],
        stats=stats,
        stats_meta=meta["stats_meta"],
        build=meta["build"],
        parts=parts,
    )
    if atlas.sha != meta.get("sha256"):
        raise PhyloLLMError(
            f"atlas {str(path)!r} fails its content check (sha256 {atlas.sha[:12]} != recorded "
            f"{str(meta.get('sha256'))[:12]}): the file was modified; rebuild it with phylo-llm build-atlas"
        )
    return atlas


def _assemble(parts: Sequence[AtlasPart], folder: Path) -> NDArray[np.float32]:
    """A composite's DNA from its parts, each read from ``folder`` (else the bundled ones) and
    checked against the hash the composite recorded."""
    blocks = []
    for part, comp in zip(parts, _read_parts(parts, folder)):
        rows = {m: i for i, m in enumerate(comp.models)}
        missing = [m for m in part.members if m not in rows]
        if missing:
            raise PhyloLLMError(f"composite atlas part {part.name!r} lacks members {missing[:5]}")
        blocks.append(part.weight * comp.dna[[rows[m] for m in part.members]])
    return np.concatenate(blocks, axis=1).astype(np.float32)


def _read_parts(parts: Sequence[AtlasPart], folder: Path | None) -> list[Atlas]:
    out = []
    for part in parts:
        local = folder / f"{part.name}.npz" if folder is not None else None
        comp = read_atlas(local if local is not None and local.is_file() else ATLAS_DIR / f"{part.name}.npz")
        if comp.sha != part.sha:
            raise PhyloLLMError(
                f"composite atlas part {part.name!r} has changed (sha256 {comp.sha[:12]} != recorded "
                f"{part.sha[:12]}): rebuild the composite with phylo-llm build-atlas"
            )
        out.append(comp)
    return out


def atlas_parts(atlas: Atlas, *, folder: str | Path | None = None) -> tuple[Atlas, ...]:
    """The component atlases of a composite ``atlas`` (empty for a plain one), each read from
    ``folder`` when there (else the bundled one) and checked against the recorded hash."""
    return tuple(_read_parts(atlas.parts, Path(folder) if folder is not None else None))


def shared_members(groups: Sequence[Sequence[AtlasMember]]) -> tuple[list[AtlasMember], list[NDArray[np.intp]]]:
    """The models present in every group (ids matched case-insensitively, in the first group's
    order): their labels, taken from the first group where the family is curated, and each
    group's row of every shared model.

    Examples
    --------
    >>> a = [AtlasMember("Org/A"), AtlasMember("org/b", family="fb", family_source="curated")]
    >>> b = [AtlasMember("org/a", family="fa", family_source="curated"), AtlasMember("org/B")]
    >>> members, rows = shared_members([a, b])
    >>> [(m.model, m.family) for m in members], [r.tolist() for r in rows]
    ([('org/a', 'fa'), ('org/b', 'fb')], [[0, 1], [0, 1]])
    """
    index = [{m.model.lower(): i for i, m in enumerate(g)} for g in groups]
    shared = [key for key in index[0] if all(key in other for other in index[1:])]
    members = []
    for key in shared:
        found = [g[ix[key]] for g, ix in zip(groups, index)]
        members.append(next((m for m in found if m.family_source == "curated"), found[0]))
    return members, [np.array([ix[key] for key in shared], dtype=np.intp) for ix in index]


def compose_atlas(name: str, description: str, parts: Sequence[Atlas], *, k: int = 10) -> Atlas:
    """A composite atlas over the models present in every one of ``parts``.

    Ids are matched case-insensitively (data sets spell organisations differently); each
    member's labels are taken from the first part where its family is curated. A part's DNA is
    weighted by ``1 / sqrt(mean squared norm)`` over the shared members, so that each part
    weighs the same in the distances (label-free); the NJ tree and the confidence calibration
    are made anew from the composite distances.

    Examples
    --------
    >>> a = _toy_atlas()
    >>> c = compose_atlas("both", "toy twice", [a, a])
    >>> c.dna.shape, [p.name for p in c.parts], round(float((c.dna ** 2).sum(axis=1).mean()), 6)
    ((3, 4), ['toy', 'toy'], 2.0)
    """
    if len(parts) < 2:
        raise PhyloLLMError(f"a composite atlas needs at least 2 parts, got {len(parts)}")
    embedders = dict.fromkeys(str(p.provenance.embedder) for p in parts)  # each part embeds its own answers
    members, rows = shared_members([p.members for p in parts])
    if len(members) < 3:
        raise PhyloLLMError(f"parts {[p.name for p in parts]} share {len(members)} models; a composite needs >= 3")
    shared = {m.model.lower() for m in members}
    blocks, comp_parts = [], []
    for p, r in zip(parts, rows):
        ids = tuple(p.models[i] for i in r)
        x = p.dna[r]
        weight = float(1.0 / np.sqrt((x.astype(np.float64) ** 2).sum(axis=1).mean()))
        blocks.append(weight * x)  # the same float32 arithmetic as _assemble
        comp_parts.append(AtlasPart(p.name, p.sha, weight, int(x.shape[1]), ids))
    dna = np.concatenate(blocks, axis=1).astype(np.float32)
    from ..data import pairwise_distances
    from ..io import to_newick
    from ..tree import nj

    dm = pairwise_distances(dna, [m.model for m in members])
    prov = Provenance(
        probe_set="+".join(str(p.provenance.probe_set) for p in parts),
        n_probes=sum(len(p.prompts) for p in parts),
        embedder=" + ".join(embedders),
        generation=json.dumps({p.name: dict(p.match) for p in parts}, sort_keys=True, separators=(",", ":")),
        recipe="composite(" + ",".join(f"{p.name}:{p.provenance.recipe}" for p in parts) + ")",
        projection="composite",
        seed=None,
        dims=int(dna.shape[1]),
    )
    return Atlas(
        name=name,
        description=description,
        prompts=tuple(q for p in parts for q in p.prompts),
        settings={p.name: dict(p.settings) for p in parts},
        match={p.name: dict(p.match) for p in parts},
        provenance=prov,
        members=tuple(members),
        dna=dna,
        excluded={
            m: f"not in every part ({', '.join(p.name for p in parts)})"
            for p in parts
            for key, m in {m.lower(): m for m in p.models}.items()
            if key not in shared
        },
        newick=to_newick(nj(dm), precision=5),
        calibration=calibrate(members, dm.values, k=k),
        stats={},
        stats_meta={},
        parts=tuple(comp_parts),
        build={"parts": [p.name for p in parts], "command": f"phylo-llm build-atlas {name}"},
    )


def families_seen(
    members: Sequence[AtlasMember],
    i: int,
    neighbours: Sequence[int],
    relabel: Mapping[int, Mapping[int, str | None]] | None = None,
) -> list[str | None]:
    """The families of ``neighbours`` as member ``i``'s leave-one-out placement sees them: their
    own, except where ``relabel`` (:func:`name_relabels`) hides one read from ``i``'s label.

    Examples
    --------
    >>> ms = [AtlasMember("a", family="f"), AtlasMember("b", family="f", family_source="name")]
    >>> families_seen(ms, 0, [1]), families_seen(ms, 0, [1], {0: {1: None}})
    (['f'], [None])
    """
    seen = relabel.get(i, {}) if relabel else {}
    return [seen[j] if j in seen else members[j].family for j in neighbours]


def _loo_neighbours(distances: NDArray[np.float64], k: int) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    d = np.array(distances, dtype=np.float64, copy=True)
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def placement_votes(
    members: Sequence[AtlasMember],
    distances: NDArray[np.float64],
    *,
    rows: Sequence[int] | None = None,
    k: int = 10,
    relabel: Mapping[int, Mapping[int, str | None]] | None = None,
) -> tuple[list[float], list[float], list[bool]]:
    """``(share, margin, right)`` of the leave-one-out placements of ``rows`` (default: every
    member) that have a family: each is placed among all the other members, and the family vote of
    its ``k`` nearest (:func:`family_votes`) is right or wrong. ``relabel`` (:func:`name_relabels`)
    gives the families member ``i``'s placement sees instead of the members' own.

    Examples
    --------
    >>> a = _toy_atlas()
    >>> d = np.array([[0, 1, 5], [1, 0, 5], [5, 5, 0]], dtype=float)
    >>> placement_votes(a.members, d, k=1)[2]
    [True, True, False]
    """
    order, dist = _loo_neighbours(distances, min(k, len(members) - 1))
    share, margin, right = [], [], []
    for i in range(len(members)) if rows is None else rows:
        m = members[i]
        if m.family is None:
            continue
        fam, s, g = family_votes(families_seen(members, i, order[i], relabel), dist[i])
        if fam is None:
            continue
        share.append(s)
        margin.append(g)
        right.append(fam == m.family)
    return share, margin, right


#: Parent candidates a placement names: the nearest models of the inferred family among its ``k``.
PARENT_CANDIDATES = 5


def placement_parents(
    members: Sequence[AtlasMember],
    distances: NDArray[np.float64],
    *,
    rows: Sequence[int] | None = None,
    k: int = 10,
    relabel: Mapping[int, Mapping[int, str | None]] | None = None,
) -> list[int | None]:
    """For the leave-one-out placements of ``rows`` (default: every member) whose model has a
    documented parent among the members: the position (1-based) of the first parent among the
    placement's parent candidates (:data:`PARENT_CANDIDATES` nearest of the inferred family among
    the ``k`` nearest, as :func:`place` names them), or ``None`` when no parent is among them.

    Examples
    --------
    >>> ms = [AtlasMember("p", family="f"), AtlasMember("c", family="f", base_model="p"),
    ...       AtlasMember("x", family="f")]
    >>> d = np.array([[0, 1, 2], [1, 0, 2], [2, 2, 0]], dtype=float)
    >>> placement_parents(ms, d, k=2)  # only c has a documented parent: its nearest
    [1]
    """
    index = {m.model: i for i, m in enumerate(members)}
    order, dist = _loo_neighbours(distances, min(k, len(members) - 1))
    out: list[int | None] = []
    for i in range(len(members)) if rows is None else rows:
        parents = {index[p] for p in members[i].parents if p in index}
        if not parents:
            continue
        fams = families_seen(members, i, order[i], relabel)
        fam = family_votes(fams, dist[i])[0]
        cands = [j for j, f in zip(order[i], fams) if fam is not None and f == fam][:PARENT_CANDIDATES]
        out.append(next((r for r, j in enumerate(cands, 1) if j in parents), None))
    return out


def _parent_record(positions: Sequence[int | None]) -> dict[str, Any]:
    n = len(positions)
    first = sum(p == 1 for p in positions)
    among = sum(p is not None for p in positions)
    return {"n": n, "first": first / n if n else None, "among": among / n if n else None}


def calibration_record(
    share: Sequence[float],
    margin: Sequence[float],
    right: Sequence[bool],
    *,
    k: int,
    note: str,
    parents: Sequence[int | None] | None = None,
) -> dict[str, Any]:
    """The :attr:`Atlas.calibration` record of a confidence model fitted on these placements;
    with ``parents`` (:func:`placement_parents` of the same placements) also how often the
    documented parent was the first parent candidate and among them (``"parents"``)."""
    rec = {
        "k": k,
        "coef": fit_confidence(share, margin, right),
        "n": len(right),
        "loo_accuracy": float(np.mean(right)),
        "note": note,
    }
    if parents:
        rec["parents"] = _parent_record(parents)
    return rec


def calibrate(
    members: Sequence[AtlasMember],
    distances: NDArray[np.float64],
    *,
    k: int = 10,
    relabel: Mapping[int, Mapping[int, str | None]] | None = None,
) -> dict[str, Any]:
    """Confidence model from leave-one-out placements of the members that have a family
    (:func:`placement_votes`, with ``relabel``), fitted in sample: the distances' statistics saw
    every member. An atlas build fits it out of fold instead where it can (``extract.atlas.build``)."""
    share, margin, right = placement_votes(members, distances, k=k, relabel=relabel)
    return calibration_record(
        share,
        margin,
        right,
        k=k,
        note="fitted in sample: leave-one-out placements of the atlas's members, statistics not refitted",
        parents=placement_parents(members, distances, k=k, relabel=relabel),
    )


def atlas_names() -> tuple[str, ...]:
    """Names of the bundled atlases.

    Examples
    --------
    >>> isinstance(atlas_names(), tuple)
    True
    """
    return tuple(sorted(p.stem for p in ATLAS_DIR.glob("*.npz")))


def load_atlas(name: str | Path) -> Atlas:
    """A bundled atlas by name, or an atlas file by path."""
    p = Path(name)
    if find_format(p, kind="atlas") is not None or p.is_file():
        return read_atlas(p)
    names = atlas_names()
    if str(name) not in names:
        raise PhyloLLMError(f"atlas must be one of {list(names)} or an atlas .npz file, got {str(name)!r}")
    return read_atlas(ATLAS_DIR / f"{name}.npz")


# ---------------------------------------------------------------------------------------------
# Settings and provenance checks
# ---------------------------------------------------------------------------------------------


def check_settings(atlas: Atlas, settings: Mapping[str, Any], *, what: str) -> None:
    """Raise naming the field when ``settings`` (a backend's or a DNA's generation settings) differ
    from the settings the atlas population was generated with (``atlas.match``).

    Examples
    --------
    >>> a = _toy_atlas()
    >>> check_settings(a, {"chat_template": True, "decoding": "greedy"}, what="model 'm'")
    Traceback (most recent call last):
    ...
    phylo_llm.errors.ProvenanceError: model 'm' was generated with chat_template=True, but atlas 'toy' was generated with chat_template=False; its answers are not comparable
    """
    _check_match(atlas.match, settings, what=what, where=f"atlas {atlas.name!r}")


def _check_match(match: Mapping[str, Any], settings: Mapping[str, Any], *, what: str, where: str) -> None:
    # A composite atlas's match holds one mapping per part: checked part by part.
    for key, want in match.items():
        if key not in settings:
            raise ProvenanceError(f"{what} does not record {key!r}; {where} needs {key}={want!r}")
        if isinstance(want, Mapping):
            got = settings[key]
            if not isinstance(got, Mapping):
                raise ProvenanceError(f"{what} records {key}={got!r}, not the settings of part {key!r}")
            _check_match(want, got, what=f"{what} (part {key!r})", where=f"{where} part {key!r}")
        elif settings[key] != want:
            raise ProvenanceError(
                f"{what} was generated with {key}={settings[key]!r}, but {where} was "
                f"generated with {key}={want!r}; its answers are not comparable"
            )


def _check_dna(atlas: Atlas, dna: DnaSet) -> None:
    prov = dna.provenance
    for name in ("probe_set", "n_probes", "embedder", "recipe", "projection", "seed", "dims"):
        a, b = getattr(atlas.provenance, name), getattr(prov, name)
        if a != b:
            raise ProvenanceError(
                f"DNA provenance {name} is {b!r} but atlas {atlas.name!r} needs {a!r}; make the "
                f"DNA with `phylo-llm place` (which uses the atlas's probes, settings and recipe)"
            )
    if prov.generation is None:
        raise ProvenanceError("DNA provenance does not record its generation settings")
    try:
        settings = json.loads(prov.generation)
    except json.JSONDecodeError:
        raise ProvenanceError(f"DNA provenance generation {prov.generation!r} is not a settings record") from None
    check_settings(atlas, settings, what="the DNA")


# ---------------------------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Neighbour:
    """One atlas model near the placed model (``rank`` 1 = nearest)."""

    rank: int
    model: str
    distance: float
    family: str | None
    family_source: str | None
    relation: str | None
    base_model: str | None
    family_from: str | None = None


@dataclass(frozen=True)
class Placement:
    """Where one model lands in an atlas.

    Attributes
    ----------
    model
        The placed model.
    neighbours
        The ``k`` nearest atlas models, nearest first.
    family
        The inferred family, or ``None`` when no neighbour has one.
    confidence
        Calibrated probability that ``family`` is right (learned on the atlas's own models).
    sure
        ``confidence >= threshold``; when ``False`` the answer is "unsure" (``family`` is the
        best guess).
    parent_candidates
        The nearest atlas models of the inferred family (at most :data:`PARENT_CANDIDATES` among
        the ``k`` nearest); how often they held the parent for the atlas's own models is in
        ``calibration["parents"]`` of the atlas.
    """

    model: str
    neighbours: tuple[Neighbour, ...]
    family: str | None
    confidence: float
    sure: bool
    parent_candidates: tuple[str, ...]
    votes: Mapping[str, float] = field(repr=False, default_factory=dict)


def family_votes(families: Sequence[str | None], distances: Sequence[float]) -> tuple[str | None, float, float]:
    """Rank-weighted vote over neighbours' families: ``(winner, share, margin)``.

    Neighbour ``j`` (1-based, nearest first) gives ``1/j`` to its family; ``share`` is the
    winner's fraction of all votes, ``margin`` the relative distance gap
    ``(d(nearest other family) - d(nearest of the winner)) / d(nearest of the winner)`` (0 when
    no other family is present). Neighbours without a family do not vote.

    Examples
    --------
    >>> fam, share, margin = family_votes(["a", "b", "a"], [1.0, 1.1, 1.2])
    >>> fam, round(share, 3), round(margin, 3)
    ('a', 0.727, 0.1)
    """
    votes: dict[str, float] = {}
    first: dict[str, float] = {}
    for j, (f, d) in enumerate(zip(families, distances), 1):
        if f is None:
            continue
        votes[f] = votes.get(f, 0.0) + 1.0 / j
        first.setdefault(f, float(d))
    if not votes:
        return None, 0.0, 0.0
    win = max(votes, key=lambda f: (votes[f], -first[f]))
    share = votes[win] / sum(votes.values())
    others = [d for f, d in first.items() if f != win]
    dw = first[win]
    margin = (min(others) - dw) / dw if others and dw > 0 else 0.0
    return win, float(share), float(margin)


def _confidence(calibration: Mapping[str, Any], share: float, margin: float) -> float:
    w = calibration.get("coef")
    if not w:
        return float(share)
    z = float(np.clip(w[0] + w[1] * share + w[2] * margin, -50.0, 50.0))
    return float(1.0 / (1.0 + np.exp(-z)))


def fit_confidence(
    share: Sequence[float], margin: Sequence[float], correct: Sequence[bool], *, ridge: float = 1e-3
) -> list[float]:
    """Logistic calibration ``P(correct) = sigmoid(w0 + w1 share + w2 margin)`` by Newton steps.

    Fitted on leave-one-out placements of an atlas's own labelled models (``extract`` does it at
    build time); stored in :attr:`Atlas.calibration`.

    Examples
    --------
    >>> w = fit_confidence([0.2, 0.4, 0.9, 1.0], [0.0, 0.01, 0.1, 0.2], [False, False, True, True])
    >>> w[1] > 0
    True
    """
    x = np.column_stack([np.ones(len(share)), np.asarray(share, float), np.asarray(margin, float)])
    y = np.asarray(correct, dtype=float)
    if x.shape[0] < 3 or y.min() == y.max():
        raise PhyloLLMError(
            f"confidence calibration needs at least 3 placements with both right and wrong "
            f"answers, got {x.shape[0]} with {int(y.sum())} right"
        )
    w = fit_logistic(x, y, ridge=ridge, max_iter=50, tol=1e-10)
    return [float(v) for v in w]


def place(
    atlas: Atlas,
    dna: DnaSet,
    *,
    k: int = 10,
    threshold: float = 0.5,
    check: bool = True,
) -> tuple[Placement, ...]:
    """Place each model of ``dna`` among the atlas's models.

    Parameters
    ----------
    atlas
        The atlas (:func:`load_atlas`).
    dna
        DNA made with the atlas's provenance (``phylo-llm place`` makes it); checked field by field.
    k
        Neighbours reported (and voting on the family), ``>= 1``.
    threshold
        Confidence below which the answer is "unsure", in ``[0, 1]``.
    check
        Check the DNA's provenance against the atlas (only leave-one-out evaluation turns it off).

    Examples
    --------
    >>> a = _toy_atlas()
    >>> p, = place(a, DnaSet(("new",), [[0.1, 0.0]], a.provenance), k=2)
    >>> [n.model for n in p.neighbours], p.family
    (['a1', 'a2'], 'fa')
    """
    k = check_int("k", k, min=1)
    check_fraction("threshold", threshold)
    if check:
        _check_dna(atlas, dna)
    if dna.dims != atlas.dna.shape[1]:
        raise PhyloLLMError(f"DNA has {dna.dims} dims but atlas {atlas.name!r} has {atlas.dna.shape[1]}")
    ref = atlas.dna.astype(np.float64)
    ref_sq = (ref * ref).sum(axis=1)
    out = []
    for label, v in zip(dna.labels, dna.vectors):
        d2 = np.maximum(ref_sq + v @ v - 2.0 * (ref @ v), 0.0)
        order = np.lexsort((np.arange(len(ref)), d2))[: min(k, len(ref))]
        out.append(_placement(atlas, label, order, np.sqrt(d2[order]), threshold))
    return tuple(out)


def _placement(
    atlas: Atlas, label: str, order: NDArray[np.intp], dist: NDArray[np.float64], threshold: float
) -> Placement:
    members = [atlas.members[i] for i in order]
    neighbours = tuple(
        Neighbour(r, m.model, float(d), m.family, m.family_source, m.relation, m.base_model, m.family_from)
        for r, (m, d) in enumerate(zip(members, dist), 1)
    )
    fam, share, margin = family_votes([m.family for m in members], dist)
    conf = _confidence(atlas.calibration, share, margin) if fam is not None else 0.0
    parents = tuple(m.model for m in members if fam is not None and m.family == fam)[:PARENT_CANDIDATES]
    votes = {"share": share, "margin": margin}
    return Placement(label, neighbours, fam, conf, conf >= threshold, parents, votes)


def _toy_atlas() -> Atlas:
    """A three-model atlas for the examples."""
    prov = Provenance(
        probe_set="sha256:toy",
        n_probes=1,
        embedder="e",
        generation='{"chat_template":false,"decoding":"greedy"}',
        recipe="r",
        projection="none",
        seed=None,
        dims=2,
    )
    members = (
        AtlasMember("a1", family="fa", family_source="curated"),
        AtlasMember("a2", family="fa", family_source="curated"),
        AtlasMember("b1", family="fb", family_source="curated"),
    )
    return Atlas(
        "toy",
        "toy atlas",
        ("p?",),
        {},
        {"chat_template": False, "decoding": "greedy"},
        prov,
        members,
        np.array([[0.0, 0.0], [0.3, 0.0], [1.0, 1.0]]),
        {},
        "(a1,a2,b1);",
        {},
        {},
        {},
        {},
    )
