from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phylo_llm import NewickError, PhyloLLMError, Tree
from phylo_llm.io import (
    parse_newick,
    parse_newick_all,
    read_newick,
    to_newick,
    to_nexus,
    write_newick,
    write_nexus,
)


def assert_same_tree(a: Tree, b: Tree, *, exact: bool = True) -> None:
    """Same node order, names, lengths, supports, rootedness."""
    np.testing.assert_array_equal(a.parent, b.parent)
    assert a.name == b.name
    if exact:
        np.testing.assert_array_equal(a.length, b.length)
        np.testing.assert_array_equal(a.support, b.support)
    else:
        np.testing.assert_allclose(a.length, b.length, rtol=1e-5)
        np.testing.assert_allclose(a.support, b.support, rtol=1e-5)
    assert a.rooted == b.rooted


# ---- hypothesis: random trees with arbitrary names --------------------------------------------

names_st = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
) | st.sampled_from(["a b", "x'y", "''", "(a,b)", "c:d;e", "[x]", "meta-llama/Llama_2", "1e5", "0.9", "_"])
lengths_st = st.one_of(
    st.just(np.nan),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-300, max_value=1e-3),
    st.integers(0, 1000).map(float),
)


@st.composite
def trees(draw, max_tips: int = 12) -> Tree:
    n_tips = draw(st.integers(1, max_tips))
    # grow by attaching tips to random nodes (polytomies allowed) or splitting random edges
    parent = [-1]
    for _ in range(n_tips - 1):
        if len(parent) == 1 or draw(st.booleans()):
            v = draw(st.integers(0, len(parent) - 1))
            parent.append(v)
        else:
            v = draw(st.integers(1, len(parent) - 1))
            mid = len(parent)
            parent.append(parent[v])
            parent[v] = mid
    n = len(parent)
    if n > 1 and sum(1 for p in parent if p == 0) < 1:  # pragma: no cover
        raise AssertionError
    t0 = Tree.from_parents(parent)
    is_tip = t0.is_tip
    names = [draw(st.none() | names_st) for i in range(n)]
    length = [draw(lengths_st) for _ in range(n)]
    support = [np.nan if (i == 0 or is_tip[i]) else draw(st.just(np.nan) | st.floats(0, 100)) for i in range(n)]
    # the reader infers rootedness from the root degree unless told; make it consistent
    rooted = bool(t0.n_children[0] == 2)
    return Tree(t0.parent, length, tuple(names), support, rooted)


@settings(max_examples=300, deadline=None)
@given(trees())
def test_round_trip_exact_with_precision_none(t):
    text = to_newick(t, precision=None)
    assert_same_tree(parse_newick(text), t)


@settings(max_examples=100, deadline=None)
@given(trees())
def test_round_trip_with_precision_is_close(t):
    assert_same_tree(parse_newick(to_newick(t)), t, exact=False)


@settings(max_examples=100, deadline=None)
@given(trees(), st.booleans())
def test_rooting_comment_round_trips_either_way(t, rooted):
    t = Tree(t.parent, t.length, t.name, t.support, rooted)
    assert parse_newick(to_newick(t, rooting_comment=True)).rooted == rooted


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1e12) | st.floats(min_value=1e-300, max_value=1e-3))
def test_lengths_never_use_scientific_notation(x):
    t = Tree.from_parents([-1, 0, 0], length=[np.nan, x, 1.0], name=[None, "a", "b"])
    for precision in (None, 6, 3):
        text = to_newick(t, precision=precision)
        assert "e" not in text.lower()
    assert parse_newick(to_newick(t, precision=None)).length[1] == x


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("(),;:'[]& _a1.e-\n"), max_size=30) | st.text(max_size=30))
def test_garbage_raises_only_newick_errors(text):
    try:
        t = parse_newick(text)
    except NewickError:  # not just any PhyloLLMError: the one that gives the position
        return
    assert isinstance(t, Tree)


# ---- fixed examples ----------------------------------------------------------------------------


