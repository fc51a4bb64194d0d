"""Newick and NEXUS text for :class:`~phylo_llm.tree.Tree` values.

Writing
-------
* **Names** are written bare unless they contain whitespace or one of ``()[]':;,`` (the ete4
  rule) or ``"``/``=`` (punctuation to dendropy), or are empty; such names are single-quoted with embedded ``'`` doubled. Every name
  round-trips, unicode included.
* **Underscores stay underscores.** Strict Newick reads ``_`` in an unquoted name as a space; we
  do not, on either side, because model ids such as ``meta-llama/Llama_2`` must round-trip.
  (dendropy needs ``preserve_underscores=True`` to agree; ete3 and Biopython already do.)
* **Branch lengths and supports** are written in positional notation, never scientific
  (``0.00001``, not ``1e-05``), with ``precision`` significant digits; ``precision=None`` writes
  the shortest string that reads back as exactly the same float.
* **Support values** belong to the branch above an internal node. An internal node with a
  support and no name gets the support as its label (``(a,b)0.95:0.1`` — read as support by
  ete3 ``format=0``, Biopython, iTOL and FigTree; dendropy keeps it as the node label). A node
  with both a name and a support gets the name as label and the support in an NHX comment after
  the length (``(a,b)clade:0.1[&&NHX:support=0.95]`` — ete3 ``format=1`` and dendropy read the
  support from it). An internal *name* that looks like a number is quoted, so our reader keeps
  it as a name.
* **Rootedness**: ete3 rejects a leading ``[&R]``/``[&U]`` comment, so plain Newick does not
  carry one unless ``rooting_comment=True``. Without it our reader infers rootedness from the
  root's degree (two children = rooted), which round-trips NJ (trifurcating root) and
  UPGMA/midpoint-rooted (bifurcating root) trees. NEXUS always carries it.

Reading
-------
The parser is iterative (no recursion limit) over one regex tokenisation of the text. It skips
whitespace and ``[...]`` comments (except ``[&R]``/``[&U]`` before a tree, and ``support=``
inside ``[&&NHX:...]`` or ``[&...]`` after a node), reads quoted names with doubled quotes,
missing lengths, lengths in any float notation, and unnamed tips (the standard's own
``(,,(,));``). An *unquoted numeric* label on an internal node is read as its support; a quoted
one as its name. Parse errors raise :class:`~phylo_llm.errors.NewickError` with the position.
:func:`read_newick` reads one tree from a Newick file or from the TREES block of a NEXUS file
(``TRANSLATE`` tables included), and refuses a file that holds several trees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import NewickError, PhyloLLMError
from ..tree import Tree
from ..util import atomic_write_text, check_int, check_unique, read_text

__all__ = [
    "parse_newick",
    "parse_newick_all",
    "parse_nexus",
    "read_newick",
    "to_newick",
    "to_nexus",
    "write_newick",
    "write_nexus",
]

# A bare name ends at whitespace (\s in a str pattern is str.isspace()) or one of ()[]':;,
# (the ete4 rule); names containing any of them are quoted, and so are names with '"' or '=',
# which dendropy's tokenizer treats as punctuation.
_NEEDS_QUOTE = re.compile(r"[\s()\[\]':;,\"=]")
# NEXUS tokens break on more punctuation, and an unquoted '_' means a space there.
_NEXUS_NEEDS_QUOTE = re.compile(r"[\s()\[\]{}/\\,;:=*'\"`+\-<>_]")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


# ---- writing ---------------------------------------------------------------------------------


def _quote_if_needed(name: str, needs_quote: re.Pattern[str]) -> str:
    if name == "" or needs_quote.search(name):
        return "'" + name.replace("'", "''") + "'"
    return name


def _newick_quote(name: str) -> str:
    return _quote_if_needed(name, _NEEDS_QUOTE)


def _nexus_quote(name: str) -> str:
    return _quote_if_needed(name, _NEXUS_NEEDS_QUOTE)


def _number_formatter(precision: int | None) -> Callable[[float], str]:
    # Python's repr/'g' formatting is fast; numpy's positional formatter (slower) is only
    # called for the values those would write in scientific notation.
    if precision is None:

        def exact(x: float) -> str:
            r = repr(float(x))
            if "e" in r or "n" in r:
                return np.format_float_positional(x, unique=True, trim="-")
            return r[:-2] if r.endswith(".0") else r

        return exact
    precision = check_int("precision", precision, min=1, note="significant digits, or None")
    spec = f".{precision}g"

    def rounded(x: float) -> str:
        r = format(float(x), spec)
        if "e" in r or "n" in r:
            return np.format_float_positional(x, precision=precision, unique=False, fractional=False, trim="-")
        return r

    return rounded


def _newick_body(
    tree: Tree,
    *,
    precision: int | None,
    support: bool,
    internal_names: bool,
    quote: Callable[[str], str],
    tip_label: Callable[[int], str] | None = None,
) -> str:
    fmt = _number_formatter(precision)
    is_tip = tree.is_tip.tolist()
    names = tree.name
    lengths = tree.length.tolist()
    supports = tree.support.tolist()

    def label(v: int) -> str:
        tip = is_tip[v]
        nm = names[v] if (tip or internal_names) else None
        sup = supports[v] if (support and v != 0 and supports[v] == supports[v]) else None
        parts = []
        if tip and tip_label is not None:
            parts.append(tip_label(v))
        elif nm is not None:
            q = quote(nm)
            # An unquoted numeric internal label would read back as a support value.
            if not tip and q == nm and _NUMBER.match(nm):
                q = "'" + nm + "'"
            parts.append(q)
        elif sup is not None and not tip:
            parts.append(fmt(sup))
            sup = None
        if lengths[v] == lengths[v]:  # not nan
            parts.append(":" + fmt(lengths[v]))
        if sup is not None:
            parts.append(f"[&&NHX:support={fmt(sup)}]")
        return "".join(parts)

    out: list[str] = []
    # Iterative traversal: ("enter", v), ("exit", v) and commas between siblings.
    stack: list[tuple[int, int]] = [(0, 0)]  # (kind, node): 0 enter, 1 exit, 2 comma
    while stack:
        kind, v = stack.pop()
        if kind == 0:
            if is_tip[v]:
                out.append(label(v))
                continue
            out.append("(")
            stack.append((1, v))
            kids = tree.children(v).tolist()
            for i in range(len(kids) - 1, -1, -1):
                stack.append((0, kids[i]))
                if i:
                    stack.append((2, -1))
        elif kind == 1:
            out.append(")")
            out.append(label(v))
        else:
            out.append(",")
    return "".join(out) + ";"


def to_newick(
    tree: Tree,
    *,
    precision: int | None = 6,
    support: bool = True,
    internal_names: bool = True,
    rooting_comment: bool = False,
) -> str:
    """Newick text of a tree (one line, ending in ``;``).

    Parameters
    ----------
    tree
        The tree.
    precision
        Significant digits of branch lengths and supports, positional notation; ``None`` writes
        the shortest exact representation (reads back as the identical float).
    support
        Write support values (see the module docstring for where they go).
    internal_names
        Write names of internal nodes.
    rooting_comment
        Prefix ``[&R] `` or ``[&U] `` (from ``tree.rooted``). Off by default: ete3 cannot read it.

    Examples
    --------
    >>> t = Tree.from_parents([-1, 0, 1, 1, 0], length=[np.nan, 0.5, 1, 2, 3],
    ...                       name=[None, None, "meta-llama/Llama_2", "a b", "c"],
    ...                       support=[np.nan, 0.95, np.nan, np.nan, np.nan])
    >>> to_newick(t)
    "((meta-llama/Llama_2:1,'a b':2)0.95:0.5,c:3);"
    """
    body = _newick_body(tree, precision=precision, support=support, internal_names=internal_names, quote=_newick_quote)
    if rooting_comment:
        return ("[&R] " if tree.rooted else "[&U] ") + body
    return body


def write_newick(
    trees: Tree | Sequence[Tree],
    path: str | Path,
    *,
    precision: int | None = 6,
    support: bool = True,
    internal_names: bool = True,
    rooting_comment: bool = False,
) -> None:
    """Write one tree (or several, one per line) to a Newick file, atomically.

    Options as in :func:`to_newick`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.nwk"
    >>> write_newick(parse_newick("(a:1,b:2);"), p)
    >>> p.read_text()
    '(a:1,b:2);\\n'
    """
    seq = [trees] if isinstance(trees, Tree) else list(trees)
    if not seq:
        raise PhyloLLMError("write_newick needs at least one tree, got none")
    lines = [
        to_newick(
            t,
            precision=precision,
            support=support,
            internal_names=internal_names,
            rooting_comment=rooting_comment,
        )
        for t in seq
    ]
    atomic_write_text(Path(path), "\n".join(lines) + "\n")


def to_nexus(
    trees: Tree | Sequence[Tree],
    *,
    names: Sequence[str] | None = None,
    translate: bool = False,
    precision: int | None = 6,
    support: bool = True,
    internal_names: bool = True,
) -> str:
    """NEXUS text with a TAXA block (all tip names) and a TREES block.

    Names are quoted by NEXUS rules (which also quote any name containing ``_``, since NEXUS
    readers turn an unquoted ``_`` into a space). Each tree carries ``[&R]`` or ``[&U]``.

    Parameters
    ----------
    trees
        One tree or several; every tip must be named, uniquely within its tree.
    names
        Tree names (default ``tree1``, ``tree2``, ...), unique, one per tree.
    translate
        Write a TRANSLATE table and refer to tips by number (shorter files for long ids).
    precision, support, internal_names
        As in :func:`to_newick`.

    Examples
    --------
    >>> print(to_nexus(parse_newick("(a:1,b_c:2);")))
    #NEXUS
    BEGIN TAXA;
        DIMENSIONS NTAX=2;
        TAXLABELS a 'b_c';
    END;
    BEGIN TREES;
        TREE tree1 = [&R] (a:1,'b_c':2);
    END;
    <BLANKLINE>
    """
    seq = [trees] if isinstance(trees, Tree) else list(trees)
    if not seq:
        raise PhyloLLMError("to_nexus needs at least one tree, got none")
    if names is None:
        names = [f"tree{i + 1}" for i in range(len(seq))]
    names = list(names)
    if len(names) != len(seq):
        raise PhyloLLMError(f"names must give one name per tree ({len(seq)}), got {len(names)}")
    check_unique(names, what="tree names")
    taxa: dict[str, int] = {}
    for k, t in enumerate(seq):
        tips = t.tip_names
        if any(nm is None for nm in tips):
            raise PhyloLLMError(f"NEXUS needs every tip named, but tree {names[k]!r} has unnamed tips")
        check_unique(tips, what=f"tip names of tree {names[k]!r}")  # type: ignore[arg-type]
        for nm in tips:
            taxa.setdefault(nm, len(taxa) + 1)  # type: ignore[arg-type]
    lines = [
        "#NEXUS",
        "BEGIN TAXA;",
        f"    DIMENSIONS NTAX={len(taxa)};",
        "    TAXLABELS " + " ".join(_nexus_quote(nm) for nm in taxa) + ";",
        "END;",
        "BEGIN TREES;",
    ]
    if translate:
        pairs = [f"        {i} {_nexus_quote(nm)}" for nm, i in taxa.items()]
        lines.append("    TRANSLATE\n" + ",\n".join(pairs) + ";")
    for nm, t in zip(names, seq):
        tip_label = (lambda v, t=t: str(taxa[t.name[v]])) if translate else None  # type: ignore[index]
        body = _newick_body(
            t,
            precision=precision,
            support=support,
            internal_names=internal_names,
            quote=_nexus_quote,
            tip_label=tip_label,
        )
        lines.append(f"    TREE {_nexus_quote(nm)} = {'[&R]' if t.rooted else '[&U]'} {body}")
    lines.append("END;")
    return "\n".join(lines) + "\n"


def write_nexus(
    trees: Tree | Sequence[Tree],
    path: str | Path,
    *,
    names: Sequence[str] | None = None,
    translate: bool = False,
    precision: int | None = 6,
    support: bool = True,
    internal_names: bool = True,
) -> None:
    """Write :func:`to_nexus` text to ``path`` atomically."""
    text = to_nexus(
        trees,
        names=names,
        translate=translate,
        precision=precision,
        support=support,
        internal_names=internal_names,
    )
    atomic_write_text(Path(path), text)


# ---- reading ---------------------------------------------------------------------------------


# One token per match; every character of a text falls in exactly one alternative, so nothing
# is skipped silently. "bad" catches an unterminated quote/comment and a stray ']'.
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<comment>\[[^\]]*\])
    |(?P<quoted>'(?:[^']|'')*')
    |(?P<punct>[(),;:])
    |(?P<bare>[^\s()\[\]':;,]+)
    |(?P<bad>['\[\]])""",
    re.X,
)
_END = ("end", "", -1)


