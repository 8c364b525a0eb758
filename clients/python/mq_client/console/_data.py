"""What the console reads from and does to mq, as the role of its DSN.

Every name and body travels as a statement parameter.  The privileges
computed here only decide which buttons a page shows: mq checks every
action again (a refused one fails with ``insufficient_privilege``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple

import psycopg
from psycopg.rows import dict_row

from .._sql import Message
from ..client import Transaction, connect

Row = Dict[str, Any]


def open_connection(dsn: str, name: str = "mq console") -> psycopg.Connection[Any]:
    """An autocommit connection as the DSN's role."""
    return connect(dsn, application_name=name)


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


def rows(conn: psycopg.Connection[Any], query: str, params: Tuple[Any, ...] = ()) -> List[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def queues(conn: psycopg.Connection[Any]) -> List[Row]:
    """Every queue (the catalog shows names to everybody), with its
    metrics where the role holds a privilege on it (else ``metrics`` None)."""
    metrics = {r["queue_name"]: r for r in rows(conn, "SELECT * FROM mq.metrics_all()")}
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
    found = rows(conn, "SELECT * FROM mq.metrics_all() WHERE queue_name = %s", (name,))
    return found[0] if found else None


def peek(conn: psycopg.Connection[Any], name: str, limit: int) -> List[Message]:
    """The next messages in delivery order, whatever their state, without
    leasing them (mq.peek(): nothing changes; needs ``read`` on the queue)."""
    return Transaction(conn).peek(name, limit)


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


def sample(conn: psycopg.Connection[Any]) -> Tuple[List[Row], List[Row]]:
    """One sample for the charts: every visible queue's metrics, and every
    visible stream partition's end with its groups' positions."""
    qs = rows(conn, "SELECT queue_name, queue_length, visible, in_flight, delayed,"
              " archive_length, dead_lettered, expired, dropped,"
              " extract(epoch FROM oldest_msg_age)::float8 AS oldest_age FROM mq.metrics_all()")
    visible = [n for n, p in privileges(conn, "stream").items() if p]
    ss = rows(conn, "SELECT s.stream, p AS partition, mq.stream_end(s.stream, p) AS end_position"
              " FROM mq.streams s, generate_series(0, s.partitions - 1) AS p"
              " WHERE s.stream = ANY(%s)", (visible,))
    gs = rows(conn, "SELECT stream, consumer_group, partition, committed_position, lag"
              " FROM mq.consumer_groups WHERE stream = ANY(%s)", (visible,))
    for s in ss:
        s["groups"] = {g["consumer_group"]: g for g in gs
                       if g["stream"] == s["stream"] and g["partition"] == s["partition"]}
    return qs, ss
