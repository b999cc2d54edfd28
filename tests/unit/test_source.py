"""Source stage: every bad input becomes a located Diagnostic; good input keeps its positions."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from policy_engine import source as source_module
from policy_engine.errors import Code, PolicyError
from policy_engine.source import (
    MAX_DEPTH,
    SourceDoc,
    format_json_path,
    load_source,
    parse_source,
)


def problems(text: str | bytes) -> list[tuple[Code, int, int]]:
    with pytest.raises(PolicyError) as caught:
        parse_source(text, "p.yaml")
    return [(d.code, d.line, d.col) for d in caught.value.diagnostics]


# --- one bad input per code ---------------------------------------------------------------------

BAD = [
    ("duplicate-nested", "a:\n  b:\n    c: 1\n    d: 2\n    c: 3\n", Code.YAML_DUPLICATE_KEY, 5, 5),
    ("duplicate-top", "kind: A\nid: x\nkind: B\n", Code.YAML_DUPLICATE_KEY, 3, 1),
    ("tab-indent", "a:\n\tb: 1\n", Code.YAML_SYNTAX, 2, 1),
    ("bad-indent", "a:\n  b: 1\n c: 2\n", Code.YAML_SYNTAX, 3, 2),
    ("unclosed-quote", "a: 1\nb: 'abc\nc: 2\n", Code.YAML_SYNTAX, 2, 4),
    ("unclosed-double-quote", 'a: "abc\n', Code.YAML_SYNTAX, 1, 4),
    ("unclosed-flow", "a: 1\nb: [1, 2\n", Code.YAML_SYNTAX, 2, 4),
    ("colon-in-value", "a: b: c\n", Code.YAML_SYNTAX, 1, 5),
    ("control-char", "a: 1\nb: x\x00y\n", Code.YAML_SYNTAX, 2, 5),
    ("empty", "", Code.FILE_EMPTY, 1, 1),
    ("whitespace", "  \n\n\t\n", Code.FILE_EMPTY, 1, 1),
    ("comment-only", "# just a comment\n\n   # another\n", Code.FILE_EMPTY, 1, 1),
    ("null-document", "# c\n~\n", Code.FILE_EMPTY, 2, 1),
    ("python-tag", "a: !!python/object/apply:os.system ['echo hi']\n", Code.YAML_FORBIDDEN, 1, 4),
    ("local-tag", "a:\n  b: !secret x\n", Code.YAML_FORBIDDEN, 2, 6),
    ("str-tag", "a: !!str 1\n", Code.YAML_FORBIDDEN, 1, 4),
    ("merge-key", "a: {b: 1}\nc:\n  <<: {b: 2}\n  d: 3\n", Code.YAML_FORBIDDEN, 3, 3),
    ("top-level-list", "- a\n- b\n", Code.YAML_FORBIDDEN, 1, 1),
    ("top-level-scalar", "# c\nhello\n", Code.YAML_FORBIDDEN, 2, 1),
    ("two-documents", "a: 1\n---\nb: 2\n", Code.YAML_FORBIDDEN, 2, 1),
    ("trailing-document", "---\na: 1\n---\n", Code.YAML_FORBIDDEN, 3, 1),
    ("number-key", "a:\n  1: x\n", Code.YAML_FORBIDDEN, 2, 3),
    ("bool-key", "on: push\n", Code.YAML_FORBIDDEN, 1, 1),
    ("null-key", "a: 1\n~: 2\n", Code.YAML_FORBIDDEN, 2, 1),
    ("complex-key", "? [a, b]\n: 1\n", Code.YAML_FORBIDDEN, 1, 3),
    ("huge-number", "a: " + "9" * 5000 + "\n", Code.YAML_FORBIDDEN, 1, 4),
]


@pytest.mark.parametrize(("text", "code", "line", "col"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_located(text: str, code: Code, line: int, col: int) -> None:
    assert problems(text)[0] == (code, line, col)


def test_anchor_and_alias_are_both_refused() -> None:
    text = "base: &b {x: 1}\nother: *b\n"
    assert problems(text) == [(Code.YAML_FORBIDDEN, 1, 7), (Code.YAML_FORBIDDEN, 2, 8)]


def test_billion_laughs_is_refused_without_expansion() -> None:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    found = problems("\n".join(rows) + "\n")
    assert {code for code, _, _ in found} == {Code.YAML_FORBIDDEN}


def test_python_tag_is_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"a: !!python/object/apply:os.system ['touch {marker}']\n"
    assert problems(text)[0][0] is Code.YAML_FORBIDDEN
    assert not marker.exists()


def test_duplicate_key_names_first_line() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_source("a:\n  b:\n    c: 1\n    c: 2\n")
    diagnostic = caught.value.diagnostics[0]
    assert diagnostic.json_path == "$.a.b.c"
    assert "line 3" in diagnostic.message


def test_duplicate_keys_in_list_items_are_independent() -> None:
    doc = parse_source("gates:\n  - id: A\n  - id: B\n")
    assert doc.data == {"gates": [{"id": "A"}, {"id": "B"}]}


def test_all_refusals_are_reported_together() -> None:
    found = problems("a: !x 1\nb: !y 2\n")
    assert [(line, col) for _, line, col in found] == [(1, 4), (2, 4)]


@pytest.mark.parametrize("opener", ["[", "{a: "], ids=["flow-list", "flow-map"])
def test_thousand_deep_flow_nesting(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = "a: " + opener * 1000 + "1" + closer * 1000 + "\n"
    found = problems(text)
    assert found[0][0] is Code.YAML_FORBIDDEN and found[0][1] == 1


def test_thousand_deep_block_nesting() -> None:
    text = "".join(" " * i + f"k{i}:\n" for i in range(1000)) + " " * 1000 + "v: 1\n"
    with pytest.raises(PolicyError) as caught:
        parse_source(text)
    diagnostic = caught.value.diagnostics[0]
    assert diagnostic.code is Code.YAML_FORBIDDEN
    assert diagnostic.message == "nesting too deep"
    assert diagnostic.line == MAX_DEPTH + 1


def test_nesting_up_to_the_cap_is_fine() -> None:
    text = "a: " + "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1) + "\n"
    data = parse_source(text).data["a"]
    for _ in range(MAX_DEPTH - 2):
        data = data[0]
    assert data == [1]


def test_huge_file_is_refused_before_parsing() -> None:
    text = "a: " + "x" * (source_module.MAX_SOURCE_CHARS + 1)
    assert problems(text)[0][0] is Code.YAML_FORBIDDEN


# --- bytes and files ----------------------------------------------------------------------------


def test_non_utf8_points_at_first_bad_byte() -> None:
    assert problems(b"a: 1\nb: 2\nc: \xe9t\xe9\n") == [(Code.FILE_NOT_UTF8, 3, 4)]


def test_non_utf8_column_counts_characters() -> None:
    assert problems("a: é\nb: ü".encode() + b"\xff\n") == [(Code.FILE_NOT_UTF8, 2, 5)]


def test_utf16_is_not_utf8() -> None:
    assert problems("a: 1\n".encode("utf-16"))[0][0] is Code.FILE_NOT_UTF8


def test_bom_is_accepted_and_columns_stay_right() -> None:
    doc = parse_source(b"\xef\xbb\xbfa: 1\nb: x\n")
    assert doc.data == {"a": 1, "b": "x"}
    assert doc.source_map.locate(("a",)) == (1, 1)
    assert doc.source_map.locate_value(("a",)) == (1, 4)
    assert not doc.text.startswith("\ufeff")


def test_bom_in_str_is_accepted() -> None:
    assert parse_source("\ufeffa: 1\n").data == {"a": 1}


def test_load_source_reads_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("apiVersion: v1\nkind: X\n", encoding="utf-8")
    doc = load_source(path)
    assert doc.path == str(path)
    assert doc.data == {"apiVersion": "v1", "kind": "X"}


def test_load_source_bad_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"a: \xff\n")
    with pytest.raises(PolicyError) as caught:
        load_source(path)
    assert caught.value.diagnostics[0].file == str(path)
    assert caught.value.codes == [Code.FILE_NOT_UTF8]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_source(tmp_path / "nope.yaml")
    assert [(d.code, d.line, d.col) for d in caught.value.diagnostics] == [(Code.FILE_NOT_FOUND, 1, 1)]


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_source(tmp_path)
    assert caught.value.codes == [Code.FILE_NOT_FOUND]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "locked.yaml"
    path.write_text("a: 1\n")
    path.chmod(0)
    with pytest.raises(PolicyError) as caught:
        load_source(path)
    assert caught.value.codes == [Code.FILE_NOT_FOUND]


# --- data ---------------------------------------------------------------------------------------

SCALARS = """\
int: 42
neg: -7
float: 0.25
exp: 1.0e-3
inf: .inf
y: yes
o: off
t: True
n: ~
empty:
quoted_int: "42"
quoted_bool: 'yes'
date: 2024-01-31
stamp: 2024-01-31T10:00:00Z
time: 15:30
version: 1.2.0
hex: 0x1F
"""


def test_scalars_resolve_like_safe_loader_but_keep_timestamps_as_text() -> None:
    data = parse_source(SCALARS).data
    assert data["int"] == 42 and data["neg"] == -7 and data["hex"] == 31
    assert data["float"] == 0.25 and data["exp"] == 0.001 and math.isinf(data["inf"])
    assert (data["y"], data["o"], data["t"]) == (True, False, True)
    assert data["n"] is None and data["empty"] is None
    assert data["quoted_int"] == "42" and data["quoted_bool"] == "yes"
    assert data["date"] == "2024-01-31" and data["stamp"] == "2024-01-31T10:00:00Z"
    assert data["time"] == "15:30" and data["version"] == "1.2.0"
    assert all(type(v) in (int, float, bool, str, type(None)) for v in data.values())


# --- source map ---------------------------------------------------------------------------------

POLICY = """\
# a policy
apiVersion: policy-engine/v1
gates:
  - id: KILL
    pass_if: "not kill"
  - id: LIMIT
    pass_if: exposure < 1
    tags: [a, b]