class _Parser:
    """Iterative Newick parser over a token list; trees are read in sequence."""

    def __init__(self, text: str) -> None:
        self.text = text
        toks: list[tuple[str, str, int]] = []
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            if kind == "ws":
                continue
            if kind == "bad":
                c = m.group()
                if c == "'":
                    raise self.error("unterminated quoted name", "a closing quote (')", m.start())
                if c == "[":
                    raise self.error("unterminated comment '['", "a closing ']'", m.start())
                raise self.error("unexpected ']'", "a name, '(' or a comment '[...]'", m.start())
            toks.append((kind, m.group(), m.start()))  # type: ignore[arg-type]
        self.toks = toks
        self.i = 0

    def error(self, what: str, expected: str, pos: int) -> NewickError:
        if pos < 0:
            pos = len(self.text)
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        lo = max(0, pos - 20)
        snippet = self.text[lo : pos + 20].replace("\n", " ")
        return NewickError(
            f"{what} at position {pos} (line {line}, column {col}): expected {expected}; near {snippet!r}"
        )

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i] if self.i < len(self.toks) else _END

    def unexpected(self, expected: str) -> NewickError:
        kind, value, pos = self.peek()
        what = "end of text" if kind == "end" else repr(value if len(value) <= 30 else value[:30] + "...")
        return self.error(f"unexpected {what}", expected, pos)

    def at_end(self) -> bool:
        """Only comments (or nothing) left; they are not consumed (one may be a [&R])."""
        j, toks = self.i, self.toks
        while j < len(toks) and toks[j][0] == "comment":
            j += 1
        return j >= len(toks)

    def tree(self, rooted: bool | None) -> Tree:
        """Read one tree: rooting comments, then nodes until ';' (or the end of the text)."""
        rooting = self._rooting_comments()
        if self.i >= len(self.toks):
            raise self.error("empty tree", "'(' or a name", len(self.text))
        nodes = self._nodes()
        if rooted is None:
            rooted = rooting
        if rooted is None:
            rooted = sum(1 for p in nodes.parent if p == 0) == 2
        return Tree.from_parents(
            nodes.parent, length=nodes.length, name=nodes.name, support=nodes.support, rooted=rooted
        )

    def _rooting_comments(self) -> bool | None:
        """Skip the comments before a tree; ``[&R]`` / ``[&U]`` among them give its rooting."""
        toks, n_toks = self.toks, len(self.toks)
        rooting = None
        while self.i < n_toks and toks[self.i][0] == "comment":
            tag = toks[self.i][1][1:-1].strip().upper()
            if tag in ("&R", "&U"):
                rooting = tag == "&R"
            self.i += 1
        return rooting

    def _nodes(self) -> _Nodes:
        """The nodes of one tree, in the order they open, up to and including its ';'.

        One flat loop (no helper per node: this is the parser's hot path): a node starts with
        any number of '(' (each opens an internal node) and a tip; after a node, ',' opens a
        sibling, ')' closes the innermost '(' and ';' or the end of the text ends the tree.
        """
        toks, n_toks = self.toks, len(self.toks)
        nodes = _Nodes()
        parent, names, lengths, supports = nodes.parent, nodes.name, nodes.length, nodes.support
        open_nodes: list[int] = []
        label = self._label
        while True:
            while self.i < n_toks and toks[self.i][1] == "(" and toks[self.i][0] == "punct":
                self.i += 1
                parent.append(open_nodes[-1] if open_nodes else -1)
                names.append(None)
                lengths.append(np.nan)
                supports.append(np.nan)
                open_nodes.append(len(parent) - 1)
            parent.append(open_nodes[-1] if open_nodes else -1)
            names.append(None)
            lengths.append(np.nan)
            supports.append(np.nan)
            label(len(parent) - 1, nodes, internal=False)
            while True:
                kind, value, pos = self.peek()
                if kind == "punct" and value == ",":
                    if not open_nodes:
                        raise self.error("unexpected ','", "';' (a ',' outside parentheses)", pos)
                    self.i += 1
                    break
                if kind == "punct" and value == ")":
                    if not open_nodes:
                        raise self.error("unexpected ')'", "';' (more ')' than '(')", pos)
                    self.i += 1
                    label(open_nodes.pop(), nodes, internal=True)
                    continue
                if kind == "end" or (kind == "punct" and value == ";"):
                    if open_nodes:
                        raise self.unexpected(f"',' or ')' ({len(open_nodes)} '(' still open)")
                    if kind != "end":
                        self.i += 1
                    return nodes
                raise self.unexpected("',', ')' or ';'")

    def _label(self, v: int, nodes: _Nodes, *, internal: bool) -> None:
        """Label, ':' length and comments (anywhere among them) for node v."""
        toks, n_toks = self.toks, len(self.toks)
        i = self.i
        comments = []
        while i < n_toks and toks[i][0] == "comment":
            comments.append(toks[i][1])
            i += 1
        if i < n_toks:
            kind, value, _ = toks[i]
            if kind == "quoted":
                nodes.name[v] = value[1:-1].replace("''", "'")
                i += 1
            elif kind == "bare":
                if internal and _NUMBER.match(value):
                    nodes.support[v] = float(value)
                else:
                    nodes.name[v] = value
                i += 1
        while i < n_toks and toks[i][0] == "comment":
            comments.append(toks[i][1])
            i += 1
        if i < n_toks and toks[i][1] == ":" and toks[i][0] == "punct":
            i += 1
            while i < n_toks and toks[i][0] == "comment":
                comments.append(toks[i][1])
                i += 1
            if i >= n_toks or toks[i][0] != "bare":
                self.i = i
                raise self.unexpected("a branch length after ':'")
            token = toks[i][1]
            try:
                value_f = float(token)
            except ValueError:
                raise self._bad_length(token, toks[i][2]) from None
            if value_f - value_f != 0:  # inf or nan
                raise self._bad_length(token, toks[i][2])
            nodes.length[v] = value_f
            i += 1
            while i < n_toks and toks[i][0] == "comment":
                comments.append(toks[i][1])
                i += 1
        self.i = i
        for c in comments:
            sup = _support_from_comment(c[1:-1])
            if sup is not None:
                nodes.support[v] = sup

    def _bad_length(self, token: str, pos: int) -> NewickError:
        try:
            float(token)
        except ValueError:
            return self.error(f"invalid branch length {token!r}", "a number", pos)
        return self.error(f"branch length {token!r} is not finite", "a finite number", pos)


