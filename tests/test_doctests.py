"""Every docstring example of ``phylo_llm`` and ``extract`` runs (STYLE.md 12: examples are tests).

Modules are found with :func:`pkgutil.walk_packages`, so a module that moves stays tested. A module
(or an example) that needs an optional package (torch, matplotlib, ...) is skipped only when that
package is not installed. Examples that load real models or take minutes carry
``# doctest: +SKIP`` in their docstring, next to a sentence saying why.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import sys
from types import ModuleType

import pytest

PACKAGES = ("phylo_llm", "extract")
FLAGS = doctest.ELLIPSIS  # whitespace is compared exactly: every example passes without NORMALIZE_WHITESPACE
#: Import names of the optional extras (pyproject.toml): a module or example needing one of these
#: is skipped when it is missing. Anything else missing is a failure.
OPTIONAL = frozenset(
    {
        "torch",
        "transformers",
        "sentence_transformers",
        "gguf",
        "accelerate",
        "safetensors",
        "tqdm",
        "matplotlib",
        "vllm",
        "ray",
    }
)
#: Fewer runnable examples than this means discovery broke (426 today, plus 11 marked +SKIP).
MIN_EXAMPLES = 300

_unwalkable: list[str] = []


def _modules() -> list[str]:
    names: list[str] = []
    for pkg in PACKAGES:
        names.append(pkg)
        path = importlib.import_module(pkg).__path__
        # A subpackage that cannot be imported is still listed, so its test says why.
        names += [m.name for m in pkgutil.walk_packages(path, pkg + ".", onerror=_unwalkable.append)]
    return sorted(set(names + _unwalkable))


MODULES = _modules()


def _missing_optional(exc: BaseException) -> str | None:
    if isinstance(exc, ModuleNotFoundError):
        top = (exc.name or "").partition(".")[0]
        if top in OPTIONAL:
            return top
    return None


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = _missing_optional(exc)
        if missing is None:
            raise
        pytest.skip(f"{name} needs {missing}, which is not installed")


def _examples(mod: ModuleType) -> list[doctest.DocTest]:
    return [t for t in doctest.DocTestFinder().find(mod, mod.__name__) if t.examples]


def _skipped(ex: doctest.Example) -> bool:
    return bool(ex.options.get(doctest.SKIP))


class _Runner(doctest.DocTestRunner):
    """Collects the failure report and notes examples that failed for a missing optional package."""

    def __init__(self) -> None:
        super().__init__(optionflags=FLAGS, verbose=False)
        self.missing: set[str] = set()

    def report_unexpected_exception(self, out, test, example, exc_info) -> None:  # type: ignore[override]
        if (m := _missing_optional(exc_info[1])) is not None:
            self.missing.add(m)
        super().report_unexpected_exception(out, test, example, exc_info)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, tmp_path, monkeypatch) -> None:
    mod = _import(name)
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    runner = _Runner()
    report: list[str] = []
    try:
        for test in _examples(mod):
            runner.run(test, out=report.append)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
    if runner.failures and runner.missing:
        pytest.skip(f"examples of {name} need {sorted(runner.missing)}, not installed")
    assert runner.failures == 0, f"{runner.failures} of {runner.tries} examples failed:\n" + "".join(report)


def test_discovery_finds_the_packages_examples() -> None:
    """Floors on modules and examples: the parametrised test would pass vacuously on none."""
    assert len(MODULES) >= 40, MODULES
    total = skipped = 0
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if _missing_optional(exc) is None:
                raise
            continue
        for test in _examples(mod):
            total += len(test.examples)
            skipped += sum(map(_skipped, test.examples))
    assert total - skipped >= MIN_EXAMPLES, (total, skipped)
    assert skipped <= 15, f"{skipped} examples are marked +SKIP; run them or say why each cannot"
