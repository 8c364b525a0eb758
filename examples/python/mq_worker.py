"""A producer and a worker for mq with the mq_client package
(clients/python: pip install ./clients/python).

    python3 mq_worker.py produce orders 10      # send 10 messages
    python3 mq_worker.py consume orders         # work until SIGTERM / Ctrl-C

The worker acks each message after its handler returns, gives back the ones
whose handler raised with a growing delay (the queue's max_receives
dead-letters poison), extends the lease of a slow handler and stops
gracefully on SIGTERM/SIGINT.  Connection settings come from the usual PG*
environment variables.
"""
import sys

from mq_client import Client


def produce(client, queue, bodies):
    """Send messages in one statement; returns their ids."""
    return client.send_batch(queue, bodies)


def worker(client, queue, handle, **options):
    """A worker calling handle(body) for each message (not started)."""
    return client.worker(queue, lambda message: handle(message.body), **options)


if __name__ == "__main__":
    command, queue = sys.argv[1], sys.argv[2]
    with Client() as client:
        client.create_queue(queue)
        if command == "produce":
            print(produce(client, queue, [{"n": i} for i in range(int(sys.argv[3]))]))
        else:
            worker(client, queue, lambda body: print("got", body), concurrency=4).run()
