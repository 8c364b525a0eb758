"""Client: management, sends of every kind of body, typed reads, errors."""
import datetime
import threading
import unittest

import psycopg
from psycopg import errors as pgerrors

from helpers import ClientTest, sql
from mq_client import Client, Json, Message


class RoundTripTest(ClientTest):
    queues = ("pyc_round", "pyc_dead")

    def test_json_bytes_and_string_round_trips(self):
        c = self.client
        c.create_queue("pyc_round")
        user = sql("SELECT current_user")[0][0]
        sent = [
            ({"n": 1, "nested": [1, 2.5, None, "é"]}, {}),
            ([1, 2, 3], {}),
            (Json("a JSON string"), {}),
            (42, {}),
            (bytes(range(256)), {}),
            (b"", {"content_type": "application/x-empty"}),
            (b"\x89PNG", {"content_type": "image/png"}),
            ("naïve café\n", {}),
            ("<p>hi</p>", {"content_type": "text/html; charset=utf-8"}),
        ]
        ids = [c.send("pyc_round", body, **props) for body, props in sent]
        got = {m.msg_id: m for m in c.read("pyc_round", 100)}
        self.assertEqual(len(got), len(sent))
        for msg_id, (body, props) in zip(ids, sent):
            m = got[msg_id]
            self.assertIsInstance(m, Message)
            self.assertEqual((m.queue, m.read_ct, m.sent_by), ("pyc_round", 1, user))
            if isinstance(body, bytes):
                self.assertIsNone(m.body)
                self.assertIsInstance(m.payload, bytes)
                self.assertEqual(m.payload, body, "bytes come back byte for byte")
                self.assertEqual(m.content_type,
                                 props.get("content_type", "application/octet-stream"))
            elif isinstance(body, str):
                self.assertIsNone(m.body)
                self.assertEqual(m.payload, body.encode("utf-8"))
                self.assertEqual(m.content_type,
                                 props.get("content_type", "text/plain; charset=utf-8"))
                self.assertEqual(m.text, body)
                self.assertEqual(m.value, body)
            else:
                expect = body.value if isinstance(body, Json) else body
                self.assertEqual((m.body, m.payload, m.content_type), (expect, None, None))
                self.assertEqual(m.value, expect)
            self.assertTrue(c.ack("pyc_round", msg_id))
        self.assertFalse(c.ack("pyc_round", ids[0]), "a second ack finds nothing")
        self.assertEqual(self.length("pyc_round"), 0)

    def test_properties(self):
        c = self.client
        c.create_queue("pyc_round")
        c.send("pyc_round", {"k": 1}, headers={"trace": "abc"}, priority=5,
               correlation_id="c-1", reply_to="pyc_dead", ttl=60, group_key="g",
               dedup_key="d-1")
        dup = c.send("pyc_round", {"k": 2}, dedup_key="d-1")
        delayed = c.send("pyc_round", {"k": 3}, delay=datetime.timedelta(hours=1))
        [m] = c.read("pyc_round", 10, visibility_timeout=5)
        self.assertEqual(dup, m.msg_id, "a known dedup key gives the first message's id")
        self.assertNotEqual(delayed, m.msg_id)
        self.assertEqual((m.headers, m.priority, m.correlation_id, m.reply_to, m.group_key,
                          m.dedup_key), ({"trace": "abc"}, 5, "c-1", "pyc_dead", "g", "d-1"))
        self.assertTrue(datetime.timedelta(seconds=50) < m.expires_at - m.enqueued_at
                        <= datetime.timedelta(seconds=70))
        self.assertTrue(datetime.timedelta(seconds=3) < m.vt - m.enqueued_at
                        < datetime.timedelta(seconds=30), "visibility_timeout=5 leases 5 s")
        self.assertIsNotNone(c.set_vt("pyc_round", m.msg_id, 0))
        [again] = c.read("pyc_round", 10)
        self.assertEqual((again.msg_id, again.read_ct), (m.msg_id, 2))
        self.assertTrue(c.nack("pyc_round", m.msg_id))
        self.assertEqual(sorted(c.ack_batch("pyc_round", [m.msg_id, delayed])),
                         sorted([m.msg_id, delayed]))

    def test_send_batch(self):
        c = self.client
        c.create_queue("pyc_round")
        ids = c.send_batch("pyc_round", [{"n": 1}, b"\x00\xff", "text", Json("j")],
                           headers=[{"i": 1}, None, None, None], priority=3)
        self.assertEqual(len(ids), 4)
        got = {m.msg_id: m for m in c.read("pyc_round", 10)}
        self.assertEqual([got[i].value for i in ids], [{"n": 1}, b"\x00\xff", "text", "j"])
        self.assertEqual([got[i].content_type for i in ids],
                         [None, "application/octet-stream", "text/plain; charset=utf-8", None])
        self.assertEqual(got[ids[0]].headers, {"i": 1})
        self.assertEqual({m.priority for m in got.values()}, {3})
        self.assertEqual(c.send_batch("pyc_round", []), [])
        with self.assertRaisesRegex(ValueError, "headers has 1 elements for 2 bodies"):
            c.send_batch("pyc_round", [1, 2], headers=[{}])

    def test_peek_leases_nothing(self):
        c = self.client
        c.create_queue("pyc_round")
        ids = c.send_batch("pyc_round", [{"n": 1}, b"\x01", {"n": 3}])
        c.read("pyc_round", 1)
        peeked = c.peek("pyc_round")
        self.assertEqual([(m.msg_id, m.read_ct, m.value) for m in peeked],
                         [(ids[0], 1, {"n": 1}), (ids[1], 0, b"\x01"), (ids[2], 0, {"n": 3})])
        self.assertEqual([m.msg_id for m in c.peek("pyc_round", 1, after_id=ids[0])], [ids[1]])
        self.assertEqual([m.msg_id for m in c.read("pyc_round", 5)], ids[1:],
                         "the peek leased nothing")

    def test_blocking_read_wakes_on_send(self):
        c = self.client
        c.create_queue("pyc_round")

        def late_send():
            with Client() as other:
                other.send("pyc_round", {"late": True})

        timer = threading.Timer(0.3, late_send)
        timer.start()
        msgs = c.read("pyc_round", wait=30)
        timer.join()
        self.assertEqual([m.body for m in msgs], [{"late": True}])
        self.assertEqual(c.read("pyc_round", wait=0.1), [], "an empty queue: nothing after wait")

    def test_transaction(self):
        c = self.client
        c.create_queue("pyc_round")
        with self.assertRaises(ZeroDivisionError):
            with c.transaction() as tx:
                tx.send("pyc_round", {"n": 1})
                1 / 0
        self.assertEqual(self.length("pyc_round"), 0, "a rolled-back transaction sends nothing")
        with c.transaction() as tx:
            tx.send("pyc_round", {"n": 2})
            self.assertEqual(tx.connection.execute("SELECT 1").fetchone()[0], 1)
        self.assertEqual(self.length("pyc_round"), 1)


