"""A producer and a consumer for mq with psycopg 3: the whole client is SQL.

    python3 mq_worker.py produce orders 10      # send 10 messages
    python3 mq_worker.py consume orders         # work until SIGTERM / Ctrl-C

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


def produce(conn, queue, bodies):
    """Send messages in one transaction; returns their ids."""
    with conn.transaction():
        return [conn.execute("SELECT mq.send(%s, %s::jsonb)",
                             (queue, json.dumps(body))).fetchone()[0]
                for body in bodies]


def consume(conn, queue, handle, batch=10, wait="1 second", retry_delay=1.0):
    """Read with a blocking wait; ack what handle() accepts, nack the rest
    with a growing delay (the queue's max_receives dead-letters poison)."""
    while not stopping:
        rows = conn.execute(
            "SELECT msg_id, read_ct, body FROM mq.read(%s, %s, wait => %s::interval)",
            (queue, batch, wait)).fetchall()
        for msg_id, read_ct, body in rows:
            try:
                handle(body)
            except Exception as exc:  # the work failed: give it back for later
                print(f"message {msg_id} failed ({exc}), retry {read_ct}", file=sys.stderr)
                conn.execute("SELECT mq.nack(%s, %s, %s::interval)",
                             (queue, msg_id, f"{retry_delay * read_ct} seconds"))
            else:
                conn.execute("SELECT mq.ack(%s, %s)", (queue, msg_id))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    command, queue = sys.argv[1], sys.argv[2]
    with psycopg.connect(autocommit=True) as conn:
        conn.execute("SELECT mq.create_queue(%s)", (queue,))
        if command == "produce":
            print(produce(conn, queue, [{"n": i} for i in range(int(sys.argv[3]))]))
        else:
            consume(conn, queue, lambda body: print("got", body))
