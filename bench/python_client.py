"""Bench of the Python client (clients/python) against the raw SQL it replaces.

    python3 bench/python_client.py [ROUNDS] [MESSAGES] [CONCURRENCY]

against the server of the PG* variables (bench/python_client.sh starts one).
Two cases, A and B alternating, each the median of ROUNDS runs:

- worker: mq_client's Worker (CONCURRENCY threads, batch_size 10, no-op
  handler, leases tracked and extended; its default batch_acks, one
  mq.ack_batch per read, and batch_acks=False, one mq.ack per message)
  draining MESSAGES messages, against
  the raw SQL loop of the examples before the package (CONCURRENCY threads,
  each on its own connection: mq.read of 10 with a blocking wait, then
  mq.ack of each), on the same queue contents;
- producer: mq_client's Producer (one connection, pipeline mode, batches of
  up to 500 in one transaction, confirms) sending MESSAGES messages, against
  one mq.send per round trip on one connection (autocommit); both without
  dedup keys (idempotent=False; a raw `SELECT mq.send(...)`), and both with a
  random dedup key per message (the client's default, idempotent sends:
  Client.send one by one).
"""
import statistics
import sys
import threading
import time

import psycopg
from psycopg.types.json import Jsonb

from mq_client import Client

QUEUE = "bench_py"


def fill(conn, n):
    conn.execute("SELECT mq.purge_queue(%s)", (QUEUE,))
    for i in range(0, n, 5000):
        conn.execute("SELECT count(*) FROM mq.send_batch(%s, %s::jsonb[])",
                     (QUEUE, [Jsonb({"n": k}) for k in range(i, min(n, i + 5000))]))
    conn.execute(f"VACUUM ANALYZE mq.q_{queue_id(conn)}")


def queue_id(conn):
    return int(conn.execute("SELECT queue_id FROM mq._queue WHERE queue_name = %s",
                            (QUEUE,)).fetchone()[0])


def drained(conn):
    return conn.execute("SELECT queue_length FROM mq.metrics(%s)", (QUEUE,)).fetchone()[0] == 0


def raw_worker(n, concurrency):
    """The examples' loop: read 10 with a blocking wait, ack each."""
    done = threading.Event()
    counts = [0] * concurrency

    def loop(i):
        with psycopg.connect(autocommit=True) as conn:
            while not done.is_set():
                rows = conn.execute("SELECT msg_id, read_ct, body FROM mq.read(%s, 10,"
                                    " wait => '100 milliseconds'::interval)",
                                    (QUEUE,)).fetchall()
                for msg_id, read_ct, body in rows:
                    conn.execute("SELECT mq.ack(%s, %s)", (QUEUE, msg_id))
                    counts[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    start = time.monotonic()
    for t in threads:
        t.start()
    while sum(counts) < n:
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    done.set()
    for t in threads:
        t.join()
    return n / elapsed


def package_worker_each(n, concurrency):
    return package_worker(n, concurrency, batch_acks=False)


def package_worker(n, concurrency, batch_acks=True):
    handled = [0]
    lock = threading.Lock()

    def handle(message):
        with lock:
            handled[0] += 1

    client = Client()
    w = client.worker(QUEUE, handle, concurrency=concurrency, batch_size=10, wait=0.1,
                      batch_acks=batch_acks)
    start = time.monotonic()
    w.start()
    while handled[0] < n:
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    w.stop()
    w.join()
    client.close()
    return n / elapsed


def raw_sends(n):
    with psycopg.connect(autocommit=True) as conn:
        start = time.monotonic()
        for i in range(n):
            conn.execute("SELECT mq.send(%s, %s)", (QUEUE, Jsonb({"n": i})))
        return n / (time.monotonic() - start)


def keyed_sends(n):
    client = Client()
    start = time.monotonic()
    for i in range(n):
        client.send(QUEUE, {"n": i})
    elapsed = time.monotonic() - start
    client.close()
    return n / elapsed


def pipelined_sends(n, idempotent=False):
    client = Client()
    start = time.monotonic()
    with client.producer(idempotent=idempotent) as producer:
        futures = [producer.send(QUEUE, {"n": i}) for i in range(n)]
        producer.flush()
    elapsed = time.monotonic() - start
    assert all(f.result() for f in futures)
    client.close()
    return n / elapsed


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    setup = psycopg.connect(autocommit=True)
    setup.execute("SELECT mq.drop_queue(%s, true)", (QUEUE,))
    setup.execute("SELECT mq.create_queue(%s)", (QUEUE,))
    results = {"raw worker": [], "mq_client worker": [], "mq_client worker, ack each": [],
               "one send per round trip": [], "mq_client producer": [],
               "Client.send with dedup keys": [], "mq_client producer with dedup keys": []}
    for r in range(rounds):
        for name, fn in (("raw worker", raw_worker), ("mq_client worker", package_worker),
                         ("mq_client worker, ack each", package_worker_each)):
            fill(setup, n)
            results[name].append(fn(n, concurrency))
            assert drained(setup)
        for name, fn in (("one send per round trip", raw_sends),
                         ("mq_client producer", pipelined_sends),
                         ("Client.send with dedup keys", keyed_sends),
                         ("mq_client producer with dedup keys",
                          lambda n: pipelined_sends(n, idempotent=True))):
            setup.execute("SELECT mq.purge_queue(%s)", (QUEUE,))
            results[name].append(fn(n))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in results.items()),
              flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    print()
    print("| case | A (msg/s) | B (msg/s) | A / B |")
    print("| --- | --- | --- | --- |")
    print(f"| worker, {concurrency} threads, {n} messages | mq_client Worker "
          f"{med['mq_client worker']:.0f} | raw read/ack loop {med['raw worker']:.0f} | "
          f"{med['mq_client worker'] / med['raw worker']:.2f} |")
    print(f"| worker, batch_acks=False, {concurrency} threads, {n} messages | mq_client Worker "
          f"{med['mq_client worker, ack each']:.0f} | raw read/ack loop {med['raw worker']:.0f} | "
          f"{med['mq_client worker, ack each'] / med['raw worker']:.2f} |")
    print(f"| producer, 1 connection, {n} messages | mq_client Producer "
          f"{med['mq_client producer']:.0f} | one mq.send per round trip "
          f"{med['one send per round trip']:.0f} | "
          f"{med['mq_client producer'] / med['one send per round trip']:.2f} |")
    print(f"| producer with dedup keys, 1 connection, {n} messages | mq_client Producer "
          f"{med['mq_client producer with dedup keys']:.0f} | Client.send per round trip "
          f"{med['Client.send with dedup keys']:.0f} | "
          f"{med['mq_client producer with dedup keys'] / med['Client.send with dedup keys']:.2f}"
          " |")
    setup.execute("SELECT mq.drop_queue(%s, true)", (QUEUE,))
    setup.close()


if __name__ == "__main__":
    main()
