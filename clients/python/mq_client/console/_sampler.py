"""The console's memory of the last hour: mq's counters sampled in the
background every few seconds, kept as compact tuples indexed by name.

At most ``max_sampled`` queues and as many streams are sampled (the first
by name): the memory stays bounded (some 100 bytes a point) and a page's
charts read only their own queue's or stream's points."""
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
# a queue's point: (at, depth, visible, in flight, delayed, dead-lettered + expired)
QueuePoint = Tuple[float, float, float, float, float, float]
QUEUE_COLUMNS = {"queue_length": 1, "visible": 2, "in_flight": 3, "delayed": 4, "dead": 5}
# a stream's point: (at, records appended in all, {group: {partition: lag}})
StreamPoint = Tuple[float, float, Dict[str, Dict[int, float]]]


class Sampler:
    """Samples every ``interval`` seconds on a connection of its own (as
    the console's role: it sees what that role may see) and keeps an hour."""

    def __init__(self, dsn: str, interval: float, max_sampled: int = 1000,
                 connect_timeout: int = 10, db_timeout: float = 5.0) -> None:
        self.dsn = dsn
        self.interval = interval
        self.max_sampled = max(1, max_sampled)
        self.connect_timeout = connect_timeout
        self.db_timeout = db_timeout
        self.points = int(HOUR / interval) + 2
        self.queues: Dict[str, Deque[QueuePoint]] = {}
        self.streams: Dict[str, Deque[StreamPoint]] = {}
        self.error: Optional[str] = None
        self.note: Optional[str] = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mq-console-sampler",
                                        daemon=True)
        self._conn: Optional[psycopg.Connection[Any]] = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        elif self._conn is not None:  # never started: take() was called directly
            self._conn.close()
            self._conn = None

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
            self._conn = _data.open_connection(self.dsn, "mq console sampler",
                                               self.connect_timeout)
        with _data.limited(self._conn, self.db_timeout):
            qs, total_queues, ss, total_streams = _data.sample(self._conn, self.max_sampled)
        at = time.time()
        with self._lock:
            for q in qs:
                self._add(self.queues, q[0], (at,) + q[1:])
            for name, appended, lags in ss:
                self._add(self.streams, name, (at, appended, lags))
            _forget(self.queues, at - HOUR)  # dropped, or no longer visible, for an hour
            _forget(self.streams, at - HOUR)
        notes = [f"the first {got:,} of {total:,} {what}"
                 for got, total, what in ((len(qs), total_queues, "queues"),
                                          (len(ss), total_streams, "streams")) if total > got]
        self.note = ("Charts cover " + " and ".join(notes) +
                     f" (at most {self.max_sampled:,} of each are sampled: --max-sampled)"
                     if notes else None)
        self.error = None

    def _add(self, series: Dict[str, Deque[Any]], name: str, point: Any) -> None:
        d = series.get(name)
        if d is None:
            d = series[name] = deque(maxlen=self.points)
        d.append(point)
        while d[0][0] < point[0] - HOUR:
            d.popleft()

    def _queue(self, name: str) -> List[QueuePoint]:
        with self._lock:
            return list(self.queues.get(name, ()))

    def _stream(self, name: str) -> List[StreamPoint]:
        with self._lock:
            return list(self.streams.get(name, ()))

    def queue_series(self, name: str, column: str) -> List[Point]:
        """column: queue_length, visible, in_flight, delayed or dead
        (dead-lettered + expired, a counter)."""
        i = QUEUE_COLUMNS[column]
        return [(p[0], p[i]) for p in self._queue(name)]

    def queue_rate(self, name: str, column: str) -> List[Point]:
        """Per second, between consecutive samples, of a counter."""
        return _rates(self.queue_series(name, column))

    def stream_rate(self, name: str) -> List[Point]:
        """Records appended per second to all partitions of a stream."""
        return _rates([(p[0], p[1]) for p in self._stream(name)])

    def group_lag(self, stream: str, group: str) -> Dict[int, List[Point]]:
        """A consumer group's lag over time, per partition."""
        out: Dict[int, List[Point]] = {}
        for at, _, groups in self._stream(stream):
            for part, lag in groups.get(group, {}).items():
                out.setdefault(part, []).append((at, lag))
        return dict(sorted(out.items()))

    def stream_lag(self, stream: str) -> List[Point]:
        """The sum of every group's lag over a stream's partitions."""
        return [(at, sum(sum(g.values()) for g in groups.values()))
                for at, _, groups in self._stream(stream) if groups]


def _forget(series: Any, before: float) -> None:
    for name in [n for n, d in series.items() if d[-1][0] < before]:
        del series[name]


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
