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

    def test_properties_in_batches(self):
        """Sends with other shared options go in other statements of the
        same transaction; per-message properties stay with their message."""
        c = self.client
        c.create_queue("pyp_out")
        with c.producer() as producer:
            sent = [
                ({"a": 1}, {"headers": {"h": 1}, "correlation_id": "c1"}),
                (b"\x01", {"content_type": "x/y", "priority": 7}),
                ("text", {"reply_to": "pyp_out", "group_key": "g"}),
                ({"d": 1}, {"delay": 3600}),
                ({"k": 1}, {"dedup_key": "same"}),
                ({"k": 2}, {"dedup_key": "same"}),
            ]
            futures = [producer.send("pyp_out", body, **props) for body, props in sent]
            ids = [f.result(60) for f in futures]
        self.assertEqual(ids[4], ids[5], "a known dedup key gives the first message's id")
        got = {m.msg_id: m for m in c.read("pyp_out", 10)}
        self.assertNotIn(ids[3], got, "delayed")
        self.assertEqual((got[ids[0]].headers, got[ids[0]].correlation_id), ({"h": 1}, "c1"))
        self.assertEqual((got[ids[1]].payload, got[ids[1]].content_type, got[ids[1]].priority),
                         (b"\x01", "x/y", 7))
        self.assertEqual((got[ids[2]].text, got[ids[2]].reply_to, got[ids[2]].group_key),
                         ("text", "pyp_out", "g"))
        self.assertEqual(got[ids[4]].body, {"k": 1})

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
