'use strict';
// JSON, bytes and string round trips, properties, management, batches,
// exchanges, streams, transactions and the errors a user sees.
const test = require('node:test');
const assert = require('node:assert');
const { client, freshQueue } = require('./helpers');
const { Client, TEXT_TYPE } = require('..');

test('JSON, bytes and string bodies round trip', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await freshQueue(c, 'nodec_rt');
  const json = { order: 1001, items: ['a', 'ü'], nested: { ok: true, n: null } };
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const id1 = await c.send('nodec_rt', json);
  const id2 = await c.send('nodec_rt', every);
  const id3 = await c.send('nodec_rt', Buffer.alloc(0), { contentType: 'application/x-empty' });
  const id4 = await c.send('nodec_rt', 'naïve café ☕');
  const id5 = await c.send('nodec_rt', [1, 'two', 3.5]);
  const id6 = await c.send('nodec_rt', 42);
  const id7 = await c.send('nodec_rt', '<a/>', { contentType: 'application/xml' });
  const id8 = await c.send('nodec_rt', Buffer.from('café', 'latin1'), { contentType: 'text/plain; charset=ISO-8859-1' });
  for (const id of [id1, id2, id3, id4, id5, id6, id7, id8]) assert.match(id, /^[0-9]+$/, 'msgId is a string of digits');
  const ms = await c.read('nodec_rt', { qty: 10 });
  assert.deepStrictEqual(ms.map((m) => m.msgId), [id1, id2, id3, id4, id5, id6, id7, id8]);
  assert.deepStrictEqual(ms[0].body, json);
  assert.strictEqual(ms[0].payload, null);
  assert.strictEqual(ms[0].contentType, null);
  assert.ok(ms[1].payload.equals(every), 'every byte value');
  assert.strictEqual(ms[1].body, null);
  assert.strictEqual(ms[1].contentType, 'application/octet-stream');
  assert.strictEqual(ms[1].text, null);
  assert.strictEqual(ms[2].payload.length, 0);
  assert.strictEqual(ms[2].contentType, 'application/x-empty');
  assert.strictEqual(ms[3].text, 'naïve café ☕');
  assert.ok(ms[3].payload.equals(Buffer.from('naïve café ☕', 'utf8')));
  assert.strictEqual(ms[3].contentType, TEXT_TYPE);
  assert.deepStrictEqual(ms[4].body, [1, 'two', 3.5]);
  assert.strictEqual(ms[5].body, 42);
  assert.strictEqual(ms[6].contentType, 'application/xml');
  assert.strictEqual(ms[6].text, null, 'text only for text/* content types');
  assert.strictEqual(ms[7].text, 'café', 'text decoded with its charset');
  assert.strictEqual(ms[7].payload.length, 4);
  for (const m of ms) {
    assert.strictEqual(m.readCt, 1);
    assert.strictEqual(m.sentBy, 'postgres');
    assert.ok(m.enqueuedAt instanceof Date && m.vt instanceof Date);
    assert.strictEqual(await c.ack('nodec_rt', m.msgId), true);
  }
  assert.strictEqual(await c.ack('nodec_rt', id1), false, 'acked already');
});

