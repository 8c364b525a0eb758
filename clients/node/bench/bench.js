'use strict';
// Benchmarks of mq-client against the raw SQL loops it replaces, A and B
// alternating, each case the median of BENCH_RUNS runs (PG* variables):
//
//   node clients/node/bench/bench.js      # BENCH_MESSAGES=20000 BENCH_RUNS=3 BENCH_CONCURRENCY=4
//
// worker: client.work(concurrency C) against C raw loops of
//   SELECT ... FROM mq.read(q, batch, wait => ...) and SELECT mq.ack(q, id) per message
//   (examples/node/worker.js before the package), over the same number of
//   messages, with batch 1 and 10 (and batch 1 with prepare: false, the
//   raw loop's protocol); messages/s from the first read to the last ack.
// producer: client.producer (send_batch, confirms) against one
//   SELECT mq.send(q, body) per round trip on one connection; with a dedup
//   key per message on both sides (the producer's default), and without.
const { Client: PgClient } = require('pg');
const { Client } = require('..');

const N = Number(process.env.BENCH_MESSAGES || 20000);
const RUNS = Number(process.env.BENCH_RUNS || 3);
const C = Number(process.env.BENCH_CONCURRENCY || 4);

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function fill(admin, queue) {
  await admin.query('SELECT mq.purge_queue($1)', [queue]);
  for (let i = 0; i < N; i += 5000) {
    const bodies = Array.from({ length: Math.min(5000, N - i) }, (_, j) => JSON.stringify({ n: i + j }));
    await admin.query('SELECT mq.send_batch($1, $2::jsonb[])', [queue, bodies]);
  }
  await admin.query(`VACUUM ANALYZE mq.q_${(await admin.query('SELECT queue_id FROM mq._queue WHERE queue_name = $1', [queue])).rows[0].queue_id}`).catch(() => {});
}

async function workerRun(queue, batch, prepare = true) {
  const c = new Client({ prepare });
  await c.connect();
  let done = 0;
  let start = 0;
  let resolveAll;
  const all = new Promise((resolve) => { resolveAll = resolve; });
  c.on('delivery', () => { if (!start) start = process.hrtime.bigint(); });
  const w = c.work(queue, async () => {}, { concurrency: C, batchSize: batch, wait: 0.2, handleSignals: false });
  c.on('ack', () => { if (++done === N) resolveAll(process.hrtime.bigint()); });
  const end = await all;
  await w.stop();
  await c.end();
  return N / (Number(end - start) / 1e9);
}

async function rawRun(queue, batch) {
  const conns = [];
  for (let i = 0; i < C; i++) { const p = new PgClient(); await p.connect(); conns.push(p); }
  let done = 0;
  let start = 0;
  let end = 0;
  await Promise.all(conns.map(async (p) => {
    while (done < N) {
      const { rows } = await p.query('SELECT msg_id, read_ct, body FROM mq.read($1, $2, wait => $3::interval)',
        [queue, batch, '0.2 seconds']);
      if (!start && rows.length) start = process.hrtime.bigint();
      for (const m of rows) {
        await p.query('SELECT mq.ack($1, $2)', [queue, m.msg_id]);
        if (++done === N) end = process.hrtime.bigint();
      }
    }
  }));
  await Promise.all(conns.map((p) => p.end()));
  return N / (Number(end - start) / 1e9);
}

async function producerRun(queue, idempotent) {
  const c = new Client({ idempotentSends: idempotent });
  await c.connect();
  const p = c.producer(queue);
  const start = process.hrtime.bigint();
  const confirms = [];
  for (let i = 0; i < N; i++) {
    confirms.push(p.send({ n: i }));
    if (!p.writable) await p.drained();
  }
  await Promise.all(confirms);
  const end = process.hrtime.bigint();
  await c.end();
  return N / (Number(end - start) / 1e9);
}

async function sendLoopRun(queue, idempotent) {
  const p = new PgClient();
  await p.connect();
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    if (idempotent) {
      await p.query('SELECT mq.send($1, $2::jsonb, dedup_key => $3)', [queue, JSON.stringify({ n: i }), `k${i}-${start}`]);
    } else {
      await p.query('SELECT mq.send($1, $2::jsonb)', [queue, JSON.stringify({ n: i })]);
    }
  }
  const end = process.hrtime.bigint();
  await p.end();
  return N / (Number(end - start) / 1e9);
}

(async () => {
  const admin = new PgClient();
  await admin.connect();
  for (const q of ['bench_node_a', 'bench_node_b']) {
    await admin.query('SELECT mq.drop_queue($1, if_exists => true)', [q]);
    await admin.query('SELECT mq.create_queue($1)', [q]);
  }
  const rows = [];
  for (const batch of [1, 10]) {
    const a = [];
    const b = [];
    for (let r = 0; r < RUNS; r++) {
      await fill(admin, 'bench_node_a');
      a.push(await workerRun('bench_node_a', batch));
      await fill(admin, 'bench_node_b');
      b.push(await rawRun('bench_node_b', batch));
    }
    rows.push([`worker, concurrency ${C}, batch ${batch}`, median(a), median(b)]);
  }
  {
    // the same protocol on both sides: no prepared statements
    const a = [];
    const b = [];
    for (let r = 0; r < RUNS; r++) {
      await fill(admin, 'bench_node_a');
      a.push(await workerRun('bench_node_a', 1, false));
      await fill(admin, 'bench_node_b');
      b.push(await rawRun('bench_node_b', 1));
    }
    rows.push([`worker, concurrency ${C}, batch 1, prepare: false`, median(a), median(b)]);
  }
  for (const idempotent of [true, false]) {
    const a = [];
    const b = [];
    for (let r = 0; r < RUNS; r++) {
      await admin.query('SELECT mq.purge_queue($1)', ['bench_node_a']);
      a.push(await producerRun('bench_node_a', idempotent));
      await admin.query('SELECT mq.purge_queue($1)', ['bench_node_b']);
      b.push(await sendLoopRun('bench_node_b', idempotent));
    }
    rows.push([`producer, one connection, ${idempotent ? 'dedup keys (the default) / one send with a dedup key' : 'idempotentSends: false / one plain send'} per round trip`,
      median(a), median(b)]);
  }
  for (const q of ['bench_node_a', 'bench_node_b']) await admin.query('SELECT mq.drop_queue($1)', [q]);
  await admin.end();
  console.log(`messages per run: ${N}, runs: ${RUNS} (medians), A and B alternating\n`);
  console.log('| case | A: mq-client (msg/s) | B: raw SQL loop (msg/s) | A / B |');
  console.log('| --- | --- | --- | --- |');
  for (const [name, x, y] of rows) console.log(`| ${name} | ${Math.round(x)} | ${Math.round(y)} | ${(x / y).toFixed(2)} |`);
})().catch((err) => { console.error(err); process.exit(1); });
