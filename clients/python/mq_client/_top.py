"""``mqctl top``: a live view of queues, streams and consumer groups.

Rates are differences of counters between two samples divided by the time
between them:

- send rate: the queue's message ids (the identity sequence of its table:
  every send takes one, a rolled-back send too), read when the role may read
  mq's catalog (a superuser, the extension's owner); otherwise shown as -;
- ack rate: what left the queue other than as a dead letter, expiry or drop
  (sends - growth of the depth - those counters of ``mq.metrics_all()``):
  acks, pops, purges and redrives out of it;
- append rate: the sum of the stream's partition ends (``mq.stream_end``);
- a group's rate: the sum of its committed positions (``mq.consumer_groups``).
"""
from __future__ import annotations

import argparse
import curses
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import psycopg
from psycopg.rows import dict_row

Row = Dict[str, Any]

QUEUES_SQL = """
    SELECT m.queue_name AS queue, m.queue_length AS depth, m.visible, m.in_flight, m.delayed,
           extract(epoch FROM m.oldest_msg_age)::float8 AS oldest,
           m.dead_lettered + m.expired AS dead,
           m.dead_lettered + m.expired + m.dropped AS gone
    FROM mq.metrics_all() m"""
SENT_SQL = """
    SELECT q.queue_name AS queue,
           coalesce(pg_sequence_last_value(pg_get_serial_sequence(
               format('mq.%I', 'q_' || q.queue_id), 'msg_id')::regclass), 0) AS sent
    FROM mq._queue q"""
STREAMS_SQL = """
    SELECT s.stream, s.partitions,
           (SELECT sum(mq.stream_end(s.stream, p))
            FROM generate_series(0, s.partitions - 1) p)::bigint AS "end"
    FROM mq.streams s"""
GROUPS_SQL = """
    SELECT stream, consumer_group AS "group", sum(committed_position)::bigint AS committed,
           sum(lag)::bigint AS lag, count(DISTINCT consumer) AS consumers
    FROM mq.consumer_groups GROUP BY stream, consumer_group"""


@dataclass
class Sample:
    at: float
    queues: Dict[str, Row]
    streams: Dict[str, Row]
    groups: Dict[Tuple[str, str], Row]


@dataclass
class View:
    """What one refresh shows: the latest sample with its rates."""
    queues: List[Row] = field(default_factory=list)
    streams: List[Row] = field(default_factory=list)


class Sampler:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        cur = conn.execute("SELECT has_table_privilege('mq._queue', 'SELECT')")
        self.can_count_sends = bool(cur.fetchone()[0])  # type: ignore[index]

    def _rows(self, query: str) -> List[Row]:
        # once more when a queue was dropped while the query ran (its table
        # gone: 42P01, 42704); the next refresh shows it gone
        for attempt in (1, 2):
            try:
                with self.conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(query)
                    return cur.fetchall()
            except psycopg.Error as exc:
                if attempt == 2 or exc.sqlstate not in ("42P01", "42704"):
                    raise
        raise AssertionError("not reached")

    def sample(self) -> Sample:
        queues = {r["queue"]: r for r in self._rows(QUEUES_SQL)}
        if self.can_count_sends:
            for r in self._rows(SENT_SQL):
                if r["queue"] in queues:
                    queues[r["queue"]]["sent"] = int(r["sent"])
        return Sample(time.monotonic(), queues,
                      {r["stream"]: r for r in self._rows(STREAMS_SQL)},
                      {(r["stream"], r["group"]): r for r in self._rows(GROUPS_SQL)})


def _rate(new: Optional[int], old: Optional[int], seconds: float) -> Optional[float]:
    if new is None or old is None or seconds <= 0:
        return None
    return max(new - old, 0) / seconds


def view_of(cur: Sample, prev: Optional[Sample]) -> View:
    view = View()
    dt = 0.0 if prev is None else cur.at - prev.at
    for name, q in cur.queues.items():
        row = dict(q, send_rate=None, ack_rate=None)
        old = prev.queues.get(name) if prev else None
        if old is not None and "sent" in q and "sent" in old:
            sends = q["sent"] - old["sent"]
            row["send_rate"] = _rate(q["sent"], old["sent"], dt)
            acks = sends - (q["depth"] - old["depth"]) - (q["gone"] - old["gone"])
            row["ack_rate"] = _rate(acks, 0, dt)
        view.queues.append(row)
    for name, s in sorted(cur.streams.items()):
        old = prev.streams.get(name) if prev else None
        view.streams.append({"stream": name, "group": "", "rate": _rate(
            s["end"], old["end"] if old else None, dt), "end": s["end"], "lag": None,
            "consumers": None})
        for (stream, group), g in sorted(cur.groups.items()):
            if stream != name:
                continue
            oldg = prev.groups.get((stream, group)) if prev else None
            view.streams.append({"stream": "", "group": group, "rate": _rate(
                g["committed"], oldg["committed"] if oldg else None, dt), "end": None,
                "lag": g["lag"], "consumers": g["consumers"]})
    return view