class ManagementTest(ClientTest):
    queues = ("pyc_q1", "pyc_q2", "pyc_dlq")
    streams = ("pyc_s",)

    def tearDown(self):
        self.client.drop_exchange("pyc_ex", if_exists=True, cascade=True)
        super().tearDown()

    def test_queues_exchanges_streams(self):
        c = self.client
        c.create_queue("pyc_dlq")
        c.create_queue("pyc_q1", visibility_timeout=10, max_receives=3,
                       dead_letter_queue="pyc_dlq", message_ttl=datetime.timedelta(hours=1))
        c.create_queue("pyc_q1", visibility_timeout=10, max_receives=3,
                       dead_letter_queue="pyc_dlq", message_ttl=3600)  # same options: no-op
        row = sql("SELECT visibility_timeout, max_receives, dead_letter_queue, message_ttl"
                  " FROM mq.queues WHERE queue_name = 'pyc_q1'")[0]
        self.assertEqual(row, (datetime.timedelta(seconds=10), 3, "pyc_dlq",
                               datetime.timedelta(hours=1)))
        with self.assertRaises(pgerrors.DuplicateObject):
            c.create_queue("pyc_q1", visibility_timeout=11)
        c.alter_queue("pyc_q1", visibility_timeout=12)
        c.create_queue("pyc_q2")
        c.create_exchange("pyc_ex", "topic")
        self.assertTrue(c.bind("pyc_ex", "pyc_q1", "orders.*"))
        self.assertTrue(c.bind("pyc_ex", "pyc_q2", "#"))
        self.assertEqual(c.publish("pyc_ex", "orders.new", {"o": 1}, headers={"h": 1}), 2)
        self.assertEqual(c.publish("pyc_ex", "other", b"\x01"), 1)
        self.assertEqual([m.body for m in c.read("pyc_q1", 10)], [{"o": 1}])
        self.assertEqual([m.value for m in c.read("pyc_q2", 10)], [{"o": 1}, b"\x01"])
        self.assertTrue(c.unbind("pyc_ex", "pyc_q1", "orders.*"))
        self.assertEqual(c.purge_queue("pyc_q2"), 2)
        c.create_stream("pyc_s", partitions=2, retention=3600)
        c.create_consumer_group("pyc_s", "g", "earliest")
        self.assertEqual(c.append("pyc_s", {"a": 1}, key="k")[1], 0)
        partition, position = c.append("pyc_s", b"\x00", key="k", content_type="x/y")
        self.assertEqual(position, 1)
        records = c.poll("pyc_s", "g", "m1", 10)
        self.assertEqual([(r.partition, r.position, r.key, r.value, r.content_type)
                          for r in records],
                         [(partition, 0, "k", {"a": 1}, None),
                          (partition, 1, "k", b"\x00", "x/y")])
        c.commit("pyc_s", "g", "m1", partition, 2)
        self.assertTrue(c.drop_consumer_group("pyc_s", "g"))
        self.assertTrue(c.drop_stream("pyc_s"))
        self.assertFalse(c.drop_stream("pyc_s", if_exists=True))
        self.assertTrue(c.drop_queue("pyc_q2"))


