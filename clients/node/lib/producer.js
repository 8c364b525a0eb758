'use strict';
// client.producer(queue, options): sends without a round trip per message.
// send() queues the message and returns a promise of its msgId, resolved
// once the transaction that stored it has committed (a confirm, as
// RabbitMQ's publisher confirms).  `connections` loops each take up to
// maxBatch queued messages at a time and store them with one mq.send_batch
// statement, so that while one batch is in flight the next one fills.
// Back-pressure: `writable` is false once highWaterMark messages await
// their confirm, and 'drain' is emitted (and drained() resolves) when they
// fall below it again.  Each message gets a dedup key when it is queued, so
// a batch that failed with its connection is sent again without duplicates
// (unless the client's idempotentSends is false: then no keys, no retry).

const { EventEmitter } = require('events');
const sql = require('./sql');
const u = require('./util');

const DEFAULTS = { maxBatch: 500, highWaterMark: 10000, connections: 1 };
const PER_MESSAGE = ['headers', 'dedupKey', 'groupKey', 'correlationId', 'contentType'];
const PER_PRODUCER = ['delay', 'priority', 'ttl', 'replyTo', 'contentEncoding'];

class Producer extends EventEmitter {
  constructor(client, queue, options) {
    super();
    u.checkName(queue, 'queue');
    const o = { ...DEFAULTS, ...options };
    for (const k of ['maxBatch', 'highWaterMark', 'connections']) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new TypeError(`${k} must be an integer >= 1`);
    }
    this.client = client;
    this.queue = queue;
    this.options = o;
    this.buffer = [];
    this.pending = 0;
    this.stopping = false;
    this._wake = null;
    this.done = new Promise((resolve) => { this._resolveDone = resolve; });
  }

  get writable() { return this.pending < this.options.highWaterMark; }

  start() {
    const loops = [];
    for (let i = 0; i < this.options.connections; i++) loops.push(this._loop());
    Promise.all(loops).then(() => this._resolveDone());
  }

  /** Queues a message; resolves with its msgId once committed. Per-message options: headers, dedupKey, groupKey, correlationId, contentType. */
  send(body, options) {
    if (this.stopping) return Promise.reject(new u.ClosedError('the producer is stopped'));
    const o = options || {};
    for (const k of Object.keys(o)) {
      if (!PER_MESSAGE.includes(k)) {
        return Promise.reject(new TypeError(`option "${k}" is not per message in a producer (per message: ${PER_MESSAGE.join(', ')}; set ${PER_PRODUCER.join(', ')} on the producer)`));
      }
    }
    try {
      u.encodeBody(body, o);
      u.checkHeaders(o.headers);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.buffer.push({ body, options: o, dedupKey: o.dedupKey ?? (this.client.idempotentSends ? sql.autoKey() : null),
        resolve, reject });
      this.pending++;
      if (this._wake) { const w = this._wake; this._wake = null; w(); }
    });
  }

  /** Resolves when fewer than highWaterMark messages await their confirm. */
  drained() {
    if (this.writable) return Promise.resolve();
    return new Promise((resolve) => this.once('drain', resolve));
  }

  /** Resolves when every message sent so far is confirmed (or failed). */
  async flush() {
    while (this.pending > 0) await new Promise((resolve) => this.once('settled', resolve));
  }

  /** Sends what is queued, then stops. */
  async stop() {
    this.stopping = true;
    if (this._wake) { const w = this._wake; this._wake = null; w(); }
    await this.done;
  }

  async _loop() {
    for (;;) {
      if (!this.buffer.length) {
        if (this.stopping) return;
        await new Promise((resolve) => {
          const prev = this._wake;
          this._wake = () => { if (prev) prev(); resolve(); };
        });
        continue;
      }
      const batch = this.buffer.splice(0, this.options.maxBatch);
      await this._send(batch);
    }
  }

  async _send(batch) {
    const o = this.options;
    const c = this.client;
    const per = (k) => (batch.some((m) => m.options[k] !== undefined) ? batch.map((m) => m.options[k] ?? null) : undefined);
    const opts = {
      delay: o.delay, priority: o.priority, ttl: o.ttl, replyTo: o.replyTo, contentEncoding: o.contentEncoding,
      dedupKeys: batch.some((m) => m.dedupKey !== null) ? batch.map((m) => m.dedupKey) : undefined,
      groupKeys: per('groupKey'), correlationIds: per('correlationId'),
      headers: per('headers'),
    };
    try {
      // contentType is per message: give send_batch each message's
      const bodies = batch.map((m) => m.body);
      const named = sql.batchArrays(bodies, opts, false);
      if (named.content_types) {
        named.content_types = batch.map((m, i) => (named.payloads[i] === null ? null
          : m.options.contentType || named.content_types[i]));
      }
      named.delay = sql.seconds(o.delay, 'delay');
      named.priority = o.priority;
      named.ttl = sql.seconds(o.ttl, 'ttl');
      const once = () => sql.rowsOf(c._q(), 'send_batch', [this.queue], named, 'x AS id');
      const rows = await (c.idempotentSends ? c._retry('producer', once) : once());
      c.counters.sent += rows.length;
      batch.forEach((m, i) => m.resolve(rows[i].id));
    } catch (err) {
      for (const m of batch) m.reject(err);
    }
    const wasFull = !this.writable;
    this.pending -= batch.length;
    if (wasFull && this.writable) this.emit('drain');
    this.emit('settled');
  }
}

module.exports = { Producer };