test('properties: headers, delay, priority, dedup key, group key, ttl, correlation id, reply to', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await freshQueue(c, 'nodec_props', { fifo: true });
  const id = await c.send('nodec_props', { a: 1 }, {
    headers: { kind: 'x', n: 2 }, priority: 5, dedupKey: 'order-1', groupKey: 'g1', ttl: 3600,
    correlationId: 'c-1', replyTo: 'somewhere',
  });
  assert.strictEqual(await c.send('nodec_props', { a: 2 }, { dedupKey: 'order-1' }), id, 'a repeated dedup key returns the first id');
  await c.send('nodec_props', { later: true }, { delay: 3600 });
  const [m] = await c.read('nodec_props', { qty: 10, visibilityTimeout: 5 });
  assert.deepStrictEqual(m.headers, { kind: 'x', n: 2 });
  assert.strictEqual(m.priority, 5);
  assert.strictEqual(m.dedupKey, 'order-1');
  assert.strictEqual(m.groupKey, 'g1');
  assert.strictEqual(m.correlationId, 'c-1');
  assert.strictEqual(m.replyTo, 'somewhere');
  assert.ok(m.expiresAt instanceof Date && m.expiresAt > new Date(Date.now() + 3000 * 1000));
  assert.ok(m.vt < new Date(Date.now() + 60 * 1000), 'visibilityTimeout applied');
  assert.deepStrictEqual(await c.read('nodec_props'), [], 'the delayed one is not visible');
  assert.strictEqual(await c.nack('nodec_props', m.msgId), true);
  const [again] = await c.read('nodec_props');
  assert.strictEqual(again.readCt, 2);
  const vt = await c.setVt('nodec_props', again.msgId, 100);
  assert.ok(vt > new Date(Date.now() + 90 * 1000));
  assert.strictEqual(await c.ack('nodec_props', BigInt(again.msgId)), true, 'a BigInt id works too');
  const metrics = await c.metrics('nodec_props');
  assert.strictEqual(Number(metrics.queue_length), 1);
});

test('sendBatch, pop, ackBatch; management of queues, exchanges and streams', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await freshQueue(c, 'nodec_b');
  const ids = await c.sendBatch('nodec_b', [{ n: 1 }, Buffer.from([9]), 'text'], {
    headers: [{ i: 1 }, { i: 2 }, null], correlationIds: ['a', 'b', 'c'], priority: 1,
  });
  assert.strictEqual(ids.length, 3);
  const ms = await c.read('nodec_b', { qty: 3 });
  assert.deepStrictEqual(ms.map((m) => [m.body, m.payload && [...m.payload], m.text, m.headers, m.correlationId]),
    [[{ n: 1 }, null, null, { i: 1 }, 'a'], [null, [9], null, { i: 2 }, 'b'], [null, [...Buffer.from('text')], 'text', {}, 'c']]);
  assert.deepStrictEqual((await c.ackBatch('nodec_b', ms.map((m) => m.msgId))).sort(), [...ids].sort());
  await c.send('nodec_b', { popped: true });
  const [p] = await c.pop('nodec_b');
  assert.deepStrictEqual(p.body, { popped: true });
  assert.strictEqual(Number(await c.purgeQueue('nodec_b')), 0);
  await c.alterQueue('nodec_b', { visibilityTimeout: 7, maxReceives: 4 });

  await c.dropExchange('nodec_x', { ifExists: true, cascade: true });
  await c.createExchange('nodec_x', { type: 'topic' });
  assert.strictEqual(await c.bind('nodec_x', 'nodec_b', 'orders.*'), true);
  assert.strictEqual(await c.publish('nodec_x', 'orders.eu', { order: 7 }, { headers: { h: 1 } }), 1);
  assert.strictEqual(await c.publish('nodec_x', 'other', { order: 8 }), 0);
  const [pub] = await c.read('nodec_b');
  assert.deepStrictEqual(pub.body, { order: 7 });
  assert.strictEqual(await c.unbind('nodec_x', 'nodec_b', 'orders.*'), true);
  assert.strictEqual(await c.dropExchange('nodec_x'), true);

  await c.dropStream('nodec_s', { ifExists: true });
  await c.createStream('nodec_s', { partitions: 2, retention: 3600 });
  const pos = await c.append('nodec_s', { e: 1 }, { key: 'k1', headers: { h: 'x' } });
  assert.ok(pos.partition === 0 || pos.partition === 1);
  const many = await c.appendBatch('nodec_s', [{ e: 2 }, Buffer.from('b'), 'str'], { keys: ['a', 'b', 'c'] });
  assert.strictEqual(many.length, 3);
  assert.strictEqual(await c.dropStream('nodec_s'), true);
  assert.strictEqual(await c.dropQueue('nodec_b'), true);
  assert.strictEqual(await c.dropQueue('nodec_b', { ifExists: true }), false);
});

