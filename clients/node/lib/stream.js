'use strict';
// client.consume(stream, group, handler, options): a member of a consumer
// group.  Each round is one transaction on the member's own connection:
// mq.poll (with a blocking wait), handler(record, tx) for each record, then
// mq.commit of each partition's next position, COMMIT.  The positions
// commit after the work, and together with whatever the handler wrote with
// tx: exactly once for those writes.  A handler that throws rolls the round
// back (the records come again, after a backoff); a commit refused because
// the partition moved to another member (fencing: 55000, or 22023 after a
// seek) rolls back too, and the next poll goes on with what the member
// holds now -- the new holder starts at the committed position, so no
// record is lost or processed twice.  Keep a round shorter than
// sessionTimeout: a member that does not poll in time loses its partitions.

const os = require('os');
const { randomUUID } = require('crypto');
const sql = require('./sql');
const u = require('./util');

const DEFAULTS = { max: 100, wait: 2, sessionTimeout: 30, batch: false, handleSignals: true,
  retry: { base: 0.5, factor: 2, max: 30, jitter: true } };

class StreamConsumer {
  constructor(client, stream, group, handler, options) {
    u.checkName(stream, 'stream');
    u.checkName(group, 'consumer group');
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    const o = { ...DEFAULTS, ...options, retry: { ...DEFAULTS.retry, ...(options && options.retry) } };
    this.consumer = o.consumer || `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    u.interval(o.wait, 'wait');
    u.interval(o.sessionTimeout, 'sessionTimeout');
    this.client = client;
    this.stream = stream;
    this.group = group;
    this.handler = handler;
    this.options = o;
    this.stopping = false;
    this.done = new Promise((resolve) => { this._resolveDone = resolve; });
  }

  start() {
    this._loop().then(() => this._resolveDone());
  }

  /** Finishes the current round, then leaves (its partitions move at the session timeout). */
  stop() {
    this.stopping = true;
    return this.done;
  }

  async _loop() {
    let conn = null;
    let attempt = 0;
    while (!this.stopping) {
      try {
        if (!conn) conn = await this.client._connector.connect();
        await this._round(this.client._prepared((t, v) => conn.query(t, v)));
        attempt = 0;
      } catch (err) {
        if (conn && u.isConnectionError(err, conn)) { conn.end().catch(() => {}); conn = null; }
        if (this.stopping && err instanceof u.ClosedError) break;
        if (err && err.mqFenced) {
          this.client.emit('rebalance', { consumer: this.consumer, error: err });
          continue;
        }
        this.client.emit('workerError', err);
        attempt++;
        await u.sleep(u.backoff(attempt, this.options.retry) * 1000);
      }
    }
    if (conn) await conn.end().catch(() => {});
  }

  async _round(q) {
    const o = this.options;
    const c = this.client;
    const tx = { query: q,
      send: (queue, body, p) => sql.send(q, queue, body, p, false),
      append: (s, body, p) => sql.append(q, s, body, p) };
    await q('BEGIN');
    try {
      const rows = await sql.rowsOf(q, 'poll', [this.stream, this.group, this.consumer], {
        max: o.max, wait: u.interval(o.wait), session_timeout: u.interval(o.sessionTimeout),
      }, u.RECORD_COLUMNS);
      const records = rows.map((r) => u.toRecord(r, this.stream));
      const next = new Map();
      if (records.length) {
        c.counters.delivered += records.length;
        for (const r of records) c.emit('delivery', r);
        if (o.batch) await this.handler(records, tx);
        else for (const r of records) await this.handler(r, tx);
        for (const r of records) next.set(r.partition, Number(r.position) + 1);
        for (const [partition, position] of next) {
          try {
            await sql.run(q, 'commit', [this.stream, this.group, this.consumer, partition, position], {});
          } catch (err) {
            if (err.code === '55000' || err.code === '22023') err.mqFenced = true;
            throw err;
          }
        }
      }
      await q('COMMIT');
      if (records.length) {
        c.counters.committed += records.length;
        c.emit('commit', { consumer: this.consumer, positions: Object.fromEntries(next) });
      }
    } catch (err) {
      await q('ROLLBACK').catch(() => {});
      if (!err.mqFenced && !u.isConnectionError(err)) c.counters.failed++;
      throw err;
    }
  }
}

module.exports = { StreamConsumer };
