"""Which documents already passed which schema: the shape stage's memory across processes.

Checking a policy's shape means importing jsonschema and checking the schema itself, about as long
as compiling a small policy. The verdict depends only on the document's text and the schema, so,
like Python's .pyc files, a pass is recorded once as an empty file named by

    sha256(engine version, the parser's and shape stage's files (size, mtime),
           sha256 of the schema's canonical JSON, the document's exact text)

under ``$POLICY_ENGINE_CACHE`` (default ``$XDG_CACHE_HOME/policy-engine`` or
``~/.cache/policy-engine``; ``POLICY_ENGINE_CACHE=off`` turns it off). Any change to the text or the
schema, or to the code that reads and checks it, is a new name, so a stale entry is never read. Only passes are recorded: a document with
errors is checked again every time, and so are documents when the folder cannot be written.
An entry is trusted as the folder is trusted, exactly like a .pyc file: whoever can write it can
as well edit the policy itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from policy_engine.decision import ENGINE_VERSION

ENV = "POLICY_ENGINE_CACHE"


def _code_stamp() -> str:
    """Size and mtime of the modules a verdict depends on (YAML reading and the shape stage)."""
    here = Path(__file__).resolve().parent
    stamps = []
    for name in ("source.py", "schema.py", "shape_cache.py"):
        try:
            stat = (here / name).stat()
            stamps.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
        except OSError:
            stamps.append(f"{name}:?")
    return ",".join(stamps)


def cache_root() -> Path | None:
    """The cache folder, or None when turned off."""
    configured = os.environ.get(ENV, "")
    if configured.lower() in ("off", "0", "false", "no"):
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "policy-engine"


class ShapeCache:
    """Passing verdicts of one schema, as empty files in ``folder``."""

    def __init__(self, folder: Path, schema_digest: str):
        self.folder = folder
        self.prefix = f"{ENGINE_VERSION}\n{_code_stamp()}\n{schema_digest}\n".encode()

    @classmethod
    def for_schema(cls, schema: Mapping[str, Any]) -> ShapeCache | None:
        root = cache_root()
        if root is None:
            return None
        canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return cls(root / "shape", hashlib.sha256(canonical.encode("utf-8")).hexdigest())

    def _entry(self, text: str) -> Path:
        return self.folder / hashlib.sha256(self.prefix + text.encode("utf-8", "surrogatepass")).hexdigest()

    def passed(self, text: str) -> bool:
        return self._entry(text).is_file()

    def remember(self, text: str) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._entry(text).touch()
        except OSError:
            pass  # a read-only or missing home: every load checks the shape, as without a cache

    # That the schema itself passes the JSON Schema meta-schema is recorded like a document's pass,
    # under a text no document can have.
    def schema_passed(self) -> bool:
        return self.passed(_SCHEMA_ITSELF)

    def remember_schema(self) -> None:
        self.remember(_SCHEMA_ITSELF)


_SCHEMA_ITSELF = "\x00meta-schema"  # YAML refuses a NUL character: no parsed document has this text
