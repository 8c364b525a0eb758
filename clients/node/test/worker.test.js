'use strict';
// The worker: 8 handlers over 2,000 messages, 5% failing once, poison
// messages, slow handlers longer than the visibility timeout; the
// transactional batch option; SIGTERM in the middle (a child process).
const test = require('node:test');
const assert = require('node:assert');
const path = require('path');
const { spawn } = require('child_process');
const { client, freshQueue, until, sleep } = require('./helpers');

test('8 handlers, 2,000 messages: each handled successfully once, no lease lost, poison dead-lettered', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await freshQueue(c, 'nodec_w_dlq');
  await freshQueue(c, 'nodec_w', { visibilityTimeout: 3, maxReceives: 3, deadLetterQueue: 'nodec_w_dlq' });
  const N = 2000;
  const isPoison = (n) => n % 250 === 11; // 8: always fail
  const isFlaky = (n) => n % 20 === 3; // 100 (5%): fail the first time
  const isSlow = (n) => n % 500 === 7; // 4: run 5 s, longer than the 3 s lease
  for (let i = 0; i < N; i += 500) {
    await c.sendBatch('nodec_w', Array.from({ length: 500 }, (_, j) => ({ n: i + j })));
  }

  const succeeded = new Map(); // n -> times
  const deliveries = new Map(); // n -> read counts seen
  const events = { delivery: 0, ack: 0, failure: 0, leaseExtended: 0, leaseLost: 0 };
  for (const e of Object.keys(events)) c.on(e, () => { events[e]++; });
  const worker = c.work('nodec_w', async (m) => {
    const n = m.body.n;
    deliveries.set(n, [...(deliveries.get(n) || []), m.readCt]);
    if (isSlow(n)) await sleep(5000);
    if (isPoison(n) || (isFlaky(n) && m.readCt === 1)) throw new Error(`cannot handle ${n}`);
    succeeded.set(n, (succeeded.get(n) || 0) + 1);
  }, { concurrency: 8, visibilityTimeout: 3, wait: 0.5, handleSignals: false,
    retry: { base: 0.05, max: 0.2 } });

  const expected = Array.from({ length: N }, (_, n) => n).filter((n) => !isPoison(n));
  await until('every message handled and the poison ones dead-lettered', async () => {
    const dlq = await c.metrics('nodec_w_dlq');
    return succeeded.size === expected.length && Number(dlq.queue_length) === 8;
  }, 90);
  await worker.stop();

  for (const n of expected) assert.strictEqual(succeeded.get(n), 1, `message ${n} handled successfully once`);
  for (const n of expected.filter((k) => !isFlaky(k))) {
    assert.deepStrictEqual(deliveries.get(n), [1], `message ${n} delivered once (its lease never ran out)`);
  }
  for (const n of expected.filter(isFlaky)) assert.deepStrictEqual(deliveries.get(n), [1, 2]);
  assert.strictEqual(events.leaseLost, 0);
  assert.ok(events.leaseExtended >= 4, `leases extended (${events.leaseExtended})`);
  assert.strictEqual(c.counters.acked, expected.length);
  assert.strictEqual(c.counters.failed, 100 + 8 * 3);
  assert.strictEqual(events.failure, 100 + 8 * 3);
  assert.strictEqual(Number((await c.metrics('nodec_w')).queue_length), 0);
  const dead = await c.read('nodec_w_dlq', { qty: 100 });
  assert.deepStrictEqual(dead.map((m) => m.body.n).sort((a, b) => a - b),
    Array.from({ length: N }, (_, n) => n).filter(isPoison));
  assert.strictEqual(dead[0].headers['x-death'][0].reason, 'max_receives');
});

