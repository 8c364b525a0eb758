// Tests of the Node example against a real server (PG* variables).
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { Client } = require('pg');
const mq = require('mq-client');
const { produce, consume } = require('./worker');

async function connect() {
  const c = new Client();
  await c.connect();
  return c;
}

test('consumer acks, retries and dead-letters; stops on request', async () => {
  const admin = await connect();
  for (const q of ['node_work', 'node_dead']) await admin.query('SELECT mq.drop_queue($1, if_exists => true)', [q]);
  await admin.query("SELECT mq.create_queue('node_dead')");
  await admin.query("SELECT mq.create_queue('node_work', max_receives => 3, dead_letter_queue => 'node_dead')");

  const bodies = Array.from({ length: 20 }, (_, i) => ({ n: i })).concat([{ poison: true }, { flaky: true }]);
  const producer = new mq.Client();
  const ids = await produce(producer, 'node_work', bodies);
  await producer.end();
  assert.strictEqual(ids.length, 22);

  const done = [];
  const attempts = new Map();
  const client = new mq.Client();
  const worker = consume(client, 'node_work', async (body) => {
    const key = JSON.stringify(body);
    attempts.set(key, (attempts.get(key) || 0) + 1);
    if (body.poison || (body.flaky && attempts.get(key) === 1)) throw new Error('cannot handle');
    done.push(key);
  }, { wait: 0.2, retryDelay: 0.05 });

  const deadline = Date.now() + 60000;
  for (;;) {
    const r = await admin.query("SELECT queue_length FROM mq.metrics('node_dead')");
    if ((done.length === 21 && Number(r.rows[0].queue_length) === 1) || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await worker.stop();
  await client.end();

  assert.strictEqual(done.length, 21);
  assert.strictEqual(new Set(done).size, 21, 'each message handled once');
  const left = await admin.query("SELECT queue_length FROM mq.metrics('node_work')");
  assert.strictEqual(Number(left.rows[0].queue_length), 0);
  const dead = await admin.query("SELECT body, headers->'x-death'->0->>'reason' AS reason FROM mq.read('node_dead')");
  assert.deepStrictEqual(dead.rows[0].body, { poison: true });
  assert.strictEqual(dead.rows[0].reason, 'max_receives');

  for (const q of ['node_work', 'node_dead']) await admin.query('SELECT mq.drop_queue($1)', [q]);
  await admin.end();
});

test('a rolled-back produce sends nothing', async () => {
  const c = await connect();
  await c.query("SELECT mq.drop_queue('node_rb', if_exists => true)");
  await c.query("SELECT mq.create_queue('node_rb')");
  await c.query('BEGIN');
  await c.query("SELECT mq.send('node_rb', '{}')");
  await c.query('ROLLBACK');
  const r = await c.query("SELECT queue_length FROM mq.metrics('node_rb')");
  assert.strictEqual(Number(r.rows[0].queue_length), 0);
  await c.query("SELECT mq.drop_queue('node_rb')");
  await c.end();
});
