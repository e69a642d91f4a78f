"""docs/regulations.md against the suite: every test a row names exists and cites the row's article, and the
table covers all four regulations (issue 16)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "regulations.md"
_CITATION = re.compile(r"\b(000|001|002|004) art\. ([^;|)]+)")
_ART = re.compile(r"\d+(?:\.\d+[a-zđ]?)?(?:-\d+)?")
_NAMED = re.compile(r"(000|001|002|004)_art_(\d{1,2}(?:_\d{1,2}[a-zđ]?(?![0-9a-zđ]))*)")


def citations(text: str) -> set[tuple[str, str]]:
    """("002", "9.1b") for "002 art. 9.1b, 9.3"; a test's name "test_002_art_9_1b_..." reads the same way."""
    text = re.sub(r"\s+", " ", text)
    found = {(reg, art) for reg, arts in _CITATION.findall(text) for art in _ART.findall(arts)}
    return found | {(reg, art.replace("_", ".")) for reg, art in _NAMED.findall(text)}


def rows() -> list[dict[str, str]]:
    out, header = [], None
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(line) <= set("|- "):
            out.append(dict(zip(header, cells, strict=True)))
    return out


def suite() -> dict[str, str]:
    """"test_file.py::test_name" -> its name and docstring, for every test function in tests/."""
    found = {}
    for path in (ROOT / "tests").glob("test_*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                found[f"{path.name}::{node.name}"] = f"{node.name}\n{ast.get_docstring(node) or ''}"
    return found


def test_citations_read_the_way_the_table_and_the_names_write_them():
    assert citations("001 art. 7.1d, 7.2; 004 art. 4.6") == {("001", "7.1d"), ("001", "7.2"), ("004", "4.6")}
    assert citations("test_001_art_3_002_art_4_1_004_art_9_1_another") == {("001", "3"), ("002", "4.1"), ("004", "9.1")}
    assert citations("001 art. 13-17; 002 art. 9.3đ") == {("001", "13-17"), ("002", "9.3đ")}


def test_every_row_names_a_test_that_exists_and_cites_its_article():
    known = suite()
    served = [r for r in rows() if "test" in r]
    assert len(served) > 40
    problems = []
    for row in served:
        named = re.findall(r"`([\w.]+::\w+)`", row["test"])
        if not named:
            if "not yet" not in row["setting"]:
                problems.append(f"{row['rule']}: no test, and not marked 'not yet'")
            continue
        wanted = citations(row["where"])
        for test in named:
            if test not in known:
                problems.append(f"{row['rule']}: {test} does not exist")
            elif wanted and not wanted & citations(known[test]):
                problems.append(f"{row['rule']}: {test} cites none of {sorted(wanted)}")
    assert not problems, "\n".join(problems)


def test_the_table_covers_all_four_regulations_and_what_cannot_be_served():
    everything = rows()
    for reg in ("000", "001", "002", "004"):
        assert any(reg in r["where"] for r in everything if "test" in r), reg
        assert any(reg in r["where"] for r in everything if "why not" in r), reg
