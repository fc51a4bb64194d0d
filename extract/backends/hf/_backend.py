"""Hugging Face ``transformers`` backend: local directories, GGUF files, bundled models, hub ids.

Responses come from batched greedy decoding. Decoder-only models are padded on the left (so
every row's last prompt token sits next to its first new token); encoder-decoder models (T5,
BART...) are padded on the right of the encoder input. Which of the two a model is comes from
its config, never from its name.

GGUF files are dequantised by ``transformers`` to float32, which takes 15-70 s; the result is
saved once as safetensors under ``<cache>/models/<name>-<key>/`` (written to a temporary
directory, then renamed), so later loads take a few seconds.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from phylo_llm.errors import PhyloLLMError

from ..models import (
    cache_dir,
    check_no_custom_code,
    custom_code_error,
    is_bundled,
    resolve_model,
)
from ..threads import torch_threads

__all__ = ["HFBackend", "GenerationStats", "ModelSource", "convert_gguf", "model_source", "hub_fingerprint",
           "use_chat_template", "prompt_text", "prompt_ids", "eos_token_id",
           "chat_template_digest"]

Architecture = Literal["causal", "seq2seq"]
ChatTemplate = bool | Literal["auto"]
Dtype = Literal["float32", "bfloat16", "float16"]
_DTYPES: tuple[str, ...] = ("float32", "bfloat16", "float16")
_MARKER = "phylo_llm_source.json"  # written last into a converted directory
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
# Shorter common prefixes cost more to set up (a cache copy per batch) than they save.
_MIN_SHARED_PREFIX = 8
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


@dataclass(frozen=True)
class GenerationStats:
    """What the last :meth:`HFBackend.generate` call did: prompts, new tokens and wall time."""

    prompts: int
    new_tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else float("nan")


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
        fingerprint: str | None = _read_marker(load_from)["fingerprint"]
    elif isinstance(resolved, Path):
        load_from = resolved
        fingerprint = _directory_fingerprint(resolved)
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


def use_chat_template(tokenizer: Any, chat_template: ChatTemplate, *, source: str) -> bool:
    """Whether prompts get the chat template: ``"auto"`` when the tokenizer has one."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat_template is True and not has_template:
        raise PhyloLLMError(
            f"chat_template=True but the tokenizer of {source!r} has no chat template; "
            f"use chat_template='auto' or False"
        )
    return has_template if chat_template == "auto" else bool(chat_template)


def chat_template_digest(tokenizer: Any, chat_template: bool) -> str | None:
    """16 hex digits of the chat template's sha256 when it is used, else ``None`` (a cache-key part)."""
    template = tokenizer.chat_template if chat_template else None
    return _sha256_text(template)[:16] if template else None


def prompt_text(tokenizer: Any, prompt: str, *, chat_template: bool) -> str:
    """The exact text fed to a model for ``prompt``: one user turn of the chat template, or raw."""
    if not chat_template:
        return prompt
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )


def prompt_ids(tokenizer: Any, prompt: str, *, chat_template: bool) -> list[int]:
    """The token ids fed to a model for ``prompt`` (shared by every local engine)."""
    # A chat template already writes BOS and friends; adding them again would double them.
    text = prompt_text(tokenizer, prompt, chat_template=chat_template)
    return list(tokenizer(text, add_special_tokens=not chat_template)["input_ids"])


def eos_token_id(generation_config: Any, config: Any, tokenizer: Any, *, source: str) -> int | list[int]:
    """The token id(s) that end a response: the shipped generation config's, else the model
    config's, else the tokenizer's (a sorted list when there are several)."""
    eos = generation_config.eos_token_id
    if eos is None:
        eos = config.eos_token_id if config.eos_token_id is not None else tokenizer.eos_token_id
    if eos is None:
        raise PhyloLLMError(f"model {source!r} defines no EOS token in config or tokenizer")
    if isinstance(eos, (list, tuple)):
        eos = sorted({int(e) for e in eos})
        eos = eos[0] if len(eos) == 1 else eos
    return eos


