"""Reading a positions file: each bad position is a located Diagnostic (code, JSON path, file:line:col
at the offending text) and is left out while the rest is read; file-level problems make the book
unusable; the committed schemas/positions.schema.json refuses and accepts the same positions."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from policy_engine.errors import Code
from policy_engine.exposure import OptionPosition, PositionsFileError, StockPosition, load_positions
from tests.exposure_helpers import BOOK, EXAMPLE_BOOK, POSITIONS_SCHEMA, book, read

SCHEMA = jsonschema.Draft202012Validator(POSITIONS_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
Change = Callable[[dict[str, Any]], None]


def _set(index: int, key: str, value: Any) -> Change:
    def change(data: dict[str, Any]) -> None:
        data["positions"][index][key] = value
    return change


def _drop(index: int, key: str) -> Change:
    def change(data: dict[str, Any]) -> None:
        del data["positions"][index][key]
    return change


# (what is wrong, the change, code, JSON path, the text the caret points at)
BAD_POSITIONS = [
    ("option delta above 1", _set(1, "delta", 1.2), Code.INVALID_VALUE, "$.positions[1].delta", "1.2"),
    ("option delta below -1", _set(3, "delta", -1.5), Code.INVALID_VALUE, "$.positions[3].delta", "-1.5"),
    ("negative price", _set(0, "price", -150.0), Code.INVALID_VALUE, "$.positions[0].price", "-150.0"),
    ("negative option price", _set(4, "price", -8.0), Code.INVALID_VALUE, "$.positions[4].price", "-8.0"),
    ("unknown asset class", _set(2, "asset_class", "FUTURE"), Code.INVALID_VALUE, "$.positions[2].asset_class",
     '"FUTURE"'),
    ("asset class not a string", _set(2, "asset_class", ["STOCK"]), Code.INVALID_VALUE,
     "$.positions[2].asset_class", "["),
    ("missing asset class", _drop(2, "asset_class"), Code.MISSING_FIELD, "$.positions[2].asset_class", "{"),
    ("missing option delta", _drop(1, "delta"), Code.MISSING_FIELD, "$.positions[1].delta", "{"),
    ("missing price", _drop(0, "price"), Code.MISSING_FIELD, "$.positions[0].price", "{"),
    ("missing multiplier of an option", _drop(5, "multiplier"), Code.MISSING_FIELD, "$.positions[5].multiplier", "{"),
    ("greeks on a stock", _set(0, "delta", 1.0), Code.UNKNOWN_FIELD, "$.positions[0].delta", '"delta"'),
    ("stock multiplier not 1", _set(2, "multiplier", 100), Code.INVALID_VALUE, "$.positions[2].multiplier", "100"),
    ("zero quantity", _set(0, "quantity", 0), Code.INVALID_VALUE, "$.positions[0].quantity", "0"),
    ("fractional contracts", _set(1, "quantity", 2.5), Code.INVALID_VALUE, "$.positions[1].quantity", "2.5"),
    ("negative gamma", _set(3, "gamma", -0.02), Code.INVALID_VALUE, "$.positions[3].gamma", "-0.02"),
    ("negative vega", _set(4, "vega", -0.25), Code.INVALID_VALUE, "$.positions[4].vega", "-0.25"),
    ("price as text", _set(0, "price", "150"), Code.WRONG_TYPE, "$.positions[0].price", '"150"'),
    ("quantity as boolean", _set(2, "quantity", True), Code.WRONG_TYPE, "$.positions[2].quantity", "true"),
    ("unknown field", _set(3, "strike", 240), Code.UNKNOWN_FIELD, "$.positions[3].strike", '"strike"'),
    ("empty symbol", _set(5, "symbol", ""), Code.INVALID_VALUE, "$.positions[5].symbol", '""'),
    ("zero multiplier", _set(5, "multiplier", 0), Code.INVALID_VALUE, "$.positions[5].multiplier", "0"),
]


@pytest.mark.parametrize("case, change, code, json_path, caret", BAD_POSITIONS, ids=[c[0] for c in BAD_POSITIONS])
def test_a_bad_position_is_located_and_left_out(case: str, change: Change, code: Code, json_path: str,
                                                caret: str) -> None:
    data = book()
    change(data)
    parsed = read(data)
    assert [(d.code, d.json_path) for d in parsed.diagnostics] == [(code, json_path)], case
    found = parsed.diagnostics[0]
    assert found.file == "book.json"
    assert found.source_line[found.col - 1:].startswith(caret)
    assert f"book.json:{found.line}:{found.col}: error[{code.value}]" in found.format_text()
    index = int(json_path.split("[")[1].split("]")[0])
    assert parsed.refused == (index,)
    assert [p.position_id for p in parsed.positions] == [
        p["position_id"] for i, p in enumerate(BOOK["positions"]) if i != index]
    assert parsed.usable and not parsed.complete


@pytest.mark.parametrize("case, change", [(c[0], c[1]) for c in BAD_POSITIONS], ids=[c[0] for c in BAD_POSITIONS])
def test_the_committed_schema_refuses_the_same_positions(case: str, change: Change) -> None:
    data = book()
    change(data)
    assert list(SCHEMA.iter_errors(data)), case


def test_the_shipped_example_is_the_hand_computed_book_and_fits_the_schema() -> None:
    example = json.loads(EXAMPLE_BOOK.read_text(encoding="utf-8"))
    assert example == BOOK
    assert not list(SCHEMA.iter_errors(example))
    parsed = load_positions(EXAMPLE_BOOK)
    assert parsed.complete and parsed.account_balance == 100_000.0
    assert [type(p) for p in parsed.positions] == [StockPosition, OptionPosition, StockPosition, OptionPosition,
                                                   OptionPosition, OptionPosition]


def test_several_bad_positions_each_reported_the_rest_read() -> None:
    data = book()
    data["positions"][1]["delta"] = 2.0
    data["positions"][4]["price"] = -1.0
    data["positions"].append("not a position")
    data["positions"].append(copy.deepcopy(BOOK["positions"][0]))  # AAPL-STK again
    parsed = read(data)
    assert [(d.code, d.json_path) for d in parsed.diagnostics] == [
        (Code.INVALID_VALUE, "$.positions[1].delta"), (Code.INVALID_VALUE, "$.positions[4].price"),
        (Code.WRONG_TYPE, "$.positions[6]"), (Code.DUPLICATE_ID, "$.positions[7].position_id")]
    assert parsed.refused == (1, 4, 6, 7)
    assert [p.position_id for p in parsed.positions] == ["AAPL-STK", "MSFT-STK", "TSLA-P-240", "SPY-P-500-MINI"]
    assert [d.line for d in parsed.diagnostics] == sorted(d.line for d in parsed.diagnostics)


@pytest.mark.parametrize("overrides, code, json_path", [
    ({"account_balance": 0}, Code.INVALID_VALUE, "$.account_balance"),
    ({"account_balance": "100000"}, Code.WRONG_TYPE, "$.account_balance"),
    ({"timestamp_utc": "2025-04-02T06:10:54"}, Code.INVALID_VALUE, "$.timestamp_utc"),
    ({"positions": {"AAPL-STK": {}}}, Code.WRONG_TYPE, "$.positions"),
    ({"currency": "USD"}, Code.UNKNOWN_FIELD, "$.currency"),
])
def test_a_bad_file_level_field_makes_the_book_unusable(overrides: dict[str, Any], code: Code,
                                                        json_path: str) -> None:
    parsed = read(book(overrides))
    assert [(d.code, d.json_path) for d in parsed.diagnostics] == [(code, json_path)]
    assert not parsed.usable
    assert list(SCHEMA.iter_errors(book(overrides)))


def test_a_missing_balance_is_located_at_the_object() -> None:
    data = book()
    del data["account_balance"]
    parsed = read(data)
    assert [(d.code, d.json_path, d.line, d.col) for d in parsed.diagnostics] == [
        (Code.MISSING_FIELD, "$.account_balance", 1, 1)]
    assert not parsed.usable and len(parsed.positions) == 6


def test_a_duplicate_key_is_refused_not_silently_overwritten() -> None:
    text = json.dumps(BOOK, indent=2).replace('"price": 150.0', '"price": 150.0, "price": 15.0')
    parsed = read(text)
    assert [d.code for d in parsed.diagnostics] == [Code.YAML_DUPLICATE_KEY]
    found = parsed.diagnostics[0]
    assert found.source_line[found.col - 1:].startswith('"price": 15.0') and not parsed.usable
    assert "JSON reader" in found.hint


def test_tab_indented_json_is_still_located() -> None:
    data = book()
    data["positions"][1]["delta"] = 1.2
    parsed = read(json.dumps(data, indent="\t"))
    found = parsed.diagnostics[0]
    assert (found.code, found.json_path) == (Code.INVALID_VALUE, "$.positions[1].delta")
    assert found.line > 1 and found.source_line[found.col - 1:].startswith("1.2")


@pytest.mark.parametrize("text, where", [
    ('{"account_balance": 1,\n  "positions": [}', "book.json:2:17"),
    ('{"account_balance": NaN}', "NaN is not valid JSON"),
    ("", "book.json:1:1"),
])
def test_text_that_is_not_json_is_a_file_error(text: str, where: str) -> None:
    with pytest.raises(PositionsFileError, match=where):
        read(text)


def test_an_unreadable_file_is_a_file_error(tmp_path: Any) -> None:
    with pytest.raises(PositionsFileError, match="cannot read"):
        load_positions(tmp_path / "absent.json")
