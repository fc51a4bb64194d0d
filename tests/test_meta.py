"""Tests for phylo_llm.data: reading the label table and joining it to DNA sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phylo_llm import DnaSet, PhyloLLMError
from phylo_llm.data import (
    join_meta,
    meta_frame,
    parse_release,
    read_meta,
    require_columns,
)

CSV = """model,organization,family,base_model,relation,architecture,release,params_b,source
org/a,org,llama,,pretrained,decoder-only,2023-07,7,known
org/b,org,llama,org/a,instruct,decoder-only,2024-01,7,known
org/c,other,t5,,pretrained,encoder-decoder,2019-10,0.77,known
org/d,other,qwen,,pretrained,decoder-only,,1.5,guess
"""


@pytest.fixture
def meta_csv(tmp_path: Path) -> Path:
    p = tmp_path / "meta.csv"
    p.write_text(CSV)
    return p


def _dna(labels: list[str]) -> DnaSet:
    return DnaSet(tuple(labels), np.arange(2 * len(labels), dtype=float).reshape(-1, 2))


@pytest.mark.parametrize(
    ("value", "year"),
    [("2024-05", 2024 + 4.5 / 12), ("2020", 2020.5), ("2019-01-01", 2019 + 0.5 / 365), ("2024-12", 2024 + 11.5 / 12)],
)
def test_parse_release_decimal_year(value: str, year: float) -> None:
    ts, dec = parse_release(value)
    assert dec == pytest.approx(year)
    assert ts.year == int(value[:4])


@pytest.mark.parametrize("value", ["2024/05", "May 2024", "2024-13", "2023-02-30", "24-05"])
def test_parse_release_rejects(value: str) -> None:
    with pytest.raises(PhyloLLMError, match="release"):
        parse_release(value)


def test_read_meta_csv_and_tsv_agree(meta_csv: Path, tmp_path: Path) -> None:
    tsv = tmp_path / "meta.tsv"
    tsv.write_text(CSV.replace(",", "\t"))
    a, b = read_meta(meta_csv), read_meta(tsv)
    pd.testing.assert_frame_equal(a, b)
    assert a.index.name == "model"
    assert list(a.index) == ["org/a", "org/b", "org/c", "org/d"]
    assert a.loc["org/b", "release_year"] == pytest.approx(2024 + 0.5 / 12)
    assert a.loc["org/c", "release_date"] == pd.Timestamp("2019-10-01")
    assert np.isnan(a.loc["org/d", "release_year"])
    assert a.loc["org/c", "params_b"] == pytest.approx(0.77)
    # ids and families stay text (no numeric coercion of things like "t5")
    assert a.loc["org/c", "family"] == "t5"


@pytest.mark.parametrize(
    ("text", "name", "match"),
    [
        ("family\nllama\n", "m.csv", "needs a 'model' column"),
        ("model,family\na,x\na,y\n", "m.csv", r"unique; duplicated: \['a'\]"),
        ("model,release\na,2024/01\n", "m.csv", "model 'a'.*YYYY-MM"),
        ("model,params_b\na,seven\n", "m.csv", "params_b must be a number, got 'seven'"),
        ("model\na\n", "m.json", r"must end in one of"),
    ],
)
def test_read_meta_errors(tmp_path: Path, text: str, name: str, match: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(PhyloLLMError, match=match):
        read_meta(p)


def test_read_meta_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PhyloLLMError, match="does not exist"):
        read_meta(tmp_path / "nope.csv")


def test_join_orders_rows_like_dna(meta_csv: Path) -> None:
    meta = read_meta(meta_csv)
    joined = join_meta(_dna(["org/c", "org/a", "org/b", "org/d"]), meta)
    assert list(joined.index) == ["org/c", "org/a", "org/b", "org/d"]
    assert joined["family"].tolist() == ["t5", "llama", "llama", "qwen"]
    assert set(joined["family_source"]) == {"table"}


def test_join_lists_unmatched_ids_both_directions(meta_csv: Path) -> None:
    meta = read_meta(meta_csv)
    with pytest.raises(PhyloLLMError) as info:
        join_meta(_dna(["org/a", "org/b", "org/zz", "org/c"]), meta)
    msg = str(info.value)
    assert "1 model id(s) have no metadata row: ['org/zz']" in msg
    assert "1 metadata row(s) match no model id: ['org/d']" in msg


def test_join_allow_extra_and_near_match_hint(meta_csv: Path) -> None:
    meta = read_meta(meta_csv)
    joined = join_meta(["org/a", "org/b"], meta, allow_extra=True)
    assert list(joined.index) == ["org/a", "org/b"]
    with pytest.raises(PhyloLLMError, match=r"near matches: 'org/A' ~ 'org/a'"):
        join_meta(["org/A"], meta, allow_extra=True)


def test_join_allow_missing_leaves_gaps(meta_csv: Path) -> None:
    meta = read_meta(meta_csv)
    joined = join_meta(["org/a", "new/x"], meta, allow_extra=True, allow_missing=True)
    assert joined.loc["org/a", "family"] == "llama"
    assert pd.isna(joined.loc["new/x", "family"])
    assert pd.isna(joined.loc["new/x", "family_source"])


def test_join_family_override(meta_csv: Path) -> None:
    meta = read_meta(meta_csv)
    joined = join_meta(["org/a", "org/b", "org/c", "org/d"], meta, families={"org/b": "llama-structural"})
    assert joined["family"].tolist() == ["llama", "llama-structural", "t5", "qwen"]
    assert joined["family_source"].tolist() == ["table", "override", "table", "table"]
    # the original table is untouched
    assert meta.loc["org/b", "family"] == "llama"
    with pytest.raises(PhyloLLMError, match=r"override names 1 model\(s\) not being joined: \['x/y'\]"):
        join_meta(["org/a"], meta, allow_extra=True, families={"x/y": "f"})


def test_require_columns_names_missing() -> None:
    with pytest.raises(PhyloLLMError, match=r"speed needs metadata column\(s\) \['release_year'\]"):
        require_columns(pd.DataFrame({"family": []}), ["family", "release_year"], purpose="speed")


def test_meta_frame_accepts_model_index() -> None:
    df = pd.DataFrame({"family": ["x"]}, index=pd.Index(["m"], name="model"))
    assert meta_frame(df).loc["m", "family"] == "x"


def test_paper_meta_joins_paper_dna(paper_data: Path) -> None:
    from phylo_llm import read_dna

    meta = read_meta(paper_data / "models_meta.csv")
    assert len(meta) == 345
    dna = read_dna(paper_data / "dna_qwen3-embedding-8b.csv")
    with pytest.raises(PhyloLLMError, match="32 metadata row"):
        join_meta(dna, meta)
    joined = join_meta(dna, meta, allow_extra=True)
    assert len(joined) == len(dna) == 313
    assert (joined["architecture"] == "encoder-decoder").sum() == 7
    assert joined["release_year"].between(2018, 2026).sum() == joined["release_year"].notna().sum()


# ---- hardening (issue 11): messages that name the file, no silently dropped values --------------


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"meta.csv' is empty; it needs a header row with 'model'"),
        (b"\n\n", r"meta.csv' is empty"),
        (
            b"model,family,base_model\na/x,llama,\na/y,llama\n",
            r"meta.csv': line 3 has 2 field\(s\) but the header has 3",
        ),
        (b"model,family\na/x,llama,extra\n", r"line 2 has 3 field\(s\) but the header has 2"),
        (b"model,family\nCaf\x84,llama\n", r"meta.csv' is not UTF-8 text \(byte 0x84 at offset 16, line 2\)"),
    ],
)
def test_bad_metadata_files_are_named_in_the_message(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "meta.csv"
    p.write_bytes(content)
    with pytest.raises(PhyloLLMError, match=match) as info:
        read_meta(p)
    text = str(info.value)
    assert "No columns to parse" not in text and "C error" not in text and "codec" not in text


def test_strict_meta_hint_names_the_flag_not_an_api_argument(meta_csv: Path) -> None:
    meta = read_meta(meta_csv)
    with pytest.raises(PhyloLLMError, match="leave out --strict-meta") as info:
        join_meta(list(meta.index[:1]), meta)
    assert "pass allow_extra" not in str(info.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["distance", "{f}", "-o", "{tmp}/d.csv"],
        ["tree", "{f}.phy"],
        ["plot-tree", "{f}.nwk", "-o", "{tmp}/t.png"],
    ],
)
def test_non_utf8_inputs_are_one_line_naming_the_file(tmp_path: Path, capsys, argv) -> None:
    from phylo_llm.cli import main

    f = tmp_path / "in.csv"
    for p in (f, tmp_path / "in.csv.phy", tmp_path / "in.csv.nwk"):
        p.write_bytes(b"model,x\nCaf\x84,1\n")
    assert main([a.replace("{f}", str(f)).replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not UTF-8 text (byte 0x84" in err and "in.csv" in err and "codec" not in err
