"""Clients and ledger of the failover test (test/t/018_failover.pl).

``run`` starts producers, queue consumers, a stream appender and a consumer
group member, each in a thread with its own connection, and lets them work
against a multi-host connection string until a stop file appears.  Every
outcome a client saw is one JSON line in the ledger directory: a send whose
commit returned, a lease (the message, its holder, the lease's start and
its vt), an ack that returned true, an append with its position, a poll
with the records it gave and the positions committed with it; and every
failure, with whether its outcome is unknown (the connection broke during
the commit).  A client that loses its connection connects again by itself.

``check`` reads the ledger and the final primary and prints one JSON object
of counts and violations:

- lost: a committed send whose message is neither acked nor in its queue;
- refused_present: a send refused (53000) whose message exists anyway;
- overlaps: a message leased to a second holder before the first lease's
  vt (a lease is [vt - visibility timeout, vt): mq stamps it with the
  clock at the read);
- acks_undone: a message leased again after an ack of it returned, or
  still in its queue;
- appends_lost / positions_not_dense: a committed append missing at its
  position, or a partition whose positions have a hole;
- commits_undone / poll_gaps: a poll that starts before the position the
  group last committed for that partition (an undone commit), or after it
  with no commit of unknown outcome to explain the jump.

``check --inject`` then checks again with one fabricated violation of each
kind added to the ledger: the test runs it to see that every check can fail.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import psycopg
from psycopg.types.json import Jsonb

VT = timedelta(seconds=4)
PACE = 0.01  # seconds between two calls of a client: enough traffic, some CPU left
QUEUES = ("fq0", "fq1", "fq2")  # fq2 is 'local': sends go on while the primary is alone
STREAM = "fs"
GROUP = "fg"


class Client:
    """One thread's connection and ledger file."""

    def __init__(self, name: str, conninfo: str, ledger: Path, stop: Path,
                 sync_commit: str | None) -> None:
        self.name = name
        self.conninfo = conninfo
        self.out = open(ledger / f"{name}.jsonl", "a", encoding="utf-8")
        self.stop = stop
        self.sync_commit = sync_commit
        self.conn: psycopg.Connection[Any] | None = None

    def log(self, **event: Any) -> None:
        event["who"] = self.name
        self.out.write(json.dumps(event, default=str) + "\n")
        self.out.flush()

    def running(self) -> bool:
        return not self.stop.exists()

    def connection(self) -> psycopg.Connection[Any]:
        while self.conn is None or self.conn.closed:
            try:
                self.conn = psycopg.connect(self.conninfo)
                if self.sync_commit:
                    self.conn.execute("SET synchronous_commit = " + self.sync_commit)
                    self.conn.commit()
                self.log(ev="connected", port=self.conn.info.port)
            except psycopg.Error:
                self.conn = None
                time.sleep(0.2)
                if not self.running():
                    raise SystemExit(0)
        return self.conn

    def failed(self, what: str, err: psycopg.Error, unknown: bool, **extra: Any) -> None:
        """Record a failure; drop a broken connection (or roll back)."""
        self.log(ev="failed", what=what, state=err.sqlstate, unknown=unknown,
                 error=str(err).splitlines()[0] if str(err) else "", **extra)
        if self.conn is not None:
            if self.conn.broken or self.conn.closed:
                self.conn = None
            else:
                try:
                    self.conn.rollback()
                except psycopg.Error:
                    self.conn.close()
                    self.conn = None
        time.sleep(0.1)

    def commit(self) -> None:
        assert self.conn is not None
        self.conn.commit()


def producer(c: Client, queue: str) -> None:
    n = 0
    while c.running():
        conn = c.connection()
        tag = f"{c.name}-{n}"
        n += 1
        try:
            msg_id = conn.execute("SELECT mq.send(%s, %s)", (queue, Jsonb({"tag": tag}))).fetchone()[0]
        except psycopg.Error as e:
            c.failed("send", e, unknown=False, q=queue, tag=tag)
            continue
        try:
            c.commit()
        except psycopg.Error as e:
            c.failed("send", e, unknown=True, q=queue, tag=tag)
            continue
        c.log(ev="sent", q=queue, tag=tag, id=msg_id)
        time.sleep(PACE)


