"""A producer that pipelines sends and confirms them once they commit."""
from __future__ import annotations

import queue as queue_mod
import threading
import time
import uuid
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, List, Optional, Tuple

import psycopg

from . import _sql
from ._events import Counters, Emitter, EventHook, backoff
from .errors import MQError, is_connection_error

if TYPE_CHECKING:
    from .client import Client

_Item = Tuple[_sql.Query, "Future[int]"]
_CLOSE = object()


class Producer:
    """``send()`` returns at once with a :class:`concurrent.futures.Future`
    that resolves to the message id once its transaction has committed (a
    confirm), or to the send's error.

    A thread takes up to ``batch_size`` waiting sends and runs them in one
    transaction on one connection in pipeline mode (libpq sends every
    statement without waiting for each result), so a batch costs about one
    round trip.  Back-pressure: at most ``max_in_flight`` sends are
    unconfirmed; ``send()`` blocks while that many are.

    Each send carries a dedup key (a random one unless given), so a batch
    lost with its connection is sent again on a new one (to the new primary
    after a failover) without duplicates.  A batch that fails for another
    reason (one bad message) is sent again one by one, so that only the bad
    message's future fails.
    """

    def __init__(self, client: "Client", *, max_in_flight: int = 10000, batch_size: int = 500,
                 on_event: Optional[EventHook] = None) -> None:
        if max_in_flight < 1 or batch_size < 1:
            raise ValueError("max_in_flight and batch_size must be at least 1")
        self.client = client
        self.batch_size = batch_size
        self.counters = Counters()
        self._emit = Emitter(on_event if on_event is not None else client.on_event, self.counters)
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._queue: "queue_mod.Queue[Any]" = queue_mod.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="mq-producer", daemon=True)
        self._thread.start()

    def send(self, queue: str, body: Any, **properties: Any) -> "Future[int]":
        """Queue a send (as :meth:`Client.send`); blocks while
        ``max_in_flight`` sends are unconfirmed."""
        if self._closed:
            raise MQError("the producer is closed")
        if properties.get("dedup_key") is None:
            properties["dedup_key"] = uuid.uuid4().hex
        query = _sql.send(queue, body, properties)  # bad arguments raise here
        self._slots.acquire()
        future: Future[int] = Future()
        future.add_done_callback(lambda f: self._slots.release())
        self._queue.put((query, future))
        return future

    def flush(self, timeout: Optional[float] = None) -> None:
        """Wait until every send so far is confirmed or failed."""
        marker: Future[int] = Future()
        self._queue.put((None, marker))
        marker.result(timeout)

    def close(self, timeout: Optional[float] = None) -> None:
        """Flush and stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(_CLOSE)
            self._thread.join(timeout)

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _take(self) -> Tuple[List[_Item], List["Future[int]"], bool]:
        items: List[_Item] = []
        markers: List[Future[int]] = []
        closing = False
        first = self._queue.get()
        pending = [first]
        while len(items) + len(pending) < self.batch_size:
            try:
                pending.append(self._queue.get_nowait())
            except queue_mod.Empty:
                break
        for entry in pending:
            if entry is _CLOSE:
                closing = True
            elif entry[0] is None:
                markers.append(entry[1])
            else:
                items.append(entry)
        return items, markers, closing

    def _run(self) -> None:
        conn: Optional[psycopg.Connection[Any]] = None
        closing = False
        while not closing:
            items, markers, closing = self._take()
            attempt = 0
            while items:
                try:
                    if conn is None or conn.closed:
                        conn = self.client.connect()
                    self._send(conn, items)
                    self._emit("confirmed", extra={"messages": len(items)})
                    break
                except Exception as exc:
                    if is_connection_error(exc):
                        if conn is not None:
                            conn.close()
                        conn = None
                        attempt += 1
                        delay = backoff(attempt, self.client.backoff_base,
                                        self.client.backoff_max)
                        self._emit("reconnect", error=exc, delay=delay)
                        time.sleep(delay)
                        continue
                    # one of them is bad: each on its own
                    conn = self._one_by_one(conn, items)
                    break
            for m in markers:
                m.set_result(0)
        if conn is not None:
            conn.close()

    @staticmethod
    def _send(conn: psycopg.Connection[Any], items: List[_Item]) -> None:
        cursors = []
        with conn.pipeline():
            with conn.transaction():
                for (sql, params), _ in items:
                    cursors.append(conn.execute(sql, params))
        ids = [cur.fetchone()[0] for cur in cursors]  # type: ignore[index]
        for (_, future), msg_id in zip(items, ids):
            future.set_result(int(msg_id))

    def _one_by_one(self, conn: Optional[psycopg.Connection[Any]],
                    items: List[_Item]) -> Optional[psycopg.Connection[Any]]:
        for (sql, params), future in items:
            try:
                if conn is None or conn.closed:
                    conn = self.client.connect()
                row = conn.execute(sql, params).fetchone()
                future.set_result(int(row[0]))  # type: ignore[index]
            except Exception as exc:
                if conn is not None and is_connection_error(exc):
                    conn.close()
                    conn = None
                self._emit("failed", error=exc)
                future.set_exception(exc)
        return conn
