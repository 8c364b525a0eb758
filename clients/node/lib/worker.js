'use strict';
// client.work(queue, handler, options): `concurrency` loops, each on its own
// connection, each reading with a blocking wait (never a busy poll), running
// the handler, then acking; a handler that throws has its message nacked
// with exponential backoff and jitter (the queue's max_receives sends
// poison messages to its dead-letter queue).  While a handler runs, its
// message's lease is extended every extendAt x visibilityTimeout, so a slow
// handler's message is not delivered to anyone else.  stop() -- and SIGTERM
// or SIGINT -- stops reading, lets running handlers finish (up to
// shutdownTimeout, then gives their messages back) and gives back messages
// read but not started.
//
// With transaction: true each batch is one transaction: the read, the
// handler's writes (handler(message, tx)) and the acks commit together;
// a failing handler's writes roll back to a savepoint and its message is
// nacked in the same transaction.  The read's row locks keep the messages
// from other readers until the commit, so no lease extension is needed.

const sql = require('./sql');
const u = require('./util');

const DEFAULTS = {
  concurrency: 1, batchSize: 1, visibilityTimeout: 30, wait: 2, extendAt: 0.5, transaction: false,
  shutdownTimeout: 30, handleSignals: true, retry: { base: 1, factor: 2, max: 300, jitter: true },
};

class Worker {
  constructor(client, queue, handler, options) {
    u.checkName(queue, 'queue');
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    const o = { ...DEFAULTS, ...options, retry: { ...DEFAULTS.retry, ...(options && options.retry) } };
    if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new TypeError('concurrency must be an integer >= 1');
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new TypeError('batchSize must be an integer >= 1');
    u.interval(o.visibilityTimeout, 'visibilityTimeout');
    u.interval(o.wait, 'wait');
    if (!(o.extendAt > 0 && o.extendAt < 1)) throw new TypeError('extendAt must be between 0 and 1');
    this.client = client;
    this.queue = queue;
    this.handler = handler;
    this.options = o;
    this.stopping = false;
    this.inFlight = new Set();
    this._conns = new Set();
    this.done = new Promise((resolve) => { this._resolveDone = resolve; });
  }

  start() {
    const loops = [];
    for (let i = 0; i < this.options.concurrency; i++) loops.push(this._loop());
    Promise.all(loops).then(() => this._resolveDone());
  }

  /** Stops reading, waits for running handlers (up to shutdownTimeout), gives back the rest. */
  stop() {
    if (!this.stopping) {
      this.stopping = true;
      this._shutdownTimer = setTimeout(() => this._releaseAll(), this.options.shutdownTimeout * 1000);
      this._shutdownTimer.unref();
      this.done.then(() => clearTimeout(this._shutdownTimer));
    }
    return this.done;
  }

  async _loop() {
    let conn = null;
    let attempt = 0;
    while (!this.stopping) {
      try {
        if (!conn) {
          conn = await this.client._connector.connect();
          this._conns.add(conn);
        }
        const q = this.client._prepared((text, values) => conn.query(text, values));
        if (this.options.transaction) await this._transactionBatch(q);
        else await this._batch(q);
        attempt = 0;
      } catch (err) {
        if (conn && u.isConnectionError(err, conn)) {
          this._conns.delete(conn);
          conn.end().catch(() => {});
          conn = null;
        }
        if (this.stopping && err instanceof u.ClosedError) break;
        this.client.emit('workerError', err);
        attempt++;
        await u.sleep(u.backoff(attempt, { base: 0.1, max: 5 }) * 1000);
      }
    }
    if (conn) {
      this._conns.delete(conn);
      await conn.end().catch(() => {});
    }
  }

  _read(q) {
    const o = this.options;
    return sql.read(q, this.queue, { qty: o.batchSize, visibilityTimeout: o.visibilityTimeout, wait: o.wait });
  }

  async _batch(q) {
    const messages = await this._read(q);
    for (let i = 0; i < messages.length; i++) {
      if (this.stopping) {
        // read but not started: give back now
        for (const m of messages.slice(i)) await this._settle(q, m, 'release');
        return;
      }
      await this._handle(q, messages[i]);
    }
  }

