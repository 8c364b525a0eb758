"""A producer that batches and pipelines sends and confirms them once they
commit."""
from __future__ import annotations

import queue as queue_mod
import threading
import time
import uuid
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import psycopg

from . import _sql
from ._events import Counters, Emitter, EventHook, backoff
from .errors import ConnectionLost, MQError, is_connection_error

if TYPE_CHECKING:
    from .client import Client


class _Send:
    __slots__ = ("queue", "body", "props", "future")

    def __init__(self, queue: str, body: Any, props: Dict[str, Any],
                 future: "Future[int]") -> None:
        self.queue = queue
        self.body = body
        self.props = props
        self.future = future

    def group(self) -> Tuple[Any, ...]:
        """Sends with the same group go in one mq.send_batch."""
        return (self.queue,) + tuple(self.props.get(k) for k in _sql.BATCH_SHARED)


_CLOSE = object()


class Producer:
    """``send()`` returns at once with a :class:`concurrent.futures.Future`
    that resolves to the message id once its transaction has committed (a
    confirm), or to the send's error.

    A thread takes up to ``batch_size`` waiting sends, turns those of one
    queue (and the same delay, priority, content encoding, reply_to and ttl)
    into one ``mq.send_batch``, and runs these statements in one transaction
    on one connection in pipeline mode (libpq sends them all without waiting
    for each result): a batch costs about one round trip.  Back-pressure: at
    most ``max_in_flight`` sends are unconfirmed; ``send()`` blocks while
    that many are.

    With ``idempotent`` (the client's ``idempotent_sends`` unless given)
    each send carries a dedup key (a random one unless given), so a batch
    lost with its connection is sent again on a new one (to the new primary
    after a failover) without duplicates; without, the futures of such a
    batch fail with :class:`ConnectionLost` (it may or may not have
    committed).  A batch that fails for another reason (one bad message) is
    sent again one by one, so that only the bad message's future fails.
    """

    def __init__(self, client: "Client", *, max_in_flight: int = 10000, batch_size: int = 500,
                 idempotent: Optional[bool] = None,
                 on_event: Optional[EventHook] = None) -> None:
        if max_in_flight < 1 or batch_size < 1:
            raise ValueError("max_in_flight and batch_size must be at least 1")
        self.client = client
        self.batch_size = batch_size
        self.idempotent = client.idempotent_sends if idempotent is None else idempotent
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
        unknown = [k for k in properties if k not in _sql.SEND_PROPERTIES]
        if unknown:
            raise TypeError(f"mq.send() has no option {', '.join(sorted(unknown))}")
        _sql.encode_body(body, properties.get("content_type"))  # a bad body raises here
        if properties.get("dedup_key") is None and self.idempotent:
            properties["dedup_key"] = uuid.uuid4().hex
        self._slots.acquire()
        future: Future[int] = Future()
        future.add_done_callback(lambda f: self._slots.release())
        self._queue.put(_Send(queue, body, properties, future))
        return future

    def flush(self, timeout: Optional[float] = None) -> None:
        """Wait until every send so far is confirmed or failed."""
        marker: Future[int] = Future()
        self._queue.put(marker)
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

    def _take(self) -> Tuple[List[_Send], List["Future[int]"], bool]:
        sends: List[_Send] = []
        markers: List[Future[int]] = []
        closing = False
        entry = self._queue.get()
        while True:
            if entry is _CLOSE:
                closing = True
            elif isinstance(entry, _Send):
                sends.append(entry)
            else:
                markers.append(entry)
            if len(sends) >= self.batch_size:
                break
            try:
                entry = self._queue.get_nowait()
            except queue_mod.Empty:
                break
        return sends, markers, closing

    def _run(self) -> None:
        conn: Optional[psycopg.Connection[Any]] = None
        closing = False
        while not closing:
            sends, markers, closing = self._take()
            attempt = 0
            while sends:
                try:
                    if conn is None or conn.closed:
                        conn = self.client.connect()
                    self._send(conn, sends)
                    self._emit("confirmed", extra={"messages": len(sends)})
                    break
                except Exception as exc:
                    if is_connection_error(exc):
                        if conn is not None:
                            conn.close()
                        conn = None
                        unsafe = [s for s in sends if s.props.get("dedup_key") is None]
                        for s in unsafe:
                            s.future.set_exception(ConnectionLost(
                                f"the connection was lost before the confirm of a send "
                                f"without a dedup key: {exc}"))
                        sends = [s for s in sends if s.props.get("dedup_key") is not None]
                        attempt += 1
                        delay = backoff(attempt, self.client.backoff_base,
                                        self.client.backoff_max)
                        self._emit("reconnect", error=exc, delay=delay)
                        time.sleep(delay)
                        continue
                    # one of them is bad: each on its own
                    conn = self._one_by_one(conn, sends)
                    break
            for m in markers:
                m.set_result(0)
        if conn is not None:
            conn.close()

    @staticmethod
    def _send(conn: psycopg.Connection[Any], sends: List[_Send]) -> None:
        groups: Dict[Tuple[Any, ...], List[_Send]] = {}
        for s in sends:
            groups.setdefault(s.group(), []).append(s)
        cursors = []
        with conn.pipeline():
            with conn.transaction():
                for members in groups.values():
                    first = members[0]
                    query = _sql.send_many(first.queue, [(m.body, m.props) for m in members],
                                           first.props)
                    cursors.append((members, conn.execute(query[0], query[1])))
        # committed: confirm
        for members, cur in cursors:
            ids = [row[0] for row in cur.fetchall()]
            for m, msg_id in zip(members, ids):
                m.future.set_result(int(msg_id))

    def _one_by_one(self, conn: Optional[psycopg.Connection[Any]],
                    sends: List[_Send]) -> Optional[psycopg.Connection[Any]]:
        for s in sends:
            try:
                if conn is None or conn.closed:
                    conn = self.client.connect()
                row = conn.execute(*_sql.send(s.queue, s.body, s.props)).fetchone()
                assert row is not None
                s.future.set_result(int(row[0]))
            except Exception as exc:
                if conn is not None and is_connection_error(exc):
                    conn.close()
                    conn = None
                self._emit("failed", error=exc)
                s.future.set_exception(exc)
        return conn
