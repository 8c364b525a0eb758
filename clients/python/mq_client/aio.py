"""The asyncio client: the same calls as :class:`mq_client.Client`, awaited."""
from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from . import _sql
from ._events import Counters, Emitter, EventHook, backoff
from ._sql import Duration, Message, Query
from .errors import ConnectionLost, RequestTimeout, is_connection_error, is_fencing_error

AsyncHandler = Callable[[Message], Awaitable[Any]]


async def connect(dsn: str, **kwargs: Any) -> psycopg.AsyncConnection[Any]:
    """As :func:`mq_client.client.connect`, for asyncio."""
    params = conninfo_to_dict(dsn) if dsn else {}
    hosts = str(params.get("host", "")) + str(kwargs.get("host", ""))
    if "," in hosts and "target_session_attrs" not in params and \
            "target_session_attrs" not in kwargs:
        kwargs["target_session_attrs"] = "read-write"
    conn: psycopg.AsyncConnection[Any] = await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, **kwargs)
    return conn


class AsyncClient:
    """``async with AsyncClient(dsn) as client:`` -- the calls of
    :class:`mq_client.Client` as coroutines (one connection, one call at a
    time; reconnects and repeats safe calls the same way), plus
    :meth:`work`, :meth:`serve` and :meth:`request`."""

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
        self.on_event = on_event
        self.counters = Counters()
        self._emit = Emitter(on_event, self.counters)
        self._conn: Optional[psycopg.AsyncConnection[Any]] = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._reply_queue: Optional[str] = None
        self._pending: Dict[str, "asyncio.Future[Message]"] = {}
        self._reply_task: Optional["asyncio.Task[None]"] = None

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        deadline = time.monotonic() + self.reconnect_timeout
        attempt = 0
        while True:
            try:
                return await connect(self.dsn, **self.connect_kwargs)
            except psycopg.OperationalError as exc:
                attempt += 1
                if time.monotonic() >= deadline or self._closed:
                    raise
                delay = backoff(attempt, self.backoff_base, self.backoff_max)
                self._emit("reconnect", error=exc, delay=delay)
                await asyncio.sleep(delay)

    async def _exec(self, query: Query, retry: bool = True) -> List[Tuple[Any, ...]]:
        deadline = time.monotonic() + self.reconnect_timeout
        attempt = 0
        while True:
            async with self._lock:
                if self._closed:
                    raise psycopg.InterfaceError("the client is closed")
                if self._conn is None or self._conn.closed:
                    self._conn = await self.connect()
                try:
                    cur = await self._conn.execute(query[0], query[1])
                    return await cur.fetchall()
                except Exception as exc:
                    if not is_connection_error(exc):
                        raise
                    await self._conn.close()
                    self._conn = None
                    if not retry:
                        raise ConnectionLost(f"the connection was lost during a call that is not "
                                             f"safe to repeat: {exc}") from exc
                    error = exc
            attempt += 1
            if time.monotonic() >= deadline:
                raise error
            delay = backoff(attempt, self.backoff_base, self.backoff_max)
            self._emit("reconnect", error=error, delay=delay)
            await asyncio.sleep(delay)

    async def close(self) -> None:
        if self._reply_task is not None:
            self._reply_task.cancel()
            try:
                await self._reply_task
            except (asyncio.CancelledError, Exception):
                pass
            self._reply_task = None
            if self._reply_queue is not None:
                await self.drop_queue(self._reply_queue, if_exists=True)
        async with self._lock:
            self._closed = True
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    # -- management ---------------------------------------------------------
    async def create_queue(self, name: str, **options: Any) -> None:
        await self._exec(_sql.call("create_queue", (name,), options, _sql.QUEUE_OPTIONS))

    async def alter_queue(self, name: str, **options: Any) -> None:
        await self._exec(_sql.call("alter_queue", (name,), options, _sql.QUEUE_OPTIONS))

    async def drop_queue(self, name: str, if_exists: bool = False) -> bool:
        return bool((await self._exec(("SELECT mq.drop_queue(%s, %s)", (name, if_exists))))[0][0])

    async def purge_queue(self, name: str) -> int:
        return int((await self._exec(("SELECT mq.purge_queue(%s)", (name,))))[0][0])

    async def create_exchange(self, name: str, type: str = "direct",
                              alternate_exchange: Optional[str] = None) -> None:
        await self._exec(("SELECT mq.create_exchange(%s, %s, %s)",
                          (name, type, alternate_exchange)))

    async def drop_exchange(self, name: str, if_exists: bool = False,
                            cascade: bool = False) -> bool:
        return bool((await self._exec(("SELECT mq.drop_exchange(%s, %s, %s)",
                                       (name, if_exists, cascade))))[0][0])

    async def bind(self, exchange: str, queue: str, binding_key: str = "",
                   arguments: Optional[Dict[str, Any]] = None) -> bool:
        args = None if arguments is None else Jsonb(arguments)
        return bool((await self._exec(("SELECT mq.bind(%s, %s, %s, %s)",
                                       (exchange, queue, binding_key, args))))[0][0])

    async def create_stream(self, name: str, **options: Any) -> None:
        await self._exec(_sql.call("create_stream", (name,), options, _sql.STREAM_OPTIONS))

    async def drop_stream(self, name: str, if_exists: bool = False) -> bool:
        return bool((await self._exec(("SELECT mq.drop_stream(%s, %s)",
                                       (name, if_exists))))[0][0])

    # -- messages -------------------------------------------------------------
    def _dedup(self, props: Dict[str, Any]) -> bool:
        if props.get("dedup_key") is None and self.idempotent_sends:
            props["dedup_key"] = uuid.uuid4().hex
        return props.get("dedup_key") is not None

    async def send(self, queue: str, body: Any, **properties: Any) -> int:
        retry = self._dedup(properties)
        return int((await self._exec(_sql.send(queue, body, properties), retry))[0][0])

    async def send_batch(self, queue: str, bodies: Sequence[Any], **properties: Any) -> List[int]:
        bodies = list(bodies)
        if not bodies:
            return []
        if properties.get("dedup_keys") is None and self.idempotent_sends:
            properties["dedup_keys"] = [uuid.uuid4().hex for _ in bodies]
        retry = properties.get("dedup_keys") is not None
        rows = await self._exec(_sql.send_batch(queue, bodies, properties), retry)
        return [int(r[0]) for r in rows]

    async def publish(self, exchange: str, routing_key: str, body: Any,
                      **properties: Any) -> int:
        retry = self._dedup(properties)
        return int((await self._exec(_sql.publish(exchange, routing_key, body, properties),
                                     retry))[0][0])

    async def append(self, stream: str, body: Any, **properties: Any) -> Tuple[int, int]:
        row = (await self._exec(_sql.append(stream, body, properties), retry=False))[0]
        return int(row[0]), int(row[1])

    async def read(self, queue: str, qty: int = 1,
                   visibility_timeout: Optional[Duration] = None,
                   wait: Optional[Duration] = None) -> List[Message]:
        rows = await self._exec(_sql.read(queue, qty, visibility_timeout, wait))
        return [_sql.message_of(queue, r) for r in rows]

    async def ack(self, queue: str, msg_id: int) -> bool:
        return bool((await self._exec(("SELECT mq.ack(%s, %s)", (queue, msg_id))))[0][0])

    async def nack(self, queue: str, msg_id: int, delay: Duration = 0) -> bool:
        return bool((await self._exec(("SELECT mq.nack(%s, %s, %s)",
                                       (queue, msg_id, _sql.interval(delay)))))[0][0])

    async def set_vt(self, queue: str, msg_id: int, visibility_timeout: Duration) -> Any:
        return (await self._exec(("SELECT mq.set_vt(%s, %s, %s)",
                                  (queue, msg_id, _sql.interval(visibility_timeout)))))[0][0]

    # -- worker -----------------------------------------------------------------
    async def work(self, queue: str, handler: AsyncHandler, concurrency: int = 1, *,
                   visibility_timeout: Duration = 30, wait: Duration = 2,
                   backoff_base: float = 1.0, backoff_max: float = 300.0,
                   lease_margin: float = 0.5, reply: bool = False,
                   stop: Optional[asyncio.Event] = None,
                   install_signal_handlers: bool = True,
                   on_event: Optional[EventHook] = None) -> Counters:
        """Run ``await handler(message)`` on the queue's messages,
        ``concurrency`` at a time (each task on its own connection), as
        :class:`mq_client.Worker` does: ack after the handler, nack with
        backoff and jitter, leases extended while a handler runs, blocking
        reads; until ``stop`` is set or SIGTERM/SIGINT.  Returns the counters."""
        stopping: asyncio.Event = stop if stop is not None else asyncio.Event()
        counters = Counters()
        emit = Emitter(on_event if on_event is not None else self.on_event, counters)
        vt = _sql.interval(visibility_timeout)
        assert vt is not None
        vt_seconds = vt.total_seconds()
        loop = asyncio.get_running_loop()
        signals: List[signal.Signals] = []
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stopping.set)
                signals.append(sig)
        heart = await self.connect()
        heart_lock = asyncio.Lock()

        async def extend(m: Message) -> None:
            while True:
                await asyncio.sleep(vt_seconds * lease_margin)
                try:
                    async with heart_lock:
                        cur = await heart.execute("SELECT mq.set_vt(%s, %s, %s)",
                                                  (queue, m.msg_id, vt))
                        row = await cur.fetchone()
                except Exception as exc:
                    emit("lease_lost", queue=queue, msg_id=m.msg_id, error=exc)
                    continue
                if row is None or row[0] is None:
                    emit("lease_lost", queue=queue, msg_id=m.msg_id)
                    return
                emit("lease_extended", queue=queue, msg_id=m.msg_id)

        async def slot() -> None:
            conn: Optional[psycopg.AsyncConnection[Any]] = None
            attempt = 0
            while not stopping.is_set():
                try:
                    if conn is None or conn.closed:
                        conn = await self.connect()
                    cur = await conn.execute(*_sql.read(queue, 1, vt, wait))
                    rows = await cur.fetchall()
                    attempt = 0
                except Exception as exc:
                    if not is_connection_error(exc):
                        raise
                    conn = None
                    attempt += 1
                    delay = backoff(attempt, self.backoff_base, self.backoff_max)
                    emit("reconnect", queue=queue, error=exc, delay=delay)
                    await asyncio.sleep(delay)
                    continue
                for row in rows:
                    m = _sql.message_of(queue, row)
                    emit("delivered", queue=queue, msg_id=m.msg_id, read_ct=m.read_ct)
                    lease = asyncio.create_task(extend(m))
                    try:
                        result = await handler(m)
                    except Exception as exc:
                        lease.cancel()
                        delay = backoff(m.read_ct, backoff_base, backoff_max)
                        emit("failed", queue=queue, msg_id=m.msg_id, read_ct=m.read_ct,
                             error=exc, delay=delay)
                        await conn.execute("SELECT mq.nack(%s, %s, %s)",
                                           (queue, m.msg_id, _sql.interval(delay)))
                        emit("retried", queue=queue, msg_id=m.msg_id, delay=delay)
                        continue
                    lease.cancel()
                    async with conn.transaction():
                        if reply and m.reply_to:
                            try:
                                async with conn.transaction():
                                    await conn.execute(*_sql.send(
                                        m.reply_to, result, {"correlation_id": m.correlation_id}))
                            except pgerrors.UndefinedObject as exc:
                                emit("reply_dropped", queue=m.reply_to, msg_id=m.msg_id,
                                     error=exc)
                        await conn.execute("SELECT mq.ack(%s, %s)", (queue, m.msg_id))
                    emit("succeeded", queue=queue, msg_id=m.msg_id, read_ct=m.read_ct)
            if conn is not None:
                await conn.close()

        try:
            await asyncio.gather(*(slot() for _ in range(concurrency)))
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            await heart.close()
        return counters

    async def consume(self, stream: str, group: str, consumer: str,
                      handler: Callable[..., Awaitable[Any]], *, batch_size: int = 100,
                      wait: Duration = 2, session_timeout: Duration = 30,
                      exactly_once: bool = False, backoff_base: float = 0.5,
                      backoff_max: float = 30.0, stop: Optional[asyncio.Event] = None,
                      install_signal_handlers: bool = True,
                      on_event: Optional[EventHook] = None) -> Counters:
        """A consumer-group member, as :class:`mq_client.StreamConsumer`:
        each batch is one transaction (poll, ``await handler(record)`` or,
        with ``exactly_once``, ``await handler(record, connection)``, then
        the commits of the positions); until ``stop`` is set or
        SIGTERM/SIGINT.  Returns the counters."""
        stopping: asyncio.Event = stop if stop is not None else asyncio.Event()
        counters = Counters()
        emit = Emitter(on_event if on_event is not None else self.on_event, counters)
        loop = asyncio.get_running_loop()
        signals: List[signal.Signals] = []
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stopping.set)
                signals.append(sig)
        conn: Optional[psycopg.AsyncConnection[Any]] = None
        failures = 0
        try:
            while not stopping.is_set():
                try:
                    if conn is None or conn.closed:
                        conn = await self.connect()
                    async with conn.transaction():
                        cur = await conn.execute(*_sql.poll(stream, group, consumer, batch_size,
                                                            wait, session_timeout))
                        rows = await cur.fetchall()
                        last: Dict[int, int] = {}
                        for row in rows:
                            record = _sql.record_of(stream, row)
                            if exactly_once:
                                await handler(record, conn)
                            else:
                                await handler(record)
                            last[record.partition] = record.position
                        for partition, position in sorted(last.items()):
                            await conn.execute("SELECT mq.commit(%s, %s, %s, %s, %s)",
                                               (stream, group, consumer, partition,
                                                position + 1))
                    failures = 0
                    if rows:
                        counters.add("records", len(rows))
                        emit("committed", queue=stream, extra={"positions": last})
                except Exception as exc:
                    if is_fencing_error(exc):
                        emit("fenced", queue=stream, error=exc)
                        continue
                    failures += 1
                    if conn is not None and is_connection_error(exc):
                        await conn.close()
                        conn = None
                        delay = backoff(failures, self.backoff_base, self.backoff_max)
                        emit("reconnect", queue=stream, error=exc, delay=delay)
                    else:
                        delay = backoff(failures, backoff_base, backoff_max)
                        emit("failed", queue=stream, error=exc, delay=delay)
                    try:
                        await asyncio.wait_for(stopping.wait(), delay)
                    except asyncio.TimeoutError:
                        pass
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            if conn is not None:
                await conn.close()
        return counters

    async def serve(self, queue: str, handler: AsyncHandler, concurrency: int = 1,
                    **options: Any) -> Counters:
        """Answer requests: the handler's return value is the reply."""
        return await self.work(queue, handler, concurrency, reply=True, **options)

    async def request(self, queue: str, body: Any, timeout: float = 30.0,
                      **properties: Any) -> Message:
        """As :meth:`mq_client.Client.request`."""
        if self._reply_queue is None:
            self._reply_queue = f"mq_reply_{uuid.uuid4().hex[:20]}"
            await self.create_queue(self._reply_queue)
            self._reply_task = asyncio.create_task(self._read_replies(self._reply_queue))
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        try:
            properties.setdefault("ttl", timeout)
            await self.send(queue, body, reply_to=self._reply_queue,
                            correlation_id=correlation_id, **properties)
            try:
                return await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                self._emit("request_timeout", queue=queue)
                raise RequestTimeout(f"no reply to the request {correlation_id} on queue "
                                     f"{queue!r} within {timeout} s") from None
        finally:
            self._pending.pop(correlation_id, None)

    async def _read_replies(self, reply_queue: str) -> None:
        conn: Optional[psycopg.AsyncConnection[Any]] = None
        attempt = 0
        try:
            while True:
                try:
                    if conn is None or conn.closed:
                        conn = await self.connect()
                    cur = await conn.execute(*_sql.read(reply_queue, 100, 60, 1))
                    rows = await cur.fetchall()
                    attempt = 0
                except Exception as exc:
                    if conn is not None:
                        await conn.close()
                    conn = None
                    attempt += 1
                    await asyncio.sleep(backoff(attempt, self.backoff_base, self.backoff_max))
                    self._emit("reconnect", queue=reply_queue, error=exc)
                    continue
                for row in rows:
                    m = _sql.message_of(reply_queue, row)
                    await conn.execute("SELECT mq.ack(%s, %s)", (reply_queue, m.msg_id))
                    f = self._pending.pop(m.correlation_id or "", None)
                    if f is not None and not f.done():
                        f.set_result(m)
                    else:
                        self._emit("reply_dropped", queue=reply_queue, msg_id=m.msg_id)
        finally:
            if conn is not None:
                await conn.close()
