'use strict';
// Request and reply.  request() sends with reply_to (this client's own reply
// queue, created at the first request and dropped by end()) and a fresh
// correlation_id, and resolves with the reply whose correlation_id matches;
// one listener reads the reply queue for every pending request.  serve()
// is a worker whose handler's result is sent to the request's reply_to
// with its correlation_id, with a dedup key made of that id so that a
// request handled twice (a crash between reply and ack) replies once.

const { randomUUID } = require('crypto');
const sql = require('./sql');
const u = require('./util');

class ReplyListener {
  constructor(client) {
    this.client = client;
    this.queue = `mq_reply_${randomUUID().replace(/-/g, '')}`;
    this.pending = new Map();
    this.stopping = false;
    this.done = new Promise((resolve) => { this._resolveDone = resolve; });
    this.ready = null;
  }

  start() {
    this.ready = this.client.createQueue(this.queue);
    this.ready.then(() => this._loop(), (err) => this._fail(err));
  }

  _fail(err) {
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(err); }
    this.pending.clear();
    this.client._replies = null;
    this._resolveDone();
  }

  async request(queue, body, options) {
    const o = { timeout: 30, ...options };
    await this.ready;
    const correlationId = randomUUID();
    const reply = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new u.TimeoutError(`no reply from queue "${queue}" within ${o.timeout} seconds`));
      }, o.timeout * 1000);
      this.pending.set(correlationId, { resolve, reject, timer });
    });
    const { timeout, ...props } = o;
    try {
      await this.client.send(queue, body, { ...props, correlationId, replyTo: this.queue });
    } catch (err) {
      const p = this.pending.get(correlationId);
      if (p) { clearTimeout(p.timer); this.pending.delete(correlationId); }
      throw err;
    }
    return reply;
  }

  async _loop() {
    let conn = null;
    let attempt = 0;
    while (!this.stopping) {
      try {
        if (!conn) conn = await this.client._connector.connect();
        const q = this.client._prepared((t, v) => conn.query(t, v));
        // pop: a reply nobody waits for any more is dropped with it
        const rows = await sql.read(q, this.queue, { qty: 100, wait: 1 });
        if (rows.length) await sql.ackBatch(q, this.queue, rows.map((m) => m.msgId));
        for (const m of rows) {
          const p = this.pending.get(m.correlationId);
          if (!p) continue;
          this.pending.delete(m.correlationId);
          clearTimeout(p.timer);
          this.client.counters.replies++;
          p.resolve(m);
        }
        attempt = 0;
      } catch (err) {
        if (conn && u.isConnectionError(err, conn)) { conn.end().catch(() => {}); conn = null; }
        if (this.stopping) break;
        this.client.emit('workerError', err);
        attempt++;
        await u.sleep(u.backoff(attempt, { base: 0.1, max: 5 }) * 1000);
      }
    }
    if (conn) {
      await sql.run((t, v) => conn.query(t, v), 'drop_queue', [this.queue], { if_exists: true }).catch(() => {});
      await conn.end().catch(() => {});
    }
    this._resolveDone();
  }

  stop() {
    this.stopping = true;
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(new u.ClosedError()); }
    this.pending.clear();
    return this.done;
  }
}

function serve(client, queue, handler, options) {
  return client.work(queue, async (m, tx) => {
    const result = await handler(m, tx);
    if (!m.replyTo) return;
    const props = { correlationId: m.correlationId };
    if (m.correlationId) props.dedupKey = `reply:${m.correlationId}`;
    if (tx) await tx.send(m.replyTo, result === undefined ? null : result, props);
    else await client.send(m.replyTo, result === undefined ? null : result, props);
  }, options);
}

module.exports = { ReplyListener, serve };
