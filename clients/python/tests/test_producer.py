"""The pipelining producer: confirms, one bad message, back-pressure."""
import threading
import time
import unittest

import psycopg
from psycopg import errors as pgerrors

from helpers import ClientTest, sql, wait_for


class ProducerTest(ClientTest):
    queues = ("pyp_out",)

    def test_confirms_in_order_and_one_bad_message(self):
        c = self.client
        c.create_queue("pyp_out")
        with c.producer(batch_size=100) as producer:
            futures = [producer.send("pyp_out", {"n": n}, headers={"i": n}) for n in range(1000)]
            bad = producer.send("pyp_missing_queue", {"n": -1})
            more = [producer.send("pyp_out", b"\x00" * n) for n in range(10)]
            producer.flush(60)
            ids = [f.result() for f in futures + more]
        self.assertEqual(len(set(ids)), 1010)
        self.assertIsInstance(bad.exception(), pgerrors.UndefinedObject,
                              "only the bad message's confirm fails")
        self.assertEqual(self.length("pyp_out"), 1010)
        got = {m.msg_id: m for m in c.read("pyp_out", 1000)}
        self.assertEqual([got[i].body for i in ids[:1000]], [{"n": n} for n in range(1000)])
        self.assertEqual(producer.counters["failed"], 1)
        with self.assertRaisesRegex(Exception, "the producer is closed"):
            producer.send("pyp_out", 1)
        with self.assertRaisesRegex(TypeError, "has no option colour"):
            c.producer().send("pyp_out", 1, colour="red")

    def test_back_pressure(self):
        """With max_in_flight = 3 and the queue's table locked, the fourth
        send waits until a confirm frees a place."""
        c = self.client
        c.create_queue("pyp_out")
        queue_id = sql("SELECT queue_id FROM mq._queue WHERE queue_name = 'pyp_out'")[0][0]
        locker = psycopg.connect()
        locker.execute(f"LOCK TABLE mq.q_{int(queue_id)} IN ACCESS EXCLUSIVE MODE")
        producer = c.producer(max_in_flight=3, batch_size=2)
        returned = []

        def send_all():
            for n in range(10):
                producer.send("pyp_out", {"n": n})
                returned.append(n)

        t = threading.Thread(target=send_all)
        t.start()
        try:
            wait_for(lambda: len(returned) >= 3, 30, "three sends")
            time.sleep(0.5)
            self.assertEqual(len(returned), 3, "the fourth send waits for a confirm")
        finally:
            locker.rollback()
            locker.close()
        t.join(30)
        producer.close()
        self.assertEqual(returned, list(range(10)))
        self.assertEqual(self.length("pyp_out"), 10)


if __name__ == "__main__":
    unittest.main()
