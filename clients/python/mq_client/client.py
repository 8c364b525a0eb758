"""The synchronous client."""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import Future
from contextlib import contextmanager
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple)

import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from . import _sql
from ._events import Counters, Emitter, EventHook, backoff
from ._sql import Duration, Message, Query, Record
from .errors import ConnectionLost, RequestTimeout, is_connection_error

if TYPE_CHECKING:
    from .producer import Producer
    from .stream import StreamConsumer
    from .worker import Worker


class _Operations:
    """The calls of mq, on whatever _exec runs them."""

    idempotent_sends = False

    def _exec(self, query: Query, retry: bool = True) -> List[Tuple[Any, ...]]:
        raise NotImplementedError

    # -- management ---------------------------------------------------------
    def create_queue(self, name: str, **options: Any) -> None:
        """Create a queue (a no-op if it exists with the same options):
        ``visibility_timeout``, ``max_receives``, ``dead_letter_queue``, ...
        as ``mq.create_queue``; durations in seconds or timedeltas."""
        self._exec(_sql.call("create_queue", (name,), options, _sql.QUEUE_OPTIONS))

    def alter_queue(self, name: str, **options: Any) -> None:
        self._exec(_sql.call("alter_queue", (name,), options, _sql.QUEUE_OPTIONS))

    def drop_queue(self, name: str, if_exists: bool = False) -> bool:
        return bool(self._exec(("SELECT mq.drop_queue(%s, %s)", (name, if_exists)))[0][0])

    def purge_queue(self, name: str) -> int:
        return int(self._exec(("SELECT mq.purge_queue(%s)", (name,)))[0][0])

    def metrics(self, name: str) -> Dict[str, Any]:
        """``mq.metrics(queue)`` as a dict (queue_length, visible, in_flight, ...)."""
        rows = self._exec_dict(("SELECT * FROM mq.metrics(%s)", (name,)))
        return rows[0]

    def create_exchange(self, name: str, type: str = "direct",
                        alternate_exchange: Optional[str] = None) -> None:
        self._exec(("SELECT mq.create_exchange(%s, %s, %s)", (name, type, alternate_exchange)))

    def drop_exchange(self, name: str, if_exists: bool = False, cascade: bool = False) -> bool:
        return bool(self._exec(("SELECT mq.drop_exchange(%s, %s, %s)",
                                (name, if_exists, cascade)))[0][0])

    def bind(self, exchange: str, queue: str, binding_key: str = "",
             arguments: Optional[Dict[str, Any]] = None) -> bool:
        args = None if arguments is None else Jsonb(arguments)
        return bool(self._exec(("SELECT mq.bind(%s, %s, %s, %s)",
                                (exchange, queue, binding_key, args)))[0][0])

    def unbind(self, exchange: str, queue: str, binding_key: str = "",
               arguments: Optional[Dict[str, Any]] = None) -> bool:
        args = None if arguments is None else Jsonb(arguments)
        return bool(self._exec(("SELECT mq.unbind(%s, %s, %s, %s)",
                                (exchange, queue, binding_key, args)))[0][0])

    def create_stream(self, name: str, **options: Any) -> None:
        self._exec(_sql.call("create_stream", (name,), options, _sql.STREAM_OPTIONS))

    def drop_stream(self, name: str, if_exists: bool = False) -> bool:
        return bool(self._exec(("SELECT mq.drop_stream(%s, %s)", (name, if_exists)))[0][0])

    def create_consumer_group(self, stream: str, group: str, start: str = "latest") -> None:
        self._exec(("SELECT mq.create_consumer_group(%s, %s, %s)", (stream, group, start)))

    def drop_consumer_group(self, stream: str, group: str) -> bool:
        return bool(self._exec(("SELECT mq.drop_consumer_group(%s, %s)", (stream, group)))[0][0])

    # -- producing ----------------------------------------------------------
    def _dedup(self, props: Dict[str, Any], key: str = "dedup_key") -> bool:
        """Give the send a dedup key if it has none (idempotent sends); True
        when it has one, so that a send lost in flight can be repeated."""
        if props.get(key) is None and self.idempotent_sends:
            props[key] = uuid.uuid4().hex
        return props.get(key) is not None

    def send(self, queue: str, body: Any, **properties: Any) -> int:
        """Send a message; returns its id.  ``body``: a JSON value, ``bytes``
        (a payload, ``application/octet-stream`` unless ``content_type``
        says otherwise) or ``str`` (a ``text/plain; charset=utf-8``
        payload).  Properties: headers, delay, dedup_key, group_key,
        priority, content_type, content_encoding, correlation_id, reply_to,
        ttl."""
        retry = self._dedup(properties)
        return int(self._exec(_sql.send(queue, body, properties), retry)[0][0])

    def send_batch(self, queue: str, bodies: Sequence[Any], **properties: Any) -> List[int]:
        """Send messages in one statement; returns their ids in order.
        Per-message lists: headers, dedup_keys, group_keys, correlation_ids;
        shared: delay, priority, content_type, content_encoding, reply_to, ttl."""
        bodies = list(bodies)
        if not bodies:
            return []
        if properties.get("dedup_keys") is None and self.idempotent_sends:
            properties["dedup_keys"] = [uuid.uuid4().hex for _ in bodies]
        retry = properties.get("dedup_keys") is not None
        return [int(r[0]) for r in self._exec(_sql.send_batch(queue, bodies, properties), retry)]

    def publish(self, exchange: str, routing_key: str, body: Any, **properties: Any) -> int:
        """Publish to an exchange; returns how many queues and streams it reached."""
        retry = self._dedup(properties)
        return int(self._exec(_sql.publish(exchange, routing_key, body, properties), retry)[0][0])

    def append(self, stream: str, body: Any, **properties: Any) -> Tuple[int, int]:
        """Append a record (properties: key, headers, content_type, ...);
        returns (partition, position).  Not repeated after a lost
        connection (a stream has no dedup keys): raises ConnectionLost."""
        row = self._exec(_sql.append(stream, body, properties), retry=False)[0]
        return int(row[0]), int(row[1])

    # -- consuming ----------------------------------------------------------
    def read(self, queue: str, qty: int = 1, visibility_timeout: Optional[Duration] = None,
             wait: Optional[Duration] = None) -> List[Message]:
        """Lease up to qty messages (blocking up to ``wait`` seconds for one)."""
        rows = self._exec(_sql.read(queue, qty, visibility_timeout, wait))
        return [_sql.message_of(queue, r) for r in rows]

    def peek(self, queue: str, qty: int = 10, after_id: Optional[int] = None) -> List[Message]:
        """Up to qty messages without leasing them (``mq.peek``, any state):
        in delivery order, or those after ``after_id`` in id order."""
        rows = self._exec(_sql.peek(queue, qty, after_id))
        return [_sql.message_of(queue, r) for r in rows]

    def ack(self, queue: str, msg_id: int) -> bool:
        return bool(self._exec(("SELECT mq.ack(%s, %s)", (queue, msg_id)))[0][0])

    def ack_batch(self, queue: str, msg_ids: Sequence[int]) -> List[int]:
        return [int(r[0]) for r in self._exec(
            ("SELECT * FROM mq.ack_batch(%s, %s::bigint[])", (queue, list(msg_ids))))]

    def nack(self, queue: str, msg_id: int, delay: Duration = 0) -> bool:
        return bool(self._exec(("SELECT mq.nack(%s, %s, %s)",
                                (queue, msg_id, _sql.interval(delay))))[0][0])

    def set_vt(self, queue: str, msg_id: int, visibility_timeout: Duration) -> Any:
        """Move the end of a lease to now + visibility_timeout; None when the
        message is gone."""
        return self._exec(("SELECT mq.set_vt(%s, %s, %s)",
                           (queue, msg_id, _sql.interval(visibility_timeout))))[0][0]

    def poll(self, stream: str, group: str, consumer: str, max_records: int = 100,
             wait: Duration = 0, session_timeout: Duration = 30) -> List[Record]:
        rows = self._exec(_sql.poll(stream, group, consumer, max_records, wait, session_timeout),
                          retry=False)
        return [_sql.record_of(stream, r) for r in rows]

    def commit(self, stream: str, group: str, consumer: str, partition: int,
               position: int) -> None:
        self._exec(("SELECT mq.commit(%s, %s, %s, %s, %s)",
                    (stream, group, consumer, partition, position)), retry=False)

    def _exec_dict(self, query: Query) -> List[Dict[str, Any]]:
        raise NotImplementedError


