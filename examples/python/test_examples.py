"""Tests of the Python examples against a real server (PG* variables)."""
import datetime
import os
import threading
import time
import unittest
import uuid

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from mq_client import Client

import mq_worker
import stream_worker
from outbox_sqlalchemy import Base, Order, place_order


def connect():
    return psycopg.connect(autocommit=True)


class WorkerTest(unittest.TestCase):
    def setUp(self):
        self.conn = connect()
        for q in ("py_work", "py_dead"):
            self.conn.execute("SELECT mq.drop_queue(%s, if_exists => true)", (q,))
        self.conn.execute("SELECT mq.create_queue('py_dead')")
        self.conn.execute("SELECT mq.create_queue('py_work', max_receives => 3, "
                          "dead_letter_queue => 'py_dead', visibility_timeout => '30 s')")

    def tearDown(self):
        for q in ("py_work", "py_dead"):
            self.conn.execute("SELECT mq.drop_queue(%s, if_exists => true)", (q,))
        self.conn.close()

    def test_consumer_acks_retries_and_dead_letters(self):
        client = Client()
        ids = mq_worker.produce(client, "py_work",
                                [{"n": i} for i in range(20)] + [{"poison": True}, {"flaky": True}])
        self.assertEqual(len(ids), 22)
        done, attempts = [], {}

        def handle(body):
            key = str(body)
            attempts[key] = attempts.get(key, 0) + 1
            if "poison" in body or ("flaky" in body and attempts[key] == 1):
                raise ValueError("cannot handle")
            done.append(body)

        worker = mq_worker.worker(client, "py_work", handle, concurrency=2, wait=0.2,
                                  backoff_base=0.05)
        worker.start()
        deadline = time.time() + 60
        while time.time() < deadline:
            dead = self.conn.execute("SELECT queue_length FROM mq.metrics('py_dead')").fetchone()[0]
            if len(done) == 21 and dead == 1:
                break
            time.sleep(0.1)
        worker.stop()
        self.assertTrue(worker.join(10), "the worker stops on request")
        client.close()
        self.assertEqual(sorted(str(b) for b in done),
                         sorted([str({"n": i}) for i in range(20)] + [str({"flaky": True})]))
        self.assertEqual(self.conn.execute(
            "SELECT queue_length FROM mq.metrics('py_work')").fetchone()[0], 0)
        body, reason = self.conn.execute(
            "SELECT body, headers->'x-death'->0->>'reason' FROM mq.read('py_dead')").fetchone()
        self.assertEqual((body, reason), ({"poison": True}, "max_receives"))


class StreamWorkerTest(unittest.TestCase):
    """Two workers of one group share the partitions; one that fails in the
    middle of a batch writes nothing of it, and in the end every record has
    exactly one result."""

    def setUp(self):
        self.conn = connect()
        self.conn.execute("SELECT mq.drop_stream('py_clicks', if_exists => true)")
        self.conn.execute("SELECT mq.create_stream('py_clicks', partitions => 4)")
        self.conn.execute("SELECT mq.create_consumer_group('py_clicks', 'counters', 'earliest')")
        self.conn.execute("DROP TABLE IF EXISTS py_click_results")
        self.conn.execute("CREATE TABLE py_click_results (partition int, position bigint, worker text)")

    def tearDown(self):
        self.conn.execute("SELECT mq.drop_stream('py_clicks', if_exists => true)")
        self.conn.execute("DROP TABLE IF EXISTS py_click_results")
        self.conn.close()

    def test_two_workers_exactly_once(self):
        failed = []

        def handler(name):
            def handle(record, conn):
                conn.execute("INSERT INTO py_click_results VALUES (%s, %s, %s)",
                             (record.partition, record.position, name))
                if name == "w2" and not failed:
                    failed.append(record.body)
                    raise RuntimeError("the worker fails mid-batch")
            return handle

        client = Client()
        members = [stream_worker.member(client, "py_clicks", "counters", name, handler(name),
                                        batch_size=20, wait=0.2, backoff_base=0.05)
                   for name in ("w1", "w2")]
        threads = [threading.Thread(target=m.run) for m in members]
        for t in threads:
            t.start()
        # both have joined (two partitions each) before the records come
        deadline = time.time() + 30
        while time.time() < deadline and self.conn.execute(
                "SELECT count(DISTINCT consumer) FROM mq.consumer_groups"
                " WHERE stream = 'py_clicks'").fetchone()[0] < 2:
            time.sleep(0.05)
        positions = stream_worker.append(
            client, "py_clicks", [(f"user-{i % 10}", {"n": i}) for i in range(200)])
        self.assertEqual(len(positions), 200)
        deadline = time.time() + 60
        while time.time() < deadline:
            lag = self.conn.execute("SELECT sum(lag) FROM mq.consumer_groups"
                                    " WHERE stream = 'py_clicks'").fetchone()[0]
            if lag == 0:
                break
            time.sleep(0.1)
        for m in members:
            m.stop()
        for t in threads:
            t.join(10)
        client.close()
        self.assertEqual(len(failed), 1, "one batch failed")
        total, distinct, workers = self.conn.execute(
            "SELECT count(*), count(DISTINCT (partition, position)), count(DISTINCT worker)"
            " FROM py_click_results").fetchone()
        self.assertEqual((total, distinct), (200, 200), "every record's result, once")
        self.assertEqual(workers, 2, "both workers took part")


