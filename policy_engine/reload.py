"""Hot reload: one policy file, served by whichever compiled version last compiled cleanly.

``Engine`` holds the running compiled policy behind one attribute. Rebinding an attribute is
atomic in CPython, and compiled policies are immutable, so a reader that takes the reference
once per call sees one whole version — its decision, provenance and trace all come from it.
A reload compiles the file again off to the side; only a clean compile is swapped in. A policy
that fails to load (PolicyError) never replaces the running one: the diagnostics are returned
and logged, and the old version keeps serving (fail closed on the *policy*, not on traffic).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from policy_engine.errors import Diagnostic, PolicyError
from policy_engine.kinds import compile_any
from policy_engine.source import load_source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    """What one reload did. ``version`` and ``content_hash`` name the policy serving afterwards
    (the new one when ``ok``, the old one otherwise)."""

    ok: bool
    version: str
    content_hash: str
    diagnostics: tuple[Diagnostic, ...] = ()


def _file_stamp(path: Path) -> tuple[int, int] | None:
    """mtime (ns) and size: what the watcher compares. None while the file is missing."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class Engine:
    """A policy file kept live. ``Engine(path).evaluate(...)`` answers like the compiled policy;
    ``reload()`` swaps in a new version only if it compiles; ``watch=True`` polls the file.

    The first load raises PolicyError: with no version yet there is nothing safe to serve.
    """

    def __init__(self, path: str | Path, params: Mapping[str, Any] | None = None, *,
                 watch: bool = False, interval: float = 1.0):
        self.path = Path(path)
        self._params = dict(params or {})
        self._reload_lock = threading.Lock()  # one compile-and-swap at a time
        self._stamp = _file_stamp(self.path)
        self._current = self._compile()
        self.reloads = 0  # successful swaps since construction
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        if watch:
            self._watcher = threading.Thread(target=self._watch, args=(interval,), daemon=True,
                                             name=f"policy-watch:{self.path.name}")
            self._watcher.start()

    # --- serving --------------------------------------------------------------------
    @property
    def policy(self) -> Any:
        """The compiled policy serving now (take it once and use it for a consistent view)."""
        return self._current

    @property
    def content_hash(self) -> str:
        return self._current.content_hash

    @property
    def version(self) -> str:
        return self._current.version

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        """The current policy's ``evaluate``, with the reference read once for the whole call."""
        policy = self._current
        return policy.evaluate(*args, **kwargs)

    # --- reloading ------------------------------------------------------------------
    def reload(self) -> ReloadResult:
        """Compile the file again; swap it in only if it compiles. Never raises PolicyError."""
        with self._reload_lock:
            self._stamp = _file_stamp(self.path)
            try:
                fresh = self._compile()
            except PolicyError as err:
                running = self._current
                log.error("policy %s failed to reload; still serving %s (%s):\n%s", self.path,
                          running.version, running.content_hash, err)
                return ReloadResult(False, running.version, running.content_hash, tuple(err.diagnostics))
            if fresh.content_hash != self._current.content_hash:
                self._current = fresh  # the single atomic swap
                self.reloads += 1
                log.info("policy %s reloaded: %s %s", self.path, fresh.version, fresh.content_hash)
            return ReloadResult(True, fresh.version, fresh.content_hash)

    def _compile(self) -> Any:
        return compile_any(load_source(self.path), dict(self._params))

    # --- watching -------------------------------------------------------------------
    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if _file_stamp(self.path) != self._stamp:
                self._reload_quietly()

    def _reload_quietly(self) -> None:
        # The watcher thread must outlive any surprise: an unexpected error is logged, and the
        # running version keeps serving until the next change.
        try:
            self.reload()
        except Exception:  # the thread is the last line: it logs and goes on
            log.exception("policy %s: unexpected error while reloading", self.path)

    def close(self) -> None:
        """Stop the watcher (if any) and wait for it; evaluation keeps working."""
        self._stop.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join()
            self._watcher = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
