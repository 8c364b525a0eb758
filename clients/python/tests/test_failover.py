"""The server restarted (immediate shutdown: a crash) during a producer run:
every acknowledged send is present once.  The test command names its
server: MQ_TEST_PGCTL (pg_ctl) and MQ_TEST_PGDATA (its data directory)."""
import collections
import os
import subprocess
import threading
import unittest

from helpers import ClientTest, sql, wait_for
from mq_client import Client, ConnectionLost

PGCTL = os.environ.get("MQ_TEST_PGCTL")
PGDATA = os.environ.get("MQ_TEST_PGDATA")


def restart_server():
    cmd = [PGCTL, "-D", PGDATA, "-m", "immediate", "-w", "-l", os.path.join(PGDATA, "server.log"),
           "restart"]
    if os.geteuid() == 0:  # the cluster runs as postgres (initdb refuses root)
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def contents(queue):
    """Each message body's n and how many times it is in the queue (taking
    them all out)."""
    found = collections.Counter()
    while True:
        rows = sql("SELECT body->>'n' FROM mq.pop(%s, 500)", (queue,))
        if not rows:
            return found
        found.update(int(n) for (n,) in rows)


class LostReplyTest(ClientTest):
    """A send that committed but whose connection broke before the reply
    came is repeated with the same dedup key: one message, not two."""

    queues = ("pyf_lost",)
    streams = ("pyf_lost_stream",)

    def test_repeated_send_is_no_duplicate(self):
        class LosesFirstReply(Client):
            lost = False

            def _run(self, fn, retry):
                def run(conn):
                    result = fn(conn)  # committed (autocommit) ...
                    if not self.lost:  # ... and the connection dies
                        self.lost = True
                        conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
                    return result
                return super()._run(run, retry)

        self.client.create_queue("pyf_lost")
        flaky = LosesFirstReply(backoff_max=0.1)
        msg_id = flaky.send("pyf_lost", {"n": 1})
        flaky.close()
        self.assertTrue(flaky.lost)
        self.assertEqual(flaky.counters["reconnect"], 1)
        self.assertEqual([m.msg_id for m in self.client.read("pyf_lost", 10)], [msg_id],
                         "the repeated send found the first one by its dedup key")
        self.client.create_stream("pyf_lost_stream")
        flaky = LosesFirstReply(backoff_max=0.1)
        with self.assertRaisesRegex(ConnectionLost, "not safe to repeat"):
            flaky.append("pyf_lost_stream", {"n": 1})  # a stream has no dedup keys
        flaky.close()


@unittest.skipUnless(PGCTL and PGDATA, "MQ_TEST_PGCTL and MQ_TEST_PGDATA are not set")
class FailoverTest(ClientTest):
    queues = ("pyf_sends", "pyf_pipelined")

    def test_restart_during_producers(self):
        c = self.client
        c.create_queue("pyf_sends")
        c.create_queue("pyf_pipelined")
        acked = {}
        confirmed = {}
        errors = []
        sender = Client(reconnect_timeout=120, backoff_max=0.5)
        pipelining = Client(reconnect_timeout=120, backoff_max=0.5)

        def send_one_by_one():
            try:
                for n in range(600):
                    acked[n] = sender.send("pyf_sends", {"n": n})
            except Exception as exc:  # reported below
                errors.append(exc)

        def send_pipelined():
            try:
                with pipelining.producer(max_in_flight=200, batch_size=50) as producer:
                    futures = [(n, producer.send("pyf_pipelined", {"n": n})) for n in range(3000)]
                    for n, f in futures:
                        confirmed[n] = f.result(120)
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=send_one_by_one),
                   threading.Thread(target=send_pipelined)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 100 or errors, 60, "the first sends")
        restart_server()
        for t in threads:
            t.join(180)
        sender.close()
        pipelining.close()
        self.assertEqual(errors, [], "the producers went on after the restart")
        self.assertGreaterEqual(sender.counters["reconnect"], 1, "the restart broke a send")
        for queue, sent in (("pyf_sends", acked), ("pyf_pipelined", confirmed)):
            present = contents(queue)
            self.assertEqual(set(sent), set(present), f"{queue}: every acknowledged send present")
            self.assertEqual({k for k, v in present.items() if v > 1}, set(),
                             f"{queue}: no send present twice")


if __name__ == "__main__":
    unittest.main()
