"""The server restarted (immediate shutdown: a crash) during a producer run:
every acknowledged send is present once.  The test command names its
server: MQ_TEST_PGCTL (pg_ctl) and MQ_TEST_PGDATA (its data directory)."""
import collections
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

import psycopg

from helpers import ClientTest, sql, wait_for
from mq_client import Client, ConnectionLost

PGCTL = os.environ.get("MQ_TEST_PGCTL")
PGDATA = os.environ.get("MQ_TEST_PGDATA")
STANDBY_PORT = os.environ.get("MQ_TEST_STANDBY_PORT")


def as_postgres(*cmd):
    """Run a server program (as postgres when root: initdb refuses root)."""
    cmd = list(cmd)
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed: {done.stderr}")


def pg_program(name):
    return os.path.join(os.path.dirname(PGCTL), name)


def restart_server():
    as_postgres(PGCTL, "-D", PGDATA, "-m", "immediate", "-w", "-l",
                os.path.join(PGDATA, "server.log"), "restart")


def contents(queue, **where):
    """Each message body's n and how many times it is in the queue (taking
    them all out)."""
    found = collections.Counter()
    while True:
        with psycopg.connect(autocommit=True, **where) as conn:
            rows = conn.execute("SELECT body->>'n' FROM mq.pop(%s, 500)", (queue,)).fetchall()
        if not rows:
            return found
        found.update(int(n) for (n,) in rows)


def produce(client, queue, count, acked, errors):
    """Send count messages one by one; acked[n] = id once acknowledged."""
    try:
        for n in range(count):
            acked[n] = client.send(queue, {"n": n})
    except Exception as exc:  # reported by the test
        errors.append(exc)


def produce_pipelined(client, queue, count, confirmed, errors):
    try:
        with client.producer(max_in_flight=200, batch_size=50) as producer:
            futures = [(n, producer.send(queue, {"n": n})) for n in range(count)]
            for n, f in futures:
                confirmed[n] = f.result(120)
    except Exception as exc:
        errors.append(exc)


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
        threads = [threading.Thread(target=produce,
                                    args=(sender, "pyf_sends", 600, acked, errors)),
                   threading.Thread(target=produce_pipelined,
                                    args=(pipelining, "pyf_pipelined", 3000, confirmed, errors))]
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


@unittest.skipUnless(PGCTL and PGDATA and STANDBY_PORT,
                     "MQ_TEST_PGCTL, MQ_TEST_PGDATA and MQ_TEST_STANDBY_PORT are not set")
class StandbyFailoverTest(ClientTest):
    """A multi-host connection string naming a primary and its synchronous
    standby: the primary crashes and the standby is promoted during two
    producer runs; they reconnect to the new primary (refusing the standby
    while it is read-only) and every acknowledged send is there once."""

    queues = ("pyf_failover", "pyf_failover_p")

    def setUp(self):
        super().setUp()
        for q in self.queues:
            self.client.create_queue(q)
        self.standby = tempfile.mkdtemp(prefix="mq-py-standby-")
        if os.geteuid() == 0:
            shutil.chown(self.standby, "postgres", "postgres")
        primary_host = os.environ["PGHOST"]
        as_postgres(pg_program("pg_basebackup"), "-D", self.standby, "-R", "-X", "stream",
                    "-c", "fast", "-h", primary_host, "-p", os.environ["PGPORT"], "-U",
                    "postgres")
        with open(os.path.join(self.standby, "postgresql.auto.conf"), "a") as conf:
            conf.write(f"port = {STANDBY_PORT}\nunix_socket_directories = '{self.standby}'\n")
        as_postgres(PGCTL, "-D", self.standby, "-l", os.path.join(self.standby, "server.log"),
                    "-w", "start")
        # commits wait for the standby: an acknowledged send is on both
        sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        sql("SELECT pg_reload_conf()")
        wait_for(lambda: sql("SELECT count(*) FROM pg_stat_replication"
                             " WHERE sync_state = 'sync'")[0][0] == 1, 60, "a synchronous standby")
        self.dsn = (f"host={primary_host},{self.standby} port={os.environ['PGPORT']},"
                    f"{STANDBY_PORT}")

    def tearDown(self):
        # the promoted standby goes; the first primary comes back, asynchronous
        as_postgres(PGCTL, "-D", self.standby, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.standby, ignore_errors=True)
        if not os.path.exists(os.path.join(PGDATA, "postmaster.pid")):
            as_postgres(PGCTL, "-D", PGDATA, "-l", os.path.join(PGDATA, "server.log"), "-w",
                        "start")
        sql("ALTER SYSTEM RESET synchronous_standby_names")
        sql("SELECT pg_reload_conf()")
        self.client.close()  # its connection went with the server
        self.client = Client()
        super().tearDown()

    def test_promotion_during_producers(self):
        acked, confirmed, errors = {}, {}, []
        sender = Client(self.dsn, reconnect_timeout=120, backoff_max=0.5)
        pipelining = Client(self.dsn, reconnect_timeout=120, backoff_max=0.5)
        threads = [threading.Thread(target=produce,
                                    args=(sender, "pyf_failover", 400, acked, errors)),
                   threading.Thread(target=produce_pipelined,
                                    args=(pipelining, "pyf_failover_p", 2000, confirmed,
                                          errors))]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 100 or errors, 60, "the first sends")
        as_postgres(PGCTL, "-D", PGDATA, "-m", "immediate", "-w", "stop")
        as_postgres(PGCTL, "-D", self.standby, "-w", "promote")
        for t in threads:
            t.join(180)
        sender.close()
        pipelining.close()
        self.assertEqual(errors, [], "the producers went on after the failover")
        self.assertGreaterEqual(sender.counters["reconnect"], 1, "the failover broke a send")
        self.assertEqual(len(acked), 400)
        self.assertEqual(len(confirmed), 2000)
        new_primary = Client(self.dsn)
        self.assertEqual(new_primary._exec(("SELECT pg_is_in_recovery()", ()))[0][0], False)
        new_primary.close()
        for queue, sent in (("pyf_failover", acked), ("pyf_failover_p", confirmed)):
            present = contents(queue, host=self.standby, port=STANDBY_PORT)
            self.assertEqual(set(sent), set(present), f"{queue}: every acknowledged send present")
            self.assertEqual({k for k, v in present.items() if v > 1}, set(),
                             f"{queue}: no send present twice")


if __name__ == "__main__":
    unittest.main()
