// pgmq-js (npm), a pgmq client nobody here wrote, driven through its whole
// API against mq's pgmq extension; node-postgres for what pgmq-js has no
// call for (LISTEN on pgmq's channel, read_with_poll, the queue views).
// Connects with PGHOST/PGPORT/PGUSER/PGDATABASE (a database the test may
// create the extension in: pgmq-js runs CREATE EXTENSION pgmq CASCADE).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { Client } = require('pg');
const { Pgmq } = require('pgmq-js');

const config = {
  host: process.env.PGHOST || '/var/run/postgresql',
  port: Number(process.env.PGPORT || 5432),
  user: process.env.PGUSER || 'postgres',
  database: process.env.PGDATABASE || 'postgres',
  password: process.env.PGPASSWORD || '',
  ssl: false,
};

let pgmq;
let sql;

test.before(async () => {
  pgmq = await Pgmq.new(config);	// CREATE EXTENSION IF NOT EXISTS pgmq CASCADE
  sql = new Client(config);
  await sql.connect();
});

test.after(async () => {
  await pgmq.close();
  await sql.end();
});

async function fresh(name) {
  await pgmq.queue.drop(name);
  await pgmq.queue.create(name);
}

test('queues: create, createUnlogged, list, metrics, purge, detachArchive, drop', async () => {
  await fresh('js_q1');
  await pgmq.queue.drop('js_q2');
  await pgmq.queue.createUnlogged('js_q2');
  const queues = await pgmq.queue.list();
  const q1 = queues.find((q) => q.name === 'js_q1');
  const q2 = queues.find((q) => q.name === 'js_q2');
  assert.ok(q1 && q2, 'both queues listed');
  assert.equal(q1.isUnlogged, false);
  assert.equal(q2.isUnlogged, true);
  assert.equal(q1.isPartitioned, false);
  assert.ok(q1.createdAt instanceof Date && !Number.isNaN(q1.createdAt.getTime()));
  // and they are mq queues
  const { rows } = await sql.query(
    "SELECT queue_name, unlogged FROM mq.queues WHERE queue_name IN ('js_q1', 'js_q2') ORDER BY 1");
  assert.deepEqual(rows, [{ queue_name: 'js_q1', unlogged: false }, { queue_name: 'js_q2', unlogged: true }]);

  await pgmq.msg.sendBatch('js_q1', [{ a: 1 }, { a: 2 }, { a: 3 }]);
  const m = await pgmq.queue.getMetrics('js_q1');
  assert.equal(m.queueName, 'js_q1');
  assert.equal(m.queueLength, 3);
  assert.equal(m.totalMessages, 3);
  assert.ok(m.scrapeTime instanceof Date);
  const all = await pgmq.queue.getAllMetrics();
  assert.equal(all.find((x) => x.queueName === 'js_q1').queueLength, 3);
  assert.equal(all.find((x) => x.queueName === 'js_q2').queueLength, 0);

  await pgmq.queue.purge('js_q1');
  assert.equal((await pgmq.queue.getMetrics('js_q1')).queueLength, 0);
  await pgmq.queue.detachArchive('js_q1');	// a deprecated no-op, as in pgmq
  await pgmq.queue.drop('js_q2');
  assert.equal((await pgmq.queue.list()).some((q) => q.name === 'js_q2'), false);
  const gone = await sql.query("SELECT count(*)::int AS n FROM mq.queues WHERE queue_name = 'js_q2'");
  assert.equal(gone.rows[0].n, 0);
});