class Transaction(_Operations):
    """The calls of mq inside one transaction of a client's connection (see
    :meth:`Client.transaction`): nothing is repeated, everything commits or
    rolls back together.  ``connection`` runs the caller's own SQL."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def _exec(self, query: Query, retry: bool = True) -> List[Tuple[Any, ...]]:
        return self.connection.execute(query[0], query[1]).fetchall()

    def _exec_dict(self, query: Query) -> List[Dict[str, Any]]:
        cur = self.connection.execute(query[0], query[1])
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection in autocommit mode; a multi-host ``dsn`` without
    ``target_session_attrs`` gets ``read-write``, so that a failover lands
    on the new primary."""
    params = conninfo_to_dict(dsn) if dsn else {}
    hosts = str(params.get("host", "")) + str(kwargs.get("host", ""))
    if "," in hosts and "target_session_attrs" not in params and \
            "target_session_attrs" not in kwargs:
        kwargs["target_session_attrs"] = "read-write"
    return psycopg.connect(dsn, autocommit=True, **kwargs)


class Client(_Operations):
    """A connection to mq that survives failovers.

    ``Client(dsn)`` takes a libpq connection string or URI (multi-host
    strings too) and psycopg's keyword arguments.  Its calls are safe from
    several threads (they share one connection, one call at a time); a
    worker, a stream consumer and a producer open their own connections.

    On a lost connection, a server shutting down or a read-only server, a
    call reconnects with exponential backoff (up to ``reconnect_timeout``
    seconds) and repeats itself if that is safe: reads, acks, and sends
    that carry a dedup key.  With ``idempotent_sends`` (the default) every
    send without a dedup key gets a random one, so a send repeated after a
    failover never makes a duplicate (within the queue's ``dedup_window``).
    """

    def __init__(self, dsn: str = "", *, reconnect_timeout: float = 60.0,
                 backoff_base: float = 0.1, backoff_max: float = 5.0,
                 idempotent_sends: bool = True, on_event: Optional[EventHook] = None,
                 **connect_kwargs: Any) -> None:
        self.dsn = dsn
        self.connect_kwargs = connect_kwargs
        self.reconnect_timeout = reconnect_timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.idempotent_sends = idempotent_sends
        self.counters = Counters()
        self._emit = Emitter(on_event, self.counters)
        self._conn: Optional[psycopg.Connection[Any]] = None
        self._lock = threading.RLock()
        self._closed = False
        self._replies: Optional[_ReplyReader] = None
        self.on_event = on_event

    # -- connections ----------------------------------------------------------
    def connect(self) -> psycopg.Connection[Any]:
        """A new connection (autocommit) with this client's settings,
        reconnecting with backoff until ``reconnect_timeout``."""
        deadline = time.monotonic() + self.reconnect_timeout
        attempt = 0
        while True:
            try:
                return connect(self.dsn, **self.connect_kwargs)
            except psycopg.OperationalError as exc:
                attempt += 1
                if time.monotonic() >= deadline or self._closed:
                    raise
                delay = backoff(attempt, self.backoff_base, self.backoff_max)
                self._emit("reconnect", error=exc, delay=delay, extra={"attempt": attempt})
                time.sleep(delay)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise psycopg.InterfaceError("the client is closed")
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
        return self._conn

    def _discard(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def _exec(self, query: Query, retry: bool = True) -> List[Tuple[Any, ...]]:
        rows: List[Tuple[Any, ...]] = self._run(
            lambda conn: conn.execute(query[0], query[1]).fetchall(), retry)
        return rows

    def _exec_dict(self, query: Query) -> List[Dict[str, Any]]:
        def run(conn: psycopg.Connection[Any]) -> List[Dict[str, Any]]:
            cur = conn.execute(query[0], query[1])
            names = [d.name for d in cur.description or ()]
            return [dict(zip(names, r)) for r in cur.fetchall()]
        rows: List[Dict[str, Any]] = self._run(run, True)
        return rows

    def _run(self, fn: Callable[[psycopg.Connection[Any]], Any], retry: bool) -> Any:
        deadline = time.monotonic() + self.reconnect_timeout
        attempt = 0
        while True:
            with self._lock:
                conn = self._connection()
                try:
                    return fn(conn)
                except Exception as exc:
                    if not is_connection_error(exc):
                        raise
                    self._discard()
                    if not retry:
                        raise ConnectionLost(f"the connection was lost during a call that is not "
                                             f"safe to repeat: {exc}") from exc
                    error = exc
            attempt += 1
            if time.monotonic() >= deadline:
                raise error
            delay = backoff(attempt, self.backoff_base, self.backoff_max)
            self._emit("reconnect", error=error, delay=delay, extra={"attempt": attempt})
            time.sleep(delay)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """``with client.transaction() as tx:`` runs tx.send, tx.ack, ... and
        your own SQL on ``tx.connection`` in one transaction (other threads'
        calls on this client wait for it)."""
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                yield Transaction(conn)

    def close(self) -> None:
        """Stop the reply reader (dropping its reply queue) and close."""
        replies, self._replies = self._replies, None
        if replies is not None:
            replies.close()
        with self._lock:
            self._closed = True
            self._discard()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- higher level ---------------------------------------------------------
    def worker(self, queue: str, handler: Callable[..., Any], **options: Any) -> "Worker":
        """A :class:`Worker` (not started); see :meth:`work`."""
        from .worker import Worker
        return Worker(self, queue, handler, **options)

    def work(self, queue: str, handler: Callable[..., Any], concurrency: int = 1,
             **options: Any) -> "Worker":
        """Run ``handler(message)`` on the queue's messages with
        ``concurrency`` threads until SIGTERM/SIGINT (or ``stop()`` from a
        handler or another thread); returns the stopped worker (its
        ``counters``).  Options: see :class:`Worker`."""
        w = self.worker(queue, handler, concurrency=concurrency, **options)
        w.run()
        return w

    def serve(self, queue: str, handler: Callable[[Message], Any], concurrency: int = 1,
              **options: Any) -> "Worker":
        """Answer requests: ``handler(message)`` returns the reply body,
        sent to the request's ``reply_to`` with its ``correlation_id`` in the
        transaction that acks the request.  Runs as :meth:`work`."""
        w = self.worker(queue, handler, concurrency=concurrency, reply=True, **options)
        w.run()
        return w

    def request(self, queue: str, body: Any, timeout: float = 30.0,
                **properties: Any) -> Message:
        """Send a request with ``reply_to`` (this client's reply queue) and a
        fresh ``correlation_id``; return the reply, or raise
        :class:`RequestTimeout` after ``timeout`` seconds.  The request
        expires (``ttl``) when its timeout does, unless ttl is given."""
        with self._lock:
            if self._replies is None:
                self._replies = _ReplyReader(self)
            replies = self._replies
        correlation_id = uuid.uuid4().hex
        future = replies.expect(correlation_id)
        try:
            properties.setdefault("ttl", timeout)
            self.send(queue, body, reply_to=replies.queue, correlation_id=correlation_id,
                      **properties)
            try:
                return future.result(timeout)
            except TimeoutError:
                self._emit("request_timeout", queue=queue,
                           extra={"correlation_id": correlation_id})
                raise RequestTimeout(f"no reply to the request {correlation_id} on queue "
                                     f"{queue!r} within {timeout} s") from None
        finally:
            replies.forget(correlation_id)

    def stream_consumer(self, stream: str, group: str, consumer: str,
                        handler: Callable[..., Any], **options: Any) -> "StreamConsumer":
        """A consumer-group member (not started); see :class:`StreamConsumer`."""
        from .stream import StreamConsumer
        return StreamConsumer(self, stream, group, consumer, handler, **options)

    def consume(self, stream: str, group: str, consumer: str, handler: Callable[..., Any],
                **options: Any) -> "StreamConsumer":
        """Run a consumer-group member until SIGTERM/SIGINT or ``stop()``."""
        c = self.stream_consumer(stream, group, consumer, handler, **options)
        c.run()
        return c

    def producer(self, **options: Any) -> "Producer":
        """A pipelining :class:`Producer` with confirms and back-pressure."""
        from .producer import Producer
        return Producer(self, **options)


class _ReplyReader:
    """A client's reply queue and the thread that hands replies to the
    requests waiting for them (matched by correlation_id)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.queue = f"mq_reply_{uuid.uuid4().hex[:20]}"
        self._pending: Dict[str, Future[Message]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        client.create_queue(self.queue)
        self._thread = threading.Thread(target=self._run, name=f"mq-replies-{self.queue}",
                                        daemon=True)
        self._thread.start()

    def expect(self, correlation_id: str) -> "Future[Message]":
        f: Future[Message] = Future()
        with self._lock:
            self._pending[correlation_id] = f
        return f

    def forget(self, correlation_id: str) -> None:
        with self._lock:
            self._pending.pop(correlation_id, None)

    def _run(self) -> None:
        conn: Optional[psycopg.Connection[Any]] = None
        attempt = 0
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = self.client.connect()
                rows = conn.execute(*_sql.read(self.queue, 100, 60, 1)).fetchall()
                attempt = 0
                for row in rows:
                    m = _sql.message_of(self.queue, row)
                    conn.execute("SELECT mq.ack(%s, %s)", (self.queue, m.msg_id))
                    with self._lock:
                        f = self._pending.pop(m.correlation_id or "", None)
                    if f is not None:
                        f.set_result(m)
                    else:
                        self.client._emit("reply_dropped", queue=self.queue, msg_id=m.msg_id,
                                          extra={"correlation_id": m.correlation_id})
            except Exception as exc:
                if self._stop.is_set():
                    break
                if conn is not None:
                    conn.close()
                conn = None
                attempt += 1
                delay = backoff(attempt, self.client.backoff_base, self.client.backoff_max)
                self.client._emit("reconnect", queue=self.queue, error=exc, delay=delay)
                self._stop.wait(delay)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        try:
            with self.client.connect() as conn:
                conn.execute("SELECT mq.drop_queue(%s, true)", (self.queue,))
        except psycopg.Error:
            pass


__all__ = ["Client", "Transaction", "connect", "RequestTimeout", "pgerrors"]
