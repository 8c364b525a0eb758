'use strict';
// The batching producer: confirms, batches, back-pressure, errors.
const test = require('node:test');
const assert = require('node:assert');
const { client, freshQueue } = require('./helpers');

test('5,000 pipelined sends: each confirmed with its own id, stored once, in batches', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await freshQueue(c, 'nodec_prod');
  const producer = c.producer('nodec_prod', { maxBatch: 200, highWaterMark: 1000, priority: 3 });
  let batches = 0;
  producer.on('settled', () => { batches++; });
  let wentFull = 0;
  const confirms = [];
  for (let i = 0; i < 5000; i++) {
    confirms.push(producer.send(i % 2 ? { i } : Buffer.from(`b${i}`), { headers: { i } }));
    if (!producer.writable) {
      wentFull++;
      assert.ok(producer.pending >= 1000);
      await producer.drained();
      assert.ok(producer.writable);
    }
  }
  const ids = await Promise.all(confirms);
  assert.strictEqual(new Set(ids).size, 5000, 'one id per message');
  assert.ok(wentFull > 0, 'back-pressure: writable went false at the high-water mark');
  assert.ok(batches <= 5000 / 200 + wentFull + 5, `sent in batches (${batches} statements)`);
  const r = await c.query('SELECT count(*)::int AS n, count(DISTINCT headers->>\'i\')::int AS d, min(priority) AS p FROM mq.read($1, 10000)', ['nodec_prod']);
  assert.deepStrictEqual(r.rows[0], { n: 5000, d: 5000, p: 3 });
  await producer.flush();
  await producer.stop();
  await assert.rejects(producer.send({}), { name: 'ClosedError', message: 'the producer is stopped' });
});

test('a producer\'s failed batch rejects each of its sends with the server\'s error', async (t) => {
  const c = await client();
  t.after(() => c.end());
  const producer = c.producer('nodec_prod_missing');
  const results = await Promise.allSettled([producer.send({ a: 1 }), producer.send('b')]);
  for (const r of results) {
    assert.strictEqual(r.status, 'rejected');
    assert.strictEqual(r.reason.message, 'queue "nodec_prod_missing" does not exist');
  }
  await assert.rejects(producer.send({}, { delay: 5 }), { message: /option "delay" is not per message in a producer/ });
  await assert.rejects(producer.send(undefined), { message: /a message needs a body/ });
  await producer.stop();
});
