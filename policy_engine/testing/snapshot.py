"""A syrupy extension that stores decisions and traces as readable YAML snapshot files.

    from policy_engine.testing.snapshot import TraceExtension

    def test_kill_switch(snapshot):
        decision = policy.evaluate(request, trace=True)
        assert decision == snapshot(extension_class=TraceExtension)

or, with the plugin loaded, the ``trace_snapshot`` fixture. Each snapshot is one file,
``__snapshots__/<test module>/<test name>.yaml``, written by ``trace_to_yaml`` (no timings, no
hashes, no locations), so a policy change shows up in review as a diff of decisions.
"""

from __future__ import annotations

from typing import Any

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from policy_engine.testing.trace_yaml import trace_to_yaml


class TraceExtension(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "yaml"
    _file_extension = "yaml"  # the attribute's name in syrupy 4

    def serialize(self, data: Any, **kwargs: Any) -> str:
        return data if isinstance(data, str) else trace_to_yaml(data)