test('messages: send, sendBatch, read, readBatch, setVt, pop, delete, archive', async () => {
  await fresh('js_msgs');
  const id1 = await pgmq.msg.send('js_msgs', { hello: 'world' });
  const id2 = await pgmq.msg.send('js_msgs', { n: 2 });
  const later = await pgmq.msg.send('js_msgs', { n: 'later' }, 3600);
  assert.deepEqual([id1, id2, later], [1, 2, 3]);
  const batch = await pgmq.msg.sendBatch('js_msgs', [{ b: 1 }, { b: 2 }, { b: 3 }]);
  assert.deepEqual(batch, [4, 5, 6]);
  const delayedBatch = await pgmq.msg.sendBatch('js_msgs', [{ d: 1 }], 3600);
  assert.deepEqual(delayedBatch, [7]);

  const first = await pgmq.msg.read('js_msgs', 30);
  assert.equal(first.msgId, 1);
  assert.equal(first.readCount, 1);
  assert.deepEqual(first.message, { hello: 'world' });
  assert.ok(first.vt.getTime() > Date.now() + 20000, 'leased for 30 s');
  assert.ok(first.enqueuedAt instanceof Date);

  const some = await pgmq.msg.readBatch('js_msgs', 30, 10);
  assert.deepEqual(some.map((m) => m.msgId), [2, 4, 5, 6], 'leased and delayed messages are not read');

  // setVt: pgmq-js 1.3.1 calls pgmq.set_vt($1, $2, $3) with untyped
  // parameters, which pgmq 1.11's overloads (an integer or a timestamptz vt,
  // one id or an array) make ambiguous: it fails on pgmq 1.11 itself, and
  // here the same way (the API is pgmq's, overloads included)
  await assert.rejects(pgmq.msg.setVt('js_msgs', 2, 0), /function pgmq.set_vt\(unknown, unknown, unknown\) is not unique/);
  // the call with types, as pgmq's other clients make it
  const back = await sql.query('SELECT * FROM pgmq.set_vt($1::text, $2::bigint, $3::integer)', ['js_msgs', 2, 0]);
  assert.equal(Number(back.rows[0].msg_id), 2);
  const again = await pgmq.msg.readBatch('js_msgs', 30, 10);
  assert.deepEqual(again.map((m) => [m.msgId, m.readCount]), [[2, 2]]);

  // pop: read and delete; a delayed message is not popped
  await sql.query('SELECT pgmq.set_vt($1::text, $2::bigint, $3::integer)', ['js_msgs', 4, 0]);
  const popped = await pgmq.msg.pop('js_msgs');
  assert.equal(popped.msgId, 4);
  assert.deepEqual(popped.message, { b: 1 });
  assert.equal(await pgmq.msg.pop('js_msgs'), undefined);

  assert.equal(await pgmq.msg.delete('js_msgs', 1), true);
  assert.equal(await pgmq.msg.delete('js_msgs', 1), false);
  assert.deepEqual(await pgmq.msg.deleteBatch('js_msgs', [5, 99]), [5]);
  assert.equal(await pgmq.msg.archive('js_msgs', 2), true);
  assert.equal(await pgmq.msg.archive('js_msgs', 2), false);
  assert.deepEqual((await pgmq.msg.archiveBatch('js_msgs', [6, 7, 99])).sort(), [6, 7]);

  // what is left, through pgmq's views
  const q = await sql.query('SELECT msg_id::int FROM pgmq.q_js_msgs ORDER BY 1');
  assert.deepEqual(q.rows.map((r) => r.msg_id), [3]);
  const a = await sql.query('SELECT msg_id::int, message, read_ct FROM pgmq.a_js_msgs ORDER BY 1');
  assert.deepEqual(a.rows, [
    { msg_id: 2, message: { n: 2 }, read_ct: 2 },
    { msg_id: 6, message: { b: 3 }, read_ct: 1 },
    { msg_id: 7, message: { d: 1 }, read_ct: 0 },
  ]);
});

test('a queue that does not exist is an error', async () => {
  await assert.rejects(pgmq.msg.send('js_nope', {}), /queue "js_nope" does not exist/);
  await assert.rejects(pgmq.queue.getMetrics('js_nope'), /queue "js_nope" does not exist/);
});

test('native mode: rows inserted into pgmq.q_<name> are read by pgmq-js', async () => {
  await fresh('js_native');
  await sql.query("INSERT INTO pgmq.q_js_native (vt, message) VALUES (now(), '{\"native\": true}')");
  const m = await pgmq.msg.read('js_native', 30);
  assert.deepEqual(m.message, { native: true });
  await sql.query('UPDATE pgmq.q_js_native SET vt = now() WHERE msg_id = $1', [m.msgId]);
  const again = await pgmq.msg.read('js_native', 30);
  assert.equal(again.msgId, m.msgId);
  assert.equal(again.readCount, 2);
});

test("enable_notify_insert: a NOTIFY on pgmq's channel for every send", { timeout: 60000 }, async () => {
  await fresh('js_notify');
  await sql.query('SELECT pgmq.enable_notify_insert($1, 0)', ['js_notify']);
  const listener = new Client(config);
  await listener.connect();
  try {
    const heard = new Promise((resolve) => listener.on('notification', resolve));
    await listener.query('LISTEN "pgmq.q_js_notify.INSERT"');
    await pgmq.msg.send('js_notify', { ping: 1 });
    const n = await heard;
    assert.equal(n.channel, 'pgmq.q_js_notify.INSERT');
  } finally {
    await listener.end();
  }
});

test("read_with_poll waits on mq's wakeup, not pgmq's sleep loop", { timeout: 120000 }, async () => {
  await fresh('js_poll');
  const reader = new Client(config);
  await reader.connect();
  try {
    const pid = (await reader.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    // a poll interval of a minute: a sleeping loop would not see the send
    const read = reader.query('SELECT * FROM pgmq.read_with_poll($1, 30, 1, 300, 60000)', ['js_poll']);
    let waiting;
    for (let i = 0; i < 600; i++) {
      const { rows } = await sql.query(
        'SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = $1', [pid]);
      if (rows[0] && rows[0].wait_event_type) { waiting = rows[0]; break; }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(waiting, 'the reader is waiting');
    assert.equal(waiting.wait_event_type, 'Extension', "mq's wait, not pg_sleep");
    await pgmq.msg.send('js_poll', { woken: true });
    const { rows } = await read;
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0].message, { woken: true });
  } finally {
    await reader.end();
  }
});