class HFBackend:
    """A ``transformers`` model that answers prompts by greedy decoding.

    Parameters
    ----------
    model
        A bundled short name (see :func:`extract.models.bundled_models`), a local model
        directory, a ``.gguf`` file, or a hub id ``"owner/name"`` (needs network or the local
        Hugging Face cache).
    model_id
        Label of the model's DNA. Default: the short name, the hub id, or the directory/file
        name.
    max_new_tokens
        Upper bound on generated tokens per response (generation also stops at EOS).
    batch_size
        Prompts decoded together. Prompts are sorted by token length first, so a batch holds
        prompts of similar length and little padding; responses come back in input order.
    chat_template
        ``"auto"`` wraps each prompt as one user turn when the tokenizer has a chat template;
        ``True`` requires a template; ``False`` feeds the raw prompt.
    threads
        CPU threads for torch while loading and generating (restored afterwards).
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default: ``"cuda"`` when available, else CPU.
    dtype
        Weights' dtype. ``"float32"`` is the accurate and fastest choice on CPU.
    share_prefix
        Decoder-only models: when every prompt of a call starts with the same tokens (a chat
        template's system prompt, typically), run them once and reuse their key/value cache for
        every row. Rows are laid out as ``prefix, padding, rest`` with the padding masked, so
        each row sees exactly the tokens and positions it would see alone; only speed changes.

    Attributes
    ----------
    architecture
        ``"causal"`` or ``"seq2seq"``, read from the model's config.
    last_stats
        :class:`GenerationStats` of the latest :meth:`generate` call (``None`` before).
    load_seconds
        Time the constructor spent loading (and, first time, converting) the model.

    Examples
    --------
    >>> backend = HFBackend("smollm2-135m", max_new_tokens=8)  # doctest: +SKIP
    >>> backend.generate(["What is the capital of France?"])  # doctest: +SKIP
    ['The capital of France is Paris.']
    """

    def __init__(
        self,
        model: str | Path,
        *,
        model_id: str | None = None,
        max_new_tokens: int = 64,
        batch_size: int = 64,
        chat_template: ChatTemplate = "auto",
        threads: int | None = None,
        device: str | None = None,
        dtype: Dtype = "float32",
        share_prefix: bool = True,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
    ) -> None:
        _check_positive_int("max_new_tokens", max_new_tokens)
        _check_sampling(temperature, top_p, seed)
        _check_positive_int("batch_size", batch_size)
        if threads is not None:
            _check_positive_int("threads", threads)
        if not (isinstance(chat_template, bool) or chat_template == "auto"):
            raise PhyloLLMError(f"chat_template must be True, False or 'auto', got {chat_template!r}")
        if dtype not in _DTYPES:
            raise PhyloLLMError(f"dtype must be one of {list(_DTYPES)}, got {dtype!r}")
        if not isinstance(share_prefix, bool):
            raise PhyloLLMError(f"share_prefix must be True or False, got {share_prefix!r}")
        if model_id is not None and (not isinstance(model_id, str) or not model_id):
            raise PhyloLLMError(f"model_id must be a non-empty string, got {model_id!r}")

        import torch

        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = int(batch_size)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.seed = int(seed)
        self.threads = threads
        self.share_prefix = share_prefix
        self.dtype: Dtype = dtype
        self.device = _resolve_device(device)
        self.last_stats: GenerationStats | None = None

        started = time.perf_counter()
        with self._torch_threads():
            src = model_source(model)
            config, tokenizer, net = _load(src.load_from, self.device, getattr(torch, dtype))
        self._source = src.source
        self._fingerprint = src.fingerprint
        if self._fingerprint is None:
            # The hub snapshot's commit pins the weights exactly.
            self._fingerprint = hub_fingerprint(src.source, config)
        self.load_seconds = time.perf_counter() - started

        self.architecture: Architecture = _architecture(config)
        self._config = config
        self._tokenizer = tokenizer
        self._model = net
        self._cache_kwarg = _cache_kwarg(net)
        self._identity = src.identity
        default_id = src.default_id
        self.model_id: str = model_id or default_id

        # Decoder-only rows must end where generation starts; encoder inputs are padded after.
        tokenizer.padding_side = "left" if self.architecture == "causal" else "right"
        self._pad_from_eos = False
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise PhyloLLMError(
                    f"model {self._source!r}: the tokenizer has neither a pad nor an EOS token; "
                    f"add a pad token to the tokenizer"
                )
            tokenizer.pad_token = tokenizer.eos_token
            self._pad_from_eos = True

        self.chat_template: bool = use_chat_template(tokenizer, chat_template, source=self._source)
        self._generation_config = self._make_generation_config()

    # -- Backend protocol --------------------------------------------------------------------

    def settings(self) -> Mapping[str, Any]:
        """Everything that changes a response; JSON-serialisable, part of the cache key."""
        gc = self._generation_config
        return {
            "backend": "transformers",
            "model": self._identity,
            "weights": self._fingerprint,
            "architecture": self.architecture,
            **self._decoding(),
            "max_new_tokens": self.max_new_tokens,
            "chat_template": self.chat_template,
            "chat_template_sha256": chat_template_digest(self._tokenizer, self.chat_template),
            "dtype": self.dtype,
            "eos_token_id": gc.eos_token_id,
            "pad_token": "eos" if self._pad_from_eos else "own",
        }

    def _decoding(self) -> dict[str, Any]:
        if self.temperature == 0:
            return {"decoding": "greedy"}
        return {"decoding": "sampling", "temperature": self.temperature, "top_p": self.top_p,
                "seed": self.seed}

    def generate(self, prompts: Sequence[str]) -> list[str]:
        """One response per prompt, in order: greedy, or sampled with the backend's seed.

        Sampling is seeded per batch from ``(seed, the batch's prompt tokens)`` inside a forked
        RNG (the global torch generator is left as it was), so the same prompts in the same
        batches give the same answers on every run.

        Raises
        ------
        PhyloLLMError
            When a prompt is not a string or is empty after tokenisation.
        """
        import torch

        if isinstance(prompts, str):
            raise PhyloLLMError("prompts must be a sequence of strings, got a single string")
        prompts = list(prompts)
        for i, p in enumerate(prompts):
            if not isinstance(p, str):
                raise PhyloLLMError(f"prompts[{i}] must be a string, got {type(p).__name__}")
        started = time.perf_counter()
        encoded = [self._encode(i, p) for i, p in enumerate(prompts)]
        # Similar lengths share a batch: less padding, less wasted compute.
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
        out: list[str | None] = [None] * len(prompts)
        new_tokens = 0
        with self._torch_threads(), torch.inference_mode():
            prefix = self._shared_prefix(encoded)
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                texts, counts = self._generate_batch([encoded[i] for i in rows], prefix)
                new_tokens += sum(counts)
                for i, text in zip(rows, texts):
                    out[i] = text
        self.last_stats = GenerationStats(
            prompts=len(prompts), new_tokens=new_tokens, seconds=time.perf_counter() - started
        )
        return [t for t in out if t is not None]

    # -- helpers -----------------------------------------------------------------------------

    def prompt_text(self, prompt: str) -> str:
        """The exact text fed to the model for ``prompt`` (the chat template applied or not)."""
        return prompt_text(self._tokenizer, prompt, chat_template=self.chat_template)

    def _encode(self, index: int, prompt: str) -> list[int]:
        ids = prompt_ids(self._tokenizer, prompt, chat_template=self.chat_template)
        if not ids:
            raise PhyloLLMError(f"prompts[{index}] is empty after tokenisation: {prompt!r}")
        limit = _context_length(self._config)
        if limit is not None and self.architecture == "causal" and len(ids) + self.max_new_tokens > limit:
            raise PhyloLLMError(
                f"prompts[{index}] has {len(ids)} tokens; with max_new_tokens="
                f"{self.max_new_tokens} that exceeds the model's context of {limit} tokens"
            )
        return list(ids)

    def _shared_prefix(self, encoded: list[list[int]]) -> tuple[list[int], Any] | None:
        """The prompts' common leading tokens and their key/value cache, when worth sharing."""
        if not self.share_prefix or self.architecture != "causal" or len(encoded) < 2:
            return None
        first = encoded[0]
        # Every row keeps at least one token of its own, which generation starts from.
        n = min(len(e) for e in encoded) - 1
        length = 0
        while length < n and all(e[length] == first[length] for e in encoded):
            length += 1
        if length < _MIN_SHARED_PREFIX:
            return None
        import torch
        from transformers import DynamicCache

        cache = DynamicCache(config=self._config)
        ids = torch.tensor([first[:length]], device=self.device)
        self._model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, **{self._cache_kwarg: cache})
        return first[:length], cache

    def _generate_batch(
        self, batch: list[list[int]], prefix: tuple[list[int], Any] | None
    ) -> tuple[list[str], list[int]]:
        import torch

        tok = self._tokenizer
        if prefix is None:
            inputs = tok.pad({"input_ids": batch}, padding=True, return_tensors="pt")
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
        else:
            # prefix | pads | own tokens: masked pads leave positions and attention as if alone.
            head, cache = prefix
            cut = len(head)
            width = max(len(b) for b in batch) - cut
            pad = tok.pad_token_id
            ids = [head + [pad] * (width - len(b) + cut) + b[cut:] for b in batch]
            mask = [[1] * cut + [0] * (width - len(b) + cut) + [1] * (len(b) - cut) for b in batch]
            cache = copy.deepcopy(cache)
            cache.batch_repeat_interleave(len(batch))
            inputs = {
                "input_ids": torch.tensor(ids, device=self.device),
                "attention_mask": torch.tensor(mask, device=self.device),
                self._cache_kwarg: cache,
            }
        if self.temperature == 0:
            sequences = self._model.generate(**inputs, generation_config=self._generation_config)
        else:
            digest = hashlib.sha256(json.dumps([self.seed, batch]).encode()).digest()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
                sequences = self._model.generate(**inputs, generation_config=self._generation_config)
        # Causal models return prompt + new tokens; seq2seq ones the decoder start + new tokens.
        skip = inputs["input_ids"].shape[1] if self.architecture == "causal" else 1
        new = sequences[:, skip:].tolist()
        eos = self._generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        counts = []
        for row in new:
            # Tokens up to and including the first EOS; after it come only pads.
            end = next((j + 1 for j, t in enumerate(row) if t in eos_ids), len(row))
            counts.append(end)
        texts = tok.batch_decode(
            [row[:n] for row, n in zip(new, counts)], skip_special_tokens=True
        )
        return texts, counts

    def _make_generation_config(self) -> Any:
        from transformers import GenerationConfig

        shipped = self._model.generation_config
        tok = self._tokenizer
        eos = eos_token_id(shipped, self._config, tok, source=self._source)
        # A fresh config: pure greedy (or plain temperature/top-p sampling with no top-k, as
        # vLLM does), whatever sampling defaults the model ships with.
        sampling: dict[str, Any] = (
            dict(do_sample=False) if self.temperature == 0
            else dict(do_sample=True, temperature=self.temperature, top_p=self.top_p, top_k=0)
        )
        kwargs: dict[str, Any] = dict(
            **sampling,
            num_beams=1,
            max_new_tokens=self.max_new_tokens,
            eos_token_id=eos,
            pad_token_id=tok.pad_token_id,
            bos_token_id=shipped.bos_token_id,
        )
        if self.architecture == "seq2seq":
            start = shipped.decoder_start_token_id
            if start is None:
                start = getattr(self._config, "decoder_start_token_id", None)
            if start is None:
                raise PhyloLLMError(
                    f"seq2seq model {self._source!r} defines no decoder_start_token_id"
                )
            kwargs["decoder_start_token_id"] = start
        return GenerationConfig(**kwargs)

    def _torch_threads(self) -> AbstractContextManager[None]:
        return torch_threads(self.threads)

    def __repr__(self) -> str:
        return (
            f"HFBackend({self.model_id!r}, architecture={self.architecture!r}, "
            f"device={self.device!r}, dtype={self.dtype!r}, max_new_tokens={self.max_new_tokens})"
        )


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------


