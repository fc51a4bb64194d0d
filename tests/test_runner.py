"""The extraction pipeline end to end with in-test backends and a deterministic test embedder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extract.probes import ProbeSet, random_english
from extract.runner import extract_dna, generation_label, run_extraction
from phylo_llm.errors import PhyloLLMError, PhyloLLMWarning
from phylo_llm.io import read_dna

PROBES = ProbeSet(random_english(10, seed=5), name="r10")


class Fake:
    """Deterministic fake model: answers depend on the prompt and a per-model 'style'."""

    def __init__(self, model_id: str, style: int = 0, *, fail_after: int | None = None, empty: float = 0.0):
        self.model_id, self.style, self.fail_after, self.empty = model_id, style, fail_after, empty
        self.asked: list[str] = []

    def settings(self) -> dict[str, Any]:
        return {"backend": "fake", "model": self.model_id, "style": "any"}

    def generate(self, prompts: Sequence[str]) -> list[str]:
        if self.fail_after is not None and len(self.asked) >= self.fail_after:
            raise KeyboardInterrupt  # as a user pressing Ctrl-C mid-run
        self.asked.extend(prompts)
        out = []
        for p in prompts:
            k = PROBES.prompts.index(p) if p in PROBES.prompts else 0
            out.append("" if k < self.empty * len(PROBES) else " ".join(p.split()[:: self.style + 1]))
        return out


class HashEmbedder:
    """Deterministic bag-of-letters embedder (no model): similar texts get similar vectors."""

    id, dim = "letters-test", 26

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out


def _run(models: list, tmp_path: Path, **kw: Any):
    kw.setdefault("embedder", HashEmbedder())
    kw.setdefault("dims", 16)
    kw.setdefault("recipe", "concat")  # the default recipe's frozen statistics are MiniLM's
    return run_extraction(models, PROBES, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", chunk_size=3, **kw)


def test_writes_per_model_files_merged_set_and_summary(tmp_path: Path) -> None:
    res = _run([Fake("org/a", 0), Fake("org/b", 1)], tmp_path)
    out = tmp_path / "out"
    merged = read_dna(out / "dna.json")
    assert merged.labels == ("org/a", "org/b") and np.array_equal(merged.vectors, res.dna.vectors)
    assert read_dna(out / "models").labels == ("org/a", "org/b")
    prov = merged.provenance
    assert (prov.probe_set, prov.n_probes, prov.embedder, prov.recipe, prov.dims) == (
        PROBES.id,
        10,
        "letters-test",
        "concat-v1",
        16,
    )
    assert prov.generation == generation_label({"backend": "fake", "style": "any"})
    summary = json.loads((out / "summary.json").read_text())
    assert [m["model"] for m in summary["models"]] == ["org/a", "org/b"]
    assert summary["models"][0]["n_probes"] == 10 and summary["models"][0]["generated"] == 10
    assert summary["models"][0]["dna_file"].startswith("models/org__a-")  # readable, plus a hash of the id
    assert (out / summary["models"][0]["dna_file"]).is_file()


def test_a_backend_that_needs_no_cache_is_neither_cached_nor_timed(tmp_path: Path) -> None:
    class OnDisk(Fake):
        needs_cache = False  # answers already on disk, as recorded responses are

    res = _run([OnDisk("org/a"), Fake("org/b")], tmp_path)
    a, b = res.models
    assert (a.generated, a.response_seconds, b.generated) == (0, 0.0, 10)
    cached = sorted(p.name for p in (tmp_path / "cache" / "responses").iterdir())
    assert len(cached) == 1 and cached[0].startswith("org__b")
    assert res.dna.labels == ("org/a", "org/b")


def test_interrupted_run_resumes_and_gives_the_same_dna(tmp_path: Path) -> None:
    full = _run([Fake("m", 0)], tmp_path / "ref").dna
    with pytest.raises(KeyboardInterrupt):
        _run([Fake("m", 0, fail_after=6)], tmp_path)
    again = Fake("m", 0)
    res = _run([again], tmp_path)
    assert again.asked == list(PROBES.prompts[6:])
    assert res.models[0].generated == 4
    assert np.allclose(res.dna.vectors, full.vectors)
    # Third run: nothing generated, nothing embedded.
    emb = HashEmbedder()
    third = Fake("m", 0)
    _run([third], tmp_path, embedder=emb)
    assert third.asked == [] and emb.calls == 0


def test_mostly_empty_models_are_excluded_with_a_warning(tmp_path: Path) -> None:
    with pytest.warns(PhyloLLMWarning, match=r"1 model\(s\) excluded.*mute \(7/10 responses are empty"):
        res = _run([Fake("ok", 0), Fake("mute", 0, empty=0.7), Fake("some", 1, empty=0.2)], tmp_path)
    assert res.dna.labels == ("ok", "some")
    assert [m.model for m in res.excluded] == ["mute"]
    by = {m.model: m for m in res.models}
    assert by["some"].n_empty == 2 and by["some"].status == "ok"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_excluded"] == 1 and not (tmp_path / "out" / "models" / "mute.json").exists()


def test_all_excluded_is_an_error(tmp_path: Path) -> None:
    with (
        pytest.warns(PhyloLLMWarning),
        pytest.raises(PhyloLLMError, match="all 1 model\\(s\\) failed or were excluded"),
    ):
        _run([Fake("mute", 0, empty=1.0)], tmp_path)


def test_repeated_model_id(tmp_path: Path) -> None:
    with pytest.raises(PhyloLLMError, match="model id 'm' appears twice"):
        _run([Fake("m"), Fake("m", 1)], tmp_path)


def test_different_generation_settings_are_refused_unless_labelled(tmp_path: Path) -> None:
    class Other(Fake):
        def settings(self) -> dict[str, Any]:
            return {"backend": "fake", "style": "other"}

    with pytest.raises(PhyloLLMError, match="different settings"):
        _run([Fake("a"), Other("b")], tmp_path)
    res = _run([Fake("a"), Other("b")], tmp_path, generation="mixed-on-purpose")
    assert res.dna.provenance.generation == "mixed-on-purpose"


def test_probes_limit_is_a_different_probe_set(tmp_path: Path) -> None:
    res = _run([Fake("a")], tmp_path, probes_limit=4)
    assert res.dna.provenance.n_probes == 4 and res.dna.provenance.probe_set == PROBES.head(4).id


def test_related_models_are_closer(tmp_path: Path) -> None:
    class Variant(Fake):
        def generate(self, prompts: Sequence[str]) -> list[str]:
            return [t + " indeed" for t in super().generate(prompts)]

    dna = extract_dna(
        [Fake("base", 0), Variant("child", 0), Fake("stranger", 2)],
        PROBES,
        out_dir=tmp_path / "o",
        cache_dir=tmp_path / "c",
        embedder=HashEmbedder(),
        dims=64,
        recipe="concat",
    )
    d = lambda a, b: np.linalg.norm(dna.vector(a) - dna.vector(b))  # noqa: E731
    assert d("base", "child") < d("base", "stranger")


def test_progress_events_end_with_model_lines(tmp_path: Path) -> None:
    events: list = []
    _run([Fake("a")], tmp_path, progress=events.append)
    stages = [e.stage for e in events]
    assert stages[0] == "responses" and "embeddings" in stages and stages[-1] == "model-done"
    assert "10 probes (10 generated, 0 cached)" in events[-1].message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_empty_fraction": 1.5}, "max_empty_fraction"),
        ({"dims": 0}, "dims must be"),
        ({"recipe": "x"}, "recipe must be one of"),
    ],
)
def test_bad_arguments_fail_before_any_model_runs(tmp_path: Path, kwargs: dict, match: str) -> None:
    model = Fake("a")
    with pytest.raises(PhyloLLMError, match=match):
        _run([model], tmp_path, **kwargs)
    assert model.asked == []


def test_projection_batching_does_not_change_the_dna(tmp_path: Path) -> None:
    models = lambda: [Fake("a", 0), Fake("b", 1), Fake("c", 2)]  # noqa: E731
    one = _run(models(), tmp_path / "1", project_batch=1).dna
    many = _run(models(), tmp_path / "2", project_batch=2).dna
    assert one.labels == many.labels == ("a", "b", "c")
    assert np.allclose(one.vectors, many.vectors, rtol=0, atol=1e-12)
    assert read_dna(tmp_path / "2" / "out" / "models").labels == ("a", "b", "c")


def test_tqdm_progress_shows_probes_tokens_per_second_and_model_lines() -> None:
    import io

    from extract.progress import ProgressEvent, TqdmProgress

    buf = io.StringIO()
    p = TqdmProgress(file=buf)
    p(ProgressEvent("org/m", "responses", done=0, total=10))
    p(ProgressEvent("org/m", "responses", done=5, total=10, tokens=200, seconds=4.0))
    p(ProgressEvent("org/m", "model-done", message="10 probes, 0 empty"))
    text = buf.getvalue()
    assert "org/m responses" in text and "5/10" in text and "50.0 tok/s" in text
    assert text.rstrip().endswith("org/m: 10 probes, 0 empty")
    # a finished stage closes its bar at once: its 100% line comes before anything printed next
    buf = io.StringIO()
    p = TqdmProgress(file=buf)
    p(ProgressEvent("org/m", "embeddings", done=16, total=16))
    buf.write("NEXT\n")
    text = buf.getvalue()
    before = text.split("NEXT")[0]
    assert "16/16" in before and before.endswith("\n")  # an open bar has no line end yet


def test_failing_model_stops_the_run_or_is_skipped(tmp_path: Path) -> None:
    class Broken(Fake):
        def generate(self, prompts: Sequence[str]) -> list[str]:
            raise RuntimeError("CUDA out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        _run([Fake("a"), Broken("bad"), Fake("c", 1)], tmp_path)
    with pytest.warns(
        PhyloLLMWarning, match=r"1 model\(s\) failed \(no DNA\): bad \(RuntimeError: CUDA out of memory\)"
    ):
        res = _run([Fake("a"), Broken("bad"), Fake("c", 1)], tmp_path, on_error="skip")
    assert res.dna.labels == ("a", "c") and [m.model for m in res.failed] == ["bad"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_failed"] == 1 and summary["models"][1]["status"] == "failed"


def test_default_recipe_refuses_an_embedder_its_statistics_do_not_fit(tmp_path: Path) -> None:
    # The default ("auto": whitened-global for these probes) carries frozen MiniLM statistics: a 26-d toy embedder must be
    # refused with a message naming both, never silently mixed.
    with pytest.raises(PhyloLLMError, match=r"fitted on embedder .*all-MiniLM-L6-v2.*'letters-test'"):
        run_extraction(
            [Fake("org/a", 0)],
            PROBES,
            out_dir=tmp_path / "out",
            cache_dir=tmp_path / "c",
            embedder=HashEmbedder(),
            chunk_size=3,
        )


def test_contributions_sum_to_the_dna_and_feed_the_bootstrap(tmp_path: Path) -> None:
    from phylo_llm.analysis import bootstrap
    from phylo_llm.io import read_contributions

    models = [Fake(f"org/m{i}", i % 3) for i in range(6)]
    res = _run(models, tmp_path, contributions=True, project_batch=4)  # two projection batches
    pc = read_contributions(tmp_path / "out" / "contributions.npz")
    assert pc.labels == res.dna.labels
    assert pc.values.shape == (6, len(PROBES), 16)
    np.testing.assert_allclose(pc.values.sum(axis=1), res.dna.vectors, rtol=1e-5, atol=1e-5)
    boot = bootstrap(pc, n_replicates=20, seed=0)
    assert sorted(boot.tree.tip_names) == sorted(res.dna.labels)


def test_contributions_are_not_written_unless_asked(tmp_path: Path) -> None:
    _run([Fake("org/a", 0), Fake("org/b", 1)], tmp_path)
    assert not (tmp_path / "out" / "contributions.npz").exists()


def test_a_recipe_fitted_on_another_embedder_is_refused_before_any_generation(tmp_path: Path) -> None:
    # Same width as the statistics (384) but a different embedder: without the check the frozen
    # MiniLM statistics would be applied silently. And no model may run before the refusal.
    class Other384(HashEmbedder):
        id, dim = "someone/else-384", 384

    model = Fake("org/a", 0)
    with pytest.raises(PhyloLLMError, match=r"fitted on embedder .*all-MiniLM-L6-v2.*'someone/else-384'"):
        run_extraction(
            [model],
            PROBES,
            out_dir=tmp_path / "out",
            cache_dir=tmp_path / "c",
            embedder=Other384(),
            recipe="whitened-global",
        )
    assert model.asked == []


# ---- hardening (issue 11) ----------------------------------------------------------------------


def test_ids_that_sanitise_alike_get_their_own_files(tmp_path: Path) -> None:
    ids = ["org/a", "org__a", "a b", "a_b"]
    res = _run([Fake(m, i) for i, m in enumerate(ids)], tmp_path)
    files = [m.dna_file for m in res.models]
    assert len(set(files)) == 4 and "models/a_b.json" in files  # a safe id keeps its own name
    back = read_dna(tmp_path / "out" / "models")
    assert sorted(back.labels) == sorted(ids)
    for m in res.models:
        assert read_dna(tmp_path / "out" / m.dna_file).labels == (m.model,)


def test_a_second_run_into_the_same_folder_leaves_no_stale_files(tmp_path: Path) -> None:
    _run([Fake("old-a"), Fake("old-b", 1)], tmp_path, contributions=True)
    assert (tmp_path / "out" / "contributions.npz").is_file()
    with pytest.warns(
        PhyloLLMWarning,
        match=r"removed 3 file\(s\) of an earlier run from .*: "
        r"models/old-a.json, models/old-b.json, contributions.npz",
    ):
        _run([Fake("new")], tmp_path)
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "models").iterdir()) == ["new.json"]
    assert read_dna(out / "models").labels == ("new",) and not (out / "contributions.npz").exists()


def test_output_folder_that_is_a_file_fails_before_any_model_runs(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("mine")
    fake = Fake("m")
    with pytest.raises(PhyloLLMError, match="is a file; the output must be a folder"):
        _run([fake], tmp_path)
    assert fake.asked == [] and (tmp_path / "out").read_text() == "mine"


def test_threads_go_to_the_embedder_and_not_to_an_http_model(tmp_path: Path, monkeypatch) -> None:
    import extract.runner as runner

    seen: list[dict] = []

    def fake_resolve(spec: str, **kw: Any):
        seen.append(kw)
        return Fake(spec.rpartition("#")[2] if spec.startswith("openai:") else spec)

    monkeypatch.setattr(runner, "resolve_backend", fake_resolve)
    _run(["openai:http://127.0.0.1:9#m", "local-x"], tmp_path, threads=2)
    assert seen == [{}, {"threads": 2}]