class _Nodes:
    """The growing node arrays of the tree being parsed."""

    __slots__ = ("parent", "name", "length", "support")

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.name: list[str | None] = []
        self.length: list[float] = []
        self.support: list[float] = []


def _support_from_comment(comment: str) -> float | None:
    """Support from ``&&NHX:support=x:...`` or ``&support=x,...`` comments, else None."""
    if comment.startswith("&&NHX:"):
        fields = comment[6:].split(":")
    elif comment.startswith("&"):
        fields = comment[1:].split(",")
    else:
        return None
    for f in fields:
        key, eq, value = f.partition("=")
        if eq and key.strip().lower() == "support":
            try:
                return float(value.strip().strip("\"'"))
            except ValueError:
                raise NewickError(f"support value in comment [{comment}] is not a number") from None
    return None


def parse_newick(text: str, *, rooted: bool | None = None) -> Tree:
    """Parse the first tree of a Newick text.

    Parameters
    ----------
    text
        Newick text; the final ``;`` may be omitted at the end of the text.
    rooted
        Override rootedness. ``None`` (default): ``[&R]``/``[&U]`` before the tree if present,
        else rooted exactly when the root has two children.

    Raises
    ------
    NewickError
        With the position, line/column, what was expected and the text around it.

    Examples
    --------
    >>> t = parse_newick("((a:1,'b c':2)0.9:0.5,meta-llama/Llama_2:3);")
    >>> t.tip_names, float(t.support[1]), t.rooted
    (('a', 'b c', 'meta-llama/Llama_2'), 0.9, True)
    >>> parse_newick("(a,(b,c)));")
    Traceback (most recent call last):
    ...
    phylo_llm.errors.NewickError: unexpected ')' at position 9 (line 1, column 10): expected ';' (more ')' than '('); near '(a,(b,c)));'
    """
    if not isinstance(text, str):
        raise PhyloLLMError(f"parse_newick needs a str, got {type(text).__name__}")
    return _Parser(text).tree(rooted)