def _check_sampling(temperature: Any, top_p: Any, seed: Any) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 10:
        raise PhyloLLMError(f"temperature must be a number in [0, 10] (0 = greedy), got {temperature!r}")
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise PhyloLLMError(f"top_p must be a number in (0, 1], got {top_p!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PhyloLLMError(f"seed must be an integer >= 0, got {seed!r}")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PhyloLLMError(f"{name} must be a positive integer, got {value!r}")


def _resolve_device(device: str | None) -> str:
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


def _architecture(config: Any) -> Architecture:
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


def _load(source: str | Path, device: str, dtype: Any) -> tuple[Any, Any, Any]:
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
    )

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
    auto = AutoModelForSeq2SeqLM if _architecture(config) == "seq2seq" else AutoModelForCausalLM
    net = auto.from_pretrained(source, config=config, dtype=dtype, trust_remote_code=False)
    net.to(device)
    net.eval()
    return config, tokenizer, net


def _cache_kwarg(net: Any) -> str:
    """The keyword a model's forward and generate take a key/value cache under.

    transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name warns, then goes in 6.0).
    """
    import inspect

    return "cache" if "cache" in inspect.signature(type(net).forward).parameters else "past_key_values"


def _context_length(config: Any) -> int | None:
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _directory_fingerprint(path: Path) -> str:
    """Hash of a model directory's config/tokenizer files and samples of its weight files.

    Hashing gigabytes of weights on every load would cost more than loading them. Names and sizes
    alone are not enough: a fine-tune or a perturbed copy written over the same directory keeps
    both, so 1 MiB from the start, middle and end of every weight file is hashed too (the start
    alone is mostly the safetensors header, identical across checkpoints of one architecture).
    """
    marker = path / _MARKER
    if marker.is_file():
        return _read_marker(path)["fingerprint"]
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


