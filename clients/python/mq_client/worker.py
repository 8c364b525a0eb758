"""A queue worker: N handlers at once, ack after the handler, nack with
backoff, leases extended while a handler runs, graceful shutdown."""
from __future__ import annotations

import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

import psycopg
from psycopg import errors as pgerrors

from . import _sql
from ._events import Counters, Emitter, EventHook, backoff
from ._sql import Duration, Message
from .errors import is_connection_error

if TYPE_CHECKING:
    from .client import Client

Handler = Callable[..., Any]


class _Lease:
    __slots__ = ("msg_id", "extend_at")

    def __init__(self, msg_id: int, extend_at: float) -> None:
        self.msg_id = msg_id
        self.extend_at = extend_at


class _Stopper:
    """SIGTERM and SIGINT set an event while installed (main thread only);
    the previous handlers come back afterwards."""

    def __init__(self, event: threading.Event, install: bool) -> None:
        self.event = event
        self.install = install and threading.current_thread() is threading.main_thread()
        self.previous: Dict[int, Any] = {}

    def __enter__(self) -> "_Stopper":
        if self.install:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, lambda signum, frame: self.event.set())
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class Worker:
    """Runs ``handler(message)`` on a queue's messages, ``concurrency`` at a
    time, each thread on its own connection (plus one that extends leases).

    - The message is acked after the handler returns (with ``batch_acks``,
      the default, those of one read together in one ``mq.ack_batch`` once
      the last handler of the read has returned; they stay leased until
      then); if it raises, the message is nacked with exponential backoff
      and jitter
      (``backoff_base`` * 2 ** (read_ct - 1), at most ``backoff_max``
      seconds); the queue's ``max_receives`` sends poison messages to its
      dead-letter queue.
    - While a message is leased, its lease is extended (``mq.set_vt``) each
      time ``lease_margin`` of ``visibility_timeout`` has passed, so a slow
      handler is never delivered twice.
    - Reads block up to ``wait`` seconds (woken at once by a send); there
      is no busy poll.
    - ``stop()``, SIGTERM or SIGINT (``install_signal_handlers``, in the
      main thread): reading stops, running handlers finish and are acked
      (or nacked), messages read but not started are given back at once,
      then ``run()`` returns.
    - ``transactional=True``: each batch of ``batch_size`` messages is one
      transaction in which ``handler(message, connection)`` runs (each in a
      savepoint) with the user's own writes on that connection, the acks
      of those that succeeded and the nacks of those that failed: the work
      and its ack commit together (a transactional inbox).
    - ``reply=True`` (see :meth:`Client.serve`): the handler's return value
      is sent to the message's ``reply_to`` in the transaction of its ack.
    - ``on_event`` gets an :class:`Event` per delivery, success, failure,
      retry, lease extension, lost lease, reconnect; ``counters`` counts them.
    """

    def __init__(self, client: "Client", queue: str, handler: Handler, *, concurrency: int = 1,
                 batch_size: int = 1, visibility_timeout: Duration = 30, wait: Duration = 2,
                 backoff_base: float = 1.0, backoff_max: float = 300.0,
                 lease_margin: float = 0.5, transactional: bool = False, reply: bool = False,
                 batch_acks: bool = True,
                 install_signal_handlers: bool = True,
                 on_event: Optional[EventHook] = None) -> None:
        if concurrency < 1 or batch_size < 1:
            raise ValueError("concurrency and batch_size must be at least 1")
        if not 0 < lease_margin < 1:
            raise ValueError("lease_margin must be between 0 and 1 (a part of the lease)")
        self.client = client
        self.queue = queue
        self.handler = handler
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.visibility_timeout = _sql.interval(visibility_timeout)
        assert self.visibility_timeout is not None
        self.vt_seconds = self.visibility_timeout.total_seconds()
        if self.vt_seconds <= 0:
            raise ValueError("visibility_timeout must be positive")
        self.wait = wait
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.lease_margin = lease_margin
        self.transactional = transactional
        self.reply = reply
        self.batch_acks = batch_acks and not reply
        self.install_signal_handlers = install_signal_handlers
        self.counters = Counters()
        self._emit = Emitter(on_event if on_event is not None else client.on_event, self.counters)
        self._stop = threading.Event()
        self._leases: Dict[int, _Lease] = {}
        self._leases_lock = threading.Lock()
        self._lease_wakeup = threading.Event()
        self._slots_done = threading.Event()
        self._threads: List[threading.Thread] = []
        self.error: Optional[BaseException] = None

    # -- control ---------------------------------------------------------------
    def stop(self) -> None:
        """Ask the worker to finish (safe from any thread and from a handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        """Start the threads and return (no signal handlers); ``join()`` waits."""
        self._slots_done.clear()
        heart = threading.Thread(target=self._heartbeat, name=f"mq-lease-{self.queue}",
                                 daemon=True)
        self._threads = [threading.Thread(target=self._slot, name=f"mq-worker-{self.queue}-{i}",
                                          daemon=True)
                         for i in range(self.concurrency)]
        for t in self._threads:
            t.start()
        heart.start()
        self._heart = heart

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the slots to finish; True once everything has stopped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            # short joins, so that the main thread runs its signal handlers
            while t.is_alive():
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                t.join(0.2)
        self._slots_done.set()
        self._lease_wakeup.set()
        self._heart.join(10)
        return not self._heart.is_alive()

    def run(self) -> None:
        """Work until stopped (SIGTERM/SIGINT or ``stop()``); raises the
        error that stopped it, if a read failed for another reason than a
        lost connection (no such queue, say)."""
        with _Stopper(self._stop, self.install_signal_handlers):
            self.start()
            self.join()
        if self.error is not None:
            raise self.error

    # -- leases ------------------------------------------------------------------
    def _lease(self, msgs: List[Message]) -> None:
        extend_at = time.monotonic() + self.vt_seconds * self.lease_margin
        with self._leases_lock:
            for m in msgs:
                self._leases[m.msg_id] = _Lease(m.msg_id, extend_at)
        # (the heartbeat looks at least every half of lease_margin's part
        # of the lease, so a new lease needs no wakeup)

    def _unlease(self, msg_ids: List[int]) -> None:
        with self._leases_lock:
            for i in msg_ids:
                self._leases.pop(i, None)

    def _heartbeat(self) -> None:
        """Extend each lease before it runs out, until the slots are done."""
        conn: Optional[psycopg.Connection[Any]] = None
        while not self._slots_done.is_set():
            now = time.monotonic()
            with self._leases_lock:
                due = [lease for lease in self._leases.values() if lease.extend_at <= now]
                upcoming = [lease.extend_at for lease in self._leases.values()
                            if lease.extend_at > now]
            for lease in due:
                try:
                    if conn is None or conn.closed:
                        conn = self.client.connect()
                    row = conn.execute("SELECT mq.set_vt(%s, %s, %s)",
                                       (self.queue, lease.msg_id,
                                        self.visibility_timeout)).fetchone()
                except Exception as exc:
                    if conn is not None and is_connection_error(exc):
                        conn.close()
                        conn = None
                    self._emit("lease_lost", queue=self.queue, msg_id=lease.msg_id, error=exc)
                    continue
                with self._leases_lock:
                    held = lease.msg_id in self._leases
                    lease.extend_at = time.monotonic() + self.vt_seconds * self.lease_margin
                if row is None or row[0] is None:
                    if held:  # gone while its handler runs: someone else may get it
                        self._emit("lease_lost", queue=self.queue, msg_id=lease.msg_id)
                        self._unlease([lease.msg_id])
                elif held:
                    self._emit("lease_extended", queue=self.queue, msg_id=lease.msg_id)
            longest = min(1.0, self.vt_seconds * self.lease_margin / 2)
            timeout = (min(upcoming) - time.monotonic()) if upcoming else longest
            self._lease_wakeup.wait(max(0.01, min(timeout, longest)))
            self._lease_wakeup.clear()
        if conn is not None:
            conn.close()

    # -- slots --------------------------------------------------------------------
    def _slot(self) -> None:
        conn: Optional[psycopg.Connection[Any]] = None
        attempt = 0
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = self.client.connect()
                query, params = _sql.read(self.queue, self.batch_size, self.visibility_timeout,
                                          self.wait)
                rows = conn.execute(query, params, binary=True).fetchall()
                attempt = 0
            except Exception as exc:
                if not is_connection_error(exc):
                    # no such queue, a bad option: every slot would fail
                    # the same way; run() raises it
                    if self.error is None:
                        self.error = exc
                    self._stop.set()
                    break
                if conn is not None:
                    conn.close()
                conn = None
                attempt += 1
                delay = backoff(attempt, self.client.backoff_base, self.client.backoff_max)
                self._emit("reconnect", queue=self.queue, error=exc, delay=delay)
                self._stop.wait(delay)
                continue
            if not rows:
                continue
            msgs = [_sql.message_of(self.queue, r) for r in rows]
            self._lease(msgs)
            try:
                if self.transactional:
                    self._handle_batch(conn, msgs)
                else:
                    done: List[Message] = []
                    try:
                        for i, m in enumerate(msgs):
                            if self._stop.is_set():
                                self._release(conn, msgs[i:])
                                break
                            self._handle(conn, m, done if self.batch_acks else None)
                    finally:
                        if done:
                            self._ack_done(conn, done)
            except Exception as exc:
                # the connection broke while acking: the messages come again
                # after their leases end
                self._emit("reconnect", queue=self.queue, error=exc)
                if conn is not None:
                    conn.close()
                conn = None
            finally:
                self._unlease([m.msg_id for m in msgs])
        if conn is not None:
            conn.close()

    def _retry_delay(self, m: Message) -> float:
        return backoff(m.read_ct, self.backoff_base, self.backoff_max)

    def _ack_done(self, conn: psycopg.Connection[Any], done: List[Message]) -> None:
        """One mq.ack_batch for the messages of a read whose handlers
        returned (leased, and extended, until then)."""
        self._unlease([m.msg_id for m in done])
        conn.execute("SELECT mq.ack_batch(%s, %s::bigint[])",
                     (self.queue, [m.msg_id for m in done]))
        for m in done:
            self._emit("succeeded", queue=self.queue, msg_id=m.msg_id, read_ct=m.read_ct)

    def _handle(self, conn: psycopg.Connection[Any], m: Message,
                done: Optional[List[Message]] = None) -> None:
        self._emit("delivered", queue=self.queue, msg_id=m.msg_id, read_ct=m.read_ct)
        try:
            result = self.handler(m)
        except Exception as exc:
            delay = self._retry_delay(m)
            self._unlease([m.msg_id])
            self._emit("failed", queue=self.queue, msg_id=m.msg_id, read_ct=m.read_ct,
                       error=exc, delay=delay)
            conn.execute("SELECT mq.nack(%s, %s, %s)",
                         (self.queue, m.msg_id, _sql.interval(delay)))
            self._emit("retried", queue=self.queue, msg_id=m.msg_id, read_ct=m.read_ct,
                       delay=delay)
            return
        if done is not None:  # acked with the others of its read
            done.append(m)
            return
        self._unlease([m.msg_id])
        if self.reply:
            with conn.transaction():
                self._send_reply(conn, m, result)
                conn.execute("SELECT mq.ack(%s, %s)", (self.queue, m.msg_id))
        else:
            conn.execute("SELECT mq.ack(%s, %s)", (self.queue, m.msg_id))
        self._emit("succeeded", queue=self.queue, msg_id=m.msg_id, read_ct=m.read_ct)

    def _send_reply(self, conn: psycopg.Connection[Any], m: Message, result: Any) -> None:
        if not m.reply_to:
            return
        try:
            with conn.transaction():  # a savepoint: a reply queue gone is no error
                conn.execute(*_sql.send(m.reply_to, result,
                                        {"correlation_id": m.correlation_id}))
        except pgerrors.UndefinedObject as exc:
            self._emit("reply_dropped", queue=m.reply_to, msg_id=m.msg_id, error=exc)

    def _handle_batch(self, conn: psycopg.Connection[Any], msgs: List[Message]) -> None:
        ok: List[Message] = []
        failed: List[Message] = []
        with conn.transaction():
            for m in msgs:
                self._emit("delivered", queue=self.queue, msg_id=m.msg_id, read_ct=m.read_ct)
                try:
                    with conn.transaction():
                        result = self.handler(m, conn)
                        if self.reply:
                            self._send_reply(conn, m, result)
                except Exception as exc:
                    failed.append(m)
                    self._emit("failed", queue=self.queue, msg_id=m.msg_id, read_ct=m.read_ct,
                               error=exc)
                else:
                    ok.append(m)
            self._unlease([m.msg_id for m in msgs])
            if ok:
                conn.execute("SELECT mq.ack_batch(%s, %s::bigint[])",
                             (self.queue, [m.msg_id for m in ok]))
            for m in failed:
                delay = self._retry_delay(m)
                conn.execute("SELECT mq.nack(%s, %s, %s)",
                             (self.queue, m.msg_id, _sql.interval(delay)))
                self._emit("retried", queue=self.queue, msg_id=m.msg_id, read_ct=m.read_ct,
                           delay=delay)
        for m in ok:
            self._emit("succeeded", queue=self.queue, msg_id=m.msg_id, read_ct=m.read_ct)

    def _release(self, conn: psycopg.Connection[Any], msgs: List[Message]) -> None:
        """Give back messages read but not started (shutdown)."""
        self._unlease([m.msg_id for m in msgs])
        for m in msgs:
            conn.execute("SELECT mq.nack(%s, %s, '0')", (self.queue, m.msg_id))
            self._emit("released", queue=self.queue, msg_id=m.msg_id, read_ct=m.read_ct)
