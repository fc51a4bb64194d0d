"""Structural family fingerprints: which models share an architecture and a tokenizer.

A model's *family* is what its files say it is built from, independent of its behaviour: the
architecture (``model_type``) and the tokenizer (the exact token -> id map). Llama-2 7B and 70B are
one family; a fine-tune that keeps the tokenizer stays in its base's family; a model that adds or
renumbers tokens, or changes architecture, starts a new one. *Lineage* (who was trained from whom)
is what the DNA infers; :func:`family_vs_lineage` shows where the two agree.

Family key (exact definition)
-----------------------------
``f"{model_type}:{vocab_hash[:12]}"`` where

``model_type``
    ``config.json``'s ``model_type`` (lower-cased), or a GGUF file's ``general.architecture``.
    ``architectures[0]`` (the class, e.g. ``LlamaForCausalLM``) is recorded but not keyed, so a
    base model and its ``...ForSequenceClassification`` head stay together, and an HF directory
    and its GGUF conversion match wherever the converter keeps the HF name (most architectures;
    llama.cpp files Mistral as ``llama``, for instance).
``vocab_hash``
    SHA-256 of the sorted ``(id, token)`` pairs of the *whole* vocabulary (base vocabulary plus
    added/special tokens; see :func:`vocab_hash` for the exact byte encoding). It is computed the same way from
    ``tokenizer.json``, from ``vocab.json`` (+ ``added_tokens.json``) and from a GGUF file's
    ``tokenizer.ggml.tokens``, so the same tokenizer gives the same hash in either format.

Deliberately **not** in the key: layer count, width, heads, feed-forward size (sizes of one
family), ``config.json``'s ``vocab_size`` (embedding rows, often padded beyond the tokenizer),
special tokens (instruct variants often switch ``eos``/``pad`` to a chat-turn token) and the chat
template (added by instruction tuning). All of these are recorded in the fingerprint.

A model whose files hold no readable vocabulary has ``vocab_hash = None`` and a family of its own
(``"<model_type>:unknown-vocab:<name>"``): it is never merged with another model on a guess.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import DistanceMatrix
from ..errors import PhyloLLMError, PhyloLLMWarning
from ..io import read_gguf_metadata
from ..tree import Tree, patristic_distances, split_table
from ..util import check_unique, sha256_text

__all__ = [
    "FamilyFingerprint",
    "vocab_hash",
    "fingerprint_gguf",
    "fingerprint",
    "group_families",
    "model_families",
    "family_vs_lineage",
]


_HASH_CHARS = 12


@dataclass(frozen=True)
class FamilyFingerprint:
    """What a model's configuration and tokenizer files say about its build.

    Attributes
    ----------
    name
        Model label (directory name or GGUF file stem unless given).
    source
        ``"hf"`` (``config.json`` and tokenizer files) or ``"gguf"`` (GGUF metadata).
    architecture
        ``architectures[0]`` from ``config.json`` (``None`` for GGUF).
    model_type
        ``config.json``'s ``model_type`` or GGUF ``general.architecture``, lower-cased.
    n_layers, hidden_size, n_heads, n_kv_heads, intermediate_size
        Transformer sizes (``None`` when not stated; never inferred).
    vocab_size
        Embedding rows as configured (``config.json`` ``vocab_size`` or GGUF ``*.vocab_size``).
    n_tokens
        Entries in the tokenizer's vocabulary (``None`` when no tokenizer was readable).
    vocab_hash
        ``"sha256:..."`` of the sorted token -> id map (see the module docstring).
    tokenizer_model
        Tokenizer algorithm: ``BPE``/``Unigram``/``WordPiece`` (HF) or ``gpt2``/``llama`` (GGUF).
    bos_token, eos_token, pad_token, unk_token
        Special tokens as text.
    chat_template_hash
        ``"sha256:..."`` of the chat template text, ``None`` without one.

    Examples
    --------
    >>> fp = FamilyFingerprint(name="m", source="hf", model_type="llama", vocab_hash="sha256:" + "ab" * 32)
    >>> fp.family_key
    'llama:abababababab'
    """

    name: str
    source: str
    architecture: str | None = None
    model_type: str | None = None
    n_layers: int | None = None
    hidden_size: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    n_tokens: int | None = None
    vocab_hash: str | None = None
    tokenizer_model: str | None = None
    bos_token: str | None = None
    eos_token: str | None = None
    pad_token: str | None = None
    unk_token: str | None = None
    chat_template_hash: str | None = None

    @property
    def family_key(self) -> str:
        """``"<model_type>:<first 12 hex digits of the vocab hash>"``."""
        arch = self.model_type or (self.architecture or "unknown").lower()
        if self.vocab_hash is None:
            return f"{arch}:unknown-vocab:{self.name}"
        return f"{arch}:{self.vocab_hash.split(':', 1)[-1][:_HASH_CHARS]}"

    @property
    def has_chat_template(self) -> bool:
        return self.chat_template_hash is not None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "family_key": self.family_key}


def vocab_hash(vocab: Mapping[str, int]) -> str:
    """Canonical hash of a token -> id map.

    SHA-256 over the ``(id, token)`` pairs sorted by id (then token): the ids as little-endian
    int64, the UTF-8 byte lengths of the tokens as int64, then the tokens' bytes. Length-prefixing
    makes the encoding unambiguous whatever characters the tokens hold.

    Examples
    --------
    >>> vocab_hash({"b": 1, "a": 0}) == vocab_hash({"a": 0, "b": 1})
    True
    >>> vocab_hash({"a": 0, "b": 1}) == vocab_hash({"a": 1, "b": 0})
    False
    """
    tokens = [str(t) for t in vocab]
    ids = np.fromiter((int(i) for i in vocab.values()), dtype="<i8", count=len(tokens))
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    if ids.shape[0] > 1 and (np.diff(ids) == 0).any():
        # Several tokens share an id (malformed but possible): break ties by token text.
        pairs = sorted(zip(ids.tolist(), (tokens[i] for i in order.tolist())))
        ids = np.array([i for i, _ in pairs], dtype="<i8")
        enc = [t.encode("utf-8", errors="surrogateescape") for _, t in pairs]
    else:
        enc = [tokens[i].encode("utf-8", errors="surrogateescape") for i in order.tolist()]
    h = hashlib.sha256()
    h.update(ids.tobytes())
    h.update(np.fromiter(map(len, enc), dtype="<i8", count=len(enc)).tobytes())
    h.update(b"".join(enc))
    return "sha256:" + h.hexdigest()


def _text_hash(text: str) -> str:
    return "sha256:" + sha256_text(text)


_LAYERS = ("num_hidden_layers", "n_layer", "num_layers")


_WIDTH = ("hidden_size", "n_embd", "d_model")


_HEADS = ("num_attention_heads", "n_head", "num_heads")


_KV_HEADS = ("num_key_value_heads",)


_FFN = ("intermediate_size", "n_inner", "d_ff", "ffn_dim")


_SPECIAL = ("bos", "eos", "pad", "unk")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PhyloLLMError(f"{path}: not valid JSON ({exc})") from None


def _first_int(cfg: Mapping[str, Any], keys: Sequence[str]) -> int | None:
    # Multimodal configs (e.g. Gemma-3, Llava) keep the language model's sizes in text_config.
    for scope in (cfg, cfg.get("text_config") or {}):
        for k in keys:
            v = scope.get(k)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
    return None


def _token_text(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, Mapping) and isinstance(v.get("content"), str):
        return v["content"]
    return None


def _hf_vocab(d: Path) -> tuple[dict[str, int] | None, str | None]:
    """(token -> id over the whole vocabulary, tokenizer algorithm) from the tokenizer files."""
    tj = d / "tokenizer.json"
    if tj.is_file():
        data = _read_json(tj)
        model = data.get("model") or {}
        raw = model.get("vocab")
        vocab: dict[str, int]
        if isinstance(raw, Mapping):
            vocab = {str(t): int(i) for t, i in raw.items()}
        elif isinstance(raw, list):  # Unigram: [[piece, score], ...], id = position
            vocab = {str(entry[0]): i for i, entry in enumerate(raw)}
        else:
            raise PhyloLLMError(f"{tj}: model.vocab must be a mapping or a list, got {type(raw).__name__}")
        for tok in data.get("added_tokens") or []:
            vocab[str(tok["content"])] = int(tok["id"])
        return vocab, model.get("type")
    vj = d / "vocab.json"
    if vj.is_file():
        vocab = {str(t): int(i) for t, i in _read_json(vj).items()}
        added = d / "added_tokens.json"
        if added.is_file():
            vocab.update({str(t): int(i) for t, i in _read_json(added).items()})
        return vocab, "BPE"
    return None, None


def _hf_chat_template(d: Path, tok_cfg: Mapping[str, Any]) -> str | None:
    tmpl = tok_cfg.get("chat_template")
    if tmpl is None and (d / "chat_template.jinja").is_file():
        tmpl = (d / "chat_template.jinja").read_text(encoding="utf-8")
    if tmpl is None and (d / "chat_template.json").is_file():
        tmpl = _read_json(d / "chat_template.json").get("chat_template")
    if tmpl is None:
        return None
    if not isinstance(tmpl, str):  # named templates: [{"name": ..., "template": ...}, ...]
        tmpl = json.dumps(tmpl, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return _text_hash(tmpl)


def _fingerprint_hf(d: Path, name: str) -> FamilyFingerprint:
    cfg = _read_json(d / "config.json")
    if not isinstance(cfg, Mapping):
        raise PhyloLLMError(f"{d / 'config.json'}: expected a JSON object, got {type(cfg).__name__}")
    tok_cfg = _read_json(d / "tokenizer_config.json") if (d / "tokenizer_config.json").is_file() else {}
    smap = _read_json(d / "special_tokens_map.json") if (d / "special_tokens_map.json").is_file() else {}
    gen = _read_json(d / "generation_config.json") if (d / "generation_config.json").is_file() else {}
    vocab, tok_model = _hf_vocab(d)
    id_to_token = {i: t for t, i in vocab.items()} if vocab else {}
    special: dict[str, str | None] = {}
    for s in _SPECIAL:
        text = _token_text(tok_cfg.get(f"{s}_token")) or _token_text(smap.get(f"{s}_token"))
        if text is None:
            # Only ids given (config.json / generation_config.json): name them via the vocabulary.
            tid = gen.get(f"{s}_token_id", cfg.get(f"{s}_token_id"))
            ids = tid if isinstance(tid, list) else [tid]
            names = [id_to_token.get(i) for i in ids if isinstance(i, int)]
            text = ",".join(n for n in names if n is not None) or None
        special[s] = text
    archs = cfg.get("architectures") or []
    model_type = cfg.get("model_type")
    return FamilyFingerprint(
        name=name,
        source="hf",
        architecture=str(archs[0]) if archs else None,
        model_type=str(model_type).lower() if model_type else None,
        n_layers=_first_int(cfg, _LAYERS),
        hidden_size=_first_int(cfg, _WIDTH),
        n_heads=_first_int(cfg, _HEADS),
        n_kv_heads=_first_int(cfg, _KV_HEADS),
        intermediate_size=_first_int(cfg, _FFN),
        vocab_size=_first_int(cfg, ("vocab_size",)),
        n_tokens=len(vocab) if vocab is not None else None,
        vocab_hash=vocab_hash(vocab) if vocab is not None else None,
        tokenizer_model=str(tok_model) if tok_model else None,
        bos_token=special["bos"],
        eos_token=special["eos"],
        pad_token=special["pad"],
        unk_token=special["unk"],
        chat_template_hash=_hf_chat_template(d, tok_cfg),
    )


def fingerprint_gguf(path: str | Path, *, name: str | None = None) -> FamilyFingerprint:
    """Fingerprint from a GGUF file's metadata (see :func:`read_gguf_metadata`).

    Examples
    --------
    >>> import struct, tempfile, pathlib
    >>> def kv(k, t, payload): return struct.pack("<Q", len(k)) + k + struct.pack("<I", t) + payload
    >>> def s(x): return struct.pack("<Q", len(x)) + x
    >>> toks = struct.pack("<IQ", 8, 2) + s(b"<s>") + s(b"a")
    >>> blob = (b"GGUF" + struct.pack("<IQQ", 3, 0, 3) + kv(b"general.architecture", 8, s(b"llama"))
    ...         + kv(b"llama.block_count", 4, struct.pack("<I", 2)) + kv(b"tokenizer.ggml.tokens", 9, toks))
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.gguf"
    >>> _ = p.write_bytes(blob)
    >>> fp = fingerprint_gguf(p)
    >>> fp.model_type, fp.n_layers, fp.n_tokens, fp.vocab_hash == vocab_hash({"<s>": 0, "a": 1})
    ('llama', 2, 2, True)
    """
    path = Path(path)
    meta = read_gguf_metadata(path)
    arch = meta.get("general.architecture")
    if not isinstance(arch, str):
        raise PhyloLLMError(f"{path}: GGUF metadata has no general.architecture")

    def num(key: str) -> int | None:
        v = meta.get(f"{arch}.{key}")
        if isinstance(v, list):  # per-layer values (e.g. head_count_kv): record the first
            v = v[0] if v else None
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    tokens = meta.get("tokenizer.ggml.tokens")
    vocab = {str(t): i for i, t in enumerate(tokens)} if isinstance(tokens, list) else None

    def special(kind: str) -> str | None:
        tid = meta.get(f"tokenizer.ggml.{kind}_token_id")
        if isinstance(tid, int) and isinstance(tokens, list) and 0 <= tid < len(tokens):
            return str(tokens[tid])
        return None

    tmpl = meta.get("tokenizer.chat_template")
    stem = path.name.split(".gguf")[0]
    return FamilyFingerprint(
        name=name or stem,
        source="gguf",
        architecture=None,
        model_type=arch.lower(),
        n_layers=num("block_count"),
        hidden_size=num("embedding_length"),
        n_heads=num("attention.head_count"),
        n_kv_heads=num("attention.head_count_kv"),
        intermediate_size=num("feed_forward_length"),
        vocab_size=num("vocab_size") or (len(tokens) if isinstance(tokens, list) else None),
        n_tokens=len(vocab) if vocab is not None else None,
        vocab_hash=vocab_hash(vocab) if vocab is not None else None,
        tokenizer_model=meta.get("tokenizer.ggml.model"),
        bos_token=special("bos"),
        eos_token=special("eos"),
        pad_token=special("padding"),
        unk_token=special("unknown"),
        chat_template_hash=_text_hash(tmpl) if isinstance(tmpl, str) else None,
    )


def fingerprint(path: str | Path, *, name: str | None = None) -> FamilyFingerprint:
    """Fingerprint a model from its directory (``config.json`` + tokenizer files) or GGUF file.

    Parameters
    ----------
    path
        A Hugging Face model directory (must hold ``config.json``), a directory holding exactly
        one ``*.gguf`` file and no ``config.json``, or a GGUF file (any name; the magic bytes
        are checked).
    name
        Model label; defaults to the directory name or the GGUF file name before ``.gguf``.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "tiny-llama"
    >>> d.mkdir()
    >>> _ = (d / "config.json").write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 2}))
    >>> _ = (d / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": {"a": 0}}}))
    >>> fp = fingerprint(d)
    >>> fp.name, fp.model_type, fp.n_layers, fp.n_tokens
    ('tiny-llama', 'llama', 2, 1)
    """
    path = Path(path)
    if not path.exists():
        raise PhyloLLMError(f"model path {str(path)!r} does not exist")
    if path.is_file():
        return fingerprint_gguf(path, name=name)
    if (path / "config.json").is_file():
        return _fingerprint_hf(path, name or path.name)
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) == 1:
        return fingerprint_gguf(ggufs[0], name=name or path.name)
    if ggufs:
        raise PhyloLLMError(
            f"{path} holds {len(ggufs)} GGUF files ({[g.name for g in ggufs[:4]]}); pass the one to fingerprint"
        )
    raise PhyloLLMError(f"{path} holds neither config.json nor a .gguf file")


def group_families(fingerprints: Iterable[FamilyFingerprint]) -> dict[str, list[str]]:
    """Group model names by family key.

    The family key (``"<model_type>:<vocab hash prefix>"``, see the module docstring) is what is
    returned; :func:`model_families` gives the inverse mapping. Families are ordered by size
    (largest first), then key; members keep input order. Models without a readable vocabulary
    stay alone (with a warning giving how many).

    Examples
    --------
    >>> a = FamilyFingerprint("a", "hf", model_type="llama", vocab_hash="sha256:11")
    >>> b = FamilyFingerprint("b", "hf", model_type="llama", vocab_hash="sha256:11", n_layers=80)
    >>> c = FamilyFingerprint("c", "hf", model_type="t5", vocab_hash="sha256:22")
    >>> group_families([a, b, c])
    {'llama:11': ['a', 'b'], 't5:22': ['c']}
    """
    fps = list(fingerprints)
    names = [fp.name for fp in fps]
    check_unique(names, what="fingerprint names")
    unknown = sum(fp.vocab_hash is None for fp in fps)
    if unknown:
        warnings.warn(
            f"{unknown} model(s) have no readable vocabulary (no tokenizer.json, vocab.json or "
            "GGUF tokens); each is kept in a family of its own",
            PhyloLLMWarning,
            stacklevel=2,
        )
    groups: dict[str, list[str]] = {}
    for fp in fps:
        groups.setdefault(fp.family_key, []).append(fp.name)
    return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def model_families(fingerprints: Iterable[FamilyFingerprint]) -> dict[str, str]:
    """``{model: family key}``, e.g. to pass as ``families=`` to :func:`phylo_llm.data.join_meta`.

    Examples
    --------
    >>> model_families([FamilyFingerprint("a", "hf", model_type="llama", vocab_hash="sha256:11")])
    {'a': 'llama:11'}
    """
    return {model: key for key, models in group_families(fingerprints).items() for model in models}


def family_vs_lineage(families: Mapping[str, str], tree_or_dm: Tree | DistanceMatrix) -> pd.DataFrame:
    """Where structural families and behavioural (DNA) lineage agree or disagree.

    Parameters
    ----------
    families
        ``{model: family}`` for every model of the tree / matrix (extra models are an error).
    tree_or_dm
        A tree (nearest neighbours by patristic distance, and a clade test per family) or a
        distance matrix (nearest neighbours by distance only).

    Returns
    -------
    pandas.DataFrame
        One row per model (index ``model``) with ``family``, ``family_size``, ``nearest``
        (closest other model), ``nearest_family``, ``nearest_distance``, ``nearest_same_family``
        (the nearest model is from the same family; ``<NA>`` for single-model families),
        ``family_is_clade`` (the family's models, and only they, form a clade; for an unrooted
        tree, one side of a split; ``<NA>`` for a distance matrix) and ``agrees``
        (``nearest_same_family`` and ``family_is_clade`` are not ``False``).

    Examples
    --------
    >>> dm = DistanceMatrix(("a", "b", "c"), [[0, 1, 5], [1, 0, 5], [5, 5, 0]])
    >>> df = family_vs_lineage({"a": "x", "b": "y", "c": "y"}, dm)
    >>> df["nearest"].tolist(), df["nearest_same_family"].tolist()
    (['b', 'a', 'a'], [<NA>, False, False])
    """
    if isinstance(tree_or_dm, Tree):
        dm = patristic_distances(tree_or_dm)
    elif isinstance(tree_or_dm, DistanceMatrix):
        dm = tree_or_dm
    else:
        raise PhyloLLMError(f"tree_or_dm must be a Tree or a DistanceMatrix, got {type(tree_or_dm).__name__}")
    labels = dm.labels
    missing = [m for m in labels if m not in families]
    if missing:
        raise PhyloLLMError(f"families must name every model; {len(missing)} missing, e.g. {missing[:5]}")
    extra = sorted(set(families) - set(labels))
    if extra:
        raise PhyloLLMError(f"families names {len(extra)} model(s) not in the tree/matrix, e.g. {extra[:5]}")
    if len(labels) < 2:
        raise PhyloLLMError(f"family_vs_lineage needs at least 2 models, got {len(labels)}")
    fam = [str(families[m]) for m in labels]
    size = Counter(fam)
    d = np.array(dm.values, dtype=np.float64)
    np.fill_diagonal(d, np.inf)
    nn = d.argmin(axis=1)
    nearest = [labels[j] for j in nn]
    nearest_fam = [fam[j] for j in nn]
    same = pd.array([None if size[f] == 1 else f == g for f, g in zip(fam, nearest_fam)], dtype="boolean")
    if isinstance(tree_or_dm, Tree):
        clade_of = _family_clades(tree_or_dm, fam, labels)
        is_clade = pd.array([clade_of[f] for f in fam], dtype="boolean")
    else:
        is_clade = pd.array([None] * len(labels), dtype="boolean")
    out = pd.DataFrame(
        {
            "family": fam,
            "family_size": [size[f] for f in fam],
            "nearest": nearest,
            "nearest_family": nearest_fam,
            "nearest_distance": d[np.arange(len(labels)), nn],
            "nearest_same_family": same,
            "family_is_clade": is_clade,
        },
        index=pd.Index(labels, name="model"),
    )
    out["agrees"] = (out["nearest_same_family"].fillna(True) & out["family_is_clade"].fillna(True)).astype(bool)
    return out


def _family_clades(tree: Tree, fam: Sequence[str], labels: Sequence[str]) -> dict[str, bool]:
    # A family is a clade when its tip set, in the tree package's canonical split form, is one
    # of the tree's splits (rooted clades for a rooted tree, bipartitions otherwise).
    have = split_table(tree, rooted=tree.rooted)
    keys = have.as_set()
    n = len(labels)
    members: dict[str, list[str]] = {}
    for m, f in zip(labels, fam):
        members.setdefault(f, []).append(m)
    out = {}
    for f, names in members.items():
        k = len(names)
        if k == 1 or k >= n - (0 if tree.rooted else 1):
            out[f] = True  # a single model, or everything (but at most one model) is trivially a clade
            continue
        out[f] = have.key_of(names) in keys
    return out