_SAMPLE = 1 << 20


def _read_marker(path: Path) -> dict[str, Any]:
    return json.loads((path / _MARKER).read_text(encoding="utf-8"))


def convert_gguf(gguf: str | Path) -> Path:
    """A safetensors copy of a GGUF model, made once and cached; returns its directory.

    The cache key is the file's resolved path, size and modification time, so a changed file is
    converted again; the file's sha256 is recorded inside as the weights' fingerprint.

    Examples
    --------
    >>> from extract.models import bundled_models
    >>> convert_gguf(bundled_models()["smollm2-135m"]).is_dir()  # doctest: +SKIP
    True
    """
    gguf = Path(gguf).resolve()
    if not gguf.is_file() or gguf.suffix.lower() != ".gguf":
        raise PhyloLLMError(f"gguf must be an existing .gguf file, got {str(gguf)!r}")
    stat = gguf.stat()
    key = _sha256_text(f"{gguf}\0{stat.st_size}\0{stat.st_mtime_ns}")[:12]
    root = cache_dir() / "models"
    target = root / f"{gguf.stem}-{key}"
    if (target / _MARKER).is_file():
        return target

    from transformers import AutoModelForCausalLM, AutoTokenizer

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
        net = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
        # transformers dequantised every tensor to float32 but still flags the model as GGUF-
        # quantised, which blocks saving; the weights themselves are plain tensors now.
        net.hf_quantizer = None
        if hasattr(net.config, "quantization_config"):
            del net.config.quantization_config
        net.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        import transformers

        marker = {
            "source": str(gguf),
            "size": stat.st_size,
            "fingerprint": "gguf-sha256:" + _sha256_file(gguf)[:16],
            "transformers": transformers.__version__,
        }
        (tmp / _MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process finished the same conversion first; theirs is as good as ours.
            if not (target / _MARKER).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
