"""The transformers backend: a model loaded once, answering prompts in sorted, padded batches."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import check_choice, check_int

from ...threads import torch_threads
from ._generate import (
    ChatTemplate,
    GenerationStats,
    WindowStop,
    chat_template_digest,
    check_sampling,
    decoding_settings,
    eos_ids,
    generation_config,
    prompt_ids,
    prompt_text,
    responses_until_eos,
    seeded_by,
    shared_prefix_length,
    spliced_prefix_rows,
    use_chat_template,
    window_stopping_criteria,
)
from ._load import (
    Architecture,
    architecture,
    cache_kwarg,
    context_length,
    hub_fingerprint,
    load_model,
    model_source,
    resolve_device,
)

__all__ = ["HFBackend"]

Dtype = Literal["float32", "bfloat16", "float16"]
_DTYPES: tuple[str, ...] = ("float32", "bfloat16", "float16")
# Shorter common prefixes cost more to set up (a cache copy per batch) than they save.
_MIN_SHARED_PREFIX = 8


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
    window_stop
        A :class:`~extract.backends.hf.WindowStop`: end each response once the embedder that will
        read it has its window full (recorded in :meth:`settings` as ``window_stop``), rather than
        at ``max_new_tokens``; the embedding is the same, the decoding shorter.
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

    #: Decode window-stopped greedy batches in segments that finished rows leave (see
    #: :meth:`_decode_in_segments`); ``False`` decodes each batch in one call (same answers).
    _segments = True

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
        window_stop: WindowStop | None = None,
    ) -> None:
        _check_arguments(
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            threads=threads,
            chat_template=chat_template,
            dtype=dtype,
            share_prefix=share_prefix,
            model_id=model_id,
        )
        check_sampling(temperature, top_p, seed)
        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = int(batch_size)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.seed = int(seed)
        self.threads = threads
        self.share_prefix = share_prefix
        if window_stop is not None and not isinstance(window_stop, WindowStop):
            raise PhyloLLMError(f"window_stop must be a WindowStop or None, got {type(window_stop).__name__}")
        self.window_stop = window_stop
        self.dtype: Dtype = dtype
        self.device = resolve_device(device)
        self.last_stats: GenerationStats | None = None
        self._load(model, model_id)
        self._pad_from_eos = _set_padding(self._tokenizer, self.architecture, source=self._source)
        self.chat_template: bool = use_chat_template(self._tokenizer, chat_template, source=self._source)
        self._generation_config = generation_config(
            self._model,
            self._config,
            self._tokenizer,
            architecture=self.architecture,
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            source=self._source,
        )

    def _load(self, model: str | Path, model_id: str | None) -> None:
        import torch

        started = time.perf_counter()
        with self._torch_threads():
            src = model_source(model)
            config, tokenizer, net = load_model(src.load_from, self.device, getattr(torch, self.dtype))
        self._source = src.source
        # A hub snapshot's commit pins the weights exactly.
        self._fingerprint = src.fingerprint or hub_fingerprint(src.source, config)
        self.load_seconds = time.perf_counter() - started
        self.architecture: Architecture = architecture(config)
        self._config = config
        self._tokenizer = tokenizer
        self._model = net
        self._cache_kwarg = cache_kwarg(net)
        self._identity = src.identity
        self.model_id: str = model_id or src.default_id

    # -- Backend protocol --------------------------------------------------------------------

    def settings(self) -> Mapping[str, Any]:
        """Everything that changes a response; JSON-serialisable, part of the cache key."""
        gc = self._generation_config
        return {
            "backend": "transformers",
            "model": self._identity,
            "weights": self._fingerprint,
            "architecture": self.architecture,
            **decoding_settings(self.temperature, self.top_p, self.seed),
            "max_new_tokens": self.max_new_tokens,
            "chat_template": self.chat_template,
            "chat_template_sha256": chat_template_digest(self._tokenizer, self.chat_template),
            "dtype": self.dtype,
            "eos_token_id": gc.eos_token_id,
            "pad_token": "eos" if self._pad_from_eos else "own",
            **({"window_stop": self.window_stop.id} if self.window_stop is not None else {}),
        }

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
        limit = context_length(self._config)
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
        length = shared_prefix_length(encoded)
        if length < _MIN_SHARED_PREFIX:
            return None
        import torch
        from transformers import DynamicCache

        cache = DynamicCache(config=self._config)
        head = encoded[0][:length]
        ids = torch.tensor([head], device=self.device)
        self._model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, **{self._cache_kwarg: cache})
        return head, cache

    def _batch_inputs(self, batch: list[list[int]], prefix: tuple[list[int], Any] | None) -> dict[str, Any]:
        import torch

        if prefix is None:
            inputs = self._tokenizer.pad({"input_ids": batch}, padding=True, return_tensors="pt")
            return {k: v.to(self.device) for k, v in inputs.items()}
        head, cache = prefix
        ids, mask = spliced_prefix_rows(batch, len(head), self._tokenizer.pad_token_id)
        cache = copy.deepcopy(cache)
        cache.batch_repeat_interleave(len(batch))
        return {
            "input_ids": torch.tensor(ids, device=self.device),
            "attention_mask": torch.tensor(mask, device=self.device),
            self._cache_kwarg: cache,
        }

    def _generate_batch(
        self, batch: list[list[int]], prefix: tuple[list[int], Any] | None
    ) -> tuple[list[str], list[int]]:
        inputs = self._batch_inputs(batch, prefix)
        # Causal models return prompt + new tokens; seq2seq ones the decoder start + new tokens.
        skip = inputs["input_ids"].shape[1] if self.architecture == "causal" else 1
        if self.window_stop is not None:
            if self._segments and self.temperature == 0 and prefix is None and self.architecture == "causal":
                return self._decode_in_segments(inputs, skip)
            inputs["stopping_criteria"] = [window_stopping_criteria(self.window_stop, self._tokenizer, skip)]
        if self.temperature == 0:
            sequences = self._model.generate(**inputs, generation_config=self._generation_config)
        else:
            with seeded_by(self.seed, batch):
                sequences = self._model.generate(**inputs, generation_config=self._generation_config)
        pad = self._tokenizer.pad_token_id if self.window_stop is not None else None
        rows, counts = responses_until_eos(sequences[:, skip:].tolist(), self._generation_config.eos_token_id, pad)
        return self._tokenizer.batch_decode(rows, skip_special_tokens=True), counts

    def _decode_in_segments(self, inputs: dict[str, Any], skip: int) -> tuple[list[str], list[int]]:
        """Greedy decoding with a window stop, in segments of ``4 * window_stop.every`` steps;
        after each, the rows that are done (EOS, window full, ``max_new_tokens``) leave the batch
        and the others go on from the same key/value cache.

        A batch otherwise decodes until its last row stops, at the cost of the whole batch per
        step. The steps each remaining row takes are the same, so are its tokens (greedy).
        """
        import torch
        from transformers import DynamicCache

        stop: WindowStop = self.window_stop  # type: ignore[assignment]  # set: the caller checked
        eos = self._generation_config.eos_token_id
        ends = eos_ids(eos)
        pad = self._tokenizer.pad_token_id
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        cache = DynamicCache(config=self._config)  # filled in place by generate, row-selected below
        rows = list(range(ids.shape[0]))
        out: list[list[int]] = [[] for _ in rows]
        config = copy.deepcopy(self._generation_config)
        while rows:
            done = ids.shape[1] - skip
            config.max_new_tokens = min(4 * stop.every, self.max_new_tokens - done)
            window = window_stopping_criteria(stop, self._tokenizer, skip)  # one per segment: rows change
            ids = self._model.generate(
                input_ids=ids,
                attention_mask=mask,
                generation_config=config,
                stopping_criteria=[window],
                **{self._cache_kwarg: cache},
            )
            new = ids[:, skip:].tolist()
            length = len(new[0])
            stopped = window.stopped.tolist() if window.stopped is not None else [False] * len(new)
            keep = []
            for j, row in enumerate(new):
                if length >= self.max_new_tokens or stopped[j] or ends & set(row):
                    out[rows[j]] = row
                else:
                    keep.append(j)
            if not keep:
                break
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], ids.shape[1] - mask.shape[1]))], dim=1)
            if len(keep) < len(rows):
                index = torch.tensor(keep, device=ids.device)
                cache.batch_select_indices(index)
                ids, mask = ids[index], mask[index]
            rows = [rows[j] for j in keep]
        trimmed, counts = responses_until_eos(out, eos, pad)
        return self._tokenizer.batch_decode(trimmed, skip_special_tokens=True), counts

    def _torch_threads(self) -> AbstractContextManager[None]:
        return torch_threads(self.threads)

    def __repr__(self) -> str:
        return (
            f"HFBackend({self.model_id!r}, architecture={self.architecture!r}, "
            f"device={self.device!r}, dtype={self.dtype!r}, max_new_tokens={self.max_new_tokens})"
        )


def _check_arguments(
    *,
    max_new_tokens: Any,
    batch_size: Any,
    threads: Any,
    chat_template: Any,
    dtype: Any,
    share_prefix: Any,
    model_id: Any,
) -> None:
    check_int("max_new_tokens", max_new_tokens, min=1)
    check_int("batch_size", batch_size, min=1)
    if threads is not None:
        check_int("threads", threads, min=1)
    if not (isinstance(chat_template, bool) or chat_template == "auto"):
        raise PhyloLLMError(f"chat_template must be True, False or 'auto', got {chat_template!r}")
    check_choice("dtype", dtype, _DTYPES)
    if not isinstance(share_prefix, bool):
        raise PhyloLLMError(f"share_prefix must be True or False, got {share_prefix!r}")
    if model_id is not None and (not isinstance(model_id, str) or not model_id):
        raise PhyloLLMError(f"model_id must be a non-empty string, got {model_id!r}")


def _set_padding(tokenizer: Any, arch: Architecture, *, source: str) -> bool:
    """Pad on the left of decoder-only rows (they must end where generation starts), on the right
    of encoder inputs; a tokenizer without a pad token pads with EOS. True when EOS was taken."""
    tokenizer.padding_side = "left" if arch == "causal" else "right"
    if tokenizer.pad_token is not None:
        return False
    if tokenizer.eos_token is None:
        raise PhyloLLMError(
            f"model {source!r}: the tokenizer has neither a pad nor an EOS token; add a pad token to the tokenizer"
        )
    tokenizer.pad_token = tokenizer.eos_token
    return True