def _num(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _age(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    show: Callable[[Row], str]
    sort: Callable[[Row], Any]


def _numeric(key: str) -> Callable[[Row], Any]:
    return lambda r: -1.0 if r.get(key) is None else float(r[key])


TOP_COLUMNS = (
    Column("queue", "QUEUE", 24, lambda r: str(r["queue"]), lambda r: str(r["queue"])),
    Column("send", "SEND/s", 9, lambda r: _num(r["send_rate"]), _numeric("send_rate")),
    Column("ack", "ACK/s", 9, lambda r: _num(r["ack_rate"]), _numeric("ack_rate")),
    Column("depth", "DEPTH", 9, lambda r: _num(r["depth"]), _numeric("depth")),
    Column("in_flight", "INFLIGHT", 9, lambda r: _num(r["in_flight"]), _numeric("in_flight")),
    Column("delayed", "DELAYED", 9, lambda r: _num(r["delayed"]), _numeric("delayed")),
    Column("oldest", "OLDEST", 8, lambda r: _age(r["oldest"]), _numeric("oldest")),
    Column("dead", "DEAD", 8, lambda r: _num(r["dead"]), _numeric("dead")),
)
STREAM_COLUMNS = (("STREAM", 24, "stream"), ("GROUP", 20, "group"), ("RATE/s", 9, "rate"),
                  ("END", 10, "end"), ("LAG", 10, "lag"), ("CONSUMERS", 9, "consumers"))


def render(view: View, sort_key: str, reverse: bool, title: str) -> List[Tuple[str, bool]]:
    """The screen as lines, each with whether it is a header line."""
    col = next(c for c in TOP_COLUMNS if c.key == sort_key)
    # numbers sort largest first (as htop), names A to Z; r reverses
    descending = (col.key != "queue") != reverse
    queues = sorted(view.queues, key=lambda r: str(r["queue"]))
    queues.sort(key=col.sort, reverse=descending)
    lines: List[Tuple[str, bool]] = [
        (title, False),
        (f"sort: {col.title}{' (reversed)' if reverse else ''}   keys: s/S sort column, "
         "r reverse, q quit", False), ("", False)]
    lines.append((" ".join(((c.title + ("*" if c is col else "")).ljust(c.width)
                            if c.key == "queue" else
                            (("*" if c is col else "") + c.title).rjust(c.width))
                           for c in TOP_COLUMNS), True))
    for r in queues:
        lines.append((" ".join(c.show(r).ljust(c.width) if c.key == "queue" else
                               c.show(r).rjust(c.width) for c in TOP_COLUMNS), False))
    if not queues:
        lines.append(("(no queues)", False))
    lines.append(("", False))
    lines.append((" ".join(t.ljust(w) if i < 2 else t.rjust(w)
                           for i, (t, w, _) in enumerate(STREAM_COLUMNS)), True))
    for r in view.streams:
        lines.append((" ".join((str(r[k]).ljust(w) if i < 2 else _num(r[k]).rjust(w))
                               for i, (_, w, k) in enumerate(STREAM_COLUMNS)), False))
    if not view.streams:
        lines.append(("(no streams)", False))
    return lines


def _title(conn: psycopg.Connection[Any]) -> str:
    info = conn.info
    return (f"mqctl top - {info.dbname} on {info.host}:{info.port} - "
            f"{time.strftime('%H:%M:%S')}")


def cmd_top(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    sampler = Sampler(conn)
    if args.once:
        first = sampler.sample()
        time.sleep(args.interval)
        lines = render(view_of(sampler.sample(), first), args.sort, False, _title(conn))
        sys.stdout.write("".join(text.rstrip() + "\n" for text, _ in lines))
        return 0
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("mqctl: top needs a terminal; use --once for text", file=sys.stderr)
        return 2
    try:
        curses.wrapper(_run, sampler, args)
    except KeyboardInterrupt:
        pass
    return 0


def _run(screen: Any, sampler: Sampler, args: argparse.Namespace) -> None:
    try:
        curses.curs_set(0)
    except curses.error:
        pass
    screen.timeout(100)
    keys = [c.key for c in TOP_COLUMNS]
    sort_key, reverse = args.sort, False
    prev: Optional[Sample] = None
    view = View()
    refreshes = 0
    next_at = time.monotonic()
    while True:
        redraw = False
        if time.monotonic() >= next_at:
            cur = sampler.sample()
            view = view_of(cur, prev)
            prev = cur
            refreshes += 1
            next_at += args.interval
            if next_at < time.monotonic():
                next_at = time.monotonic() + args.interval
            redraw = True
        key = screen.getch()
        if key in (ord("q"), ord("Q"), 27):
            return
        if key == ord("s"):
            sort_key = keys[(keys.index(sort_key) + 1) % len(keys)]
            redraw = True
        elif key == ord("S"):
            sort_key = keys[(keys.index(sort_key) - 1) % len(keys)]
            redraw = True
        elif key == ord("r"):
            reverse, redraw = not reverse, True
        elif key == curses.KEY_RESIZE:
            redraw = True
        if redraw:
            _draw(screen, render(view, sort_key, reverse, _title(sampler.conn)))
            if args.iterations is not None and refreshes >= args.iterations:
                return


def _draw(screen: Any, lines: List[Tuple[str, bool]]) -> None:
    height, width = screen.getmaxyx()
    screen.erase()
    for y, (text, header) in enumerate(lines[:height]):
        try:
            screen.addnstr(y, 0, text, width - 1, curses.A_REVERSE if header else 0)
        except curses.error:
            pass
    screen.refresh()
