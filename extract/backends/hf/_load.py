"""Where a model's weights come from, what identifies them, and loading them with transformers."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from phylo_llm.errors import PhyloLLMError

from ...models import check_no_custom_code, custom_code_error, is_bundled, resolve_model
from ._convert import MARKER, convert_gguf, read_marker

__all__ = [
    "Architecture",
    "ModelSource",
    "architecture",
    "cache_kwarg",
    "context_length",
    "directory_fingerprint",
    "hub_fingerprint",
    "load_model",
    "model_source",
    "resolve_device",
]

Architecture = Literal["causal", "seq2seq"]
_HASHED_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_SAMPLE = 1 << 20


@dataclass(frozen=True)
class ModelSource:
    """Where a local model's weights come from and what identifies them (see :func:`model_source`).

    ``load_from`` is the directory (or hub id) a loader reads; ``identity`` and ``fingerprint``
    go into a backend's settings (the response-cache key); ``fingerprint`` is ``None`` for a hub
    id until its config is loaded (:func:`hub_fingerprint`).
    """

    source: str
    load_from: str | Path
    identity: str
    fingerprint: str | None
    default_id: str


def model_source(model: str | Path) -> ModelSource:
    """Resolve a model argument, converting a GGUF file to safetensors once (see :func:`convert_gguf`).

    Every local engine (transformers, vLLM) loads ``load_from`` and keys its cache on
    ``identity`` and ``fingerprint``, so the same weights get the same identity whichever engine
    runs them.

    Examples
    --------
    >>> model_source("HuggingFaceTB/SmolLM2-135M-Instruct").identity
    'HuggingFaceTB/SmolLM2-135M-Instruct'
    """
    resolved = resolve_model(model)
    if isinstance(resolved, Path) and resolved.is_file():
        load_from: str | Path = convert_gguf(resolved)
        fingerprint: str | None = read_marker(load_from)["fingerprint"]
    elif isinstance(resolved, Path):
        load_from = resolved
        fingerprint = directory_fingerprint(resolved)
    else:
        load_from, fingerprint = resolved, None
    source = str(resolved)
    # Bundled files live in site-packages, whose path differs per machine; the name does not.
    if isinstance(model, str) and is_bundled(model):
        identity, default_id = f"bundled:{model}", model
    elif isinstance(resolved, str):
        identity, default_id = source, resolved
    else:
        identity = source
        default_id = resolved.stem if resolved.is_file() else resolved.name
    return ModelSource(source, load_from, identity, fingerprint, default_id)


def hub_fingerprint(hub_id: str, config: Any) -> str:
    """``hub:<id>@<commit>`` from a config loaded from the hub (the snapshot pins the weights)."""
    return f"hub:{hub_id}@{getattr(config, '_commit_hash', None)}"


def directory_fingerprint(path: Path) -> str:
    """Hash of a model directory's config/tokenizer files and samples of its weight files.

    Hashing gigabytes of weights on every load would cost more than loading them. Names and sizes
    alone are not enough: a fine-tune or a perturbed copy written over the same directory keeps
    both, so 1 MiB from the start, middle and end of every weight file is hashed too (the start
    alone is mostly the safetensors header, identical across checkpoints of one architecture).
    """
    if (path / MARKER).is_file():
        return read_marker(path)["fingerprint"]
    digest = hashlib.sha256()
    for name in _HASHED_FILES:
        f = path / name
        if f.is_file():
            digest.update(f"{name}\0".encode())
            digest.update(f.read_bytes())
    for f in sorted(path.iterdir()):
        if f.is_file() and f.name.endswith(_WEIGHT_SUFFIXES):
            size = f.stat().st_size
            digest.update(f"{f.name}\0{size}\0".encode())
            with f.open("rb") as fh:
                for offset in sorted({0, max(0, size // 2 - _SAMPLE // 2), max(0, size - _SAMPLE)}):
                    fh.seek(offset)
                    digest.update(fh.read(_SAMPLE))
    return "dir-sha256:" + digest.hexdigest()[:16]


def resolve_device(device: str | None) -> str:
    """``device`` checked against torch and this machine; ``None``: ``"cuda"`` when available, else CPU."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise PhyloLLMError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise PhyloLLMError(f"device={device!r} was asked for, but CUDA is not available here")
    return str(dev)


def architecture(config: Any) -> Architecture:
    """``"seq2seq"`` or ``"causal"`` from the config alone (never from the model's name)."""
    from transformers import (
        MODEL_FOR_CAUSAL_LM_MAPPING,
        MODEL_FOR_MASKED_LM_MAPPING,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING,
    )

    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    kind = type(config)
    # BERT-like encoders also have a causal-LM head class, usable only when built as a decoder.
    encoder = kind in MODEL_FOR_MASKED_LM_MAPPING and not getattr(config, "is_decoder", False)
    if kind in MODEL_FOR_CAUSAL_LM_MAPPING and not encoder:
        return "causal"
    if type(config) in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING:
        return "seq2seq"
    raise PhyloLLMError(
        f"model type {getattr(config, 'model_type', '?')!r} ({type(config).__name__}) is neither a "
        f"causal language model nor an encoder-decoder; it cannot generate responses"
    )


def load_model(source: str | Path, device: str, dtype: Any) -> tuple[Any, Any, Any]:
    """Config, tokenizer and model (in eval mode on ``device``); a model's own code is never run."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    config, tokenizer = _load_config_and_tokenizer(source)
    auto = AutoModelForSeq2SeqLM if architecture(config) == "seq2seq" else AutoModelForCausalLM
    net = auto.from_pretrained(source, config=config, dtype=dtype, trust_remote_code=False)
    net.to(device)
    net.eval()
    return config, tokenizer, net


def _load_config_and_tokenizer(source: str | Path) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoTokenizer

    check_no_custom_code(source)  # one line naming the file, before transformers looks
    try:
        # Never prompt, never run a model's own code (an explicit False raises instead of asking).
        config = AutoConfig.from_pretrained(source, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise custom_code_error(source, "its configuration", "code of its own") from None
        raise
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        where = "the Hugging Face hub" if isinstance(source, str) else str(source)
        why = " (HF_HUB_OFFLINE is set and it is not in the local cache)" if offline else ""
        raise PhyloLLMError(f"could not load model {str(source)!r} from {where}{why}: {exc}") from exc
    return config, tokenizer


def cache_kwarg(net: Any) -> str:
    """The keyword a model's forward and generate take a key/value cache under.

    transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name warns, then goes in 6.0).
    """
    import inspect

    return "cache" if "cache" in inspect.signature(type(net).forward).parameters else "past_key_values"


def context_length(config: Any) -> int | None:
    """The model's context in tokens from its config, or ``None`` when it names none."""
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
