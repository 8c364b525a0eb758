"""Observability: events for a callback and counters a user can export."""
from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

logger = logging.getLogger("mq_client")


@dataclass(frozen=True)
class Event:
    """What happened: ``kind`` is one of ``delivered``, ``succeeded``,
    ``failed``, ``retried``, ``released``, ``lease_extended``, ``lease_lost``,
    ``reconnect``, ``fenced``, ``committed``, ``confirmed``,
    ``request_timeout``, ``reply_dropped``."""

    kind: str
    queue: Optional[str] = None
    msg_id: Optional[int] = None
    read_ct: Optional[int] = None
    error: Optional[BaseException] = None
    delay: Optional[float] = None
    extra: Dict[str, Any] = field(default_factory=dict)


EventHook = Callable[[Event], None]


class Counters:
    """Thread-safe counts of events by kind: ``counters["succeeded"]``,
    ``counters.as_dict()`` (for a metrics exporter)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Dict[str, int] = {}

    def add(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + n

    def __getitem__(self, kind: str) -> int:
        with self._lock:
            return self._counts.get(kind, 0)

    def as_dict(self) -> Dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __repr__(self) -> str:
        return f"Counters({self.as_dict()!r})"


_WARNINGS = frozenset(("failed", "lease_lost", "reconnect", "fenced", "reply_dropped"))


class Emitter:
    """Counts each event, logs it, and passes it to the user's hook (whose
    own exceptions are logged, never raised into the worker)."""

    def __init__(self, hook: Optional[EventHook], counters: Optional[Counters] = None) -> None:
        self.hook = hook
        self.counters = counters if counters is not None else Counters()

    def __call__(self, kind: str, **info: Any) -> None:
        self.counters.add(kind)
        level = logging.WARNING if kind in _WARNINGS else logging.DEBUG
        logged = logger.isEnabledFor(level)
        if self.hook is None and not logged:
            return  # the hot path: nothing to build
        event = Event(kind, **info)
        if logged:
            logger.log(level, "mq %s: queue %s message %s%s", kind, event.queue, event.msg_id,
                       f": {event.error}" if event.error is not None else "")
        if self.hook is not None:
            try:
                self.hook(event)
            except Exception:  # a broken hook must not break delivery
                logger.exception("mq_client event hook failed")


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: between half and all of
    min(cap, base * 2 ** (attempt - 1)) seconds."""
    delay = min(cap, base * (2 ** max(attempt - 1, 0)))
    return float(delay / 2 + random.uniform(0, delay / 2))