test('a transaction commits its sends with the caller\'s writes, or none of them', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await freshQueue(c, 'nodec_txs');
  await assert.rejects(c.transaction(async (tx) => {
    await tx.send('nodec_txs', { n: 1 });
    throw new Error('changed my mind');
  }), /changed my mind/);
  assert.strictEqual(Number((await c.metrics('nodec_txs')).queue_length), 0);
  const id = await c.transaction(async (tx) => {
    await tx.query('SELECT 1');
    return tx.send('nodec_txs', 'kept');
  });
  const [m] = await c.read('nodec_txs');
  assert.strictEqual(m.msgId, id);
  assert.strictEqual(m.text, 'kept');
});

test('bad input gets a clear error', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await freshQueue(c, 'nodec_err');
  await assert.rejects(c.send('nodec_err', undefined), { name: 'TypeError', message: /a message needs a body/ });
  await assert.rejects(c.send('nodec_err', { a: 1 }, { contentType: 'text/plain' }),
    { message: 'contentType is for Buffer and string bodies (a JSON body is application/json)' });
  await assert.rejects(c.send('nodec_err', {}, { headers: [1] }), { message: 'headers must be an object' });
  await assert.rejects(c.send('nodec_err', {}, { delay: -1 }), { message: /delay must be a number of seconds/ });
  await assert.rejects(c.send('nodec_missing', {}), { message: 'queue "nodec_missing" does not exist', code: '42704' });
  await assert.rejects(c.send('', {}), { message: 'queue must be a non-empty string' });
  await assert.rejects(c.ack('nodec_err', 'abc'), { message: /msgId must be a message id/ });
  await assert.rejects(c.createQueue('nodec_err2', { visibility: 3 }), { message: /unknown option "visibility"/ });
  await assert.rejects(c.sendBatch('nodec_err', []), { message: 'a batch is a non-empty array of bodies' });
  await assert.rejects(c.sendBatch('nodec_err', [1, 2], { dedupKeys: ['a'] }),
    { message: 'dedupKeys must be an array with one entry per message' });
  await assert.rejects(c.send('nodec_err"; DROP TABLE x; --', {}), { message: /invalid|does not exist/ });
  assert.throws(() => c.work('nodec_err', 'not a function'), { message: 'handler must be a function' });
  assert.throws(() => c.work('nodec_err', async () => {}, { concurrency: 0 }), { message: 'concurrency must be an integer >= 1' });
});

test('a server that cannot be reached: a clear error after the reconnect timeout', async () => {
  const c = new Client({ host: '127.0.0.1', port: 1, reconnect: { timeout: 0.5, base: 0.05 } });
  await assert.rejects(c.connect(), { name: 'MqError', message: /could not connect to a read-write server: connect ECONNREFUSED/ });
  await c.end();
});

test('prepare: false (for PgBouncer before 1.21) runs the same calls unprepared', async (t) => {
  const c = await client({ prepare: false });
  t.after(() => c.end());
  await freshQueue(c, 'nodec_unprep');
  const id = await c.send('nodec_unprep', { a: 1 });
  const [m] = await c.read('nodec_unprep');
  assert.strictEqual(m.msgId, id);
  assert.strictEqual(await c.ack('nodec_unprep', id), true);
  const r = await c.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'mq_client_%'");
  assert.strictEqual(r.rows[0].n, 0, 'nothing prepared');
  const p = await client();
  t.after(() => p.end());
  await p.send('nodec_unprep', { b: 2 });
  const r2 = await p.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'mq_client_%'");
  assert.strictEqual(r2.rows[0].n, 1, 'by default the send is a prepared statement');
});
