"""Settings of the whole test session."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from policy_engine.shape_cache import ENV

_folder: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """A fresh shape cache (policy_engine/shape_cache.py) per session: no test depends on, or
    writes to, the cache of the user running it."""
    global _folder
    _folder = tempfile.mkdtemp(prefix="policy-engine-cache-")
    os.environ[ENV] = _folder


def pytest_unconfigure(config: pytest.Config) -> None:
    if _folder is not None:
        shutil.rmtree(_folder, ignore_errors=True)
