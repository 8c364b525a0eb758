"""A member of a stream's consumer group."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

import psycopg

from . import _sql
from ._events import Counters, Emitter, EventHook, backoff
from ._sql import Duration
from .errors import is_connection_error, is_fencing_error
from .worker import _Stopper

if TYPE_CHECKING:
    from .client import Client


class StreamConsumer:
    """Polls the partitions this member holds, hands each record to the
    handler and commits the group's positions after the work.

    Each batch is one transaction: poll, handle every record, commit the
    next position of each partition.  If the handler raises, the
    transaction rolls back and the same records come again (after a
    backoff); if the process dies, the transaction rolls back and the
    records go to whoever holds their partitions next.

    - ``exactly_once=False``: ``handler(record)``; a record is handled at
      least once (its effects outside the database are not rolled back).
    - ``exactly_once=True``: ``handler(record, connection)``; write your
      results with that connection: they commit in the transaction that
      commits the positions, so each record's results are written exactly
      once.
    - A rebalance moves partitions between members at each poll; a commit
      for a partition this member lost (a fencing error, SQLSTATE 55000)
      rolls the batch back and polls again, so the new holder, starting at
      the committed position, handles those records (``fenced`` event).
    - Members stay in the group while they poll at least every
      ``session_timeout``; a member that died leaves after it.
    """

    def __init__(self, client: "Client", stream: str, group: str, consumer: str,
                 handler: Callable[..., Any], *, batch_size: int = 100, wait: Duration = 2,
                 session_timeout: Duration = 30, exactly_once: bool = False,
                 backoff_base: float = 0.5, backoff_max: float = 30.0,
                 install_signal_handlers: bool = True,
                 on_event: Optional[EventHook] = None) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.handler = handler
        self.batch_size = batch_size
        self.wait = wait
        self.session_timeout = session_timeout
        self.exactly_once = exactly_once
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.install_signal_handlers = install_signal_handlers
        self.counters = Counters()
        self._emit = Emitter(on_event if on_event is not None else client.on_event, self.counters)
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Consume until SIGTERM/SIGINT or ``stop()``; the batch in progress
        finishes first."""
        with _Stopper(self._stop, self.install_signal_handlers):
            self._loop()

    def _batch(self, conn: psycopg.Connection[Any]) -> int:
        with conn.transaction():
            rows = conn.execute(*_sql.poll(self.stream, self.group, self.consumer,
                                           self.batch_size, self.wait,
                                           self.session_timeout)).fetchall()
            last: Dict[int, int] = {}
            for row in rows:
                record = _sql.record_of(self.stream, row)
                if self.exactly_once:
                    self.handler(record, conn)
                else:
                    self.handler(record)
                last[record.partition] = record.position
            for partition, position in sorted(last.items()):
                conn.execute("SELECT mq.commit(%s, %s, %s, %s, %s)",
                             (self.stream, self.group, self.consumer, partition, position + 1))
        if rows:
            self._emit("committed", queue=self.stream, extra={"records": len(rows),
                                                              "positions": last})
        return len(rows)

    def _loop(self) -> None:
        conn: Optional[psycopg.Connection[Any]] = None
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    if conn is None or conn.closed:
                        conn = self.client.connect()
                    n = self._batch(conn)
                    failures = 0
                    if n:
                        self.counters.add("records", n)
                except Exception as exc:
                    if conn is not None and is_connection_error(exc):
                        conn.close()
                        conn = None
                        failures += 1
                        delay = backoff(failures, self.client.backoff_base,
                                        self.client.backoff_max)
                        self._emit("reconnect", queue=self.stream, error=exc, delay=delay)
                    elif is_fencing_error(exc):
                        # lost a partition: the batch rolled back, poll again
                        self._emit("fenced", queue=self.stream, error=exc)
                        continue
                    else:
                        failures += 1
                        delay = backoff(failures, self.backoff_base, self.backoff_max)
                        self._emit("failed", queue=self.stream, error=exc, delay=delay)
                    self._stop.wait(delay)
        finally:
            if conn is not None:
                conn.close()
