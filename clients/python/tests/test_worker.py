"""The worker: concurrency, retries, dead letters, leases, shutdown."""
import collections
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

from helpers import HERE, ClientTest, sql, wait_for


class WorkerTest(ClientTest):
    queues = ("pyw_work", "pyw_dead")

    def test_8_handlers_2000_messages(self):
        """5% fail once, 4 always (poison), 3 run longer than the lease:
        every other message is handled successfully exactly once, no lease
        runs out, the poison ends in the dead-letter queue."""
        c = self.client
        c.create_queue("pyw_dead")
        c.create_queue("pyw_work", max_receives=3, dead_letter_queue="pyw_dead")
        total = 2000
        poison = {7, 507, 1007, 1507}
        slow = {100, 900, 1600}
        c.send_batch("pyw_work", [{"n": n} for n in range(total)])
        calls = collections.Counter()
        successes = collections.Counter()
        running = set()
        overlaps = []
        lock = threading.Lock()

        def handle(m):
            n = m.body["n"]
            with lock:
                calls[n] += 1
                if n in running:
                    overlaps.append(n)  # delivered again while its handler runs
                running.add(n)
            try:
                if n in poison:
                    raise ValueError(f"poison {n}")
                if n % 20 == 3 and m.read_ct == 1:
                    raise RuntimeError(f"flaky {n}")
                if n in slow:
                    time.sleep(5)  # the lease is 3 s
            finally:
                with lock:
                    running.discard(n)
            with lock:
                successes[n] += 1

        events = collections.Counter()
        # leases of 3 s extended every 0.75 s: generous for a loaded machine
        w = c.worker("pyw_work", handle, concurrency=8, batch_size=4, visibility_timeout=3,
                     lease_margin=0.25, wait=0.5, backoff_base=0.05, backoff_max=0.2,
                     on_event=lambda e: events.update([e.kind]))
        w.start()
        try:
            wait_for(lambda: len(successes) == total - len(poison)
                     and self.length("pyw_dead") == len(poison), 120, "the worker to finish")
        finally:
            w.stop()
            self.assertTrue(w.join(60), "the worker stops")
        self.assertEqual(overlaps, [], "no message delivered while its handler runs")
        self.assertEqual(set(successes), set(range(total)) - poison)
        self.assertEqual(set(successes.values()), {1}, "each handled successfully once")
        flaky = {n for n in range(total) if n % 20 == 3} - poison
        self.assertEqual({n for n, k in calls.items() if k > 1} - poison, flaky,
                         "only the failing ones are delivered again")
        self.assertEqual({calls[n] for n in flaky}, {2})
        self.assertEqual({calls[n] for n in poison}, {3}, "max_receives = 3 deliveries")
        counters = w.counters.as_dict()
        self.assertEqual(counters.get("lease_lost", 0), 0)
        self.assertGreater(counters["lease_extended"], 0, "the slow handlers' leases grew")
        self.assertEqual(counters["succeeded"], total - len(poison))
        self.assertEqual(counters["failed"], len(flaky) + 3 * len(poison))
        self.assertEqual(events["succeeded"], counters["succeeded"], "the hook saw every event")
        self.assertEqual(self.length("pyw_work"), 0)
        dead = sql("SELECT body->>'n', headers->'x-death'->0->>'reason'"
                   " FROM mq.read('pyw_dead', 10)")
        self.assertEqual(sorted((int(n), r) for n, r in dead),
                         [(n, "max_receives") for n in sorted(poison)])

    def test_read_errors_stop_the_worker(self):
        c = self.client
        with self.assertRaisesRegex(Exception, 'queue "pyw_work" does not exist'):
            c.work("pyw_work", lambda m: None, concurrency=2, wait=0.1)
        c.create_queue("pyw_work")
        with self.assertRaisesRegex(Exception, "visibility_timeout must be positive"):
            c.worker("pyw_work", lambda m: None, visibility_timeout=0)
        with self.assertRaisesRegex(Exception, "must be at least 1"):
            c.worker("pyw_work", lambda m: None, concurrency=0)

    def test_backoff_grows(self):
        c = self.client
        c.create_queue("pyw_work", max_receives=4)
        c.send("pyw_work", {"n": 1})
        seen = []

        def handle(m):
            seen.append((m.read_ct, time.monotonic()))
            if m.read_ct < 3:
                raise RuntimeError("again")
            w.stop()

        w = c.worker("pyw_work", handle, wait=0.2, backoff_base=0.4, backoff_max=10,
                     batch_acks=False)
        w.start()
        self.assertTrue(w.join(60))
        self.assertEqual([r for r, _ in seen], [1, 2, 3])
        first, second = seen[1][1] - seen[0][1], seen[2][1] - seen[1][1]
        # jitter: the n-th retry waits between half and all of 0.4 * 2^(n-1)
        self.assertGreaterEqual(first, 0.2)
        self.assertGreaterEqual(second, 0.4)

    def test_transactional_batches(self):
        """handler(message, connection) writes in the transaction of the
        acks: a failed message's writes roll back with it (a savepoint)."""
        c = self.client
        c.create_queue("pyw_work", max_receives=10)
        sql("DROP TABLE IF EXISTS pyw_results")
        sql("CREATE TABLE pyw_results (n int)")
        self.addCleanup(sql, "DROP TABLE IF EXISTS pyw_results")
        c.send_batch("pyw_work", [{"n": n} for n in range(100)])

        def handle(m, conn):
            conn.execute("INSERT INTO pyw_results VALUES (%s)", (m.body["n"],))
            if m.body["n"] % 10 == 0 and m.read_ct == 1:
                raise RuntimeError("fails after its write")

        w = c.worker("pyw_work", handle, concurrency=2, batch_size=10, transactional=True,
                     wait=0.2, backoff_base=0.05, backoff_max=0.1)
        w.start()
        try:
            wait_for(lambda: self.length("pyw_work") == 0, 60, "the queue to drain")
        finally:
            w.stop()
            w.join(30)
        self.assertEqual(sql("SELECT count(*), count(DISTINCT n) FROM pyw_results")[0], (100, 100),
                         "every write once: those of failed attempts rolled back")
        self.assertEqual(w.counters["failed"], 10)

    def test_sigterm(self):
        """SIGTERM in the middle: running handlers finish and are acked,
        messages read but not started are given back; nothing lost, nothing
        left leased."""
        self.sigterm("proc_worker.py")

    def test_sigterm_asyncio(self):
        """The same for AsyncClient.work."""
        self.sigterm("proc_async_worker.py")

    def sigterm(self, script):
        c = self.client
        c.create_queue("pyw_work")
        total = 300
        c.send_batch("pyw_work", [{"n": n} for n in range(total)])
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, script), "pyw_work"],
                                stdout=subprocess.PIPE, text=True)
        handled = []
        lines = []

        def read_output():
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("handled "):
                    handled.append(int(line.split()[1]))

        reader = threading.Thread(target=read_output)
        reader.start()
        try:
            wait_for(lambda: len(handled) >= 40, 60, "the worker to start")
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(60), 0, "the worker exits cleanly")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(10)
        proc.stdout.close()
        self.assertTrue(lines[-1].startswith("stopped"), lines[-1])
        self.assertLess(len(handled), total, "stopped in the middle")
        m = self.client.metrics("pyw_work")
        self.assertEqual(m["in_flight"], 0, "nothing left leased")
        rest = [msg.body["n"] for msg in c.read("pyw_work", total)]
        self.assertEqual(len(handled), len(set(handled)), "each handled once")
        self.assertEqual(sorted(handled + rest), list(range(total)),
                         f"nothing lost: {lines[-1]}, {m}, {len(handled)}, {len(rest)}, "
                         f"{set(range(total)) - set(handled) - set(rest)}")


if __name__ == "__main__":
    unittest.main()
