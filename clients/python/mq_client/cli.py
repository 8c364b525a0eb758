"""mqctl: the command line of mq (``mqctl --help``; reference: doc/mqctl.md).

Every subcommand opens one autocommit connection from ``--dsn`` or the
``PG*`` environment variables.  Exit codes: 0 success; 1 an error (the
server's, printed with its SQLSTATE, or a failed operation); 2 bad usage
(arguments, input, or a destructive command without ``--yes`` when standard
input is not a terminal); 130 interrupted (Ctrl-C, except ``tail`` and
``top``, which end cleanly with 0).
"""
from __future__ import annotations

import argparse
import base64
import datetime
import decimal
import importlib
import json
import os
import select
import sys
import time
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb, set_json_loads

from . import __version__
from ._top import TOP_COLUMNS, cmd_top

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
TAIL_WINDOW = 10000

Row = Dict[str, Any]
MESSAGE_FIELDS = ("msg_id", "read_ct", "enqueued_at", "vt", "priority", "group_key",
                  "dedup_key", "headers", "body", "payload", "content_type",
                  "content_encoding", "correlation_id", "reply_to", "expires_at", "sent_by")
RECORD_FIELDS = ("partition", "position", "key", "headers", "body", "appended_at", "payload",
                 "content_type", "content_encoding", "correlation_id", "reply_to", "sent_by")


class Failure(Exception):
    """An error of mqctl itself: printed as ``mqctl: message``, exit code 1
    (or the code given)."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


# -- JSON that keeps numbers exactly ----------------------------------------
def _loads(text: str | bytes) -> Any:
    """JSON with decimals kept as written (jsonb stores numerics exactly)."""
    return json.loads(text, parse_float=decimal.Decimal)


def dump_json(value: Any) -> str:
    """Compact JSON of a value that may hold Decimals (written as they are),
    datetimes (ISO 8601), intervals (seconds) and bytes (base64)."""
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ValueError(f"not a JSON number: {value}")
        return format(value, "f")
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(json.dumps(str(k), ensure_ascii=False) + ": " + dump_json(v)
                               for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(dump_json(v) for v in value) + "]"
    if isinstance(value, datetime.datetime):
        return json.dumps(value.isoformat())
    if isinstance(value, datetime.timedelta):
        return json.dumps(value.total_seconds())
    if isinstance(value, (bytes, bytearray, memoryview)):
        return json.dumps(base64.b64encode(bytes(value)).decode("ascii"))
    return json.dumps(str(value))


def _plain(value: Any) -> Any:
    """A cell of a table or a JSON listing: intervals as seconds, Decimals of
    whole numbers as ints."""
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return int(value)
    return value


# -- connection and errors ---------------------------------------------------
def connect(dsn: Optional[str]) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn or "", autocommit=True, application_name="mqctl")
    set_json_loads(_loads, conn)
    conn.add_notice_handler(
        lambda d: print(f"mqctl: {d.severity or 'NOTICE'}: {d.message_primary}",
                        file=sys.stderr))
    return conn


def server_error(exc: psycopg.Error) -> str:
    """The server's error as psql shows it, with its SQLSTATE."""
    diag = exc.diag
    if exc.sqlstate:
        lines = [f"{diag.severity or 'ERROR'} {exc.sqlstate}: {diag.message_primary}"]
        if diag.message_detail:
            lines.append(f"DETAIL: {diag.message_detail}")
        if diag.message_hint:
            lines.append(f"HINT: {diag.message_hint}")
        return "\n".join(lines)
    return str(exc).strip() or type(exc).__name__


