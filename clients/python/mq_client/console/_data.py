"""What the console reads from and does to mq, as the role of its DSN.

Every name and body travels as a statement parameter.  The privileges
computed here only decide which buttons a page shows: mq checks every
action again (a refused one fails with ``insufficient_privilege``).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from ..client import connect

Row = Dict[str, Any]


def open_connection(dsn: str, name: str = "mq console",
                    connect_timeout: int = 10) -> psycopg.Connection[Any]:
    """An autocommit connection as the DSN's role, giving up after
    connect_timeout seconds (unless the DSN says otherwise)."""
    params = conninfo_to_dict(dsn) if dsn else {}
    extra = {} if "connect_timeout" in params else {"connect_timeout": connect_timeout}
    return connect(dsn, application_name=name, **extra)


@contextmanager
def limited(conn: psycopg.Connection[Any], seconds: float) -> Iterator[None]:
    """A transaction whose statements and lock waits end after seconds
    (SET LOCAL: nothing outlives it, through a transaction pooler too)."""
    ms = str(max(1, int(seconds * 1000)))
    with conn.transaction():
        conn.execute("SELECT set_config('statement_timeout', %s, true),"
                     " set_config('lock_timeout', %s, true)", (ms, ms))
        yield


_PRIVILEGES = """
SELECT o.name,
       coalesce(array_agg(DISTINCT p.privilege) FILTER (WHERE p.privilege IS NOT NULL),
                '{}') AS granted,
       bool_or(r.rolsuper) OR coalesce(pg_has_role(current_user, o.owner, 'MEMBER'), false)
           AS owns
FROM (SELECT queue_name AS name, owner, 'queue' AS kind FROM mq.queues
      UNION ALL SELECT stream, owner, 'stream' FROM mq.streams
      UNION ALL SELECT exchange_name, owner, 'exchange' FROM mq.exchanges) o
     CROSS JOIN pg_roles r
     LEFT JOIN mq.privileges p
       ON p.object_type = o.kind AND p.object_name = o.name
      AND (p.grantee = 'public' OR pg_has_role(current_user, p.grantee, 'MEMBER'))
WHERE r.rolname = current_user AND o.kind = %s
GROUP BY o.name, o.owner
"""

ALL = {"queue": {"send", "read", "manage"}, "stream": {"send", "read", "manage"},
       "exchange": {"publish", "manage"}}


def privileges(conn: psycopg.Connection[Any], kind: str) -> Dict[str, Set[str]]:
    """For each queue, stream or exchange (kind), the mq privileges the
    current role holds on it: owners and superusers hold all of them."""
    out: Dict[str, Set[str]] = {}
    for name, granted, owns in conn.execute(_PRIVILEGES, (kind,)).fetchall():
        out[name] = set(ALL[kind]) if owns else set(granted)
    return out


def rows(conn: psycopg.Connection[Any], query: str, params: Any = ()) -> List[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def queues(conn: psycopg.Connection[Any]) -> List[Row]:
    """Every queue (the catalog shows names to everybody), with its
    metrics where the role holds a privilege on it (else ``metrics`` None)."""
    metrics = {r["queue_name"]: r for r in retried(conn, "SELECT * FROM mq.metrics_all()")}
    out = rows(conn, "SELECT * FROM mq.queues ORDER BY queue_name")
    for q in out:
        q["metrics"] = metrics.get(q["queue_name"])
    return out


def queue(conn: psycopg.Connection[Any], name: str) -> Optional[Row]:
    found = rows(conn, "SELECT * FROM mq.queues WHERE queue_name = %s", (name,))
    if not found:
        return None
    q = found[0]
    q["metrics"] = metrics(conn, name)
    q["dead_letter_sources"] = [r["queue_name"] for r in rows(
        conn, "SELECT queue_name FROM mq.queues WHERE dead_letter_queue = %s"
        " ORDER BY queue_name", (name,))]
    return q


def metrics(conn: psycopg.Connection[Any], name: str) -> Optional[Row]:
    """mq.metrics of a queue, or None without a privilege on it."""
    found = retried(conn, "SELECT * FROM mq.metrics_all() WHERE queue_name = %s", (name,))
    return found[0] if found else None


_PEEK = """
SELECT p.msg_id, p.state, p.read_ct, p.enqueued_at, p.priority, p.group_key,
       p.content_type, p.correlation_id, p.sent_by,
       left(p.headers::text, %(clip)s) AS headers_text,
       left(p.body::text, %(clip)s) AS body_text, octet_length(p.body::text) AS body_size,
       substring(p.payload FOR %(clip)s) AS payload, octet_length(p.payload) AS payload_size
