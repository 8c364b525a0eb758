"""A worker process for the SIGTERM test: prints each message it handled."""
import sys
import threading
import time

import helpers  # noqa: F401  (the package path)
from mq_client import Client


lock = threading.Lock()


def handle(message):
    time.sleep(0.3 if message.body["n"] % 7 == 0 else 0.01)
    with lock:  # whole lines: print() from threads can interleave
        sys.stdout.write(f"handled {message.body['n']}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    worker = Client().work(sys.argv[1], handle, concurrency=4, batch_size=5, wait=0.5,
                           visibility_timeout=60)
    print("stopped", worker.counters.as_dict(), flush=True)
