"""Architecture rules from STYLE.md that would silently erode without a test."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import phylo_llm

REPO = Path(__file__).resolve().parents[1]


def test_core_import_loads_no_torch_matplotlib_or_extract():
    code = (
        "import sys, phylo_llm, phylo_llm.cli; phylo_llm.cli.build_parser();"
        "print(sorted(m for m in ('torch','transformers','sentence_transformers','matplotlib','extract')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # extract's CLI module is allowed (it registers `phylo-llm extract`), but it must stay light.
    loaded = set(eval(out.stdout))
    assert loaded <= {"extract"}, loaded


def test_core_source_never_imports_extract_or_torch():
    offenders = []
    for path in (REPO / "phylo_llm").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in {"extract", "torch", "transformers", "sentence_transformers"}:
                    offenders.append(f"{path.relative_to(REPO)} imports {name}")
                if top == "matplotlib" and "plot" not in path.relative_to(REPO).parts:
                    offenders.append(f"{path.relative_to(REPO)} imports matplotlib outside phylo_llm/plot")
    assert not offenders, offenders


def test_core_install_does_not_require_torch():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    assert "torch" not in core and "transformers" not in core
    assert any(dep.startswith("torch==2.13.0") for dep in project["optional-dependencies"]["extract"])


def test_public_names_exist():
    missing = [name for name in phylo_llm.__all__ if not hasattr(phylo_llm, name)]
    assert not missing


# The layers of phylo_llm, lowest first: a module may import from its own layer's package and from
# packages listed before it, never from one listed after it (see phylo_llm/__init__.py).
LAYERS = ["errors", "util", "data", "tree", "io", "analysis", "atlas", "plot", "report", "commands", "cli"]


def _imports(path: Path, package: str):
    """(line, absolute module, imported names) for every ``from ... import`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, []


def _package_of(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1]) if parts[-1] != "__init__" else ".".join(parts[:-1])


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "phylo_llm" or len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def test_layers_import_downwards_only():
    offenders = []
    for path in sorted((REPO / "phylo_llm").rglob("*.py")):
        package = _package_of(path)
        me = _layer(".".join(path.relative_to(REPO).with_suffix("").parts))
        if me is None:  # phylo_llm/__init__.py re-exports everything
            continue
        for line, module, _ in _imports(path, package):
            other = _layer(module)
            if other is not None and other > me:
                offenders.append(f"{path.relative_to(REPO)}:{line} imports {module} (a higher layer)")
    assert not offenders, offenders


def test_no_private_name_or_module_crosses_a_package():
    """Private names (``_x``) stay in their module; private modules stay in their package."""
    offenders = []
    for root in ("phylo_llm", "extract"):
        for path in sorted((REPO / root).rglob("*.py")):
            package = _package_of(path)
            for line, module, names in _imports(path, package):
                if module.split(".")[0] not in ("phylo_llm", "extract"):
                    continue
                where = f"{path.relative_to(REPO)}:{line}"
                private = [n for n in names if n.startswith("_") and n != "__version__"]
                if private:
                    offenders.append(f"{where} imports private {private} from {module}")
                parts = module.split(".")
                for i, part in enumerate(parts):
                    if part.startswith("_") and ".".join(parts[:i]) != package:
                        offenders.append(f"{where} imports private module {module} from package {package}")
                        break
    assert not offenders, "\n".join(offenders)


# Functions longer than this many code lines (docstring excluded) must be split into named steps,
# except the ones listed with the measured reason they stay whole.
MAX_FUNCTION_LINES = 80
LONG_ON_PURPOSE = {
    # numba kernel: the NJ hot loop; its pieces are separate kernels already, and a split would
    # cost the speed BENCHMARKS.md "Tree building" records (37x scikit-bio at 10,000 tips).
    "phylo_llm/tree/_nj.py:_nj_core",
}


def test_no_function_is_longer_than_the_house_limit():
    long = []
    for root in ("phylo_llm", "extract"):
        for path in sorted((REPO / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                first = node.body[0]
                has_doc = (
                    isinstance(first, ast.Expr)
                    and isinstance(getattr(first, "value", None), ast.Constant)
                    and isinstance(first.value.value, str)
                )
                start = first.end_lineno + 1 if has_doc else first.lineno
                name = f"{path.relative_to(REPO)}:{node.name}"
                if node.end_lineno - start + 1 > MAX_FUNCTION_LINES and name not in LONG_ON_PURPOSE:
                    long.append(f"{name} ({node.end_lineno - start + 1} code lines)")
    assert not long, long


def test_tree_is_clean_under_ruff():
    """The lint and format config in pyproject.toml holds for the whole tree (ruff is in the test extra)."""
    import importlib.util

    if importlib.util.find_spec("ruff") is None:
        import pytest

        pytest.skip("ruff is not installed (pip install 'phylo-llm[test]')")
    for args in (["check", "."], ["format", "--check", "."]):
        out = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True)
        assert out.returncode == 0, f"ruff {' '.join(args)}:\n{out.stdout}{out.stderr}"