def consumer(c: Client, n: int) -> None:
    i = 0
    while c.running():
        conn = c.connection()
        queue = QUEUES[i % len(QUEUES)]
        i += 1
        try:
            rows = conn.execute(
                "SELECT msg_id, vt, body->>'tag' FROM mq.read(%s, 5, %s)", (queue, VT)).fetchall()
        except psycopg.Error as e:
            c.failed("read", e, unknown=False, q=queue)
            continue
        try:
            c.commit()
        except psycopg.Error as e:
            c.failed("read", e, unknown=True, q=queue, ids=[r[0] for r in rows])
            continue
        time.sleep(PACE if rows else 0.05)
        for msg_id, vt, tag in rows:
            c.log(ev="lease", q=queue, id=msg_id, tag=tag, start=(vt - VT).isoformat(),
                  vt=vt.isoformat())
        for msg_id, _vt, tag in rows:
            # every 7th message of a consumer is left to its lease's end
            if (msg_id + n) % 7 == 0:
                continue
            try:
                acked, at = conn.execute("SELECT mq.ack(%s, %s), clock_timestamp()",
                                         (queue, msg_id)).fetchone()
            except psycopg.Error as e:
                c.failed("ack", e, unknown=False, q=queue, id=msg_id, tag=tag)
                break
            try:
                c.commit()
            except psycopg.Error as e:
                c.failed("ack", e, unknown=True, q=queue, id=msg_id, tag=tag)
                break
            if acked:
                c.log(ev="ack", q=queue, id=msg_id, tag=tag, at=at.isoformat())


def appender(c: Client) -> None:
    n = 0
    while c.running():
        conn = c.connection()
        tag = f"{c.name}-{n}"
        key = f"k{n % 4}"
        n += 1
        try:
            part, pos = conn.execute("SELECT partition, position FROM mq.append(%s, %s, %s)",
                                     (STREAM, Jsonb({"tag": tag}), key)).fetchone()
        except psycopg.Error as e:
            c.failed("append", e, unknown=False, tag=tag)
            continue
        try:
            c.commit()
        except psycopg.Error as e:
            c.failed("append", e, unknown=True, tag=tag)
            continue
        c.log(ev="appended", tag=tag, p=part, pos=pos)
        time.sleep(PACE)


def group_member(c: Client) -> None:
    while c.running():
        conn = c.connection()
        try:
            rows = conn.execute(
                "SELECT partition, position, body->>'tag' FROM mq.poll(%s, %s, 'm1', 50)",
                (STREAM, GROUP)).fetchall()
            commits: dict[int, int] = {}
            for part, pos, _tag in rows:
                commits[part] = max(commits.get(part, 0), pos + 1)
            for part, pos in commits.items():
                conn.execute("SELECT mq.commit(%s, %s, 'm1', %s, %s)", (STREAM, GROUP, part, pos))
        except psycopg.Error as e:
            c.failed("poll", e, unknown=False)
            continue
        try:
            c.commit()
        except psycopg.Error as e:
            c.failed("poll", e, unknown=True, commits=commits)
            continue
        if rows:
            c.log(ev="polled", records=rows, commits=commits)
        time.sleep(0.05)


def run(args: argparse.Namespace) -> None:
    ledger = Path(args.ledger)
    ledger.mkdir(parents=True, exist_ok=True)
    stop = Path(args.stop)
    threads: list[threading.Thread] = []

    def start(name: str, target: Callable[..., None], *extra: Any,
              sync_commit: str | None = None) -> None:
        c = Client(name, args.conninfo, ledger, stop, sync_commit)
        threads.append(threading.Thread(target=target, args=(c, *extra), daemon=True))

    for i, queue in enumerate(QUEUES):
        start(f"producer{i}", producer, queue, sync_commit=args.producer_sync_commit)
    for i in range(3):
        start(f"consumer{i}", consumer, i)
    start("appender", appender, sync_commit=args.producer_sync_commit)
    start("member", group_member)
    for t in threads:
        t.start()
    while not stop.exists():
        time.sleep(0.2)
    for t in threads:
        t.join(timeout=30)


