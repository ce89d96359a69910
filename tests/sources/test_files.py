"""The built-in file source on every format it reads, and its errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from cxpipe.config import SourceConfig
from cxpipe.errors import ConfigError, SourceError
from cxpipe.sources.files import FileSource

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _source(path: Path | str, **options: object) -> FileSource:
    config = SourceConfig.model_validate(
        {
            "name": "s",
            "kind": "file",
            "entity": "clients",
            "options": {"path": str(path), **options},
        }
    )
    return FileSource(config)


def _rows(source: FileSource) -> pl.DataFrame:
    return source.extract().frame.collect()


def test_csv_and_gzip_glob_with_lineage(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,name\n1,Ann\n2,Bob\n")
    with gzip.open(tmp_path / "b.csv.gz", "wt") as handle:
        handle.write('id,name\n3,"Multi\nline, quoted"\n')
    rows = _rows(_source(tmp_path / "*.csv*")).sort("id")
    assert rows["id"].to_list() == ["1", "2", "3"]  # all strings: conform parses
    assert rows["name"][2] == "Multi\nline, quoted"
    assert rows["_cx_row"].to_list() == [1, 2, 1]  # row within its own file
    assert rows["_cx_file"][2].endswith("b.csv.gz")


def test_parquet_jsonl_and_excel(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2], "score": [4.5, None]})
    frame.write_parquet(tmp_path / "x.parquet")
    frame.write_ndjson(tmp_path / "x.jsonl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in [("id", "score"), (1, 4.5), (2, None)]:
        sheet.append(row)
    workbook.save(tmp_path / "x.xlsx")
    assert _rows(_source(tmp_path / "x.parquet"))["score"].to_list() == [4.5, None]
    jsonl = _rows(_source(tmp_path / "x.jsonl"))
    assert jsonl["id"].to_list() == ["1", "2"]
    excel = _rows(_source(tmp_path / "x.xlsx"))
    assert excel["id"].to_list() == ["1", "2"]
    assert excel["_cx_row"].to_list() == [1, 2]


def test_no_matching_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"source 's': no file matches .*nothing-\*\.csv"):
        _source(tmp_path / "nothing-*.csv").extract()


def test_unknown_extension_asks_for_a_format(tmp_path: Path) -> None:
    (tmp_path / "data.dat").write_text("a\n1\n")
    with pytest.raises(SourceError, match=r"set options\.format"):
        _source(tmp_path / "data.dat").extract()


def test_unknown_option_is_a_config_error_with_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'encodng' \(did you mean 'encoding'\?\)"):
        _source(tmp_path / "a.csv", encodng="cp1252")


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    payload = gzip.compress(b"id,name\n" + b"1,abc\n" * 5000)
    (tmp_path / "cut.csv.gz").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(SourceError, match=r"cut\.csv\.gz"):
        _rows(_source(tmp_path / "cut.csv.gz"))


def test_mixed_encoding_survey_is_read_whole_and_reported() -> None:
    """The real garden-centre survey: CP1252 with a few DOS CP850 bytes."""
    source = _source(SHARED / "nps-garden-centre-benavent" / "nps.csv", encoding="cp1252")
    extract = source.extract()
    rows = extract.frame.collect()
    assert rows.height == 13_954  # nothing dropped
    assert len(extract.warnings) == 1
    assert "17 byte(s) not valid cp1252" in extract.warnings[0]
    assert "line(s) 1273" in extract.warnings[0]
    fallback = _source(
        SHARED / "nps-garden-centre-benavent" / "nps.csv",
        encoding="cp1252",
        encoding_fallback="cp850",
    ).extract()
    text = fallback.frame.collect()["explication"].str.join(" ").item()
    assert "\ufffd" not in text
    assert "decoded with fallback cp850" in fallback.warnings[0]


def test_utf8_declared_but_not_utf8_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes("id,name\n1,Ren\xe9\n".encode("latin-1"))
    extract = _source(tmp_path / "latin.csv").extract()
    assert extract.frame.collect()["name"].to_list() == ["Ren\ufffd"]
    assert "not valid utf-8 on line(s) 2" in extract.warnings[0]


def test_ragged_csv_rows_are_located_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "ragged.csv").write_text("a,b,c\n1,2,3\n4,5,6,7,8\n9,10\n")
    source = _source(tmp_path / "ragged.csv")
    with pytest.raises(pl.exceptions.ComputeError) as raised:
        source.extract().frame.collect()
    message = source.explain(raised.value)
    assert "ragged.csv: row 2 (line 3) has 5 fields, the header has 3" in message
    assert "row 3 (line 4) has 2 fields" in message


def test_empty_files_are_skipped_with_a_warning_and_all_empty_is_an_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.csv").write_text("id,name\n1,Ann\n")
    (tmp_path / "b.csv").write_bytes(b"")
    with gzip.open(tmp_path / "c.csv.gz", "wb"):
        pass
    extract = _source(tmp_path / "*.csv*").extract()
    assert extract.frame.collect()["id"].to_list() == ["1"]
    assert len(extract.warnings) == 2
    assert all("is empty (no header, no rows)" in w for w in extract.warnings)
    with pytest.raises(SourceError, match=r"every matching file is empty: .*b\.csv"):
        _source(tmp_path / "b.csv").extract()


def test_unknown_encoding_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"options\.encoding: unknown encoding 'cp9999'"):
        _source(tmp_path / "a.csv", encoding="cp9999")


def test_unreadable_parquet_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    source = _source(tmp_path / "broken.parquet")
    with pytest.raises(pl.exceptions.PolarsError) as raised:
        source.extract().frame.collect()
    assert "broken.parquet" in source.explain(raised.value)
