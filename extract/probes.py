"""Probe prompts: the fixed questions every model answers.

A :class:`ProbeSet` is identified by a hash of its prompts (``"sha256:" + 16 hex``), which goes
into every DNA's provenance and every cache key: change one character of one prompt and nothing
made with the old set is reused or compared.

Sources
-------
- :func:`random_english`: seeded random grammatical English from a small hand-written
  probabilistic grammar (no LLM involved, so no model family is favoured by the probes).
- :func:`read_prompts`: the user's file (``.txt`` one prompt per line, ``.jsonl``, ``.json``).
- :func:`reference_prompts`: a published ``prompts.json`` (e.g. the LLM-DNA paper's 600).
- :func:`load_probes`: any of these from one string spec (``"random:200:7"``, a path).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import canonical_json, check_int, read_text, sha256_text, short_id

__all__ = [
    "ProbeSet",
    "probe_set_id",
    "random_english",
    "read_prompts",
    "reference_prompts",
    "load_probes",
]


def probe_set_id(prompts: Sequence[str]) -> str:
    """Content hash of a prompt list: ``"sha256:"`` + the first 16 hex digits.

    Hashes the canonical JSON of the list (UTF-8, no whitespace), so it is the same on every
    platform and depends on order.

    Examples
    --------
    >>> probe_set_id(["a", "b"]) == probe_set_id(["a", "b"]) != probe_set_id(["b", "a"])
    True
    """
    return short_id(sha256_text(canonical_json(list(prompts))))


@dataclass(frozen=True)
class ProbeSet:
    """An ordered, named tuple of non-empty prompts; ``id`` is a hash of the prompts only.

    Examples
    --------
    >>> p = ProbeSet(("Hello?", "Name a colour."), name="demo")
    >>> len(p), p.id.startswith("sha256:")
    (2, True)
    >>> p.head(1).prompts
    ('Hello?',)
    """

    prompts: tuple[str, ...]
    name: str = "probes"
    id: str = field(init=False)

    def __post_init__(self) -> None:
        prompts = tuple(self.prompts)
        if not prompts:
            raise PhyloLLMError(f"probe set {self.name!r} must hold at least one prompt, got none")
        for i, p in enumerate(prompts):
            if not isinstance(p, str) or not p.strip():
                raise PhyloLLMError(f"probe set {self.name!r}: prompt {i} must be a non-empty string, got {p!r}")
        object.__setattr__(self, "prompts", prompts)
        object.__setattr__(self, "id", probe_set_id(prompts))

    def __len__(self) -> int:
        return len(self.prompts)

    def head(self, n: int) -> ProbeSet:
        """The first ``n`` prompts (a different probe set, with its own id)."""
        n = check_int("number of probes", n, min=1)
        if n >= len(self):
            return self
        return ProbeSet(self.prompts[:n], name=f"{self.name}[:{n}]")


# ---------------------------------------------------------------------------------------------
# Random English: a small probabilistic grammar
# ---------------------------------------------------------------------------------------------

_NOUNS = (
    "teacher",
    "river",
    "garden",
    "machine",
    "letter",
    "village",
    "doctor",
    "window",
    "story",
    "engine",
    "forest",
    "painter",
    "bridge",
    "island",
    "kitchen",
    "question",
    "mountain",
    "farmer",
    "library",
    "bicycle",
    "student",
    "ocean",
    "market",
    "child",
    "soldier",
    "company",
    "song",
    "museum",
    "lamp",
    "neighbour",
    "planet",
    "recipe",
    "train",
    "map",
    "castle",
    "scientist",
    "office",
    "storm",
    "cat",
    "horse",
    "camera",
    "sailor",
    "queen",
    "clock",
    "friend",
    "apple",
    "computer",
    "poem",
    "nurse",
    "judge",
    "city",
    "tower",
    "wizard",
    "baker",
    "dog",
    "shadow",
)
_NAMES = (
    "Maria",
    "John",
    "Aiko",
    "Omar",
    "Lena",
    "Pedro",
    "Grace",
    "Ivan",
    "Fatima",
    "Tom",
    "Nadia",
    "Samuel",
    "Chen",
    "Olivia",
    "Kwame",
    "Rosa",
)
_ADJS = (
    "old",
    "quiet",
    "bright",
    "small",
    "strange",
    "careful",
    "heavy",
    "ancient",
    "green",
    "happy",
    "tired",
    "famous",
    "empty",
    "clever",
    "broken",
    "gentle",
    "distant",
    "wooden",
    "busy",
    "silver",
    "honest",
    "cold",
    "early",
    "curious",
    "narrow",
    "loud",
    "modern",
    "patient",
)
_ADVS = (
    "slowly",
    "quickly",
    "carefully",
    "quietly",
    "often",
    "rarely",
    "suddenly",
    "happily",
    "yesterday",
    "again",
    "together",
    "always",
    "finally",
    "politely",
)
_PREPS = ("near", "behind", "under", "beside", "inside", "across", "above", "without", "with")
# (base, third person singular, past) — transitive and intransitive verbs.
_VT = (
    ("find", "finds", "found"),
    ("build", "builds", "built"),
    ("paint", "paints", "painted"),
    ("visit", "visits", "visited"),
    ("carry", "carries", "carried"),
    ("watch", "watches", "watched"),
    ("forget", "forgets", "forgot"),
    ("repair", "repairs", "repaired"),
    ("follow", "follows", "followed"),
    ("describe", "describes", "described"),
    ("sell", "sells", "sold"),
    ("open", "opens", "opened"),
    ("help", "helps", "helped"),
    ("remember", "remembers", "remembered"),
    ("draw", "draws", "drew"),
    ("teach", "teaches", "taught"),
    ("write", "writes", "wrote"),
    ("lose", "loses", "lost"),
)
_VI = (
    ("sleep", "sleeps", "slept"),
    ("laugh", "laughs", "laughed"),
    ("wait", "waits", "waited"),
    ("travel", "travels", "travelled"),
    ("sing", "sings", "sang"),
    ("arrive", "arrives", "arrived"),
    ("disappear", "disappears", "disappeared"),
    ("work", "works", "worked"),
    ("run", "runs", "ran"),
    ("smile", "smiles", "smiled"),
    ("rest", "rests", "rested"),
    ("dance", "dances", "danced"),
)
_VS = (
    ("think", "thinks", "thought"),
    ("say", "says", "said"),
    ("believe", "believes", "believed"),
    ("hope", "hopes", "hoped"),
    ("know", "knows", "knew"),
)
_DETS = ("the", "a", "every", "my", "this", "that", "our", "your")
_CONJ = ("and", "but", "because", "while", "although", "so")
_WH = ("Why", "When", "Where", "How")
_IMPERATIVE_OPENERS = (
    "Tell me about",
    "Describe",
    "Explain why you like",
    "Write a short note about",
    "Imagine",
    "Think about",
    "Compare",
    "Draw",
)


class _Gen:
    """One random sentence at a time from the grammar, all choices through one Generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def np_(self, depth: int = 0) -> str:
        if self.chance(0.15):
            return self.pick(_NAMES)
        det = self.pick(_DETS)
        words = []
        if self.chance(0.5):
            words.append(self.pick(_ADJS))
            if self.chance(0.15):
                words.append(self.pick(_ADJS))
        words.append(self.pick(_NOUNS))
        if det == "a" and words[0][0] in "aeiou":
            det = "an"
        phrase = " ".join([det, *words])
        if depth < 2 and self.chance(0.25):
            phrase += f" {self.pick(_PREPS)} {self.np_(depth + 1)}"
        elif depth < 1 and self.chance(0.12):
            verb = self.pick(_VT)
            phrase += f" that {self.pick(_NAMES)} {verb[2]}"
        return phrase

    def vp(self, form: int, depth: int) -> str:
        r = self.rng.random()
        if r < 0.55:
            verb, rest = self.pick(_VT), " " + self.np_()
        elif r < 0.85 or depth >= 1:
            verb, rest = self.pick(_VI), ""
            if self.chance(0.35):
                rest = f" {self.pick(_PREPS)} {self.np_()}"
        else:
            verb, rest = self.pick(_VS), " that " + self.clause(depth + 1)
        adv = f" {self.pick(_ADVS)}" if self.chance(0.3) else ""
        return verb[form] + rest + adv

    def clause(self, depth: int = 0) -> str:
        return f"{self.np_()} {self.vp(int(self.rng.integers(1, 3)), depth)}"

    def declarative(self) -> str:
        s = self.clause()
        if self.chance(0.3):
            s += f" {self.pick(_CONJ)} {self.clause(1)}"
        return s[0].upper() + s[1:] + "."

    def question(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            aux = self.pick(("did", "does", "will", "can", "should"))
            form = 0
            subj = self.np_()
            return f"{self.pick(_WH)} {aux} {subj} {self.vp(form, 1)}?"
        if r < 0.6:
            return f"Is {self.np_()} {self.pick(_ADJS)}?"
        if r < 0.8:
            verb = self.pick(_VT)
            return f"What did {self.np_()} {verb[0]}?"
        subj = self.np_()
        return f"Who {self.vp(2, 1)}?" if self.chance(0.5) else f"Do you think {subj} {self.vp(1, 1)}?"

    def imperative(self) -> str:
        if self.chance(0.5):
            s = f"{self.pick(_IMPERATIVE_OPENERS)} {self.np_()}"
        else:
            s = self.vp(0, 1)
            s = s[0].upper() + s[1:]
        if self.chance(0.25):
            s = "Please " + s[0].lower() + s[1:]
        return s + "."

    def sentence(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.declarative()
        if r < 0.8:
            return self.question()
        return self.imperative()


def random_english(n: int, *, seed: int = 0, max_sentences: int = 3, unique: bool = True) -> tuple[str, ...]:
    """``n`` random grammatical English prompts from a hand-written probabilistic grammar.

    Declaratives, questions and imperatives of varied length (one to ``max_sentences``
    sentences, with nested noun phrases and subordinate clauses). Every choice is drawn from
    ``np.random.default_rng(seed)``, so the output is a pure function of the arguments.

    Parameters
    ----------
    n
        Number of prompts.
    seed
        Seed of the generator.
    max_sentences
        Longest prompt, in sentences.
    unique
        Redraw a prompt that repeats an earlier one (still deterministic).

    Examples
    --------
    >>> a = random_english(3, seed=1)
    >>> len(a), a == random_english(3, seed=1), a == random_english(3, seed=2)
    (3, True, False)
    """
    n = check_int("n", n, min=1)
    seed = check_int("seed", seed, min=0)
    max_sentences = check_int("max_sentences", max_sentences, min=1)
    gen = _Gen(np.random.default_rng(seed))
    out: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise PhyloLLMError(f"could not make {n} distinct prompts; ask for fewer")
        k = 1 + int(gen.rng.integers(max_sentences))
        prompt = " ".join(gen.sentence() for _ in range(k))
        if unique and prompt in seen:
            continue
        seen.add(prompt)
        out.append(prompt)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def _prompt_from(item: Any, where: str) -> str:
    if isinstance(item, dict):
        if "prompt" not in item:
            raise PhyloLLMError(f"{where}: object has no 'prompt' key (keys: {sorted(item)[:10]})")
        item = item["prompt"]
    if not isinstance(item, str):
        raise PhyloLLMError(
            f"{where}: expected a prompt string or an object with a 'prompt' string, got {type(item).__name__}"
        )
    if not item.strip():
        raise PhyloLLMError(f"{where}: prompt is empty")
    return item


def _lines(path: Path) -> list[str]:
    text = read_text(path, what="probe file")
    lines = text.split("\n")
    while lines and lines[-1].strip() == "":
        lines.pop()  # trailing newline(s) at the end of the file are not prompts
    return [line.removesuffix("\r") for line in lines]


def read_prompts(path: str | Path) -> tuple[str, ...]:
    """Prompts from the user's file.

    ``.txt``: one prompt per line (a blank line before the end is an error, not skipped).
    ``.jsonl``: one JSON string, or object with a ``"prompt"`` string, per line.
    ``.json``: a list of such items, or ``{"prompts": [...]}``.

    Errors name the file and the line (or list index).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "p.txt"
    >>> _ = f.write_text("What is a tree?\\nName a river.\\n")
    >>> read_prompts(f)
    ('What is a tree?', 'Name a river.')
    """
    path = Path(path)
    if not path.is_file():
        raise PhyloLLMError(f"prompt file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    out: list[str]
    if suffix == ".txt":
        out = [_prompt_from(line, f"{path.name}:{i}") for i, line in enumerate(_lines(path), 1)]
    elif suffix == ".jsonl":
        out = []
        for i, line in enumerate(_lines(path), 1):
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PhyloLLMError(f"{path.name}:{i}: invalid JSON: {exc.msg}") from None
            out.append(_prompt_from(item, f"{path.name}:{i}"))
    elif suffix == ".json":
        try:
            doc = json.loads(read_text(path, what="probe file"))
        except json.JSONDecodeError as exc:
            raise PhyloLLMError(f"{path.name}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        if isinstance(doc, dict) and isinstance(doc.get("prompts"), list):
            doc = doc["prompts"]
        if not isinstance(doc, list):
            raise PhyloLLMError(
                f"{path.name}: expected a JSON list of prompts (or {{'prompts': [...]}}), got {type(doc).__name__}"
            )
        out = [_prompt_from(item, f"{path.name}[{i}]") for i, item in enumerate(doc)]
    else:
        raise PhyloLLMError(f"prompt file must end in .txt, .jsonl or .json, got {path.name!r}")
    if not out:
        raise PhyloLLMError(f"prompt file {str(path)!r} holds no prompts")
    return tuple(out)


def reference_prompts(path: str | Path) -> ProbeSet:
    """A published ``prompts.json`` (a JSON list of strings) as a probe set named after its folder.

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "my-set"; d.mkdir()
    >>> _ = (d / "prompts.json").write_text(json.dumps(["Q1?", "Q2?"]))
    >>> reference_prompts(d / "prompts.json").name
    'my-set'
    """
    path = Path(path)
    if path.is_dir():
        path = path / "prompts.json"
    return ProbeSet(read_prompts(path), name=path.parent.name or path.stem)


def load_probes(spec: str | Path | ProbeSet | Iterable[str]) -> ProbeSet:
    """A probe set from a spec.

    - ``"random:N"`` or ``"random:N:SEED"``: :func:`random_english` (seed 0 by default);
    - a path to a ``.txt``/``.jsonl``/``.json`` file, or a folder holding ``prompts.json``;
    - a :class:`ProbeSet` (returned as is) or an iterable of prompt strings.

    Examples
    --------
    >>> p = load_probes("random:5:3")
    >>> len(p), p.name
    (5, 'random-en:5:3')
    """
    if isinstance(spec, ProbeSet):
        return spec
    if isinstance(spec, str) and spec.startswith("random:"):
        parts = spec.split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            n = int(parts[1])
            seed = int(parts[2]) if len(parts) == 3 else 0
        except ValueError:
            raise PhyloLLMError(
                f"random probe spec must look like 'random:N' or 'random:N:SEED', got {spec!r}"
            ) from None
        return ProbeSet(random_english(n, seed=seed), name=f"random-en:{n}:{seed}")
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        if path.is_dir():
            return reference_prompts(path)
        if not path.exists():
            raise PhyloLLMError(f"probes must be 'random:N[:SEED]' or an existing prompt file, got {str(spec)!r}")
        name = path.parent.name if path.name == "prompts.json" else path.stem
        return ProbeSet(read_prompts(path), name=name)
    return ProbeSet(tuple(spec), name="probes")
