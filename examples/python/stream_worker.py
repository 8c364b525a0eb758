"""A consumer-group worker for an mq stream with psycopg 3: exactly once.

    python3 stream_worker.py append clicks 100           # append 100 records
    python3 stream_worker.py consume clicks counters w1  # work until SIGTERM

Each batch is one transaction: poll, write the results, commit the group's
positions.  If the worker dies anywhere in it, the transaction rolls back and
the records come again to whoever holds their partitions next, so every
record's result is written exactly once.  Run several workers with different
names in the same group and the partitions are shared among them.

Connection settings come from the usual PG* environment variables.
"""
import json
import signal
import sys

import psycopg

stopping = False


def stop(signum, frame):
    """Graceful shutdown: finish the current batch, then leave."""
    global stopping
    stopping = True


def append(conn, stream, records):
    """Append (key, body) pairs in one call; returns their (partition, position)."""
    keys = [k for k, _ in records]
    bodies = [json.dumps(b) for _, b in records]
    return conn.execute(
        "SELECT partition, position FROM mq.append_batch(%s, %s::jsonb[], %s::text[])",
        (stream, bodies, keys)).fetchall()


def consume(conn, stream, group, consumer, handle, batch=100, wait="1 second",
            session_timeout="30 seconds"):
    """Poll batches for consumer of group; handle(cur, record) writes the
    results with cur, in the transaction that commits the positions."""
    while not stopping:
        with conn.transaction():
            rows = conn.execute(
                "SELECT partition, position, key, body FROM mq.poll(%s, %s, %s, %s,"
                " wait => %s::interval, session_timeout => %s::interval)",
                (stream, group, consumer, batch, wait, session_timeout)).fetchall()
            last = {}
            for partition, position, key, body in rows:
                handle(conn, (partition, position, key, body))
                last[partition] = position
            for partition, position in last.items():
                # the next position to read: the last one processed + 1
                conn.execute("SELECT mq.commit(%s, %s, %s, %s, %s)",
                             (stream, group, consumer, partition, position + 1))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    command, stream = sys.argv[1], sys.argv[2]
    with psycopg.connect(autocommit=True) as conn:
        conn.execute("SELECT mq.create_stream(%s, partitions => 4)", (stream,))
        if command == "append":
            n = int(sys.argv[3])
            print(append(conn, stream, [(f"user-{i % 10}", {"n": i}) for i in range(n)]))
        else:
            group, consumer = sys.argv[3], sys.argv[4]
            conn.execute("SELECT mq.create_consumer_group(%s, %s, 'earliest')", (stream, group))
            consume(conn, stream, group, consumer,
                    lambda cur, r: print("got", r[0], r[1], r[3]))
