"""A consumer-group worker for an mq stream with the mq_client package:
exactly once.

    python3 stream_worker.py append clicks 100           # append 100 records
    python3 stream_worker.py consume clicks counters w1  # work until SIGTERM

Each batch is one transaction: poll, write the results, commit the group's
positions.  If the worker dies anywhere in it, the transaction rolls back and
the records come again to whoever holds their partitions next, so every
record's result is written exactly once.  Run several workers with different
names in the same group and the partitions are shared among them.

Connection settings come from the usual PG* environment variables.
"""
import sys

from mq_client import Client


def append(client, stream, records):
    """Append (key, body) pairs; returns their (partition, position)."""
    return [client.append(stream, body, key=key) for key, body in records]


def member(client, stream, group, consumer, handle, **options):
    """A member of group calling handle(record, connection) in the
    transaction that commits the positions (not started)."""
    return client.stream_consumer(stream, group, consumer, handle, exactly_once=True, **options)


if __name__ == "__main__":
    command, stream = sys.argv[1], sys.argv[2]
    with Client() as client:
        client.create_stream(stream, partitions=4)
        if command == "append":
            n = int(sys.argv[3])
            print(append(client, stream, [(f"user-{i % 10}", {"n": i}) for i in range(n)]))
        else:
            group, consumer = sys.argv[3], sys.argv[4]
            client.create_consumer_group(stream, group, "earliest")
            member(client, stream, group, consumer,
                   lambda record, conn: print("got", record.partition, record.position,
                                              record.body)).run()
