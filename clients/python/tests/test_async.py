"""The asyncio client: round trips, the worker, request/reply."""
import asyncio
import collections
import unittest

from helpers import sql
from mq_client import AsyncClient, RequestTimeout


class AsyncTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.client = AsyncClient()
        for q in ("pya_work", "pya_requests"):
            await self.client.drop_queue(q, if_exists=True)
        await self.client.drop_stream("pya_clicks", if_exists=True)

    async def asyncTearDown(self):
        for q in ("pya_work", "pya_requests"):
            await self.client.drop_queue(q, if_exists=True)
        await self.client.drop_stream("pya_clicks", if_exists=True)
        sql("DROP TABLE IF EXISTS pya_results")
        await self.client.close()

    async def test_stream_members_exactly_once(self):
        """Two members of a group; one fails in the middle of a batch once:
        every record's result is written exactly once."""
        c = self.client
        await c.create_stream("pya_clicks", partitions=4)
        sql("SELECT mq.create_consumer_group('pya_clicks', 'g', 'earliest')")
        sql("DROP TABLE IF EXISTS pya_results")
        sql("CREATE TABLE pya_results (partition int, position bigint)")
        for n in range(200):
            await c.append("pya_clicks", {"n": n}, key=f"k{n % 13}")
        stop = asyncio.Event()
        failed = []

        async def handle(record, conn):
            await conn.execute("INSERT INTO pya_results VALUES (%s, %s)",
                               (record.partition, record.position))
            if record.body["n"] == 100 and not failed:
                failed.append(record.position)
                raise RuntimeError("fails after its write")

        async def lag_is_zero():
            while sql("SELECT sum(lag) FROM mq.consumer_groups"
                      " WHERE stream = 'pya_clicks'")[0][0] != 0:
                await asyncio.sleep(0.1)
            stop.set()

        members = [c.consume("pya_clicks", "g", name, handle, exactly_once=True, batch_size=20,
                             wait=0.2, backoff_base=0.05, stop=stop,
                             install_signal_handlers=False) for name in ("a1", "a2")]
        results = await asyncio.wait_for(asyncio.gather(lag_is_zero(), *members), 120)
        self.assertEqual(len(failed), 1, "one batch failed")
        self.assertEqual(sum(r["failed"] for r in results[1:]), 1)
        self.assertEqual(sql("SELECT count(*), count(DISTINCT (partition, position))"
                             " FROM pya_results")[0], (200, 200))

    async def test_round_trips(self):
        c = self.client
        await c.create_queue("pya_work")
        ids = [await c.send("pya_work", body) for body in ({"n": 1}, b"\x00\xff", "text")]
        ids += await c.send_batch("pya_work", [[1], b"", "t"])
        got = {m.msg_id: m for m in await c.read("pya_work", 10, wait=1)}
        self.assertEqual([got[i].value for i in ids],
                         [{"n": 1}, b"\x00\xff", "text", [1], b"", "t"])
        self.assertEqual(got[ids[1]].content_type, "application/octet-stream")
        self.assertEqual(got[ids[2]].content_type, "text/plain; charset=utf-8")
        for i in ids:
            self.assertTrue(await c.ack("pya_work", i))

    async def test_worker(self):
        """200 messages, 4 tasks: 10 fail once, 2 run longer than the lease;
        each handled successfully once."""
        c = self.client
        await c.create_queue("pya_work", max_receives=5)
        await c.send_batch("pya_work", [{"n": n} for n in range(200)])
        successes = collections.Counter()
        running = set()
        overlaps = []
        stop = asyncio.Event()

        async def handle(m):
            n = m.body["n"]
            if n in running:
                overlaps.append(n)
            running.add(n)
            try:
                if n % 20 == 0 and m.read_ct == 1:
                    raise RuntimeError("once")
                if n in (50, 150):
                    await asyncio.sleep(5)  # the lease is 3 s
            finally:
                running.discard(n)
            successes[n] += 1
            if len(successes) == 200:
                stop.set()

        counters = await asyncio.wait_for(
            c.work("pya_work", handle, 4, visibility_timeout=3, lease_margin=0.25, wait=0.5,
                   backoff_base=0.05, backoff_max=0.1, stop=stop,
                   install_signal_handlers=False), 120)
        self.assertEqual(overlaps, [])
        self.assertEqual(set(successes.values()), {1})
        self.assertEqual(counters["failed"], 10)
        self.assertEqual(counters["lease_lost"], 0)
        self.assertGreater(counters["lease_extended"], 0)
        self.assertEqual(sql("SELECT queue_length FROM mq.metrics('pya_work')")[0][0], 0)

    async def test_request_reply(self):
        c = self.client
        await c.create_queue("pya_requests")
        stop = asyncio.Event()

        async def answer(m):
            return {"double": m.body * 2}

        async with AsyncClient() as server:
            serving = asyncio.create_task(server.serve("pya_requests", answer, 2, wait=0.5,
                                                       stop=stop, install_signal_handlers=False))
            replies = await asyncio.gather(*(c.request("pya_requests", n, timeout=60)
                                             for n in range(30)))
            stop.set()
            await serving
        self.assertEqual([r.body["double"] for r in replies], [2 * n for n in range(30)])
        with self.assertRaises(RequestTimeout):
            await c.request("pya_requests", 1, timeout=0.2)


if __name__ == "__main__":
    unittest.main()
