#!/usr/bin/env python3
"""Measurements for bench/pool.sh: the CPU time of mq's background
processes while databases are idle, and the delay of timed work (NOTIFY,
TTL) with many databases each sending a little.

    pool.py cpu SECONDS                  CPU of the launcher and workers
    pool.py delay DATABASES SECONDS      NOTIFY and TTL delays, in ms

Connection settings come from the PG* environment variables.
"""
import os
import re
import select
import sys
import time

import psycopg


def postmaster_pid(conn: psycopg.Connection) -> int:
    datadir = conn.execute("SHOW data_directory").fetchone()[0]
    with open(os.path.join(datadir, "postmaster.pid")) as f:
        return int(f.readline())


def stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return text[text.rindex(")") + 2:].split()


def mq_ticks(pm: int) -> int:
    """The postmaster's reaped children (cutime, cstime: the workers that
    came and went) plus the live launcher and workers (utime, stime)."""
    fields = stat(pm)
    ticks = int(fields[13]) + int(fields[14])
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = stat(int(name))
            if int(fields[1]) != pm:
                continue
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if re.match(r"postgres: .*mq (launcher|worker)", cmdline):
            ticks += int(fields[11]) + int(fields[12])
    return ticks


def cpu(seconds: float) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True) as conn:
        pm = postmaster_pid(conn)
        processes = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE backend_type IN ('mq launcher', 'mq worker')").fetchone()[0]
    # no session of ours is open over the window: no other child ends
    before = mq_ticks(pm)
    time.sleep(seconds)
    used = mq_ticks(pm) - before
    hz = os.sysconf("SC_CLK_TCK")
    print(f"{used},{100.0 * used / hz / seconds:.3f},{processes}")


def delay(databases: int, seconds: float) -> None:
    """Every 10 s each database sends one message to its notify queue n and
    one to its queue t (message_ttl 3 s, dead letters to the notify queue
    dlq), in turn; listeners time the NOTIFYs against the send and the
    dead letter against the send + 3 s."""
    names = [f"pool{i}" for i in range(1, databases + 1)]
    conns = {n: psycopg.connect(dbname=n, autocommit=True) for n in names}
    # sends on connections of their own: a notification that arrives while
    # a connection runs a statement is taken by psycopg, not by select()
    senders = {n: psycopg.connect(dbname=n, autocommit=True) for n in names}
    for c in conns.values():
        c.execute('LISTEN "mq.n"')
        c.execute('LISTEN "mq.dlq"')
    by_fd = {c.pgconn.socket: n for n, c in conns.items()}
    sent: dict[str, float] = {}
    notify_ms: list[float] = []
    ttl_ms: list[float] = []
    step = 10.0 / databases
    start = time.monotonic()
    next_send = start
    i = 0
    # sends for `seconds`, then 10 s more to hear the last ones
    while time.monotonic() < start + seconds + 10:
        now = time.monotonic()
        if now >= next_send and now < start + seconds:
            name = names[i % databases]
            i += 1
            sent[name] = time.monotonic()
            senders[name].execute("SELECT mq.send('n', '{}'), mq.send('t', '{}')")
            next_send += step
            continue
        timeout = max(0.0, min(next_send, start + seconds + 10) - now)
        ready, _, _ = select.select(list(by_fd), [], [], timeout)
        heard = time.monotonic()
        for fd in ready:
            name = by_fd[fd]
            pgconn = conns[name].pgconn
            pgconn.consume_input()
            while (n := pgconn.notifies()) is not None:
                if name not in sent:
                    continue
                if n.relname == b"mq.n":
                    notify_ms.append(1000 * (heard - sent[name]))
                elif n.relname == b"mq.dlq":
                    ttl_ms.append(1000 * (heard - sent[name] - 3.0))
    for c in list(conns.values()) + list(senders.values()):
        c.close()

    def q(xs: list[float], p: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")

    print(f"{i},{len(notify_ms)},{q(notify_ms, 0.5):.0f},{q(notify_ms, 0.99):.0f},"
          f"{max(notify_ms, default=float('nan')):.0f},{len(ttl_ms)},{q(ttl_ms, 0.5):.0f},"
          f"{q(ttl_ms, 0.99):.0f},{max(ttl_ms, default=float('nan')):.0f}")


if __name__ == "__main__":
    if sys.argv[1] == "cpu":
        cpu(float(sys.argv[2]))
    elif sys.argv[1] == "delay":
        delay(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(__doc__)