class OutboxTest(unittest.TestCase):
    def setUp(self):
        url = "postgresql+psycopg2://"  # SQLAlchemy 1.4 (Debian 12) drives psycopg2
        self.engine = create_engine(url)
        with self.engine.begin() as c:
            c.execute(text("SELECT mq.drop_queue('orders_placed', if_exists => true)"))
            c.execute(text("SELECT mq.create_queue('orders_placed')"))
        Base.metadata.drop_all(self.engine)
        Base.metadata.create_all(self.engine)

    def tearDown(self):
        Base.metadata.drop_all(self.engine)
        with self.engine.begin() as c:
            c.execute(text("SELECT mq.drop_queue('orders_placed')"))
        self.engine.dispose()

    def count(self):
        with self.engine.connect() as c:
            return (c.execute(text("SELECT count(*) FROM example_orders")).scalar(),
                    c.execute(text("SELECT queue_length FROM mq.metrics('orders_placed')")).scalar())

    def test_commit_and_rollback_together(self):
        with Session(self.engine) as s:
            place_order(s, Order(id=1, customer="acme", total=10))
            s.rollback()
        self.assertEqual(self.count(), (0, 0), "a rolled-back order sends nothing")
        with Session(self.engine) as s:
            place_order(s, Order(id=2, customer="acme", total=12))
            s.commit()
        self.assertEqual(self.count(), (1, 1), "a committed order sends its message")


