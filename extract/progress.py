"""Progress reporting without printing: the library emits events, the caller decides what to show.

Library code calls a ``progress`` callback with :class:`ProgressEvent` values; the CLI passes
:class:`TqdmProgress` (bars on stderr), tests pass a list's ``append``, and ``None`` means silent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ProgressEvent", "ProgressCallback", "TqdmProgress", "emit"]

Stage = Literal["responses", "embeddings", "model-done", "model-skipped", "note"]


@dataclass(frozen=True)
class ProgressEvent:
    """One step of work on one model.

    ``done``/``total`` count probes for ``"responses"`` and ``"embeddings"``; ``tokens`` is the
    number of new tokens generated so far in this run when the backend reports it (else ``None``);
    ``message`` explains ``"model-skipped"``, summarises ``"model-done"`` and is the whole of a
    ``"note"`` (a line about a model that does not end its bar, e.g. from a Ray worker).
    """

    model: str
    stage: Stage
    done: int = 0
    total: int = 0
    tokens: int | None = None
    seconds: float = 0.0
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


def emit(progress: ProgressCallback | None, event: ProgressEvent) -> None:
    if progress is not None:
        progress(event)


class TqdmProgress:
    """A tqdm bar per model and stage on stderr (probes done, tokens/s, ETA), then a line per model.

    Examples
    --------
    >>> import io
    >>> p = TqdmProgress(file=io.StringIO())
    >>> p(ProgressEvent("m", "responses", done=2, total=4, tokens=10, seconds=1.0))
    >>> p.close()
    """

    def __init__(self, *, file: Any = None) -> None:
        import sys

        self._file = file if file is not None else sys.stderr
        self._bar: Any = None
        self._key: tuple[str, str] | None = None

    def __call__(self, ev: ProgressEvent) -> None:
        from tqdm.auto import tqdm

        if ev.stage == "note":
            tqdm.write(f"{ev.model}: {ev.message}", file=self._file)
            return
        if ev.stage in ("model-done", "model-skipped"):
            self.close()
            print(f"{ev.model}: {ev.message}", file=self._file, flush=True)
            return
        key = (ev.model, ev.stage)
        if key != self._key:
            self.close()
            self._bar = tqdm(
                total=ev.total,
                initial=ev.done,
                desc=f"{ev.model} {ev.stage}",
                unit="probe",
                file=self._file,
                dynamic_ncols=True,
                leave=True,
            )
            self._key = key
        bar = self._bar
        bar.update(ev.done - bar.n)
        if ev.tokens is not None and ev.seconds > 0:
            bar.set_postfix_str(f"{ev.tokens / ev.seconds:.1f} tok/s", refresh=False)
        if ev.total and ev.done >= ev.total:
            self.close()  # finished: the bar's last line now, not after whatever prints next

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._key = None