def load(ledger: Path) -> list[dict[str, Any]]:
    events = []
    for f in sorted(ledger.glob("*.jsonl")):
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.endswith("\n"):
                    events.append(json.loads(line))
    return events


def inject(events: list[dict[str, Any]]) -> None:
    """One fabricated violation of each kind."""
    lease = next(e for e in events if e["ev"] == "lease")
    ack = next(e for e in events if e["ev"] == "ack")
    app = next(e for e in events if e["ev"] == "appended")
    poll = next(e for e in events if e["ev"] == "polled")
    part = int(next(iter(poll["commits"])))
    events += [
        {"ev": "sent", "q": QUEUES[0], "tag": "injected-lost", "id": -1, "who": "inject"},
        {"ev": "failed", "what": "send", "state": "53000", "unknown": False, "q": lease["q"],
         "tag": lease["tag"], "who": "inject"},
        dict(lease, who="inject",
             start=(datetime.fromisoformat(lease["start"]) + VT / 2).isoformat(),
             vt=(datetime.fromisoformat(lease["vt"]) + VT / 2).isoformat()),
        dict(ack, at=(datetime.fromisoformat(ack["at"]) - timedelta(hours=1)).isoformat(),
             who="inject"),
        {"ev": "appended", "tag": "injected-append", "p": app["p"], "pos": app["pos"],
         "who": "inject"},
        {"ev": "polled", "records": [[part, 0, "x"]], "commits": {str(part): 1},
         "who": "inject"},
    ]


State = tuple[dict[str, set[str]], dict[int, list[tuple[int, str]]]]


