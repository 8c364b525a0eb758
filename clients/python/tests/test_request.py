"""Request/reply: requests matched to their replies under concurrency."""
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from helpers import ClientTest, sql
from mq_client import Client, RequestTimeout


class RequestReplyTest(ClientTest):
    queues = ("pyr_requests",)

    def test_100_requests_4_responders(self):
        c = self.client
        c.create_queue("pyr_requests")
        responders, workers = [], []
        for i in range(4):
            rc = Client()
            responders.append(rc)

            def answer(m, name=f"r{i}"):
                time.sleep(0.005)
                return {"echo": m.body["q"], "by": name}

            w = rc.worker("pyr_requests", answer, concurrency=2, reply=True, wait=0.5)
            w.start()
            workers.append(w)
        requester = Client()
        try:
            with ThreadPoolExecutor(10) as pool:
                replies = list(pool.map(
                    lambda q: requester.request("pyr_requests", {"q": q}, timeout=60), range(100)))
        finally:
            for w in workers:
                w.stop()
            for w in workers:
                w.join(30)
            reply_queue = requester._replies.queue
            requester.close()
            for rc in responders:
                rc.close()
        self.assertEqual([r.body["echo"] for r in replies], list(range(100)),
                         "every reply matches its request")
        self.assertEqual(len({r.correlation_id for r in replies}), 100)
        self.assertEqual(sum(w.counters["succeeded"] for w in workers), 100)
        self.assertGreater(len({r.body["by"] for r in replies}), 1,
                           "the responders shared the work")
        self.assertEqual(self.length("pyr_requests"), 0)
        self.assertEqual(sql("SELECT count(*) FROM mq.queues WHERE queue_name = %s",
                             (reply_queue,))[0][0], 0, "close() drops the reply queue")

    def test_timeout_and_late_reply(self):
        c = self.client
        c.create_queue("pyr_requests")
        with self.assertRaisesRegex(RequestTimeout, "no reply to the request .* within 0.3 s"):
            c.request("pyr_requests", {"q": 1}, timeout=0.3)
        self.assertEqual(c.read("pyr_requests"), [], "the request expired with its timeout")
        with self.assertRaises(RequestTimeout):
            c.request("pyr_requests", {"q": 1}, timeout=0.3, ttl=60)
        [m] = c.read("pyr_requests")
        # the late reply is dropped (counted), not given to the next request
        c.send(m.reply_to, {"late": True}, correlation_id=m.correlation_id)
        w = Client().worker("pyr_requests", lambda req: {"a": req.body["q"]}, reply=True,
                            wait=0.2)
        c.ack("pyr_requests", m.msg_id)
        w.start()
        try:
            reply = c.request("pyr_requests", {"q": 2}, timeout=60)
        finally:
            w.stop()
            w.join(30)
        self.assertEqual(reply.body, {"a": 2})
        self.assertEqual(c.counters["reply_dropped"], 1)


if __name__ == "__main__":
    unittest.main()