def test_writer_conventions():
    t = Tree.from_parents(
        [-1, 0, 1, 1, 0, 0, 5, 5],
        length=[np.nan, 0.5, 1, 2, 3, 1, 1, 1 / 3],
        name=[None, "clade", "meta-llama/Llama_2", "a b", "it's", None, "x", "y"],
        support=[np.nan, 0.95, np.nan, np.nan, np.nan, 80, np.nan, np.nan],
        rooted=False,
    )
    text = to_newick(t)
    assert text == ("((meta-llama/Llama_2:1,'a b':2)clade:0.5[&&NHX:support=0.95],'it''s':3,(x:1,y:0.333333)80:1);")
    assert to_newick(t, support=False, internal_names=False) == (
        "((meta-llama/Llama_2:1,'a b':2):0.5,'it''s':3,(x:1,y:0.333333):1);"
    )
    assert to_newick(t, precision=2).endswith("y:0.33)80:1);")
    assert to_newick(t, rooting_comment=True).startswith("[&U] ((")


def test_numeric_internal_name_is_quoted_and_stays_a_name():
    t = parse_newick("((a,b)'95',c);")
    assert t.name[1] == "95" and np.isnan(t.support[1])
    assert "'95'" in to_newick(t)
    u = parse_newick("((a,b)95,c);")
    assert u.name[1] is None and u.support[1] == 95


def test_reader_handles_comments_whitespace_and_scientific_lengths():
    text = """
    [a comment] [&R]
    ( a : 1.5e-3 [&rate=2],
      'b c' [x] : 2E2,
      ( d , e ) [&support=0.7,other=1] : .5
    ) root ;
    """
    t = parse_newick(text)
    assert t.rooted is True  # [&R] wins over the root degree (3)
    assert t.tip_names == ("a", "b c", "d", "e")
    assert t.name[0] == "root"
    np.testing.assert_array_equal(t.length, [np.nan, 1.5e-3, 200.0, 0.5, np.nan, np.nan])
    assert t.support[3] == 0.7


def test_underscores_are_not_spaces():
    assert parse_newick("(meta-llama/Llama_2,b_c);").tip_names == ("meta-llama/Llama_2", "b_c")


def test_rootedness_inferred_from_root_degree_or_overridden():
    assert parse_newick("((a,b),c);").rooted is True
    assert parse_newick("(a,b,c);").rooted is False
    assert parse_newick("[&U] ((a,b),c);").rooted is False
    assert parse_newick("(a,b,c);", rooted=True).rooted is True


def test_unnamed_tips_are_standard_newick():
    t = parse_newick("(,,(,));")
    assert t.n_tips == 4 and len(t) == 6 and all(nm is None for nm in t.name)
    assert to_newick(t) == "(,,(,));"


def test_missing_final_semicolon_is_accepted():
    assert parse_newick("(a,b)").tip_names == ("a", "b")


@pytest.mark.parametrize(
    "text, match",
    [
        ("(a,b)(c,d);", r"unexpected '\(' at position 5 .*expected ',', '\)' or ';'"),
        ("(a,b", r"unexpected end of text at position 4 .*1 '\(' still open"),
        ("(a,b));", r"unexpected '\)' at position 5 .*more '\)' than '\('"),
        ("(a:x,b);", r"invalid branch length 'x' at position 3"),
        ("(a:,b);", r"unexpected ',' at position 3.*a branch length"),
        ("(a:inf,b);", r"branch length 'inf' is not finite"),
        ("('a,b);", r"unterminated quoted name at position 1"),
        ("(a[x,b);", r"unterminated comment"),
        ("(a,b)c d;", r"unexpected 'd' at position 7 .*expected ',', '\)' or ';'"),
        ("a,b;", r"unexpected ',' at position 1"),
        ("", r"empty tree"),
        ("(a,b)[&&NHX:support=high];", r"support value in comment .* not a number"),
    ],
)
def test_parse_errors_give_position(text, match):
    with pytest.raises(NewickError, match=match):
        parse_newick(text)


def test_parse_error_reports_line_and_column():
    with pytest.raises(NewickError, match=r"line 2, column 3"):
        parse_newick("(a,\nb c);")