class ErrorTest(ClientTest):
    queues = ("pyc_err",)

    def test_errors(self):
        c = self.client
        with self.assertRaisesRegex(pgerrors.UndefinedObject, 'queue "pyc_err" does not exist'):
            c.send("pyc_err", {"n": 1})
        with self.assertRaisesRegex(TypeError, "mq.create_queue.. has no option colour"):
            c.create_queue("pyc_err", colour="red")
        with self.assertRaisesRegex(TypeError, "has no option colour"):
            c.send("pyc_err", {}, colour="red")
        with self.assertRaisesRegex(ValueError, "content_type is for bytes or str bodies"):
            c.send("pyc_err", {"n": 1}, content_type="text/plain")
        with self.assertRaisesRegex(TypeError, "a duration is seconds"):
            c.read("pyc_err", wait="soon")
        c.create_queue("pyc_err")
        with self.assertRaisesRegex(pgerrors.InvalidParameterValue, "qty"):
            c.read("pyc_err", 0)
        with self.assertRaisesRegex(psycopg.errors.InvalidParameterValue, "name"):
            c.create_queue("bad name; DROP TABLE x")
        # a statement's own error is raised at once, not retried
        c.create_queue("pyc_err_full", max_length=1)
        self.addCleanup(sql, "SELECT mq.drop_queue('pyc_err_full', true)")
        c.send("pyc_err_full", 1)
        with self.assertRaisesRegex(pgerrors.ProgramLimitExceeded, "pyc_err_full"):
            c.send("pyc_err_full", 2)
        self.assertEqual(c.counters["reconnect"], 0)
        closed = Client()
        closed.close()
        with self.assertRaisesRegex(psycopg.InterfaceError, "the client is closed"):
            closed.send("pyc_err", 1)


if __name__ == "__main__":
    unittest.main()
