"""Reference pages for reviewers (``policy-engine docs``): content, determinism, staleness."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import policy_engine
from policy_engine.docs import render_folder, render_policy, stale_pages
from policy_engine.docs.comments import Comments, comment_markdown
from policy_engine.docs.markdown import cell, code, prose
from policy_engine.source import parse_source

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "policy-engine docs policies -o docs/policies"


@pytest.fixture(scope="module")
def shipped_pages() -> dict[str, str]:
    """Every page of the shipped policies, rendered in memory from the repository root."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        return render_folder("policies", "docs/policies")


def _page(pages: dict[str, str], name: str) -> str:
    return pages[f"docs/policies/{name}.md"]


# --- the committed pages ---------------------------------------------------------------------------
def test_the_committed_pages_are_those_the_policies_make(shipped_pages: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    stale, extra = stale_pages(shipped_pages, "docs/policies")
    assert not stale and not extra, (
        f"docs/policies is out of date (stale or missing: {', '.join(stale) or '-'}; no longer made: "
        f"{', '.join(extra) or '-'}). Regenerate from the repository root: {REGENERATE}")


def test_every_shipped_policy_has_a_page_listed_in_the_index(shipped_pages: dict[str, str]) -> None:
    policies = sorted(p.relative_to(ROOT / "policies").with_suffix(".md").as_posix()
                      for p in (ROOT / "policies").rglob("*.yaml")
                      if not p.name.endswith(".tests.yaml") and "examples" not in p.parts)
    assert sorted(path.removeprefix("docs/policies/") for path in shipped_pages) == sorted([*policies, "README.md"])
    index = shipped_pages["docs/policies/README.md"]
    assert [line.split("](")[1].split(")")[0] for line in index.splitlines() if line.startswith("| [")] == policies
    assert REGENERATE in index


def test_the_same_policy_gives_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    first = render_policy("policies/risk/risk_modes.yaml", "docs/policies/risk/risk_modes.md").text
    assert render_policy("policies/risk/risk_modes.yaml", "docs/policies/risk/risk_modes.md").text == first


# --- what a page says --------------------------------------------------------------------------------
def test_gates_are_listed_in_evaluation_order_with_their_checks(shipped_pages: dict[str, str]) -> None:
    page = _page(shipped_pages, "risk/position_sizing")
    policy = policy_engine.load(ROOT / "policies" / "risk" / "position_sizing.yaml")
    headings = re.findall(r"^### \d+\. `([A-Z_]+)`", page, flags=re.MULTILINE)
    assert headings == [gate.id for gate in policy.plan.gates]
    line = (ROOT / "policies/risk/position_sizing.yaml").read_text().splitlines().index("  - id: MAX_POSITIONS_GATE") + 1
    assert (f"| 9 | `MAX_POSITIONS_GATE` | `is_entry` | `max_positions_reached` | "
            f"[line {line}](../../../policies/risk/position_sizing.yaml#L{line}) |") in page
    assert ("| 1 | `exposure.open_positions < params.max_open_positions` | `max_positions_reached` | "
            "`{exposure.open_positions} open positions, max {params.max_open_positions}` |") in page
    assert "### 6. `DAILY_LOSS_GATE` — contract 4: strict >" in page  # the comment on the gate's line


def test_tables_are_markdown_tables_and_params_carry_their_seed_references(shipped_pages: dict[str, str]) -> None:
    page = _page(shipped_pages, "risk/position_sizing")
    drawdown = page[page.index("### `drawdown_multiplier` — §7.6"):]
    assert drawdown.split("\n\n")[2].splitlines() == [
        "| when | value |", "|---|---:|", "| `drawdown_ratio` < 0.25 | 1.0 |", "| `drawdown_ratio` < 0.5 | 0.9 |",
        "| `drawdown_ratio` < 0.75 | 0.7 |", "| `drawdown_ratio` < 0.9 | 0.5 |", "| otherwise | 0.25 |"]
    assert "| 2 | `regime.regime_type == 'UNKNOWN'` | set to 0.25 |  |" in page
    assert "| **RiskConfig (§3.7)** |  |  |" in page
    assert '| `kill_switch` | `false` | ConfigContract "risk.kill_switch" (§6.1 gate 1) |' in page
    assert '| `rounding_direction` | `"DOWN"` | DOWN \\| NEAREST \\| UP (§5.3: DOWN is the default) |' in page
    assert "| spec | seed 004 §3-8, §12; contract position_sizing.md |" in page


def test_a_machine_is_a_mermaid_state_diagram_and_a_transition_table(shipped_pages: dict[str, str]) -> None:
    page = _page(shipped_pages, "risk/risk_modes")
    diagram = page[page.index("```mermaid"):].split("```")[1].splitlines()
    assert diagram == ["mermaid", "stateDiagram-v2", "    [*] --> NORMAL",
                       "    NORMAL --> REDUCE_ONLY: 8 transitions, fail-safe (data_invalid)",
                       "    REDUCE_ONLY --> STAND_DOWN: 6 transitions", "    REDUCE_ONLY --> NORMAL: RECOVER_TO_NORMAL",
                       "    STAND_DOWN --> REDUCE_ONLY: RECOVER_TO_REDUCE_ONLY"]
    recover = next(line for line in page.splitlines() if line.startswith("| 50 | `RECOVER_TO_NORMAL`"))
    assert "at least 15 min in the state (`minutes(params.reduce_only_min_minutes)`)" in recover
    assert "holds for 5 min (`minutes(params.recovery_confirm_minutes)`)" in recover
    assert "| `STAND_DOWN` | `NORMAL` | §9.2: not allowed directly, must go through REDUCE_ONLY first |" in page
    breaker = _page(shipped_pages, "risk/circuit_breaker")
    assert "    recovering --> level_1: LEVEL_1_DROP" in breaker  # a list of sources is one edge per source


def test_limits_are_listed_in_order_with_the_readings_of_their_fields(shipped_pages: dict[str, str]) -> None:
    page = _page(shipped_pages, "risk/pre_trade_limits")
    assert re.findall(r"^### \d+\. `([a-z_]+)`", page, flags=re.MULTILINE) == [
        "qa_status", "max_notional_per_symbol", "max_weight_per_symbol", "max_sector_exposure", "max_region_exposure",
        "max_fx_exposure", "turnover_cap", "drawdown_de_risking", "max_gross_exposure"]
    assert ("| 8 | `drawdown_de_risking` | portfolio | `1 - current_equity / peak_equity` >= "
            "`params.drawdown_threshold` | reduce | `RISK_DERISK_DRAWDOWN` |") in page
    assert "| rounding | `toward_zero` | reading 12: truncated toward zero; 0 drops the order |" in page
    assert ("| skip_if | when `not has_security_master`: `RISK_SKIP_NO_SECURITY_MASTER` | "
            "reading 10: skipped, and the summary says so |") in page


def test_a_page_without_a_place_names_the_file_without_links() -> None:
    page = render_policy(ROOT / "tests" / "fixtures" / "tiny.yaml").text
    assert "](" not in page and "| file | `" in page and "Defined at line " in page


# --- comments and Markdown ------------------------------------------------------------------------------
def test_comments_are_read_where_the_yaml_has_them() -> None:
    doc = parse_source("# yaml-language-server: $schema=x.json\n#\n# Header line one\n# line two\n"
                       "a: 'x # not a comment'  # real one\nb: it's # after an apostrophe\n"
                       "# --- group title\nc: 1\n", "t.yaml")
    comments = Comments(doc)
    assert comments.header() == ["Header line one", "line two"]
    assert [comments.trailing(n) for n in (5, 6, 8)] == ["real one", "after an apostrophe", ""]
    assert comments.leading(8) == ["group title"]


def test_comment_blocks_become_paragraphs_and_list_items() -> None:
    lines = ["A paragraph that", "wraps.", "  reading 1: an item", "             continued", "  reading 2: next",
             "", "  - a bullet", "    continued", "  - > 5 rejections", "", "Closing <words>."]
    assert comment_markdown(lines) == [
        "A paragraph that wraps.", "", "- reading 1: an item continued", "- reading 2: next",
        "- a bullet continued", "- \\> 5 rejections", "", "Closing &lt;words>."]


def test_markdown_escaping() -> None:
    assert code("a `b` c") == "``a `b` c``" and code("x\n  y") == "`x y`"
    assert cell("a | b\nc") == "a \\| b c"
    assert prose("# not a heading") == "\\# not a heading" and prose("--- rule") == "\\--- rule"