class MessagesTest(unittest.TestCase):
    """Payloads and properties from psycopg 3, with no casts in the SQL:
    Python bytes go in as bytea and come back as bytes, byte for byte; a
    request and its reply travel with correlation_id and reply_to."""

    queues = ("py_bytes", "py_requests", "py_replies")

    def setUp(self):
        self.conn = connect()
        for q in self.queues:
            self.conn.execute("SELECT mq.drop_queue(%s, if_exists => true)", (q,))
            self.conn.execute("SELECT mq.create_queue(%s)", (q,))
        self.user = self.conn.execute("SELECT current_user").fetchone()[0]

    def tearDown(self):
        for q in self.queues:
            self.conn.execute("SELECT mq.drop_queue(%s, if_exists => true)", (q,))
        self.conn.close()

    def test_bytes_round_trip(self):
        sent = [
            (bytes(range(256)), "application/octet-stream"),   # every byte value
            (b"", "application/x-empty"),                        # nothing at all
            (bytes(range(255, -1, -1)) * 64, "application/x-protobuf"),  # 16 kB
            ("naïve café\n".encode("utf-8"), "text/plain; charset=utf-8"),
        ]
        ids = [self.conn.execute("SELECT mq.send(%s, payload => %s, content_type => %s)",
                                 ("py_bytes", payload, content_type)).fetchone()[0]
               for payload, content_type in sent]
        # a JSON message in the same queue keeps its body and has no payload
        json_id = self.conn.execute("SELECT mq.send(%s, %s)",
                                    ("py_bytes", Jsonb({"n": 1}))).fetchone()[0]
        # a batch of payloads: a list of bytes is a bytea[]; no content types
        # given, so each gets application/octet-stream
        batch_ids = [r[0] for r in self.conn.execute(
            "SELECT * FROM mq.send_batch(%s, payloads => %s)",
            ("py_bytes", [b"\x00", b"", b"\xff\x00\xff"])).fetchall()]
        self.assertEqual(len(batch_ids), 3)

        rows = self.conn.execute(
            "SELECT msg_id, body, payload, content_type, content_encoding, sent_by"
            " FROM mq.read(%s, 100) ORDER BY msg_id", ("py_bytes",)).fetchall()
        self.assertEqual(len(rows), 8)
        got = {r[0]: r[1:] for r in rows}
        for msg_id, (payload, content_type) in zip(ids, sent):
            body, got_payload, got_type, encoding, sent_by = got[msg_id]
            self.assertIsNone(body)
            self.assertIsInstance(got_payload, bytes)
            self.assertEqual(got_payload, payload, "the payload comes back byte for byte")
            self.assertEqual((got_type, encoding, sent_by), (content_type, None, self.user))
        self.assertEqual("naïve café\n", got[ids[3]][1].decode("utf-8"))
        self.assertEqual(got[json_id], ({"n": 1}, None, None, None, self.user))
        self.assertEqual([got[i][1:3] for i in batch_ids],
                         [(b"\x00", "application/octet-stream"),
                          (b"", "application/octet-stream"),
                          (b"\xff\x00\xff", "application/octet-stream")])

    def test_request_reply(self):
        # the requester asks twice, each with its own correlation_id, naming
        # its reply queue; the requests expire if nobody answers in a minute
        requester = self.conn
        asked = {}
        for sku in ("B-1001", "B-2002"):
            correlation_id = str(uuid.uuid4())
            asked[correlation_id] = sku
            requester.execute(
                "SELECT mq.send(%s, %s, correlation_id => %s, reply_to => %s, ttl => %s)",
                ("py_requests", Jsonb({"sku": sku}), correlation_id, "py_replies",
                 datetime.timedelta(minutes=1)))

        # the responder, on its own connection: answers each request where its
        # reply_to says, with its correlation_id (the price as text, a
        # payload), and acks the request in the same transaction
        with connect() as responder:
            requests = responder.execute(
                "SELECT msg_id, body, correlation_id, reply_to, sent_by, expires_at - enqueued_at"
                " FROM mq.read(%s, 10)", ("py_requests",)).fetchall()
            self.assertEqual(len(requests), 2)
            for msg_id, body, correlation_id, reply_to, sent_by, ttl in reversed(requests):
                self.assertEqual(reply_to, "py_replies")
                self.assertEqual(sent_by, self.user)
                self.assertEqual(asked[correlation_id], body["sku"])
                self.assertTrue(datetime.timedelta(seconds=50) < ttl <= datetime.timedelta(minutes=1, seconds=10),
                                f"the request expires about a minute after its send: {ttl}")
                price = f"{body['sku']}: 12.50 EUR".encode("utf-8")
                with responder.transaction():
                    responder.execute(
                        "SELECT mq.send(%s, payload => %s, content_type => %s, correlation_id => %s)",
                        (reply_to, price, "text/plain; charset=utf-8", correlation_id))
                    responder.execute("SELECT mq.ack(%s, %s)", ("py_requests", msg_id))

        # the requester matches each reply to its request by correlation_id
        replies = requester.execute(
            "SELECT msg_id, correlation_id, reply_to, payload, content_type, sent_by, expires_at"
            " FROM mq.read(%s, 10)", ("py_replies",)).fetchall()
        self.assertEqual(len(replies), 2)
        answered = {}
        for msg_id, correlation_id, reply_to, payload, content_type, sent_by, expires_at in replies:
            self.assertIn(correlation_id, asked, "a reply to a request that was made")
            self.assertEqual((reply_to, content_type, sent_by, expires_at),
                             (None, "text/plain; charset=utf-8", self.user, None))
            answered[correlation_id] = payload.decode("utf-8")
            requester.execute("SELECT mq.ack(%s, %s)", ("py_replies", msg_id))
        self.assertEqual(answered, {c: f"{sku}: 12.50 EUR" for c, sku in asked.items()})
        for q in ("py_requests", "py_replies"):
            self.assertEqual(requester.execute(
                "SELECT queue_length FROM mq.metrics(%s)", (q,)).fetchone()[0], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