def parse_newick_all(text: str, *, rooted: bool | None = None) -> list[Tree]:
    """Parse every ``;``-terminated tree of a Newick text (e.g. bootstrap replicates).

    Examples
    --------
    >>> [t.n_tips for t in parse_newick_all("(a,b);\\n(a,(b,c));")]
    [2, 3]
    """
    p = _Parser(text)
    trees = []
    while not p.at_end():
        trees.append(p.tree(rooted))
    if not trees:
        raise NewickError("no tree found: the text is empty or only whitespace/comments")
    return trees


def _statements(text: str) -> list[str]:
    """``;``-separated NEXUS statements; ``;`` inside quotes or ``[...]`` comments does not count."""
    out, cur, quote, depth = [], [], False, 0
    for ch in text:
        if quote:
            quote = ch != "'"
        elif depth:
            depth += (ch == "[") - (ch == "]")
        elif ch == "'":
            quote = True
        elif ch == "[":
            depth = 1
        elif ch == ";":
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, cur, quote = [], [], False
    for ch in text:
        if ch == "'":
            quote = not quote  # a doubled '' toggles twice: still inside
        if ch == sep and not quote:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _unquote(token: str) -> str:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] == "'":
        return token[1:-1].replace("''", "'")
    return token


def parse_nexus(text: str, *, rooted: bool | None = None) -> list[Tree]:
    """The trees of a NEXUS text's TREES block (``TRANSLATE`` numbers become tip names).

    Examples
    --------
    >>> [t.tip_names for t in parse_nexus(to_nexus(parse_newick("(a:1,'b c':2);"), translate=True))]
    [('a', 'b c')]
    """
    stmts = _statements(text)
    if not stmts or not stmts[0].upper().startswith("#NEXUS"):
        raise NewickError("not a NEXUS text: it must start with #NEXUS")
    in_trees, translate, trees = False, {}, []
    for st in stmts:
        head = st.split(None, 1)[0].upper() if st.split() else ""
        rest = st[len(head) :].strip() if head else ""
        if head.startswith("#NEXUS"):
            head, rest = (rest.split(None, 1) + [""])[:2] if rest else ("", "")
            head = head.upper()
        if head == "BEGIN":
            in_trees = rest.upper() == "TREES"
        elif head in ("END", "ENDBLOCK"):
            in_trees = False
        elif in_trees and head == "TRANSLATE":
            for pair in _split_outside_quotes(rest, ","):
                key, _, name = pair.strip().partition(" ")
                if key:
                    translate[key] = _unquote(name)
        elif in_trees and head in ("TREE", "UTREE"):
            _, eq, body = (lambda p: (p[0], "=" if len(p) > 1 else "", "=".join(p[1:])))(
                _split_outside_quotes(rest, "=")
            )
            if not eq:
                raise NewickError(f"NEXUS TREE statement without '=': {st[:60]!r}")
            t = parse_newick(body + ";", rooted=rooted)
            if translate:
                t = Tree(
                    t.parent,
                    t.length,
                    tuple(translate.get(n, n) if n is not None else None for n in t.name),
                    t.support,
                    t.rooted,
                )
            trees.append(t)
    if not trees:
        raise NewickError("the NEXUS text has no TREE statement in a TREES block")
    return trees


def read_newick(path: str | Path, *, rooted: bool | None = None) -> Tree:
    """Read the one tree of a Newick or NEXUS file (see :func:`parse_newick`, :func:`parse_nexus`).

    Raises
    ------
    PhyloLLMError
        When the file holds more than one tree (which one was meant is not ours to guess).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.nwk"
    >>> _ = p.write_text("(a:1,b:2);")
    >>> read_newick(p).tip_names
    ('a', 'b')
    """
    text = read_text(path, what="tree file")
    if text.lstrip().upper().startswith("#NEXUS"):
        trees = parse_nexus(text, rooted=rooted)
    else:
        trees = parse_newick_all(text, rooted=rooted)
    if len(trees) > 1:
        raise PhyloLLMError(
            f"tree file {str(path)!r} holds {len(trees)} trees; give a file with one tree "
            "(in Python, parse_newick_all reads them all)"
        )
    return trees[0]
