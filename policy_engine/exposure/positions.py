"""Positions stage of the exposure snapshot: a book of open positions read from JSON.

    {"timestamp_utc": "2025-04-02T06:10:54.151Z", "account_balance": 100000.0,
     "positions": [
       {"position_id": "p1", "symbol": "AAPL", "asset_class": "STOCK", "quantity": 100, "price": 150.0},
       {"position_id": "p2", "symbol": "AAPL", "asset_class": "OPTION", "quantity": -5, "price": 2.5,
        "multiplier": 100, "delta": 0.55, "gamma": 0.04, "vega": 0.12, "theta": -0.05}]}

``symbol`` is the underlying: an option counts toward its underlying's concentration. ``quantity``
is signed (negative = short). ``price`` is per unit (a share, or the option premium per unit of
underlying), so a position is worth quantity x price x multiplier. An option's greeks are quoted
per contract for a LONG contract as the market quotes them (delta in [-1, 1], gamma and vega >= 0);
the sign of the quantity makes a short position's. A share has delta 1 and no other greek.

Every position is checked on its own: a bad one becomes located Diagnostics (file:line:col, JSON
path, stable code) and is left out, the others are still read, so a caller can report the rest
and still fail. The committed ``schemas/positions.schema.json`` describes the same file for
editors and other tools; a test keeps the two in agreement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from policy_engine.errors import Code, Diagnostic, PolicyError
from policy_engine.risk.models_in import ContractModel, Id, NonNegative, Number, Price, Symbol, Timestamp
from policy_engine.source import JsonPath, SourceDoc, SourceMap, parse_source

MAX_POSITIONS = 5000
MAX_SYMBOLS = 500  # ExposureSnapshot.symbol_exposures and the sizing request's exposure hold at most 500
ASSET_CLASSES = ("STOCK", "OPTION")
UNIT_MULTIPLIER = 1.0  # a share is one unit of itself
Positive = Annotated[float, Field(strict=True, gt=0)]
OptionDelta = Annotated[float, Field(strict=True, ge=-1, le=1)]

_HINTS = {
    "quantity": "signed: negative for a short position; a position of 0 is not open",
    "price": "the price per unit (a share, or the option premium per unit of underlying), >= 0",
    "multiplier": "units of underlying per option contract, e.g. 100",
    "delta": "an option's delta per contract as quoted, in [-1, 1]; a short position is a negative quantity",
    "gamma": "quoted for a long contract (>= 0); a short position is a negative quantity",
    "vega": "quoted for a long contract (>= 0); a short position is a negative quantity",
    "asset_class": "one of " + ", ".join(ASSET_CLASSES),
}
_STOCK_HINTS = {"multiplier": "a share's multiplier is 1; leave it out",
                "greeks": "greeks apply to OPTION positions; a share's delta is 1"}


class PositionsFileError(ValueError):
    """The file cannot be read or is not JSON: nothing in it can be located or used."""


class _PositionBase(ContractModel):
    position_id: Id
    symbol: Symbol
    quantity: Number
    price: NonNegative

    @field_validator("quantity")
    @classmethod
    def _open(cls, quantity: float) -> float:
        if quantity == 0:
            raise PydanticCustomError("zero_quantity", "a quantity of 0 is not an open position")
        return quantity


class StockPosition(_PositionBase):
    """Shares (or an ETF): delta 1 per share, no other greek."""

    asset_class: Literal["STOCK"]
    multiplier: float = UNIT_MULTIPLIER

    @field_validator("multiplier", mode="before")
    @classmethod
    def _unit(cls, multiplier: Any) -> float:
        if type(multiplier) not in (int, float) or multiplier != UNIT_MULTIPLIER:
            raise PydanticCustomError("stock_multiplier", "a share's multiplier is 1")
        return UNIT_MULTIPLIER

    def unit_greeks(self) -> tuple[float, float, float, float]:
        return 1.0, 0.0, 0.0, 0.0


class OptionPosition(_PositionBase):
    """Option contracts with their quoted per-contract greeks."""

    asset_class: Literal["OPTION"]
    multiplier: Positive
    delta: OptionDelta
    gamma: NonNegative
    vega: NonNegative
    theta: Number

    @field_validator("quantity")
    @classmethod
    def _whole_contracts(cls, quantity: float) -> float:
        if not float(quantity).is_integer():
            raise PydanticCustomError("fractional_contracts", "options trade in whole contracts")
        return quantity

    def unit_greeks(self) -> tuple[float, float, float, float]:
        return self.delta, self.gamma, self.vega, self.theta


Position = StockPosition | OptionPosition
_MODELS: dict[str, type[StockPosition | OptionPosition]] = {"STOCK": StockPosition, "OPTION": OptionPosition}


class _BookHeader(ContractModel):
    timestamp_utc: Timestamp
    account_balance: Price
    positions: Annotated[list[Any], Field(max_length=MAX_POSITIONS)]


@dataclass(frozen=True)
class PositionsBook:
    """What a positions file held: the valid positions, and a Diagnostic for each problem.

    ``usable`` is false when the file-level fields (time, balance, the list itself) are wrong:
    then no snapshot can be computed. ``refused`` lists the indexes of the positions left out."""

    path: str
    timestamp_utc: datetime | None
    account_balance: float | None
    positions: tuple[Position, ...]
    refused: tuple[int, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def usable(self) -> bool:
        return self.timestamp_utc is not None and self.account_balance is not None

    @property
    def complete(self) -> bool:
        return not self.diagnostics


def load_positions(path: str | Path) -> PositionsBook:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise PositionsFileError(f"cannot read {path}: {problem.__class__.__name__}: {problem}") from problem
    return parse_positions(text, str(path))


def parse_positions(text: str, path: str = "<positions>") -> PositionsBook:
    """Read a positions file; raises PositionsFileError only when the text is not JSON at all."""
    data = _json(text, path)
    doc, duplicates = _located(text, path, data)
    if duplicates:
        return PositionsBook(path, None, None, (), (), tuple(duplicates))
    if not isinstance(data, dict):
        return PositionsBook(path, None, None, (), (), (
            doc.diagnostic(Code.WRONG_TYPE, (), "a positions file is a JSON object",
                           'write {"timestamp_utc": ..., "account_balance": ..., "positions": [...]}'),))
    header, problems = _header(doc, data)
    items = data.get("positions")
    read = [_position(doc, index, raw) for index, raw in enumerate(items[:MAX_POSITIONS])] \
        if isinstance(items, list) else []
    positions, refused = _unique(doc, read, problems)
    crowded = _too_many_symbols(doc, positions)
    problems += crowded
    if header is None or crowded:
        return PositionsBook(path, None, None, tuple(positions), tuple(refused), tuple(sorted(problems)))
    return PositionsBook(path, header.timestamp_utc, header.account_balance, tuple(positions), tuple(refused),
                         tuple(sorted(problems)))


# --- reading ----------------------------------------------------------------------------------


def _json(text: str, path: str) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as problem:
        raise PositionsFileError(f"{path}:{problem.lineno}:{problem.colno}: not valid JSON: {problem.msg}") from None
    except ValueError as problem:
        raise PositionsFileError(f"{path}: not valid JSON: {problem}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _located(text: str, path: str, data: Any) -> tuple[SourceDoc, list[Diagnostic]]:
    """The source map of the JSON text, from the YAML source stage (JSON is YAML in flow style).

    Tabs become spaces first (same columns; JSON has no literal tab inside a string), since YAML
    refuses tab indentation. A duplicate key is a located error: json.loads would keep the last
    one silently. Any other refusal leaves positions unlocated (1:1) rather than failing."""
    try:
        return parse_source(text.replace("\t", " "), path), []
    except PolicyError as problem:
        duplicates = [replace(d, hint="remove one of them; a JSON reader would silently keep only the last")
                      for d in problem.diagnostics if d.code is Code.YAML_DUPLICATE_KEY]
        lines = tuple(text.splitlines()) or ("",)
        return SourceDoc(path, text, data, SourceMap(lines, {}, {})), duplicates


def _header(doc: SourceDoc, data: dict[str, Any]) -> tuple[_BookHeader | None, list[Diagnostic]]:
    try:
        return _BookHeader.model_validate(data), []
    except ValidationError as invalid:
        return None, [_diagnostic(doc, (), error, _HINTS, _BookHeader) for error in invalid.errors()]


def _position(doc: SourceDoc, index: int, raw: Any) -> Position | list[Diagnostic]:
    where: JsonPath = ("positions", index)
    if not isinstance(raw, dict):
        return [doc.diagnostic(Code.WRONG_TYPE, where, "a position is a JSON object", at_value=True)]
    asset_class = raw.get("asset_class")
    if not isinstance(asset_class, str) or asset_class not in _MODELS:
        if "asset_class" not in raw:
            return [doc.diagnostic(Code.MISSING_FIELD, (*where, "asset_class"), "missing field 'asset_class'",
                                   _HINTS["asset_class"], at_value=True)]
        return [doc.diagnostic(Code.INVALID_VALUE, (*where, "asset_class"), f"unknown asset class {asset_class!r}",
                               _HINTS["asset_class"], at_value=True)]
    model = _MODELS[asset_class]
    try:
        return model.model_validate(raw)
    except ValidationError as invalid:
        hints = {**_HINTS, **_STOCK_HINTS} if model is StockPosition else _HINTS
        return [_diagnostic(doc, where, error, hints, model) for error in invalid.errors()]


def _unique(doc: SourceDoc, read: list[Position | list[Diagnostic]],
            problems: list[Diagnostic]) -> tuple[list[Position], list[int]]:
    """The valid positions; a repeated position_id is refused (it would count one position twice)."""
    positions: list[Position] = []
    refused: list[int] = []
    first: dict[str, int] = {}
    for index, item in enumerate(read):
        if isinstance(item, list):
            problems += item
            refused.append(index)
        elif item.position_id in first:
            problems.append(doc.diagnostic(
                Code.DUPLICATE_ID, ("positions", index, "position_id"),
                f"position_id {item.position_id!r} is already used by positions[{first[item.position_id]}]",
                "each open position appears once", at_value=True))
            refused.append(index)
        else:
            first[item.position_id] = index
            positions.append(item)
    return positions, refused


def _too_many_symbols(doc: SourceDoc, positions: list[Position]) -> list[Diagnostic]:
    count = len({p.symbol for p in positions})
    if count <= MAX_SYMBOLS:
        return []
    return [doc.diagnostic(Code.INVALID_VALUE, ("positions",), f"{count} symbols, at most {MAX_SYMBOLS}",
                           "split the book; a snapshot lists at most 500 symbols")]


# --- pydantic errors -> located diagnostics ----------------------------------------------------


def _diagnostic(doc: SourceDoc, where: JsonPath, error: ErrorDetails, hints: dict[str, str],
                model: type[ContractModel]) -> Diagnostic:
    loc = tuple(error["loc"])
    path: JsonPath = (*where, *loc)
    field = str(loc[-1]) if loc else ""
    kind = error["type"]
    if kind == "missing":
        return doc.diagnostic(Code.MISSING_FIELD, path, f"missing field '{field}'", hints.get(field, ""),
                              at_value=True)
    if kind == "extra_forbidden":
        greek = field in ("delta", "gamma", "vega", "theta")
        hint = hints.get("greeks" if greek else field, "") or f"allowed: {', '.join(model.model_fields)}"
        return doc.diagnostic(Code.UNKNOWN_FIELD, path, f"unknown field '{field}'", hint)
    code = Code.WRONG_TYPE if kind.endswith("_type") else Code.INVALID_VALUE
    message = f"{field}: {error['msg'][:1].lower()}{error['msg'][1:]}" if field else error["msg"]
    shown = error.get("input")
    if not isinstance(shown, (dict, list)):
        message += f", got {json.dumps(shown)[:40]}"
    return doc.diagnostic(code, path, message, hints.get(field, ""), at_value=True)

