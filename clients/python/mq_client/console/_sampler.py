"""The console's memory of the last hour: mq's counters sampled in the
background every few seconds, kept in a ring."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple

import psycopg

from . import _data

log = logging.getLogger("mq_client.console")

Point = Tuple[float, float]
HOUR = 3600.0


class Sample:
    __slots__ = ("at", "queues", "partitions")

    def __init__(self, at: float, queues: Dict[str, _data.Row],
                 partitions: Dict[Tuple[str, int], _data.Row]) -> None:
        self.at = at
        self.queues = queues
        self.partitions = partitions


class Sampler:
    """Samples every ``interval`` seconds on a connection of its own (as
    the console's role: it sees what that role may see) and keeps an hour."""

    def __init__(self, dsn: str, interval: float) -> None:
        self.dsn = dsn
        self.interval = interval
        self.samples: Deque[Sample] = deque(maxlen=int(HOUR / interval) + 2)
        self.error: Optional[str] = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mq-console-sampler",
                                        daemon=True)
        self._conn: Optional[psycopg.Connection[Any]] = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.take()
            except psycopg.Error as e:
                self.error = str(e).strip()
                log.warning("sampling failed: %s", self.error)
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
            self._stop.wait(self.interval)
        if self._conn is not None:
            self._conn.close()

    def take(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = _data.open_connection(self.dsn, "mq console sampler")
        qs, ps = _data.sample(self._conn)
        s = Sample(time.time(), {q["queue_name"]: q for q in qs},
                   {(p["stream"], p["partition"]): p for p in ps})
        with self._lock:
            self.samples.append(s)
            while self.samples and self.samples[0].at < s.at - HOUR:
                self.samples.popleft()
        self.error = None

    def _snapshot(self) -> List[Sample]:
        with self._lock:
            return list(self.samples)

    def queue_series(self, name: str, column: str) -> List[Point]:
        return [(s.at, float(s.queues[name][column] or 0))
                for s in self._snapshot() if name in s.queues]

    def queue_rate(self, name: str, *columns: str) -> List[Point]:
        """Per second, between consecutive samples, of the sum of columns."""
        return _rates([(s.at, float(sum(s.queues[name][c] or 0 for c in columns)))
                       for s in self._snapshot() if name in s.queues])

    def stream_rate(self, name: str) -> List[Point]:
        """Records appended per second to all partitions of a stream."""
        points = []
        for s in self._snapshot():
            ends = [p["end_position"] for (st, _), p in s.partitions.items() if st == name]
            if ends:
                points.append((s.at, float(sum(ends))))
        return _rates(points)

    def group_lag(self, stream: str, group: str) -> Dict[int, List[Point]]:
        """A consumer group's lag over time, per partition."""
        out: Dict[int, List[Point]] = {}
        for s in self._snapshot():
            for (st, part), p in s.partitions.items():
                g = p["groups"].get(group)
                if st == stream and g is not None:
                    out.setdefault(part, []).append((s.at, float(g["lag"])))
        return dict(sorted(out.items()))

    def stream_lag(self, stream: str) -> List[Point]:
        """The sum of every group's lag over a stream's partitions."""
        points = []
        for s in self._snapshot():
            lags = [g["lag"] for (st, _), p in s.partitions.items() if st == stream
                    for g in p["groups"].values()]
            if lags:
                points.append((s.at, float(sum(lags))))
        return points


def _rates(points: List[Point]) -> List[Point]:
    out = []
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if t1 > t0:
            out.append((t1, max(v1 - v0, 0.0) / (t1 - t0)))
    return out


def net_rate(points: List[Point]) -> List[Point]:
    """Change per second between consecutive points (may be negative)."""
    return [(t1, (v1 - v0) / (t1 - t0)) for (t0, v0), (t1, v1) in zip(points, points[1:])
            if t1 > t0]
