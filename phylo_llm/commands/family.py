"""``phylo-llm family``: structural families (architecture + tokenizer) of model directories."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..analysis import fingerprint, group_families


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "family",
        help="group model directories / GGUF files into structural families",
        description="Fingerprint each model from its config.json and tokenizer files (or a GGUF "
        "file's metadata) and group models with the same architecture (model_type) and the same "
        "token->id vocabulary into one family. Layer counts and widths are shown but never split "
        "a family.",
    )
    p.add_argument("models", nargs="+", type=Path, metavar="MODEL", help="model directory or .gguf file")
    p.add_argument("--json", action="store_true", help="print fingerprints and families as JSON")
    p.set_defaults(func=run)


def _size(n_layers: int | None, width: int | None) -> str:
    return f"{n_layers if n_layers is not None else '?'}x{width if width is not None else '?'}"


def run(args: argparse.Namespace) -> int:
    fps = [fingerprint(path) for path in args.models]
    groups = group_families(fps)
    if args.json:
        doc = {"families": groups, "models": [fp.to_dict() for fp in fps]}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    by_name = {fp.name: fp for fp in fps}
    rows = [("model", "family", "architecture", "layers x width", "vocab", "chat template")]
    for key, members in groups.items():
        for m in members:
            fp = by_name[m]
            rows.append(
                (
                    fp.name,
                    key,
                    fp.architecture or fp.model_type or "?",
                    _size(fp.n_layers, fp.hidden_size),
                    str(fp.vocab_size) if fp.vocab_size is not None else "?",
                    "yes" if fp.has_chat_template else "no",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"{len(fps)} model(s) in {len(groups)} famil{'y' if len(groups) == 1 else 'ies'}", file=sys.stderr)
    return 0
