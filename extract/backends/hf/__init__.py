"""Hugging Face ``transformers`` backend: local directories, GGUF files, bundled models, hub ids.

Responses come from batched greedy decoding. Decoder-only models are padded on the left (so
every row's last prompt token sits next to its first new token); encoder-decoder models (T5,
BART...) are padded on the right of the encoder input. Which of the two a model is comes from
its config, never from its name.

GGUF files are dequantised by ``transformers`` to float32, which takes 15-70 s; the result is
saved once as safetensors under ``<cache>/models/<name>-<key>/`` (written to a temporary
directory, then renamed), so later loads take a few seconds.

Modules: ``_load`` (model source, fingerprints, loading), ``_convert`` (GGUF -> safetensors),
``_generate`` (prompts, EOS, sampling settings, batch layout), ``_backend`` (:class:`HFBackend`).
"""

from ._backend import HFBackend
from ._convert import convert_gguf
from ._generate import (
    ChatTemplate,
    GenerationStats,
    WindowStop,
    chat_template_digest,
    eos_token_id,
    prompt_ids,
    prompt_text,
    use_chat_template,
)
from ._load import ModelSource, hub_fingerprint, model_source

__all__ = [
    "HFBackend",
    "GenerationStats",
    "WindowStop",
    "ModelSource",
    "convert_gguf",
    "model_source",
    "hub_fingerprint",
    "use_chat_template",
    "prompt_text",
    "prompt_ids",
    "eos_token_id",
    "chat_template_digest",
    "ChatTemplate",
]