test('transactional batches: the handler\'s writes commit with the ack, or roll back and the message is nacked', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await freshQueue(c, 'nodec_tx', { maxReceives: 5 });
  await c.query('DROP TABLE IF EXISTS nodec_tx_done');
  await c.query('CREATE TABLE nodec_tx_done (n int)');
  await c.sendBatch('nodec_tx', Array.from({ length: 50 }, (_, n) => ({ n })));
  const tries = new Map();
  const worker = c.work('nodec_tx', async (m, tx) => {
    const n = m.body.n;
    tries.set(n, (tries.get(n) || 0) + 1);
    await tx.query('INSERT INTO nodec_tx_done VALUES ($1)', [n]);
    if (n % 10 === 0 && tries.get(n) === 1) throw new Error('fails after writing');
  }, { transaction: true, batchSize: 10, concurrency: 2, wait: 0.5, handleSignals: false,
    retry: { base: 0.05, max: 0.1 } });
  await until('50 rows', async () => Number((await c.query('SELECT count(*) FROM nodec_tx_done')).rows[0].count) === 50
    && Number((await c.metrics('nodec_tx')).queue_length) === 0);
  await worker.stop();
  const r = await c.query('SELECT n, count(*)::int AS k FROM nodec_tx_done GROUP BY n HAVING count(*) <> 1');
  assert.deepStrictEqual(r.rows, [], 'each message\'s write committed once');
  for (const n of [0, 10, 20, 30, 40]) assert.strictEqual(tries.get(n), 2);
  assert.strictEqual(c.counters.failed, 5);
  await c.query('DROP TABLE nodec_tx_done');
});

test('SIGTERM in the middle: the worker finishes what it runs, gives back the rest; nothing lost or left leased', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await freshQueue(c, 'nodec_term', { visibilityTimeout: 60 });
  const ids = await c.sendBatch('nodec_term', Array.from({ length: 400 }, (_, n) => ({ n })));
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'worker-child.js'), 'nodec_term'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const acked = [];
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    const lines = out.split('\n');
    out = lines.pop();
    for (const l of lines) if (l.startsWith('acked ')) acked.push(l.slice(6));
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await until('the child to ack 40 messages', () => acked.length >= 40, 60);
  child.kill('SIGTERM');
  const { code, signal } = await exited;
  assert.strictEqual(signal, null, 'the worker exits by itself, not by the signal');
  assert.strictEqual(code, 0);
  assert.ok(acked.length < 400, 'stopped in the middle');
  const m = await c.metrics('nodec_term');
  assert.strictEqual(Number(m.in_flight), 0, 'nothing left leased');
  const rest = (await c.read('nodec_term', { qty: 1000 })).map((x) => x.msgId);
  assert.strictEqual(new Set(acked).size, acked.length);
  assert.deepStrictEqual([...acked, ...rest].sort(), [...ids].sort(), 'every message acked once or still there');
});

test('a handler still running after shutdownTimeout: its message is given back and stop() resolves', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await freshQueue(c, 'nodec_stuck', { visibilityTimeout: 60 });
  const id = await c.send('nodec_stuck', { stuck: true });
  let unblock;
  const blocked = new Promise((resolve) => { unblock = resolve; });
  let started = false;
  let finished = false;
  const released = [];
  c.on('release', (m) => released.push(m.msgId));
  const worker = c.work('nodec_stuck', async () => {
    started = true;
    await blocked;
    finished = true;
  }, { wait: 0.2, shutdownTimeout: 0.5, handleSignals: false });
  await until('the handler to start', () => started, 30);
  try {
    const how = await Promise.race([worker.stop().then(() => 'stopped'), sleep(30000).then(() => 'still waiting')]);
    assert.strictEqual(how, 'stopped', 'stop() resolves without the stuck handler');
    assert.strictEqual(finished, false);
    assert.deepStrictEqual(released, [id]);
    const [m] = await c.read('nodec_stuck');
    assert.strictEqual(m.msgId, id, 'visible again at once');
    await c.ack('nodec_stuck', id);
  } finally {
    unblock();
  }
});
