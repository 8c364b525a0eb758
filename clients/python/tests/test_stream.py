"""Stream consumer groups: members share partitions, commit after the work."""
import os
import signal
import subprocess
import sys
import threading
import unittest

from helpers import HERE, ClientTest, sql, wait_for


class StreamConsumerTest(ClientTest):
    streams = ("pys_clicks",)

    def setUp(self):
        super().setUp()
        sql("DROP TABLE IF EXISTS pys_results")
        sql("CREATE TABLE pys_results (partition int, position bigint, member text)")
        self.client.create_stream("pys_clicks", partitions=6)
        self.client.create_consumer_group("pys_clicks", "g", "earliest")

    def tearDown(self):
        sql("DROP TABLE IF EXISTS pys_results")
        super().tearDown()

    def lag(self):
        return sql("SELECT coalesce(sum(lag), -1) FROM mq.consumer_groups"
                   " WHERE stream = 'pys_clicks' AND consumer_group = 'g'")[0][0]

    def test_three_members_one_killed_exactly_once(self):
        total = 600
        for i in range(0, total, 100):
            sql("SELECT mq.append_batch('pys_clicks', %s::jsonb[], %s::text[])",
                ([f'{{"n": {n}}}' for n in range(i, i + 100)],
                 [f"user-{n % 37}" for n in range(i, i + 100)]))
        members = {name: subprocess.Popen(
            [sys.executable, os.path.join(HERE, "proc_stream.py"), "pys_clicks", "g", name],
            stdout=subprocess.PIPE, text=True) for name in ("m1", "m2", "m3")}
        try:
            wait_for(lambda: sql("SELECT count(*) FROM pys_results"
                                 " WHERE member = 'm2'")[0][0] >= 20, 60, "m2 to work")
            members["m2"].kill()  # SIGKILL in the middle of a batch
            members["m2"].wait(30)
            wait_for(lambda: self.lag() == 0, 120, "the others to take over m2's partitions")
        finally:
            for name, p in members.items():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            outputs = {name: p.communicate(timeout=60)[0] for name, p in members.items()}
        self.assertEqual(members["m1"].returncode, 0, outputs["m1"])
        self.assertEqual(members["m3"].returncode, 0, outputs["m3"])
        count, distinct = sql("SELECT count(*), count(DISTINCT (partition, position))"
                              " FROM pys_results")[0]
        self.assertEqual((count, distinct), (total, total), "every record's result exactly once")
        by = dict(sql("SELECT member, count(*) FROM pys_results GROUP BY member"))
        self.assertEqual(set(by), {"m1", "m2", "m3"}, by)

    def test_lost_partitions_fencing(self):
        """A member whose session ran out in the middle of a batch has lost
        its partitions: its commit is fenced, the batch rolls back, and the
        new holder writes those results, once."""
        c = self.client
        for n in range(20):
            c.append("pys_clicks", {"n": n}, key=f"k{n}")
        taken_over = threading.Event()

        def holders():
            return {h for (h,) in sql("SELECT consumer FROM mq.consumer_groups"
                                      " WHERE stream = 'pys_clicks' AND consumer_group = 'g'")}

        def handle_a(record, conn):
            if not taken_over.is_set():
                # A's session (1 s) runs out while B polls and takes over
                wait_for(lambda: holders() == {"B"}, 60, "B to hold every partition")
                taken_over.set()
            conn.execute("INSERT INTO pys_results VALUES (%s, %s, 'A')",
                         (record.partition, record.position))

        def handle_b(record, conn):
            conn.execute("INSERT INTO pys_results VALUES (%s, %s, 'B')",
                         (record.partition, record.position))

        a = c.stream_consumer("pys_clicks", "g", "A", handle_a, exactly_once=True,
                              session_timeout=1, wait=0.2, batch_size=5)
        b = c.stream_consumer("pys_clicks", "g", "B", handle_b, exactly_once=True,
                              wait=0.2, batch_size=5)
        ta = threading.Thread(target=a.run)
        ta.start()
        wait_for(lambda: "A" in holders(), 60, "A to join")
        tb = threading.Thread(target=b.run)
        tb.start()
        try:
            wait_for(lambda: taken_over.is_set() and a.counters["fenced"] >= 1, 60,
                     "A's commit to be fenced")
            a.stop()
            ta.join(30)
            wait_for(lambda: self.lag() == 0, 60, "B to finish")
        finally:
            a.stop()
            b.stop()
            ta.join(30)
            tb.join(30)
        count, distinct = sql("SELECT count(*), count(DISTINCT (partition, position))"
                              " FROM pys_results")[0]
        self.assertEqual((count, distinct), (20, 20), "every record's result exactly once")

    def test_at_least_once_handler_failure(self):
        """A failing handler rolls its batch back: the same records come
        again, and the positions are committed only after the work."""
        c = self.client
        for n in range(50):
            c.append("pys_clicks", {"n": n}, key=f"k{n % 5}")
        seen, failed = [], []

        def handle(record):
            if record.body["n"] == 25 and not failed:
                failed.append(record.position)
                raise RuntimeError("once")
            seen.append(record.body["n"])
            if len(set(seen)) == 50:
                member.stop()

        member = c.stream_consumer("pys_clicks", "g", "solo", handle, batch_size=7, wait=0.2,
                                   backoff_base=0.05)
        t = threading.Thread(target=member.run)
        t.start()
        t.join(60)
        self.assertFalse(t.is_alive())
        self.assertEqual(sorted(set(seen)), list(range(50)))
        self.assertEqual(member.counters["failed"], 1)
        self.assertEqual(self.lag(), 0, "every position committed")


if __name__ == "__main__":
    unittest.main()
