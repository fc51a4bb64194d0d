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
