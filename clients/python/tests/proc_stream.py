"""A consumer-group member for the stream test (exactly once): each record's
result is a row written in the transaction that commits the positions."""
import sys
import time

import helpers  # noqa: F401  (the package path)
from mq_client import Client


def handle(record, conn):
    conn.execute("INSERT INTO pys_results VALUES (%s, %s, %s)",
                 (record.partition, record.position, sys.argv[3]))
    time.sleep(0.01)


if __name__ == "__main__":
    stream, group, name = sys.argv[1:4]
    member = Client().consume(stream, group, name, handle, exactly_once=True, batch_size=10,
                              wait=0.5, session_timeout=2)
    print("stopped", member.counters.as_dict(), flush=True)
