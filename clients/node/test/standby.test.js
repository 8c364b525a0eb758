'use strict';
// Failover to a real standby: a multi-host config over the test server and a
// synchronous streaming standby of it (built here with pg_basebackup); the
// primary is stopped (immediate: a crash) and the standby promoted while
// producers send and a worker consumes.  The test command names its server:
// MQ_TEST_PGCTL (pg_ctl), MQ_TEST_PGDATA (its data directory) and
// MQ_TEST_STANDBY_PORT (a free port for the standby).  Afterwards the
// standby goes and the test server is started again as it was.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFile } = require('child_process');
const { promisify } = require('util');
const { client, until } = require('./helpers');
const { Client } = require('..');

const PGCTL = process.env.MQ_TEST_PGCTL;
const PGDATA = process.env.MQ_TEST_PGDATA;
const STANDBY_PORT = process.env.MQ_TEST_STANDBY_PORT;
const missing = ['MQ_TEST_PGCTL', 'MQ_TEST_PGDATA', 'MQ_TEST_STANDBY_PORT'].filter((v) => !process.env[v]);
const skip = missing.length ? `${missing.join(', ')} not set (the test command sets them)` : false;

// A server program, as postgres when root (the server refuses to run as root).
async function asPostgres(program, ...args) {
  const [cmd, argv] = process.getuid() === 0 ? ['runuser', ['-u', 'postgres', '--', program, ...args]] : [program, args];
  try {
    await promisify(execFile)(cmd, argv);
  } catch (err) {
    throw new Error(`${program} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

const program = (name) => path.join(path.dirname(PGCTL), name);
const primary = { host: process.env.PGHOST, port: Number(process.env.PGPORT || 5432) };

test('a standby promoted while producers send and a worker consumes: every acknowledged send handled once',
  { skip, timeout: 180000 }, async (t) => {
    const admin = await client();
    const standby = fs.mkdtempSync(path.join(os.tmpdir(), 'mq-node-standby-'));
    if (process.getuid() === 0) await promisify(execFile)('chown', ['postgres:', standby]);
    let c = null;
    t.after(async () => {
      // the promoted standby goes; the test server comes back as it was
      // (asynchronous again), for the steps after this one
      if (c) await c.end().catch(() => {});
      await admin.end().catch(() => {});
      await asPostgres(PGCTL, '-D', standby, '-m', 'immediate', '-w', 'stop').catch(() => {});
      fs.rmSync(standby, { recursive: true, force: true });
      if (!fs.existsSync(path.join(PGDATA, 'postmaster.pid'))) {
        await asPostgres(PGCTL, '-D', PGDATA, '-l', path.join(PGDATA, 'server.log'), '-w', 'start');
      }
      const back = await client();
      await back.query('ALTER SYSTEM RESET synchronous_standby_names');
      await back.query('SELECT pg_reload_conf()');
      await back.end();
    });

    await admin.dropQueue('nodec_standby', { ifExists: true });
    await admin.createQueue('nodec_standby', { visibilityTimeout: 30 });
    await asPostgres(program('pg_basebackup'), '-D', standby, '-R', '-X', 'stream', '-c', 'fast',
      '-h', primary.host, '-p', String(primary.port), '-U', 'postgres');
    fs.appendFileSync(path.join(standby, 'postgresql.auto.conf'),
      `port = ${STANDBY_PORT}\nunix_socket_directories = '${standby}'\n`);
    await asPostgres(PGCTL, '-D', standby, '-l', path.join(standby, 'server.log'), '-w', 'start');
    // commits wait for the standby: an acknowledged send is on both
    await admin.query("ALTER SYSTEM SET synchronous_standby_names = '*'");
    await admin.query('SELECT pg_reload_conf()');
    await until('a synchronous standby', async () => (await admin.query(
      "SELECT count(*)::int AS n FROM pg_stat_replication WHERE sync_state = 'sync'")).rows[0].n === 1);

    // the standby first: the client must pass it by while it is read-only
    c = new Client({ hosts: [{ host: standby, port: Number(STANDBY_PORT) }, primary], poolSize: 8,
      reconnect: { timeout: 60, base: 0.05, max: 0.5 } });
    await c.connect();
    assert.strictEqual((await c.query("SELECT current_setting('port') AS port")).rows[0].port, String(primary.port),
      'connected to the primary, not to the read-only standby');
    const reconnectsBefore = c.counters.reconnects;
    c.on('workerError', () => {}); // the worker's lost connections, expected here
    const acked = new Map(); // n -> msgId of each acknowledged send
    const handled = new Map(); // n -> [msgId, ...] of each handled message
    let next = 0;
    let failover = null;
    let afterFailover = 0; // sends acknowledged after the promotion
    let failedOver = false;
    const sender = async () => {
      // until the failover is over and 150 more sends went through
      while (!failedOver || afterFailover < 150) {
        const n = next++;
        acked.set(n, await c.send('nodec_standby', { n }));
        if (failedOver) afterFailover++;
        if (acked.size === 150 && !failover) {
          failover = (async () => {
            await asPostgres(PGCTL, '-D', PGDATA, '-m', 'immediate', '-w', 'stop');
            await asPostgres(PGCTL, '-D', standby, '-w', 'promote');
            failedOver = true;
          })();
        }
      }
    };
    const worker = c.work('nodec_standby', async (m) => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      const seen = handled.get(m.body.n) || [];
      seen.push(m.msgId);
      handled.set(m.body.n, seen);
    }, { concurrency: 3, wait: 0.5, visibilityTimeout: 30, handleSignals: false });
    await Promise.all([sender(), sender(), sender(), sender()]);
    await failover;
    const N = next;
    await until('the worker to handle every acknowledged send', () => handled.size >= N, 90);
    await worker.stop();

    assert.ok(c.counters.reconnects > reconnectsBefore, 'the client reconnected after the failover');
    const where = (await c.query("SELECT pg_is_in_recovery() AS r, current_setting('port') AS port")).rows[0];
    assert.deepStrictEqual(where, { r: false, port: STANDBY_PORT }, 'on the promoted standby');
    assert.strictEqual(acked.size, N, 'every send acknowledged');
    const twice = [...handled].filter(([, ids]) => ids.length !== 1);
    assert.deepStrictEqual(twice, [], 'no message handled twice');
    for (const [n, id] of acked) {
      assert.deepStrictEqual(handled.get(n), [id], `send ${n} handled once, as the message acknowledged`);
    }
    assert.strictEqual(Number((await c.metrics('nodec_standby')).queue_length), 0,
      'every message acked: nothing left in the queue, leased or not');
  });
