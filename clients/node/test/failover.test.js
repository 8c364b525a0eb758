'use strict';
// Failover: a host list whose first host is down or read-only; the server
// restarted during a producer run (MQ_TEST_RESTART: the command that
// restarts the test server; the test command sets it).
const test = require('node:test');
const assert = require('node:assert');
const { exec } = require('child_process');
const { client, freshQueue } = require('./helpers');
const { Client } = require('..');

const here = { host: process.env.PGHOST, port: Number(process.env.PGPORT || 5432) };

test('a host list: a host that is down and one that is read-only are skipped', async (t) => {
  const admin = await client();
  t.after(() => admin.end());
  await admin.query('DROP DATABASE IF EXISTS nodec_ro');
  await admin.query('CREATE DATABASE nodec_ro');
  await admin.query('ALTER DATABASE nodec_ro SET default_transaction_read_only = on');
  const db = (await admin.query('SELECT current_database() AS d')).rows[0].d;
  const c = new Client({ hosts: [{ host: '127.0.0.1', port: 1 }, { ...here, database: 'nodec_ro' }, { ...here, database: db }],
    reconnect: { timeout: 10, base: 0.05 } });
  let reconnects = 0;
  c.on('reconnect', () => { reconnects++; });
  await c.connect();
  assert.strictEqual(reconnects, 1, 'connected past the first hosts');
  assert.strictEqual((await c.query('SELECT current_database() AS d')).rows[0].d, db);
  await c.end();
  const ro = new Client({ ...here, database: 'nodec_ro', reconnect: { timeout: 0.3, base: 0.05 } });
  await assert.rejects(ro.connect(), { message: /could not connect to a read-write server: server .* is read-only/ });
  await ro.end();
  const any = new Client({ ...here, database: 'nodec_ro', targetSessionAttrs: 'any' });
  await any.connect();
  await any.end();
  await admin.query('DROP DATABASE nodec_ro');
});

test('the server restarted during a producer run: every acknowledged send present once',
  { skip: process.env.MQ_TEST_RESTART ? false : 'MQ_TEST_RESTART (a command restarting the server) is not set' },
  async (t) => {
    const c = await client({ reconnect: { timeout: 60, base: 0.1, max: 1 } });
    t.after(() => c.end());
    await freshQueue(c, 'nodec_restart');
    let noticed = 0; // retried sends and failed connection attempts
    c.on('retry', () => { noticed++; });
    c.on('reconnecting', () => { noticed++; });
    const acked = new Map();
    let next = 0;
    let restart = null;
    let restarted = false;
    let after = 0; // sends acknowledged after the restart
    const sender = async () => {
      // until the restart is over and 200 more sends went through
      while (!restarted || after < 200) {
        const i = next++;
        acked.set(i, await c.send('nodec_restart', { i }));
        if (restarted) after++;
        if (acked.size === 300 && !restart) {
          restart = new Promise((resolve, reject) => exec(process.env.MQ_TEST_RESTART,
            (err, stdout, stderr) => (err ? reject(new Error(`restart failed: ${stderr}`)) : resolve())))
            .then(() => { restarted = true; });
        }
      }
    };
    await Promise.all([sender(), sender(), sender(), sender()]);
    await restart;
    const N = next;
    assert.strictEqual(acked.size, N, 'every send acknowledged');
    assert.ok(noticed > 0, 'the restart interrupted sends or connections');
    const r = await c.query("SELECT body->>'i' AS i, count(*)::int AS k FROM mq.read('nodec_restart', 10000) GROUP BY 1");
    assert.strictEqual(r.rows.length, N, 'every acknowledged send present');
    assert.deepStrictEqual(r.rows.filter((x) => x.k !== 1), [], 'each once');
  });

test('the server restarted under a worker: it reconnects and every message is handled',
  { skip: process.env.MQ_TEST_RESTART ? false : 'MQ_TEST_RESTART (a command restarting the server) is not set' },
  async (t) => {
    const c = await client({ reconnect: { timeout: 60, base: 0.1, max: 1 } });
    t.after(() => c.end());
    await freshQueue(c, 'nodec_restart_w', { visibilityTimeout: 5 });
    await c.sendBatch('nodec_restart_w', Array.from({ length: 400 }, (_, i) => ({ i })));
    const handled = new Set();
    let restart = null;
    const worker = c.work('nodec_restart_w', async (m) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      handled.add(m.body.i);
      if (handled.size === 100 && !restart) {
        restart = new Promise((resolve, reject) => exec(process.env.MQ_TEST_RESTART,
          (err, stdout, stderr) => (err ? reject(new Error(`restart failed: ${stderr}`)) : resolve())));
      }
    }, { concurrency: 4, wait: 0.5, handleSignals: false });
    const deadline = Date.now() + 90000;
    while (Date.now() < deadline) {
      if (restart && handled.size === 400) {
        await restart;
        const left = await c.metrics('nodec_restart_w').catch(() => null);
        if (left && Number(left.queue_length) === 0) break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await worker.stop();
    await restart;
    assert.strictEqual(handled.size, 400, 'every message handled');
    assert.strictEqual(Number((await c.metrics('nodec_restart_w')).queue_length), 0, 'and acked');
  });