"""


def test_locate_points_at_keys_and_values() -> None:
    smap = parse_source(POLICY).source_map
    assert smap.locate(("gates", 1, "pass_if")) == (7, 5)
    assert smap.locate_value(("gates", 1, "pass_if")) == (7, 14)
    assert smap.locate(("gates", 1)) == (6, 5)
    assert smap.locate(("gates", 1, "tags", 1)) == (8, 15)
    assert smap.locate(()) == (2, 1)


def test_locate_missing_path_falls_back_to_deepest_ancestor() -> None:
    smap = parse_source(POLICY).source_map
    assert smap.locate(("gates", 0, "reject")) == (4, 5)
    assert smap.locate(("gates", 9, "x", 3)) == (3, 1)
    assert smap.locate(("nothing",)) == (2, 1)
    assert smap.locate_value(("gates", 0, "reject")) == (4, 5)


def test_line_text() -> None:
    smap = parse_source(POLICY).source_map
    assert smap.line_text(5) == '    pass_if: "not kill"'
    assert smap.line_text(0) == "" and smap.line_text(99) == ""


def test_crlf_lines_count_once() -> None:
    doc = parse_source("a: 1\r\nb:\r\n  c: 2\r\n")
    assert doc.source_map.locate(("b", "c")) == (3, 3)
    assert doc.source_map.line_text(3) == "  c: 2"


def test_diagnostic_helper_fills_location_and_source_line() -> None:
    doc = parse_source(POLICY, "p.yaml")
    diagnostic = doc.diagnostic(Code.BAD_REFERENCE, ("gates", 1, "pass_if"), "m", "h", at_value=True)
    assert (diagnostic.file, diagnostic.line, diagnostic.col) == ("p.yaml", 7, 14)
    assert diagnostic.json_path == "$.gates[1].pass_if"
    assert diagnostic.source_line == "    pass_if: exposure < 1"


def test_source_diagnostics_carry_source_line_and_hint() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_source("a: 1\nb:\n\tc: 2\n", "p.yaml")
    diagnostic = caught.value.diagnostics[0]
    assert diagnostic.source_line == "\tc: 2" and diagnostic.hint and diagnostic.file == "p.yaml"


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "$"),
        (("gates", 3, "pass_if"), "$.gates[3].pass_if"),
        (("params", "max-risk"), "$.params['max-risk']"),
        (("a b", 0), "$['a b'][0]"),
    ],
)
def test_format_json_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_json_path(path) == text


def test_module_never_uses_unsafe_loading() -> None:
    code = Path(source_module.__file__).read_text(encoding="utf-8")
    for call in ("yaml.load(", "full_load", "unsafe_load", "UnsafeLoader", "FullLoader", "yaml.Loader"):
        assert call not in code


# --- robustness ---------------------------------------------------------------------------------

_KEYS = st.sampled_from(["a", "id", "<<", "on", "1", "~", "? a", "- ", "&x", "*x", "!t", "'q", '"', "[", "{"])
_VALUES = st.sampled_from(
    ["1", "yes", "~", "'x'", '"y', "[1, 2]", "{a: 1}", "&a v", "*a", "!!python/name:os.system", "|", ">",
     "- z", "---", "...", "%YAML 1.1", "2024-01-01", "1:30", "0x1f", ".nan", "\t", "#c", ":", ""]
)
_LINES = st.builds(lambda indent, key, value: f"{indent}{key}: {value}",
                   st.sampled_from(["", " ", "  ", "    ", "\t", "- ", "  - "]), _KEYS, _VALUES)
_YAMLISH = st.lists(_LINES, max_size=12).map("\n".join)


def test_parse_source_only_returns_or_raises_policy_error(tmp_path: Path) -> None:
    outcomes: list[str] = []

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.one_of(st.text(), st.binary(), _YAMLISH))
    def parse_anything(text: str | bytes) -> None:
        try:
            outcomes.append(type(parse_source(text)).__name__)
        except PolicyError as error:
            assert error.diagnostics and all(d.line >= 1 and d.col >= 1 for d in error.diagnostics)
            outcomes.append("PolicyError")

    # Hypothesis caches unicode tables on disk; keep them out of the work tree.
    set_hypothesis_home_dir(tmp_path / "hypothesis")
    try:
        parse_anything()
    finally:
        set_hypothesis_home_dir(None)
    assert len(outcomes) >= 300
    assert set(outcomes) == {SourceDoc.__name__, "PolicyError"}
