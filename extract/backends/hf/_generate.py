"""What a model is fed and how it decodes: prompts, chat template, EOS, sampling settings, batches.

Shared by every local engine (transformers, vLLM), so both feed a model the same token ids and
stop at the same EOS tokens.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import check_fraction, check_int, check_number, sha256_text

__all__ = [
    "ChatTemplate",
    "GenerationStats",
    "WindowStop",
    "chat_template_digest",
    "check_sampling",
    "decoding_settings",
    "eos_ids",
    "eos_token_id",
    "generation_config",
    "prompt_ids",
    "prompt_text",
    "responses_until_eos",
    "seeded_by",
    "shared_prefix_length",
    "spliced_prefix_rows",
    "use_chat_template",
]

ChatTemplate = bool | Literal["auto"]


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
class WindowStop:
    """Stop a response once a reader's window is full: ``count(texts)`` gives each text's length
    in the reader's units (an embedder's word pieces), ``needed`` is how many it reads.

    Only the first ``needed`` units of a response matter to the reader (an embedder truncates the
    rest), so decoding stops for a row when its text holds ``needed + margin`` units; the margin
    keeps the boundary word (cut mid-way, or a half-decoded character) past the window. ``id``
    names the reader and window: it goes into the backend's settings, so responses stopped this
    way never share a cache entry with full-length ones.
    """

    count: Any = field(compare=False, repr=False)
    needed: int
    id: str
    margin: int = 16
    every: int = 16

    def full(self, texts: list[str]) -> list[bool]:
        """Whether each text already fills the window (with the margin)."""
        return [n >= self.needed + self.margin for n in self.count(texts)]


def window_stopping_criteria(stop: WindowStop, tokenizer: Any, skip: int) -> Any:
    """A transformers ``StoppingCriteria`` that ends each row whose new tokens (after the first
    ``skip`` columns) decode to a full window; checked every ``stop.every`` steps. Its ``stopped``
    attribute says which rows it has ended so far (``None`` before its first call)."""
    import torch
    from transformers import StoppingCriteria

    class _Window(StoppingCriteria):
        stopped: Any = None

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            rows = input_ids.shape[0]
            new = input_ids.shape[1] - skip
            if new <= 0 or new % stop.every:
                verdict = torch.zeros(rows, dtype=torch.bool, device=input_ids.device)
            else:
                texts = tokenizer.batch_decode(input_ids[:, skip:], skip_special_tokens=True)
                verdict = torch.tensor(stop.full(texts), dtype=torch.bool, device=input_ids.device)
            self.stopped = verdict if self.stopped is None else self.stopped | verdict
            return verdict

    return _Window()


def check_sampling(temperature: Any, top_p: Any, seed: Any) -> None:
    """``temperature`` in [0, 10] (0 = greedy), ``top_p`` in (0, 1], ``seed`` an integer >= 0."""
    check_number("temperature", temperature, min=0, max=10, note="0 = greedy")
    check_fraction("top_p", top_p, open_left=True)
    check_int("seed", seed, min=0)


def decoding_settings(temperature: float, top_p: float, seed: int) -> dict[str, Any]:
    """The decoding part of a backend's settings: greedy, or sampling with its parameters."""
    if temperature == 0:
        return {"decoding": "greedy"}
    return {"decoding": "sampling", "temperature": temperature, "top_p": top_p, "seed": seed}


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
    return sha256_text(template)[:16] if template else None


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


def generation_config(
    net: Any,
    config: Any,
    tokenizer: Any,
    *,
    architecture: str,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    source: str,
) -> Any:
    """A fresh ``GenerationConfig``: pure greedy (or plain temperature/top-p sampling with no
    top-k, as vLLM does), whatever sampling defaults the model ships with."""
    from transformers import GenerationConfig

    shipped = net.generation_config
    eos = eos_token_id(shipped, config, tokenizer, source=source)
    sampling: dict[str, Any] = (
        dict(do_sample=False)
        if temperature == 0
        else dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
    )
    kwargs: dict[str, Any] = dict(
        **sampling,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=shipped.bos_token_id,
    )
    if architecture == "seq2seq":
        start = shipped.decoder_start_token_id
        if start is None:
            start = getattr(config, "decoder_start_token_id", None)
        if start is None:
            raise PhyloLLMError(f"seq2seq model {source!r} defines no decoder_start_token_id")
        kwargs["decoder_start_token_id"] = start
    return GenerationConfig(**kwargs)


def shared_prefix_length(encoded: list[list[int]]) -> int:
    """How many leading tokens all rows share, each row keeping at least one token of its own
    (generation starts from it)."""
    first = encoded[0]
    n = min(len(e) for e in encoded) - 1
    length = 0
    while length < n and all(e[length] == first[length] for e in encoded):
        length += 1
    return length


def spliced_prefix_rows(batch: list[list[int]], cut: int, pad: int) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids and attention mask laid out as ``prefix | pads | own tokens``.

    The pads are masked, so positions and attention are what each row would see alone.
    """
    width = max(len(b) for b in batch) - cut
    ids = [b[:cut] + [pad] * (width - len(b) + cut) + b[cut:] for b in batch]
    mask = [[1] * cut + [0] * (width - len(b) + cut) + [1] * (len(b) - cut) for b in batch]
    return ids, mask


@contextmanager
def seeded_by(seed: int, batch: list[list[int]]) -> Iterator[None]:
    """torch's RNG seeded from ``(seed, the batch's prompt tokens)`` inside a fork: the global
    generator is left as it was, and the same batch samples the same way on every run."""
    import torch

    digest = hashlib.sha256(json.dumps([seed, batch]).encode()).digest()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
        yield


def eos_ids(eos: int | list[int]) -> set[int]:
    """The EOS token id(s) of a generation config as a set."""
    return set(eos if isinstance(eos, list) else [eos])


def responses_until_eos(
    new: list[list[int]], eos: int | list[int], pad: int | None = None
) -> tuple[list[list[int]], list[int]]:
    """Each row's tokens up to and including its first EOS (after it come only pads), and their
    counts. A row without EOS that a stopping rule ended early is followed by ``pad`` tokens:
    those are cut too."""
    ends = eos_ids(eos)
    rows, counts = [], []
    for row in new:
        n = next((j + 1 for j, t in enumerate(row) if t in ends), len(row))
        if n == len(row) and pad is not None:
            while n > 0 and row[n - 1] == pad:
                n -= 1
        rows.append(row[:n])
        counts.append(n)
    return rows, counts