def rows(conn: psycopg.Connection[Any], query: Any, params: Any = None) -> List[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else []


# -- output --------------------------------------------------------------------
def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return dump_json(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S%z")
    return str(value)


def print_table(out: IO[str], headers: Sequence[str], table: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(v) for v in r] for r in table]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    out.write("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip() + "\n")
    for r in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def print_listing(args: argparse.Namespace, headers: Sequence[str], listing: List[Row]) -> None:
    if args.json:
        sys.stdout.write(dump_json([{h: _plain(r.get(h)) for h in headers}
                                    for r in listing]) + "\n")
    elif listing:
        print_table(sys.stdout, headers, [[r.get(h) for h in headers] for r in listing])
    else:
        print("(none)")


def message_line(row: Row, fields: Sequence[str]) -> Dict[str, Any]:
    """A message or record as exported: every field, bytes as
    ``payload_base64`` (the marker of a bytes message)."""
    out: Dict[str, Any] = {}
    for f in fields:
        if f == "payload":
            if row.get("payload") is not None:
                out["payload_base64"] = base64.b64encode(bytes(row["payload"])).decode("ascii")
        else:
            out[f] = row.get(f)
    return out


def message_summary(row: Row, limit: int = 200) -> str:
    """A body for people: JSON as it is, text payloads as text, other bytes
    as their size and type."""
    payload = row.get("payload")
    if payload is None:
        text = dump_json(row.get("body"))
    else:
        ctype = row.get("content_type") or "application/octet-stream"
        if ctype.startswith("text/"):
            text = json.dumps(bytes(payload).decode("utf-8", "replace"), ensure_ascii=False)
        else:
            text = f"<{len(payload)} bytes {ctype}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def print_messages(args: argparse.Namespace, messages: List[Row]) -> None:
    if args.json:
        sys.stdout.write(dump_json([message_line(m, MESSAGE_FIELDS) for m in messages]) + "\n")
        return
    if not messages:
        print("(no messages)")
        return
    now = datetime.datetime.now(datetime.timezone.utc)
    table = []
    for m in messages:
        state = m.get("state") or ("in_flight" if m["vt"] > now else "visible")
        table.append([m["msg_id"], state, m["read_ct"], m["priority"], m["enqueued_at"],
                      m.get("headers"), message_summary(m)])
    print_table(sys.stdout, ("msg_id", "state", "read_ct", "priority", "enqueued_at",
                             "headers", "body"), table)


# -- what exists ---------------------------------------------------------------
def is_stream(conn: psycopg.Connection[Any], name: str) -> bool:
    return bool(rows(conn, "SELECT 1 AS x FROM mq.streams WHERE stream = %s", (name,)))


PEEK_MAX = 10000     # the most mq.peek() returns in one call


def queue_messages(conn: psycopg.Connection[Any], queue: str, limit: int,
                   after: Optional[int] = None) -> List[Row]:
    """A queue's messages with their state, without leasing them
    (mq.peek(): needs the read privilege): without ``after`` the first
    ``limit`` in delivery order, with it those with a greater id, in id
    order."""
    return rows(conn, "SELECT * FROM mq.peek(%s, %s, %s)", (queue, limit, after))


def last_msg_id(conn: psycopg.Connection[Any], queue: str) -> int:
    """The highest id in a queue now (0 if empty), paging through mq.peek()."""
    last = 0
    while True:
        found = rows(conn, "SELECT count(*) AS n, max(msg_id) AS m FROM mq.peek(%s, %s, %s)",
                     (queue, PEEK_MAX, last))[0]
        if found["m"] is not None:
            last = found["m"]
        if found["n"] < PEEK_MAX:
            return last


# -- subcommands: listings ------------------------------------------------------
QUEUE_COLUMNS = ("queue", "depth", "visible", "in_flight", "delayed", "oldest_age_s",
                 "dead_letter_queue", "dead_lettered", "expired", "archived", "max_receives",
                 "fifo", "owner")


def cmd_queues(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    listing = rows(conn, """
        SELECT q.queue_name AS queue, m.queue_length AS depth, m.visible, m.in_flight,
               m.delayed, round(extract(epoch FROM m.oldest_msg_age), 3) AS oldest_age_s,
               q.dead_letter_queue, m.dead_lettered, m.expired, m.archive_length AS archived,
               q.max_receives, q.fifo, q.owner
        FROM mq.queues q JOIN mq.metrics_all() m USING (queue_name)
        ORDER BY q.queue_name""")
    print_listing(args, QUEUE_COLUMNS, listing)
    return EXIT_OK


def cmd_streams(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    listing = rows(conn, """
        SELECT s.stream, s.partitions,
               (SELECT sum(mq.stream_end(s.stream, p))
                FROM generate_series(0, s.partitions - 1) p) AS records_end,
               (SELECT count(DISTINCT g.consumer_group) FROM mq.consumer_groups g
                WHERE g.stream = s.stream) AS groups,
               s.retention, s.retention_bytes, s.owner
        FROM mq.streams s ORDER BY s.stream""")
    print_listing(args, ("stream", "partitions", "records_end", "groups", "retention",
                         "retention_bytes", "owner"), listing)
    return EXIT_OK


def cmd_groups(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    listing = rows(conn, """
        SELECT stream, consumer_group AS "group", partition, committed_position,
               end_position, lag, consumer, held_until
        FROM mq.consumer_groups WHERE %(s)s::text IS NULL OR stream = %(s)s
        ORDER BY stream, consumer_group, partition""", {"s": args.stream})
    print_listing(args, ("stream", "group", "partition", "committed_position", "end_position",
                         "lag", "consumer", "held_until"), listing)
    return EXIT_OK


def cmd_exchanges(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    listing = rows(conn, """
        SELECT e.exchange_name AS exchange, e.type, e.alternate_exchange, e.unroutable,
               b.destination, b.destination_type, b.binding_key, b.arguments
        FROM mq.exchanges e LEFT JOIN mq.bindings b ON b.source = e.exchange_name
        ORDER BY e.exchange_name, b.destination, b.binding_key""")
    print_listing(args, ("exchange", "type", "alternate_exchange", "unroutable", "destination",
                         "destination_type", "binding_key", "arguments"), listing)
    return EXIT_OK


def cmd_peek(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    print_messages(args, queue_messages(conn, args.queue, args.limit))
    return EXIT_OK


# -- subcommands: messages ------------------------------------------------------
def _seconds(value: Optional[float]) -> Optional[datetime.timedelta]:
    return None if value is None else datetime.timedelta(seconds=value)


def _json_arg(text: str, what: str) -> Any:
    try:
        return _loads(text)
    except ValueError as exc:
        raise Failure(f"{what} is not JSON: {exc}", EXIT_USAGE) from None


def cmd_send(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    body: Any = None
    payload: Optional[bytes] = None
    if sum(x is not None for x in (args.body, args.text, args.file)) > 1:
        raise Failure("give one of BODY, --text and --file", EXIT_USAGE)
    if args.file is not None:
        payload = sys.stdin.buffer.read() if args.file == "-" else _read_file(args.file)
    elif args.text is not None:
        payload = args.text.encode("utf-8")
    elif args.body is not None:
        body = _json_arg(sys.stdin.read() if args.body == "-" else args.body, "BODY")
    else:
        raise Failure("give a JSON BODY, --text TEXT or --file FILE", EXIT_USAGE)
    headers = None if args.headers is None else _json_arg(args.headers, "--headers")
    ctype = args.content_type
    if args.text is not None and ctype is None:
        ctype = "text/plain; charset=utf-8"
    params: Dict[str, Any] = {
        "name": args.name, "body": None if payload is not None else Jsonb(body, dump_json),
        "headers": None if headers is None else Jsonb(headers, dump_json),
        "payload": payload, "content_type": ctype, "content_encoding": args.content_encoding,
        "correlation_id": args.correlation_id, "reply_to": args.reply_to}
    if is_stream(conn, args.name):
        for opt in ("delay", "priority", "group", "dedup_key", "ttl"):
            if getattr(args, opt) is not None:
                raise Failure(f"--{opt.replace('_', '-')} is for queues; "
                              f'"{args.name}" is a stream', EXIT_USAGE)
        params["key"] = args.key
        found = rows(conn, """
            SELECT * FROM mq.append(%(name)s, %(body)s, key => %(key)s, headers => %(headers)s,
                payload => %(payload)s, content_type => %(content_type)s,
                content_encoding => %(content_encoding)s, correlation_id => %(correlation_id)s,
                reply_to => %(reply_to)s)""", params)
        result: Row = {"partition": found[0]["partition"], "position": found[0]["position"]}
    else:
        if args.key is not None:
            raise Failure(f'--key is for streams; "{args.name}" is a queue', EXIT_USAGE)
        params.update(delay=_seconds(args.delay) or datetime.timedelta(0),
                      priority=args.priority or 0, group_key=args.group,
                      dedup_key=args.dedup_key, ttl=_seconds(args.ttl))
        found = rows(conn, """
            SELECT mq.send(%(name)s, %(body)s, headers => %(headers)s, delay => %(delay)s,
                dedup_key => %(dedup_key)s, group_key => %(group_key)s,
                priority => %(priority)s, payload => %(payload)s,
                content_type => %(content_type)s, content_encoding => %(content_encoding)s,
                correlation_id => %(correlation_id)s, reply_to => %(reply_to)s,
                ttl => %(ttl)s) AS msg_id""", params)
        result = {"msg_id": found[0]["msg_id"]}
    if args.json:
        print(dump_json(result))
    else:
        print(" ".join(str(v) for v in result.values()))
    return EXIT_OK


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise Failure(f"cannot read {path}: {exc.strerror}") from None


def read_messages(conn: psycopg.Connection[Any], queue: str, count: int,
                  vt: Optional[float], wait: Optional[float]) -> List[Row]:
    return rows(conn, "SELECT * FROM mq.read(%s, %s, %s, %s)",
                (queue, count, _seconds(vt), _seconds(wait) or datetime.timedelta(0)))


def cmd_read(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    messages = read_messages(conn, args.queue, args.count, args.vt, args.wait)
    print_messages(args, messages)
    if args.ack and messages:
        rows(conn, "SELECT * FROM mq.ack_batch(%s, %s::bigint[])",
             (args.queue, [m["msg_id"] for m in messages]))
    return EXIT_OK


def cmd_ack(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    acked = {r["id"] for r in rows(conn, "SELECT id FROM mq.ack_batch(%s, %s::bigint[]) id",
                                   (args.queue, args.msg_ids))}
    missing = [i for i in args.msg_ids if i not in acked]
    if args.json:
        print(dump_json({"acked": sorted(acked), "missing": missing}))
    else:
        print(f"acked {len(acked)}")
    if missing:
        raise Failure(f'no message {", ".join(map(str, missing))} in queue "{args.queue}" '
                      "(acked already, or never sent)")
    return EXIT_OK


# -- tail ------------------------------------------------------------------------
def _emit(args: argparse.Namespace, line: Dict[str, Any], text: str) -> None:
    print(dump_json(line) if args.json else text, flush=True)


def cmd_tail(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    try:
        if is_stream(conn, args.name):
            _tail_stream(conn, args)
        else:
            _tail_queue(conn, args)
    except KeyboardInterrupt:
        pass    # Ctrl-C is how a tail ends
    return EXIT_OK


def _tail_queue(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    shown = 0
    if args.consume:
        # a consumer: waiting reads (woken by the commit of a send), each
        # message printed, then acked
        while args.count is None or shown < args.count:
            want = 100 if args.count is None else min(100, args.count - shown)
            for m in read_messages(conn, args.name, want, None, 5):
                _emit(args, message_line(m, MESSAGE_FIELDS),
                      f"{m['msg_id']}\t{message_summary(m, 10000)}")
                rows(conn, "SELECT mq.ack(%s, %s)", (args.name, m["msg_id"]))
                shown += 1
        return shown
    # arrivals, leaving them in the queue: LISTEN on the queue's channel (a
    # queue with notify), and a look at the table every --interval otherwise
    options = rows(conn, "SELECT notify FROM mq.queues WHERE queue_name = %s", (args.name,))
    if not options:
        raise Failure(f'queue "{args.name}" does not exist')
    if options[0]["notify"]:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier("mq." + args.name)))
    # (mq.peek() after an id: the messages above it, in id order)
    ids_query = "SELECT msg_id FROM mq.peek(%s, %s, %s) WHERE msg_id <= %s"
    late_query = "SELECT * FROM mq.peek(%s, %s, %s) WHERE msg_id = ANY(%s) ORDER BY msg_id"
    # the ids of a queue grow in the order of the sends, not of their
    # commits: ids up to TAIL_WINDOW below the highest one shown are looked
    # at again, so that a send that committed after later ones is shown too
    last = 0
    seen: set[int] = set()
    if not args.from_beginning:
        last = last_msg_id(conn, args.name)
        seen = {r["msg_id"] for r in rows(conn, ids_query, (args.name, PEEK_MAX,
                                                            last - TAIL_WINDOW, last))}
    while args.count is None or shown < args.count:
        window = rows(conn, ids_query, (args.name, PEEK_MAX, last - TAIL_WINDOW, last))
        late = [r["msg_id"] for r in window if r["msg_id"] not in seen]
        fresh = queue_messages(conn, args.name, 1000, last)
        for m in (rows(conn, late_query, (args.name, PEEK_MAX, min(late) - 1, late))
                  if late else []) + fresh:
            seen.add(m["msg_id"])
            last = max(last, m["msg_id"])
            _emit(args, message_line(m, MESSAGE_FIELDS),
                  f"{m['msg_id']}\t{message_summary(m, 10000)}")
            shown += 1
            if args.count is not None and shown >= args.count:
                return shown
        seen = {i for i in seen if i > last - TAIL_WINDOW}
        if len(fresh) < 1000:
            # sleeps until a notification arrives (the next query takes it
            # in) or the interval ends
            select.select([conn.fileno()], [], [], args.interval)
    return shown


def _tail_stream(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    # a consumer group of its own, dropped at the end: its waiting polls are
    # woken by the commit of an append
    group = f"mqctl_tail_{os.getpid()}_{int(time.time())}"
    rows(conn, "SELECT mq.create_consumer_group(%s, %s, %s)",
         (args.name, group, "earliest" if args.from_beginning else "latest"))
    shown = 0
    try:
        while args.count is None or shown < args.count:
            want = 100 if args.count is None else min(100, args.count - shown)
            for r in rows(conn, "SELECT * FROM mq.poll(%s, %s, %s, %s, %s)",
                          (args.name, group, "mqctl", want, datetime.timedelta(seconds=5))):
                _emit(args, message_line(r, RECORD_FIELDS),
                      f"{r['partition']}:{r['position']}\t{message_summary(r, 10000)}")
                shown += 1
    finally:
        try:
            rows(conn, "SELECT mq.drop_consumer_group(%s, %s)", (args.name, group))
        except psycopg.Error:
            pass
    return shown


# -- purge and redrive -----------------------------------------------------------
def confirm(args: argparse.Namespace, question: str) -> None:
    """Ask on a terminal; refuse (exit 2) without --yes when standard input
    is not one; exit 1 when the answer is not yes."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise Failure(f"{question.rstrip('?')}: refused without --yes "
                      "(standard input is not a terminal)", EXIT_USAGE)
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise Failure("nothing done")


def cmd_purge(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    depth = rows(conn, "SELECT queue_length FROM mq.metrics(%s)", (args.queue,))[0]
    confirm(args, f'Delete all {depth["queue_length"]} messages of queue "{args.queue}"?')
    purged = rows(conn, "SELECT mq.purge_queue(%s) AS n", (args.queue,))[0]["n"]
    print(dump_json({"purged": purged}) if args.json else f"purged {purged}")
    return EXIT_OK


def progress(total: Optional[int], what: str) -> Any:
    """A progress bar on standard error when it is a terminal (tqdm)."""
    from tqdm import tqdm  # type: ignore[import]
    return tqdm(total=total, desc=what, unit="msg", file=sys.stderr,
                disable=not sys.stderr.isatty(), dynamic_ncols=True)


def cmd_redrive(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    target = args.to
    if target is None:
        sources = [r["queue_name"] for r in rows(
            conn, "SELECT queue_name FROM mq.queues WHERE dead_letter_queue = %s "
            "ORDER BY queue_name", (args.queue,))]
        if len(sources) != 1:
            raise Failure(f'queue "{args.queue}" is the dead-letter queue of '
                          f'{len(sources)} queues{": " + ", ".join(sources) if sources else ""}'
                          "; name the target with --to", EXIT_USAGE)
        target = sources[0]
    depth = rows(conn, "SELECT visible FROM mq.metrics(%s)", (args.queue,))[0]["visible"]
    total = depth if args.max is None else min(depth, args.max)
    confirm(args, f'Move {total} messages from "{args.queue}" to "{target}"?')
    moved = 0
    with progress(total, "redrive") as bar:
        while args.max is None or moved < args.max:
            batch = args.batch if args.max is None else min(args.batch, args.max - moved)
            n = rows(conn, "SELECT mq.redrive(%s, %s, %s) AS n",
                     (args.queue, target, batch))[0]["n"]
            moved += n
            bar.update(n)
            if n < batch:
                break
    print(dump_json({"moved": moved, "to": target}) if args.json
          else f"moved {moved} to {target}")
    return EXIT_OK


# -- export and import ------------------------------------------------------------
def _open(path: Optional[str], mode: str) -> IO[Any]:
    if path is None or path == "-":
        return sys.stdout if "w" in mode else sys.stdin
    try:
        return open(path, mode, encoding="utf-8")
    except OSError as exc:
        raise Failure(f"cannot open {path}: {exc.strerror}") from None


def _export_rows(conn: psycopg.Connection[Any], name: str) -> Iterator[Dict[str, Any]]:
    if is_stream(conn, name):
        parts = rows(conn, "SELECT partitions FROM mq.streams WHERE stream = %s", (name,))
        for p in range(parts[0]["partitions"]):
            pos = rows(conn, "SELECT mq.stream_start(%s, %s) AS s", (name, p))[0]["s"]
            end = rows(conn, "SELECT mq.stream_end(%s, %s) AS e", (name, p))[0]["e"]
            while pos < end:
                batch = rows(conn, "SELECT * FROM mq.read_stream(%s, %s, %s, 1000)",
                             (name, p, pos))
                if not batch:
                    break
                for r in batch:
                    yield message_line(r, RECORD_FIELDS)
                pos = batch[-1]["position"] + 1
        return
    last = 0
    while True:
        batch = queue_messages(conn, name, 1000, last)
        for m in batch:
            yield message_line(m, MESSAGE_FIELDS)
        if len(batch) < 1000:
            return
        last = batch[-1]["msg_id"]


def cmd_export(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    out = _open(args.file, "w")
    n = 0
    # one snapshot for a queue's whole export
    conn.autocommit = is_stream(conn, args.name)
    if not conn.autocommit:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    try:
        with progress(None, "export") as bar:
            for line in _export_rows(conn, args.name):
                out.write(dump_json(line) + "\n")
                n += 1
                bar.update(1)
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    if not conn.autocommit:
        conn.rollback()
    print(f"exported {n}", file=sys.stderr)
    return EXIT_OK


def _interval_until(value: Any, now: datetime.datetime) -> Optional[datetime.timedelta]:
    if value is None:
        return None
    return datetime.datetime.fromisoformat(str(value)) - now


def _import_params(name: str, line: Dict[str, Any], stream: bool,
                   now: datetime.datetime) -> Dict[str, Any]:
    if not isinstance(line, dict):
        raise ValueError("not a JSON object")
    b64 = line.get("payload_base64")
    payload = None if b64 is None else base64.b64decode(str(b64), validate=True)
    headers = line.get("headers")
    params = {"name": name, "body": None if payload is not None else
              Jsonb(line.get("body"), dump_json), "payload": payload,
              "headers": None if headers is None else Jsonb(headers, dump_json),
              "content_type": line.get("content_type"),
              "content_encoding": line.get("content_encoding"),
              "correlation_id": line.get("correlation_id"), "reply_to": line.get("reply_to")}
    if stream:
        params["key"] = line.get("key")
        return params
    delay = datetime.timedelta(0)
    vt = _interval_until(line.get("vt"), now)
    if not line.get("read_ct") and vt is not None and vt > delay:
        delay = vt    # delayed at the export, never received: the rest of its delay
    ttl = _interval_until(line.get("expires_at"), now)
    if ttl is not None and ttl <= datetime.timedelta(0):
        ttl = datetime.timedelta(microseconds=1)   # expired already: expires at once
    params.update(delay=delay, ttl=ttl, priority=int(line.get("priority") or 0),
                  group_key=line.get("group_key"), dedup_key=line.get("dedup_key"))
    return params


def cmd_import(conn: psycopg.Connection[Any], args: argparse.Namespace) -> int:
    stream = is_stream(conn, args.name)
    if stream:
        query = """SELECT * FROM mq.append(%(name)s, %(body)s, key => %(key)s,
            headers => %(headers)s, payload => %(payload)s, content_type => %(content_type)s,
            content_encoding => %(content_encoding)s, correlation_id => %(correlation_id)s,
            reply_to => %(reply_to)s)"""
    else:
        query = """SELECT mq.send(%(name)s, %(body)s, headers => %(headers)s,
            delay => %(delay)s, dedup_key => %(dedup_key)s, group_key => %(group_key)s,
            priority => %(priority)s, payload => %(payload)s, content_type => %(content_type)s,
            content_encoding => %(content_encoding)s, correlation_id => %(correlation_id)s,
            reply_to => %(reply_to)s, ttl => %(ttl)s)"""
    source = _open(args.file, "r")
    total = 0
    batch: List[Dict[str, Any]] = []
    bar = progress(None, "import")

    def flush() -> None:
        nonlocal total
        if batch:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(query, batch)
            total += len(batch)
            bar.update(len(batch))
            batch.clear()

    first = 1   # the line of the batch's first message
    try:
        for number, text in enumerate(source, 1):
            if not text.strip():
                continue
            try:
                now = datetime.datetime.now(datetime.timezone.utc)
                batch.append(_import_params(args.name, _loads(text), stream, now))
            except (ValueError, TypeError) as exc:
                flush()
                raise Failure(f"line {number}: {exc} (imported {total} before it)",
                              EXIT_USAGE) from None
            if len(batch) >= args.batch:
                flush()
                first = number + 1
        flush()
    except psycopg.Error as exc:
        # the batches before this one are committed: say how far it got, so
        # that a second run can start after them instead of sending them twice
        raise Failure(f"the batch from line {first} failed (imported {total} before it): "
                      f"{server_error(exc)}") from None
    finally:
        bar.close()
        if source is not sys.stdin:
            source.close()
    print(dump_json({"imported": total}) if args.json else f"imported {total}")
    return EXIT_OK


# -- console (another module: mq_client.console) --------------------------------------
def cmd_console(conn: Optional[psycopg.Connection[Any]], args: argparse.Namespace) -> int:
    try:
        console = importlib.import_module("mq_client.console")
    except ImportError as exc:
        raise Failure(f"the web console (mq_client.console) is not available: {exc}") from None
    return int(console.run(args.dsn or "", args))


# -- the parser -----------------------------------------------------------------
def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def _seconds_arg(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mqctl", description="See and operate mq, the message broker inside PostgreSQL.",
        epilog="Connection: --dsn, else the PG* environment variables (PGHOST, PGDATABASE, "
        "...). Exit codes: 0 ok, 1 error (the server's: SQLSTATE and message on standard "
        "error), 2 usage, 130 interrupted. Reference: doc/mqctl.md.")
    parser.add_argument("--dsn", help="libpq connection string or URI (default: PG* variables)")
    parser.add_argument("--version", action="version", version=f"mqctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[..., int], help: str,
                json_flag: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="JSON for scripts")
        return p

    command("queues", cmd_queues, "every queue: depth, visible, in flight, delayed, oldest "
            "age, dead letters")
    command("streams", cmd_streams, "every stream: partitions, records, groups, retention")
    p = command("groups", cmd_groups, "consumer groups: committed position, end and lag of "
                "each partition, and its holder")
    p.add_argument("stream", nargs="?", help="only this stream's groups")
    command("exchanges", cmd_exchanges, "every exchange with its bindings")

    p = command("peek", cmd_peek, "messages of a queue in delivery order, without leasing "
                "them (reads the queue's table: needs a superuser or the extension's owner)")
    p.add_argument("queue")
    p.add_argument("--limit", type=_positive, default=10, help="at most this many (10)")

    p = command("send", cmd_send, "send a message to a queue, or append a record to a stream; "
                "prints its msg_id (partition and position for a stream)")
    p.add_argument("name", metavar="QUEUE|STREAM")
    p.add_argument("body", nargs="?", metavar="BODY", help="a JSON body ('-': standard input)")
    p.add_argument("--text", help="a text payload (text/plain; charset=utf-8)")
    p.add_argument("--file", help="a bytes payload from FILE ('-': standard input)")
    p.add_argument("--headers", help="a JSON object")
    p.add_argument("--content-type", help="the payload's media type")
    p.add_argument("--content-encoding", help="the payload's encoding (gzip, ...)")
    p.add_argument("--correlation-id")
    p.add_argument("--reply-to")
    p.add_argument("--delay", type=_seconds_arg, metavar="SECONDS", help="queue: invisible "
                   "this long")
    p.add_argument("--priority", type=int, help="queue: higher first")
    p.add_argument("--group", help="queue: the message's group_key (FIFO groups)")
    p.add_argument("--dedup-key", help="queue: idempotent send")
    p.add_argument("--ttl", type=_seconds_arg, metavar="SECONDS", help="queue: expires after")
    p.add_argument("--key", help="stream: the record's key (picks the partition)")

    p = command("read", cmd_read, "lease messages of a queue and print them (mq.read)")
    p.add_argument("queue")
    p.add_argument("--count", type=_positive, default=1, help="at most this many (1)")
    p.add_argument("--vt", type=_seconds_arg, metavar="SECONDS",
                   help="visibility timeout (default: the queue's)")
    p.add_argument("--wait", type=_seconds_arg, metavar="SECONDS",
                   help="wait this long for a message when none is visible")
    p.add_argument("--ack", action="store_true", help="ack them once printed")

    p = command("ack", cmd_ack, "ack messages by id (exit 1 if one is not in the queue)")
    p.add_argument("queue")
    p.add_argument("msg_ids", metavar="MSG_ID", type=int, nargs="+")

    p = command("tail", cmd_tail, "follow a stream's records, or a queue's arrivals "
                "(Ctrl-C ends it)")
    p.add_argument("name", metavar="QUEUE|STREAM")
    p.add_argument("--count", type=_positive, help="stop after this many")
    p.add_argument("--from-beginning", action="store_true",
                   help="start with what is there already")
    p.add_argument("--consume", action="store_true",
                   help="queue: lease, print and ack each message (a consumer)")
    p.add_argument("--interval", type=_seconds_arg, default=1.0, metavar="SECONDS",
                   help="queue without notify: look every SECONDS (1)")

    p = command("purge", cmd_purge, "delete every message of a queue (asks first)")
    p.add_argument("queue")
    p.add_argument("--yes", action="store_true", help="do not ask")

    p = command("redrive", cmd_redrive, "move dead letters back to their queue in batches "
                "(asks first; a progress bar on a terminal)")
    p.add_argument("queue", metavar="DEAD_LETTER_QUEUE")
    p.add_argument("--to", metavar="QUEUE", help="the target (default: the one queue whose "
                   "dead_letter_queue this is)")
    p.add_argument("--max", type=_positive, help="at most this many")
    p.add_argument("--batch", type=_positive, default=1000, help="per transaction (1000)")
    p.add_argument("--yes", action="store_true", help="do not ask")

    p = command("export", cmd_export, "write a queue's messages or a stream's records as "
                "JSON lines (leaves them in place)", json_flag=False)
    p.add_argument("name", metavar="QUEUE|STREAM")
    p.add_argument("--file", help="write to FILE (default: standard output)")

    p = command("import", cmd_import, "send JSON lines of an export to a queue or stream")
    p.add_argument("name", metavar="QUEUE|STREAM")
    p.add_argument("--file", help="read FILE (default: standard input)")
    p.add_argument("--batch", type=_positive, default=500, help="per transaction (500)")

    p = command("top", cmd_top, "a live view: rates, depths and lag, refreshed every second",
                json_flag=False)
    p.add_argument("--interval", type=_seconds_arg, default=1.0, metavar="SECONDS",
                   help="between refreshes (1)")
    p.add_argument("--once", action="store_true", help="print one view as text (two "
                   "samples --interval apart, for the rates) and exit")
    p.add_argument("--iterations", type=_positive, metavar="N", help="exit after N refreshes")
    p.add_argument("--sort", choices=[c.key for c in TOP_COLUMNS], default="queue",
                   help="the queue column to sort by (the s key cycles it)")

    p = command("console", cmd_console, "start the web console (mq_client.console)",
                json_flag=False)
    if "console" in argv:
        try:
            console = importlib.import_module("mq_client.console")
        except ImportError:
            p.set_defaults(console_missing=True)  # cmd_console says so, whatever the options
        else:
            console.add_arguments(p)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "console_missing", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    conn: Optional[psycopg.Connection[Any]] = None
    try:
        if args.func is not cmd_console:
            conn = connect(args.dsn)
        return int(args.func(conn, args))
    except Failure as exc:
        print(f"mqctl: {exc}", file=sys.stderr)
        return exc.code
    except psycopg.Error as exc:
        print(f"mqctl: {server_error(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("mqctl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # a reader that went away (| head): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    finally:
        if conn is not None:
            conn.close()


if __name__ == "__main__":
    sys.exit(main())
