"""The ``phylo-llm`` command line: a thin layer over the public API.

Subcommands live one per module in :mod:`phylo_llm.commands` (each defines
``register(subparsers)``), plus any registered by installed plugins under the entry-point group
``phylo_llm.commands`` (the ``extract`` package registers ``phylo-llm extract`` this way, so the
core never imports it). A user's mistake (any :class:`ValueError`, and any :class:`OSError`: a
missing or unreadable file, a full disk, a file-size limit) becomes one line on stderr that names
the path, and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points

from . import __version__, commands

__all__ = ["main", "build_parser", "error_line", "install_hint"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phylo-llm",
        description="Read the family tree of language models from their behaviour (DNA).",
    )
    parser.add_argument("--version", action="version", version=f"phylo-llm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    for ep in sorted(entry_points(group="phylo_llm.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:
            _register_unavailable(sub, ep.name, exc, install_hint(ep))
        else:
            register(sub)
    return parser


def install_hint(ep: EntryPoint) -> str:
    """The command that installs a plugin command's dependencies.

    A plugin package ships its dependencies as the extra of the same name (``extract.*`` ->
    ``phylo-llm[extract]``); tests/test_cli.py checks every entry point against pyproject.toml.

    Examples
    --------
    >>> install_hint(EntryPoint("demo", "extract.commands.simulate:register_demo", "phylo_llm.commands"))
    "pip install 'phylo-llm[extract]'"
    """
    return f"pip install 'phylo-llm[{ep.module.partition('.')[0]}]'"


def _register_unavailable(sub: argparse._SubParsersAction, name: str, exc: ImportError, hint: str) -> None:
    """A plugin whose dependencies are missing still shows up, and says how to get it."""
    reason = f"needs optional dependencies that are not installed ({exc}); install them with: {hint}"
    p = sub.add_parser(name, help=f"(unavailable) {reason}", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)

    def _fail(args: argparse.Namespace) -> int:
        raise ValueError(reason)

    p.set_defaults(func=_fail)


def error_line(exc: BaseException) -> str:
    """A user's mistake as one line: the message, or for an OS error the path and the reason.

    Examples
    --------
    >>> error_line(OSError(27, "File too large", "out/x.png"))
    "'out/x.png': File too large"
    >>> error_line(ValueError("bad\\nthing"))
    'bad thing'
    """
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename!r}" if exc.filename is not None else "a file"
        if exc.filename2 is not None:
            where += f" -> {exc.filename2!r}"
        text = f"{where}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        print(f"phylo-llm {args.command}: error: {error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"phylo-llm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
