"""Settings of the whole test session."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

from policy_engine.shape_cache import ENV

# Property tests assert what holds, never how fast: on a loaded machine generating examples can be
# slow, which is not a failure of the code under test.
settings.register_profile("policy-engine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("policy-engine")

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
