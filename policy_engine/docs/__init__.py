"""Reference pages for reviewers: a policy rendered as Markdown (``policy-engine docs``).

    from policy_engine.docs import render_policy, render_folder
    render_policy("policies/risk/position_sizing.yaml").text        # one page
    render_folder("policies", "docs/policies")                      # {page path: text}, with an index

A page lists, from the policy's own data: gates in order with their checks and reject reasons,
tables as Markdown tables, triggers, a machine's states and transitions (with a Mermaid state
diagram), limits in order, params with their values, and the comments where the file cites the
seed sections and readings. Stages, one module each: ``comments`` (the file's comments by line),
``markdown`` (escaping, tables), ``page`` (the shared sections), ``decision_page``,
``machine_page``, ``limits_page`` (one per kind), ``site`` (folders, the index, staleness).
"""

from __future__ import annotations

from policy_engine.docs.site import (
    KIND_SECTIONS,
    RenderedPolicy,
    policy_files,
    render_folder,
    render_policy,
    stale_pages,
)

__all__ = ["KIND_SECTIONS", "RenderedPolicy", "policy_files", "render_folder", "render_policy", "stale_pages"]