FROM mq.peek(%(queue)s, %(limit)s) AS p
"""


def peek(conn: psycopg.Connection[Any], name: str, limit: int, clip: int) -> List[Row]:
    """The next messages in delivery order, whatever their state, without
    leasing them (mq.peek(): nothing changes; needs ``read`` on the queue).
    Bodies and headers come as text or bytes clipped to clip characters or
    bytes, with their sizes: psycopg never parses a JSON body, however large
    or deeply nested."""
    return rows(conn, _PEEK, {"queue": name, "limit": limit, "clip": clip})


def streams(conn: psycopg.Connection[Any], visible: Set[str]) -> List[Row]:
    """Every stream; for those in visible (a privilege on them), each
    partition's start and end and the groups' total lag."""
    out = rows(conn, "SELECT * FROM mq.streams ORDER BY stream")
    lags = {(r["stream"]): r for r in rows(
        conn, "SELECT stream, sum(lag) AS lag, count(DISTINCT consumer_group) AS groups"
        " FROM mq.consumer_groups GROUP BY stream")}
    for s in out:
        s["ends"] = partitions(conn, s["stream"], s["partitions"]) \
            if s["stream"] in visible else None
        lag = lags.get(s["stream"])
        s["lag"] = lag["lag"] if lag and s["stream"] in visible else None
        s["groups"] = lag["groups"] if lag else 0
    return out


def partitions(conn: psycopg.Connection[Any], name: str, count: int) -> List[Row]:
    return rows(conn, "SELECT p AS partition, mq.stream_start(%s, p) AS start_position,"
                " mq.stream_end(%s, p) AS end_position"
                " FROM generate_series(0, %s - 1) AS p ORDER BY p", (name, name, count))


def stream(conn: psycopg.Connection[Any], name: str, visible: bool) -> Optional[Row]:
    found = rows(conn, "SELECT * FROM mq.streams WHERE stream = %s", (name,))
    if not found:
        return None
    s = found[0]
    s["ends"] = partitions(conn, name, s["partitions"]) if visible else None
    groups: Dict[str, List[Row]] = {}
    if visible:
        for r in rows(conn, "SELECT * FROM mq.consumer_groups WHERE stream = %s"
                      " ORDER BY consumer_group, partition", (name,)):
            groups.setdefault(r["consumer_group"], []).append(r)
    s["groups"] = groups
    return s


def exchanges(conn: psycopg.Connection[Any]) -> List[Row]:
    out = rows(conn, "SELECT * FROM mq.exchanges ORDER BY exchange_name")
    counts = {r["source"]: r["n"] for r in rows(
        conn, "SELECT source, count(*) AS n FROM mq.bindings GROUP BY source")}
    for e in out:
        e["bindings"] = counts.get(e["exchange_name"], 0)
    return out


def exchange(conn: psycopg.Connection[Any], name: str) -> Optional[Row]:
    found = rows(conn, "SELECT * FROM mq.exchanges WHERE exchange_name = %s", (name,))
    if not found:
        return None
    e = found[0]
    e["out"] = rows(conn, "SELECT * FROM mq.bindings WHERE source = %s"
                    " ORDER BY destination_type, destination, binding_key", (name,))
    e["in"] = rows(conn, "SELECT * FROM mq.bindings WHERE destination = %s"
                   " AND destination_type = 'exchange' ORDER BY source, binding_key", (name,))
    return e


SampledQueue = Tuple[str, float, float, float, float, float]
SampledStream = Tuple[str, float, Dict[str, Dict[int, float]]]
RETRIED = ("42704", "42P01")  # undefined_object, undefined_table


def retried(conn: psycopg.Connection[Any], query: str, params: Any = ()) -> List[Row]:
    """rows(), once more when mq.metrics_all() failed because a queue was
    being dropped meanwhile (its table or type gone: 42P01, 42704)."""
    for attempt in (1, 2):
        try:
            with conn.transaction():  # a savepoint inside a transaction
                return rows(conn, query, params)
        except psycopg.Error as e:
            if attempt == 2 or e.sqlstate not in RETRIED:
                raise
    raise AssertionError("unreachable")


def sample(conn: psycopg.Connection[Any], cap: int
           ) -> Tuple[List[SampledQueue], int, List[SampledStream], int]:
    """One sample for the charts, of at most cap queues and cap streams
    (the first by name) the role may see: each queue's (name, depth,
    visible, in flight, delayed, dead-lettered + expired); each stream's
    (name, records appended to all partitions, {group: {partition: lag}});
    and how many queues and streams there are in all."""
    found = retried(conn, "SELECT queue_name, queue_length, visible, in_flight, delayed,"
                    " coalesce(dead_lettered, 0) + coalesce(expired, 0) AS dead,"
                    " count(*) OVER () AS total FROM mq.metrics_all()"
                    " ORDER BY queue_name LIMIT %s", (cap,))
    qs = [(r["queue_name"], float(r["queue_length"] or 0), float(r["visible"] or 0),
           float(r["in_flight"] or 0), float(r["delayed"] or 0), float(r["dead"] or 0))
          for r in found]
    total_queues = int(found[0]["total"]) if found else 0
    visible = sorted(n for n, p in privileges(conn, "stream").items() if p)
    shown = visible[:cap]
    ends = {r["stream"]: float(r["ends"] or 0) for r in rows(
        conn, "SELECT s.stream, sum(mq.stream_end(s.stream, p)) AS ends"
        " FROM mq.streams s, generate_series(0, s.partitions - 1) AS p"
        " WHERE s.stream = ANY(%s) GROUP BY s.stream", (shown,))}
    lags: Dict[str, Dict[str, Dict[int, float]]] = {}
    for r in rows(conn, "SELECT stream, consumer_group, partition, lag"
                  " FROM mq.consumer_groups WHERE stream = ANY(%s)", (shown,)):
        lags.setdefault(r["stream"], {}).setdefault(r["consumer_group"], {})[
            int(r["partition"])] = float(r["lag"] or 0)
    ss = [(n, ends.get(n, 0.0), lags.get(n, {})) for n in shown]
    return qs, total_queues, ss, len(visible)
