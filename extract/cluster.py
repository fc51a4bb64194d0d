"""Ray fan-out: generate the responses of many models on a Ray cluster, one model per worker.

:func:`collect_on_ray` sends each model spec to a Ray task that loads the model (one engine per
worker: ``num_gpus=1`` where the cluster has GPUs, CPUs otherwise) and runs
:func:`~extract.store.collect_responses` into the **shared** response cache, so every chunk is on
disk (fsync'd) as soon as it is generated. The driver only waits, shows progress and resubmits a
model whose worker died: the new task finds the finished chunks in the cache and generates only
the rest, so a dead worker costs its unfinished chunk and nothing else. A rerun after the driver
itself died resumes the same way.

What comes back is one :class:`CachedModel` per spec, in the order given: the model's id and
cache-key settings. :func:`~extract.runner.run_extraction` then embeds and projects on the driver
exactly as in a local run, reading every response from the cache, so the DNA is the one a local
run writes. The cache folder must therefore be one path that the driver and every worker see (a
network file system on a real cluster; see docs/ray.md).

Ray is imported only here, and only when a run asks for it (the ``ray`` extra).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import check_int

from .probes import ProbeSet
from .progress import ProgressCallback, ProgressEvent, emit

__all__ = ["CachedModel", "collect_on_ray", "RAY_INSTALL_HINT"]

RAY_INSTALL_HINT = "--ray needs Ray: pip install 'phylo-llm[ray]' (on the driver and every node)"


@dataclass(frozen=True)
class CachedModel:
    """A model whose responses are all in the cache: a backend that never generates.

    ``settings`` are the ones its worker's backend reported, so the cache key, the generation
    label and the provenance are those of a local run. ``generate`` raises: reaching it means
    the driver does not see the cache the workers wrote to.
    """

    model_id: str
    settings_: Mapping[str, Any] = field(repr=False)
    load_seconds: float | None = None
    worker: str = ""
    attempts: int = 1

    def settings(self) -> Mapping[str, Any]:
        return dict(self.settings_)

    def generate(self, prompts: Sequence[str]) -> list[str]:
        raise PhyloLLMError(
            f"model {self.model_id!r}: {len(prompts)} responses generated on the Ray cluster are not "
            f"in this machine's response cache; the driver and all workers must share --cache-dir "
            f"(a network file system on a multi-node cluster)"
        )


def _worker_run(
    spec: str,
    probes: ProbeSet,
    cache_dir: str,
    chunk_size: int,
    backend_settings: Mapping[str, Any],
    queue: Any,
    attempt: int,
) -> dict[str, Any]:
    """Body of one Ray task: load one model, fill its share of the cache, report what it is."""
    from .backends import resolve_backend
    from .store import collect_responses

    where = f"{socket.gethostname()} pid {os.getpid()}"

    def send(ev: ProgressEvent) -> None:
        queue.put_nowait((spec, attempt, ev))

    send(ProgressEvent(spec, "note", message=f"loading on {where} (attempt {attempt})"))
    backend = resolve_backend(spec, **backend_settings)
    size = getattr(backend, "chunk_size", None) or chunk_size
    resp = collect_responses(backend, probes, cache_dir=cache_dir, chunk_size=size, progress=send)
    out = {
        "model_id": backend.model_id,
        "settings": dict(backend.settings()),
        "load_seconds": getattr(backend, "load_seconds", None),
        "generated": resp.generated,
        "worker": where,
    }
    close = getattr(backend, "close", None)
    if callable(close):
        close()
    return out


def _connect(address: str | None, num_cpus: int | None) -> bool:
    """Connect to (or start) Ray; True when this call started a local instance to stop later."""
    private = address in (None, "", "local") and not os.environ.get("RAY_ADDRESS")
    if private:
        # A one-machine instance: Ray then keeps to 127.0.0.1 instead of advertising this
        # machine's outward address (read when Ray is first imported).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise PhyloLLMError(RAY_INSTALL_HINT) from None
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if private:
        ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", **kwargs)
    elif address in (None, "", "local"):
        ray.init(**kwargs)  # Ray connects to $RAY_ADDRESS itself
    else:
        ray.init(address=address, **kwargs)
    return True


def collect_on_ray(
    specs: Sequence[str],
    probes: ProbeSet,
    *,
    address: str | None = None,
    cache_dir: str | Path,
    chunk_size: int = 64,
    backend_settings: Mapping[str, Any] | None = None,
    cpus_per_model: int = 1,
    gpus_per_model: int | None = None,
    max_attempts: int = 3,
    progress: ProgressCallback | None = None,
    local_cpus: int | None = None,
) -> list[CachedModel]:
    """Generate every model's responses on a Ray cluster into the shared cache.

    Parameters
    ----------
    specs
        Model specs, as for :func:`~extract.backends.resolve_backend`; one Ray task each.
    probes
        The probe set (sent to every worker).
    address
        Ray address (``"auto"``, ``"127.0.0.1:6379"``, ``"ray://host:10001"``); ``None`` or
        ``"local"``: start a private Ray instance on this machine, stopped at the end (unless
        ``RAY_ADDRESS`` is set, which Ray then uses).
    cache_dir
        Response cache root; it must be the same folder for the driver and every worker.
    chunk_size
        Prompts per generation call and durable write (a backend's own ``chunk_size`` wins).
    backend_settings
        Keyword arguments for :func:`~extract.backends.resolve_backend` on the workers.
    cpus_per_model, gpus_per_model
        Ray resources of one model's task. ``gpus_per_model=None``: 1 when the cluster has
        GPUs, else 0.
    max_attempts
        Tasks per model in all; a task is resubmitted only when its worker or node died (an
        error raised by the model itself is reported at once).
    progress
        Receives one aggregate ``"responses"`` event (all models' probes) and ``"note"`` lines.
    local_cpus
        CPUs of a private local instance (default: all).

    Raises
    ------
    PhyloLLMError
        When Ray is missing, a model fails, or a worker died ``max_attempts`` times.

    Examples
    --------
    Not run by the test suite: it needs a Ray cluster and a real model.

    >>> collect_on_ray(["smollm2-135m"], ProbeSet(("hi",)), cache_dir="cache")  # doctest: +SKIP
    [CachedModel(model_id='smollm2-135m', ...)]
    """
    max_attempts = check_int("max_attempts", max_attempts, min=1)
    cpus_per_model = check_int("cpus_per_model", cpus_per_model, min=1)
    specs = list(specs)
    if len(set(specs)) != len(specs):
        raise PhyloLLMError(f"a model appears twice in {specs}; give each model once")
    started_here = _connect(address, local_cpus)
    import ray
    from ray.util.queue import Queue

    try:
        if gpus_per_model is None:
            gpus_per_model = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
        task = ray.remote(_worker_run).options(num_cpus=cpus_per_model, num_gpus=gpus_per_model, max_retries=0)
        run = _Fanout(
            task=task,
            queue=Queue(),
            task_args=(probes, str(Path(cache_dir).resolve()), chunk_size, dict(backend_settings or {})),
            n_models=len(specs),
            total=len(specs) * len(probes),
            max_attempts=max_attempts,
            progress=progress,
        )
        for spec in specs:
            run.submit(spec)
        while run.pending:
            ready, _ = ray.wait(list(run.pending), num_returns=1, timeout=0.5)
            run.drain()
            for ref in ready:
                run.collect(ref)
        run.drain()
    finally:
        if started_here:
            ray.shutdown()
    return [
        CachedModel(
            run.results[s]["model_id"],
            run.results[s]["settings"],
            run.results[s]["load_seconds"],
            run.results[s]["worker"],
            run.attempts[s],
        )
        for s in specs
    ]


@dataclass
class _Fanout:
    """The driver's side of a Ray run: tasks in flight, attempts per model, progress so far."""

    task: Any
    queue: Any
    task_args: tuple[Any, ...]  # probes, cache folder, chunk size, backend settings
    n_models: int
    total: int
    max_attempts: int
    progress: ProgressCallback | None
    attempts: dict[str, int] = field(default_factory=dict)
    pending: dict[Any, str] = field(default_factory=dict)  # task ref -> spec
    done_by: dict[str, int] = field(default_factory=dict)
    tokens_by: dict[str, int] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    t0: float = field(default_factory=time.perf_counter)

    def submit(self, spec: str) -> None:
        self.attempts[spec] = self.attempts.get(spec, 0) + 1
        self.done_by.setdefault(spec, 0)
        self.pending[self.task.remote(spec, *self.task_args, self.queue, self.attempts[spec])] = spec

    def drain(self) -> None:
        """Pass the workers' queued progress on as one aggregate event (and their notes)."""
        changed = False
        while not self.queue.empty():
            spec, attempt, ev = self.queue.get_nowait()
            if attempt != self.attempts[spec]:
                continue  # from a dead attempt
            if ev.stage == "responses":
                self.done_by[spec] = ev.done
                if ev.tokens is not None:
                    self.tokens_by[spec] = ev.tokens
                changed = True
            elif ev.stage == "note":
                emit(self.progress, ProgressEvent(spec, "note", message=ev.message))
        if changed:
            emit(
                self.progress,
                ProgressEvent(
                    f"{self.n_models} model(s) on Ray",
                    "responses",
                    done=sum(self.done_by.values()),
                    total=self.total,
                    tokens=sum(self.tokens_by.values()) if self.tokens_by else None,
                    seconds=time.perf_counter() - self.t0,
                ),
            )

    def collect(self, ref: Any) -> None:
        """A finished task's result; a dead worker's model is resubmitted, a model's error raised."""
        import ray

        spec = self.pending.pop(ref)
        try:
            self.results[spec] = ray.get(ref)
        except (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.OutOfMemoryError,
            ray.exceptions.LocalRayletDiedError,
        ) as exc:
            if self.attempts[spec] >= self.max_attempts:
                raise PhyloLLMError(
                    f"model {spec!r}: its Ray worker died {self.attempts[spec]} times "
                    f"(last: {type(exc).__name__}); finished chunks are cached, rerun to resume"
                ) from None
            emit(
                self.progress,
                ProgressEvent(
                    spec,
                    "note",
                    message=(
                        f"worker died ({type(exc).__name__}); resubmitted, attempt "
                        f"{self.attempts[spec] + 1}/{self.max_attempts}, resuming from the cache"
                    ),
                ),
            )
            self.submit(spec)
            return
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            raise PhyloLLMError(f"model {spec!r} failed on the Ray cluster: {cause}") from None
        r = self.results[spec]
        emit(
            self.progress,
            ProgressEvent(spec, "note", message=(f"responses ready ({r['generated']} generated on {r['worker']})")),
        )