def test_multi_tree_files(tmp_path):
    a = parse_newick("(a:1,(b:2,c:3):1);")
    b = parse_newick("(a:1,b:2,c:3);")
    path = tmp_path / "many.nwk"
    write_newick([a, b], path)
    both = parse_newick_all(path.read_text())
    assert len(both) == 2
    assert_same_tree(both[0], a)
    assert_same_tree(both[1], b)
    with pytest.raises(PhyloLLMError, match="holds 2 trees"):  # never silently the first one
        read_newick(path)
    with pytest.raises(NewickError, match="no tree found"):
        parse_newick_all("  [just a comment]\n")


def test_write_newick_is_atomic_and_single_line(tmp_path):
    path = tmp_path / "sub" / "t.nwk"
    t = parse_newick("(a:1,b:2);")
    write_newick(t, path)
    assert path.read_text() == "(a:1,b:2);\n"
    assert [p.name for p in path.parent.iterdir()] == ["t.nwk"]  # no temp file left


@pytest.mark.parametrize("precision", [0, -1, 2.5, True, "6"])
def test_bad_precision(precision):
    t = parse_newick("(a:1,b:2);")
    with pytest.raises(PhyloLLMError, match=r"precision must be an integer >= 1 \(significant digits, or None\)"):
        to_newick(t, precision=precision)


def test_deep_caterpillar_no_recursion_limit():
    n = 3 * sys.getrecursionlimit()
    text = "(" * (n - 1) + "t0" + "".join(f",t{i}:1)" for i in range(1, n)) + ";"
    t = parse_newick(text)
    assert t.n_tips == n
    again = to_newick(t, precision=None)
    assert again == text
    assert_same_tree(parse_newick(again), t)


# ---- NEXUS ------------------------------------------------------------------------------------


def test_nexus_layout_and_quoting():
    t = parse_newick("((meta-llama/Llama_2:1,'a b':2)0.9:1,c:3);")
    text = to_nexus([t, t], names=["first", "second tree"], translate=True)
    assert text.startswith("#NEXUS\nBEGIN TAXA;\n    DIMENSIONS NTAX=3;\n")
    assert "TAXLABELS 'meta-llama/Llama_2' 'a b' c;" in text
    assert "TRANSLATE\n        1 'meta-llama/Llama_2',\n        2 'a b',\n        3 c;" in text
    assert "TREE first = [&R] ((1:1,2:2)0.9:1,3:3);" in text
    assert "TREE 'second tree' = [&R]" in text


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"names": ["a"]}, r"one name per tree \(2\), got 1"),
        ({"names": ["a", "a"]}, "tree names must be unique"),
    ],
)
def test_nexus_errors(kwargs, match):
    t = parse_newick("(a,b);")
    with pytest.raises(PhyloLLMError, match=match):
        to_nexus([t, t], **kwargs)


def test_nexus_rejects_unnamed_or_duplicate_tips(tmp_path):
    with pytest.raises(PhyloLLMError, match="unnamed tips"):
        to_nexus(parse_newick("(a,:1);"))
    with pytest.raises(PhyloLLMError, match=r"tip names of tree .* must be unique; duplicated: \['a'\]"):
        write_nexus(parse_newick("(a,a);"), tmp_path / "x.nex")


# ---- hardening (issue 11) ----------------------------------------------------------------------


def test_read_newick_refuses_a_file_with_several_trees(tmp_path):
    p = tmp_path / "two.nwk"
    p.write_text("(a,b,c);\n(a,(b,c));\n")
    with pytest.raises(PhyloLLMError, match=r"two.nwk' holds 2 trees; give a file with one tree"):
        read_newick(p)


@pytest.mark.parametrize("translate", [False, True])
def test_read_newick_reads_our_own_nexus(tmp_path, translate):
    from phylo_llm.io import to_nexus

    tree = parse_newick("((a:1,'b c':2)0.9:0.5,x_y:3,'q''s':1);")
    p = tmp_path / "t.nex"
    p.write_text(to_nexus(tree, translate=translate))
    back = read_newick(p)
    assert back.tip_names == tree.tip_names and back.rooted == tree.rooted
    assert to_newick(back) == to_newick(tree)


@pytest.mark.parametrize("name", ['say"hi"', "a=b", 'q"'])
def test_names_with_double_quotes_or_equals_are_quoted(name):
    text = to_newick(Tree.from_parents([-1, 0, 0], name=[None, name, "z"]))
    assert f"'{name}'" in text and parse_newick(text).tip_names == (name, "z")
