"""Shared by the tests: connections from the PG* environment variables."""
import logging
import os
import sys
import time
import unittest
from typing import Callable

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import mq_client  # noqa: F401  (installed: the test command tests the installed package)
except ImportError:
    sys.path.insert(0, os.path.dirname(HERE))  # the source tree

from mq_client import Client  # noqa: E402

# the tests provoke failures and lost connections
logging.getLogger("mq_client").setLevel(logging.ERROR)
logging.getLogger("psycopg").setLevel(logging.ERROR)


def sql(query, params=()):
    """One statement on a connection of its own; returns its rows."""
    with psycopg.connect(autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    """Generous waits: poll a condition, fail only after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


class ClientTest(unittest.TestCase):
    queues: tuple = ()
    streams: tuple = ()

    def setUp(self):
        self.client = Client()
        for q in self.queues:
            self.client.drop_queue(q, if_exists=True)
        for s in self.streams:
            self.client.drop_stream(s, if_exists=True)

    def tearDown(self):
        for q in self.queues:
            self.client.drop_queue(q, if_exists=True)
        for s in self.streams:
            self.client.drop_stream(s, if_exists=True)
        self.client.close()

    def length(self, queue):
        return self.client.metrics(queue)["queue_length"]
