'use strict';
// A consumer group of three members (child processes), one killed in the
// middle: in exactly-once mode every record's result is written once.
const test = require('node:test');
const assert = require('node:assert');
const path = require('path');
const { spawn } = require('child_process');
const { client, until, sleep } = require('./helpers');

test('3 members, one killed: every record processed exactly once', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await c.dropStream('nodec_st', { ifExists: true });
  await c.createStream('nodec_st', { partitions: 6 });
  await c.createConsumerGroup('nodec_st', 'g', { start: 'earliest' });
  await c.query('DROP TABLE IF EXISTS nodec_st_done');
  await c.query('CREATE TABLE nodec_st_done (partition int, position bigint, member text, n int)');
  const N = 600;
  for (let i = 0; i < N; i += 200) {
    await c.appendBatch('nodec_st', Array.from({ length: 200 }, (_, j) => ({ n: i + j })),
      { keys: Array.from({ length: 200 }, (_, j) => `k${(i + j) % 37}`) });
  }
  const members = ['m1', 'm2', 'm3'].map((name) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'stream-member.js'), name],
      { stdio: ['ignore', 'inherit', 'inherit'] });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    return { name, child, exited };
  });
  t.after(() => members.forEach((m) => m.child.kill('SIGKILL')));
  const count = async (sqlText) => Number((await c.query(sqlText)).rows[0].count);
  await until('the killed member to have processed some', async () =>
    await count("SELECT count(*) FROM nodec_st_done WHERE member = 'm1'") >= 30, 60);
  members[0].child.kill('SIGKILL');
  await until('every record processed', async () => await count('SELECT count(*) FROM nodec_st_done') >= N, 90);
  for (const m of members.slice(1)) m.child.kill('SIGTERM');
  for (const m of members.slice(1)) assert.deepStrictEqual(await m.exited, { code: 0, signal: null });
  const dup = await c.query('SELECT partition, position, count(*)::int AS k FROM nodec_st_done GROUP BY 1, 2 HAVING count(*) > 1');
  assert.deepStrictEqual(dup.rows, [], 'no record processed twice');
  assert.strictEqual(await count('SELECT count(DISTINCT n) FROM nodec_st_done'), N, 'every record processed');
  const lag = await c.query("SELECT sum(lag)::int AS lag FROM mq.consumer_groups WHERE stream = 'nodec_st' AND consumer_group = 'g'");
  assert.strictEqual(lag.rows[0].lag, 0, 'every position committed');
  await c.query('DROP TABLE nodec_st_done');
});

test('a member that lost its partition while working: its commit is fenced, its writes roll back, no record twice', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await c.dropStream('nodec_fence', { ifExists: true });
  await c.createStream('nodec_fence', { partitions: 1 });
  await c.createConsumerGroup('nodec_fence', 'g', { start: 'earliest' });
  await c.query('DROP TABLE IF EXISTS nodec_fence_done');
  await c.query('CREATE TABLE nodec_fence_done (position bigint, member text)');
  await c.appendBatch('nodec_fence', Array.from({ length: 20 }, (_, n) => ({ n })));
  const slow = await client();
  t.after(() => slow.end());
  const rebalances = [];
  slow.on('rebalance', (info) => rebalances.push(info));
  let paused = false;
  const a = slow.consume('nodec_fence', 'g', async (r, tx) => {
    await tx.query('INSERT INTO nodec_fence_done VALUES ($1, $2)', [r.position, 'a']);
    if (!paused) {
      paused = true;
      await sleep(4000); // longer than its 1 s session: b takes the partition meanwhile
    }
  }, { consumer: 'a', max: 20, wait: 0.2, sessionTimeout: 1, handleSignals: false });
  await until('a to pause', () => paused, 30);
  await sleep(1500); // a's session is over
  const fast = await client();
  t.after(() => fast.end());
  const b = fast.consume('nodec_fence', 'g', async (r, tx) => {
    await tx.query('INSERT INTO nodec_fence_done VALUES ($1, $2)', [r.position, 'b']);
  }, { consumer: 'b', max: 20, wait: 0.2, sessionTimeout: 30, handleSignals: false });
  await until('a fenced', () => rebalances.length > 0, 30);
  await until('every record processed', async () =>
    Number((await c.query('SELECT count(*) FROM nodec_fence_done')).rows[0].count) >= 20, 30);
  await a.stop();
  await b.stop();
  assert.strictEqual(rebalances[0].error.code, '55000');
  const r = await c.query('SELECT count(*)::int AS n, count(DISTINCT position)::int AS d, ' +
    "count(*) FILTER (WHERE member = 'a')::int AS by_a FROM nodec_fence_done");
  assert.deepStrictEqual(r.rows[0], { n: 20, d: 20, by_a: 0 }, 'b processed all 20 once; a\'s writes rolled back');
  await c.query('DROP TABLE nodec_fence_done');
});

test('batch: true hands each poll\'s records to the handler at once, in the transaction that commits them', async (t) => {
  const c = await client();
  t.after(() => c.end());
  await c.dropStream('nodec_sb', { ifExists: true });
  await c.createStream('nodec_sb', { partitions: 2 });
  await c.createConsumerGroup('nodec_sb', 'g', { start: 'earliest' });
  await c.appendBatch('nodec_sb', Array.from({ length: 50 }, (_, n) => ({ n })), { keys: Array.from({ length: 50 }, (_, n) => `k${n}`) });
  const seen = [];
  let calls = 0;
  let failedOnce = false;
  const consumer = c.consume('nodec_sb', 'g', async (records, tx) => {
    calls++;
    assert.ok(Array.isArray(records) && records.length > 0);
    await tx.query('SELECT 1');
    if (!failedOnce) {
      failedOnce = true;
      throw new Error('the first batch fails: it comes again');
    }
    for (const r of records) seen.push(r.body.n);
  }, { consumer: 'solo', batch: true, max: 100, wait: 0.2, sessionTimeout: 10, handleSignals: false,
    retry: { base: 0.05, max: 0.1 } });
  await until('every record', () => seen.length >= 50, 30);
  await consumer.stop();
  assert.deepStrictEqual([...seen].sort((a, b) => a - b), Array.from({ length: 50 }, (_, n) => n));
  assert.ok(calls < 50, 'records came in batches');
  const lag = await c.query("SELECT sum(lag)::int AS lag FROM mq.consumer_groups WHERE stream = 'nodec_sb' AND consumer_group = 'g'");
  assert.strictEqual(lag.rows[0].lag, 0);
  await c.dropStream('nodec_sb');
});