  async _handle(q, m) {
    const c = this.client;
    const entry = { message: m, released: false };
    this.inFlight.add(entry);
    c.counters.delivered++;
    c.emit('delivery', m);
    const timer = this._extendLease(q, entry);
    let error = null;
    try {
      await this.handler(m);
    } catch (err) {
      error = err || new Error('handler failed');
    } finally {
      clearInterval(timer);
    }
    this.inFlight.delete(entry);
    if (entry.released) return; // given back at shutdown: not ours any more
    if (error === null) await this._settle(q, m, 'ack');
    else await this._settle(q, m, 'nack', error);
  }

  // Every extendAt x vt, while the handler runs: set_vt to a full vt again.
  _extendLease(q, entry) {
    const { visibilityTimeout: vt, extendAt } = this.options;
    let busy = false;
    const timer = setInterval(async () => {
      if (busy || entry.released) return;
      busy = true;
      try {
        const until = await sql.setVt(q, this.queue, entry.message.msgId, vt);
        if (until === null) {
          this.client.counters.leaseLost++;
          this.client.emit('leaseLost', entry.message);
        } else {
          this.client.counters.leaseExtended++;
          this.client.emit('leaseExtended', entry.message, until);
        }
      } catch (err) {
        this.client.emit('workerError', err);
      } finally {
        busy = false;
      }
    }, vt * extendAt * 1000);
    return timer;
  }

  // ack, nack (with backoff) or release (nack now); on the loop's connection,
  // or after a lost connection on the client's pool, retried.
  async _settle(q, m, how, error) {
    const c = this.client;
    let delay = 0;
    if (how === 'nack') delay = u.backoff(m.readCt, this.options.retry);
    const f = (qq) => (how === 'ack' ? sql.ack(qq, this.queue, m.msgId) : sql.nack(qq, this.queue, m.msgId, { delay }));
    try {
      await f(q);
    } catch (err) {
      if (!u.isConnectionError(err)) throw err;
      await c._retry(how, () => f(c._q()));
    }
    if (how === 'ack') {
      c.counters.acked++;
      c.emit('ack', m);
    } else if (how === 'nack') {
      c.counters.failed++;
      c.counters.nacked++;
      c.emit('failure', m, error, delay);
    } else {
      c.emit('release', m);
    }
  }

  // shutdownTimeout passed: give back what handlers still hold, and let
  // done resolve without them (their results are dropped when they end)
  async _releaseAll() {
    for (const entry of this.inFlight) {
      entry.released = true;
      await this._settle(this.client._q(), entry.message, 'release').catch((err) => this.client.emit('workerError', err));
    }
    this._resolveDone();
  }

  async _transactionBatch(q) {
    const c = this.client;
    const tx = { query: q,
      send: (queue, body, o) => sql.send(q, queue, body, o, false),
      publish: (x, k, body, o) => sql.publish(q, x, k, body, o, false),
      append: (s, body, o) => sql.append(q, s, body, o) };
    const events = [];
    await q('BEGIN');
    try {
      const messages = await this._read(q);
      for (const m of messages) {
        if (this.stopping) {
          await sql.nack(q, this.queue, m.msgId);
          events.push(['release', m]);
          continue;
        }
        c.counters.delivered++;
        c.emit('delivery', m);
        await q('SAVEPOINT mq_message');
        try {
          await this.handler(m, tx);
          await sql.ack(q, this.queue, m.msgId);
          await q('RELEASE SAVEPOINT mq_message');
          events.push(['ack', m]);
        } catch (err) {
          if (u.isConnectionError(err)) throw err;
          await q('ROLLBACK TO SAVEPOINT mq_message');
          const delay = u.backoff(m.readCt, this.options.retry);
          await sql.nack(q, this.queue, m.msgId, { delay });
          events.push(['failure', m, err, delay]);
        }
      }
      await q('COMMIT');
    } catch (err) {
      await q('ROLLBACK').catch(() => {});
      throw err;
    }
    for (const [what, ...args] of events) {
      if (what === 'ack') c.counters.acked++;
      if (what === 'failure') { c.counters.failed++; c.counters.nacked++; }
      c.emit(what, ...args);
    }
  }
}

module.exports = { Worker };