def final_state(conninfo: str) -> State:
    """The tags in each queue (all leased for an hour) and each partition's records."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        present: dict[str, set[str]] = {}
        for q in QUEUES:
            present[q] = set()
            while True:
                rows = conn.execute("SELECT body->>'tag' FROM mq.read(%s, 10000, '1 hour')",
                                    (q,)).fetchall()
                if not rows:
                    break
                present[q] |= {r[0] for r in rows}
        stream: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for (part,) in conn.execute("SELECT generate_series(0, partitions - 1) FROM mq.streams "
                                    "WHERE stream = %s", (STREAM,)).fetchall():
            pos = 0
            while True:
                rows = conn.execute("SELECT position, body->>'tag' FROM mq.read_stream(%s, %s, %s, 1000)",
                                    (STREAM, part, pos)).fetchall()
                if not rows:
                    break
                stream[part] += rows
                pos = rows[-1][0] + 1
    return present, stream


def evaluate(events: list[dict[str, Any]], state: State) -> dict[str, Any]:
    present, stream = state
    by = defaultdict(list)
    for e in events:
        by[e["ev"]].append(e)
    out: dict[str, Any] = {}
    # sends
    # (by tag: a lost message's id can be given again to a later one)
    acked_tags: dict[str, set[str]] = defaultdict(set)
    for e in by["ack"]:
        acked_tags[e["q"]].add(e["tag"])
    # an ack whose commit broke off may have committed
    for e in by["failed"]:
        if e["what"] == "ack" and e["unknown"]:
            acked_tags[e["q"]].add(e["tag"])
    out["sent"] = len(by["sent"])
    out["lost"] = [e["tag"] for e in by["sent"]
                   if e["tag"] not in present[e["q"]] and e["tag"] not in acked_tags[e["q"]]]
    out["refused"] = sum(1 for e in by["failed"] if e["what"] == "send" and e["state"] == "53000")
    out["refused_present"] = [e["tag"] for e in by["failed"]
                              if e["what"] == "send" and e["state"] == "53000"
                              and (e["tag"] in present[e["q"]] or e["tag"] in acked_tags[e["q"]])]
    # leases and acks
    leases: dict[tuple[str, int, str], list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for e in by["lease"]:
        leases[(e["q"], e["id"], e["tag"])].append((datetime.fromisoformat(e["start"]),
                                          datetime.fromisoformat(e["vt"]), e["who"]))
    out["leases"] = len(by["lease"])
    out["overlaps"] = []
    for key, ls in leases.items():
        ls.sort()
        for a, b in zip(ls, ls[1:]):
            if b[0] < a[1]:
                out["overlaps"].append([key, a[2], a[1], b[2], b[0]])
    out["acks"] = len(by["ack"])
    out["acks_undone"] = []
    for e in by["ack"]:
        at = datetime.fromisoformat(e["at"])
        if any(start > at for start, _vt, _who in leases[(e["q"], e["id"], e["tag"])]):
            out["acks_undone"].append([e["q"], e["id"], "leased again"])
        if e["tag"] in present[e["q"]]:
            out["acks_undone"].append([e["q"], e["id"], "still queued"])
    # stream
    out["appends"] = len(by["appended"])
    at_pos = {(p, pos): tag for p, rows in stream.items() for pos, tag in rows}
    out["appends_lost"] = [e["tag"] for e in by["appended"] if at_pos.get((e["p"], e["pos"])) != e["tag"]]
    out["positions_not_dense"] = [p for p, rows in stream.items()
                                  if [pos for pos, _t in rows] != list(range(len(rows)))]
    out["polls"] = len(by["polled"])
    out["commits_undone"] = []
    out["poll_gaps"] = []
    committed: dict[int, int] = defaultdict(int)
    unknown: dict[int, set[int]] = defaultdict(set)
    # the member's own order is its file's order; injected events come last
    for e in [x for x in events if x["who"] in ("member", "inject")
              and (x["ev"] == "polled" or (x["ev"] == "failed" and x.get("what") == "poll"))]:
        if e["ev"] == "failed":
            if e["unknown"]:
                for p, pos in e.get("commits", {}).items():
                    unknown[int(p)].add(pos)
            continue
        first: dict[int, int] = {}
        for p, pos, _tag in e["records"]:
            first.setdefault(p, pos)
        for p, pos in first.items():
            if pos < committed[p]:
                out["commits_undone"].append([p, committed[p], pos])
            elif pos > committed[p] and pos not in unknown[p]:
                out["poll_gaps"].append([p, committed[p], pos])
        for p, pos in e["commits"].items():
            committed[int(p)] = max(committed[int(p)], pos)
            unknown[int(p)] = {u for u in unknown[int(p)] if u > pos}
    out["reconnects"] = len(by["connected"]) - len({e["who"] for e in by["connected"]})
    out["ports"] = sorted({e["port"] for e in by["connected"]})
    return out


def check(args: argparse.Namespace) -> None:
    events = load(Path(args.ledger))
    state = final_state(args.conninfo)
    print("ledger:", json.dumps(evaluate(events, state), default=str))
    if args.inject:
        inject(events)
        print("injected:", json.dumps(evaluate(events, state), default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the clients until the stop file exists")
    r.add_argument("--conninfo", required=True)
    r.add_argument("--ledger", required=True)
    r.add_argument("--stop", required=True)
    r.add_argument("--producer-sync-commit", default=None,
                   help="synchronous_commit of producers and the appender (a defect to put back)")
    c = sub.add_parser("check", help="check the ledger against the final primary")
    c.add_argument("--conninfo", required=True)
    c.add_argument("--ledger", required=True)
    c.add_argument("--inject", action="store_true",
                   help="then check again with one violation of each kind added")
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    else:
        check(args)


if __name__ == "__main__":
    main()
