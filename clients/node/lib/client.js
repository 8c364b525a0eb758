'use strict';
// The client: a pool of connections to the primary, the calls of mq's SQL
// API with typed messages, and the long-running parts (workers, the reply
// listener, stream consumers, producers) built on them.

const { EventEmitter } = require('events');
const { Connector, Pool } = require('./connection');
const sql = require('./sql');
const u = require('./util');

class Client extends EventEmitter {
  /**
   * config: a connection string (several hosts allowed: h1:5432,h2:5432), or
   * a node-postgres config with mq's options (hosts, poolSize, reconnect,
   * idempotentSends, targetSessionAttrs); {} or nothing uses the PG*
   * environment variables.
   */
  constructor(config = {}) {
    super();
    const c = typeof config === 'string' ? { connectionString: config } : { ...config };
    this.config = c;
    this.idempotentSends = c.idempotentSends !== false;
    // named prepared statements for mq's calls (PgBouncer before 1.21 in
    // transaction mode cannot carry them: prepare: false there)
    this.prepare = c.prepare !== false;
    this.counters = {
      sent: 0, delivered: 0, acked: 0, failed: 0, nacked: 0, leaseExtended: 0, leaseLost: 0,
      retries: 0, reconnects: 0, connectionErrors: 0, committed: 0, replies: 0,
    };
    this._connector = new Connector(c, {
      connectionError: (err) => { this.counters.connectionErrors++; this.emit('connectionError', err); },
      reconnecting: (attempt, err) => { this.emit('reconnecting', { attempt, error: err }); },
      reconnected: (target) => {
        this.counters.reconnects++;
        this.emit('reconnect', { host: target.host, port: target.port });
      },
    });
    this._pool = new Pool(this._connector, c.poolSize || 10);
    this._running = new Set(); // workers, consumers, producers, the reply listener
    this._replies = null;
    this._closed = false;
  }

  /** Opens the first connection (and checks the server is reachable). */
  async connect() {
    const conn = await this._pool.acquire();
    this._pool.release(conn, false);
    return this;
  }

  /** Stops every worker, consumer, producer and the reply listener, then closes the connections. */
  async end() {
    if (this._closed) return;
    this._closed = true;
    await Promise.all([...this._running].map((r) => r.stop()));
    this._connector.closed = true;
    await this._pool.end();
  }

  /** Runs SQL on a pooled connection (node-postgres's result). */
  query(text, values) {
    return this._pool.query(text, values);
  }

  _q() {
    return this._prepared((text, values) => this._pool.query(text, values));
  }

  // q, marked to run mq's calls as prepared statements when the client does
  _prepared(q) {
    q.prepare = this.prepare;
    return q;
  }

  // fn() again after a lost connection or a server that is not a primary
  // any more, with backoff, until reconnect.timeout: only for calls that a
  // retry cannot duplicate (sends with dedup keys).
  async _retry(what, fn) {
    const deadline = Date.now() + this._connector.reconnect.timeout * 1000;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (this._closed || !u.isConnectionError(err) || Date.now() > deadline) throw err;
        this.counters.retries++;
        this.emit('retry', { what, attempt, error: err });
        await u.sleep(u.backoff(attempt, this._connector.reconnect) * 1000);
      }
    }
  }

  /** Runs fn(tx) in one transaction on one connection; commits when it resolves, rolls back when it throws. */
  async transaction(fn) {
    const conn = await this._pool.acquire();
    let broken = false;
    try {
      await conn.query('BEGIN');
      const result = await fn(new Transaction(conn, this));
      await conn.query('COMMIT');
      return result;
    } catch (err) {
      broken = u.isConnectionError(err, conn);
      if (!broken) await conn.query('ROLLBACK').catch(() => { broken = true; });
      throw err;
    } finally {
      this._pool.release(conn, broken);
    }
  }

  // --- queues ---------------------------------------------------------------
  async createQueue(queue, options) {
    u.checkName(queue, 'queue');
    return sql.run(this._q(), 'create_queue', [queue], sql.namedOptions(options, sql.QUEUE_OPTIONS))
      .then(() => undefined);
  }
  async alterQueue(queue, options) {
    u.checkName(queue, 'queue');
    return sql.run(this._q(), 'alter_queue', [queue], sql.namedOptions(options, sql.QUEUE_OPTIONS))
      .then(() => undefined);
  }
  async dropQueue(queue, options) {
    return sql.run(this._q(), 'drop_queue', [queue], { if_exists: options && options.ifExists });
  }
  async purgeQueue(queue) { return sql.run(this._q(), 'purge_queue', [queue], {}).then(Number); }
  async metrics(queue) {
    const r = await this.query('SELECT * FROM mq.metrics($1)', [queue]);
    return r.rows[0];
  }

  // --- exchanges ------------------------------------------------------------
  async createExchange(exchange, options) {
    const o = options || {};
    return sql.run(this._q(), 'create_exchange', [exchange],
      { type: o.type, alternate_exchange: o.alternateExchange }).then(() => undefined);
  }
  async dropExchange(exchange, options) {
    const o = options || {};
    return sql.run(this._q(), 'drop_exchange', [exchange], { if_exists: o.ifExists, cascade: o.cascade });
  }
  async bind(exchange, queue, bindingKey = '', args) {
    return sql.run(this._q(), 'bind', [exchange, queue, bindingKey],
      { arguments: args === undefined ? undefined : JSON.stringify(args) });
  }
  async unbind(exchange, queue, bindingKey = '', args) {
    return sql.run(this._q(), 'unbind', [exchange, queue, bindingKey],
      { arguments: args === undefined ? undefined : JSON.stringify(args) });
  }
  async bindExchange(source, destination, bindingKey = '', args) {
    return sql.run(this._q(), 'bind_exchange', [source, destination, bindingKey],
      { arguments: args === undefined ? undefined : JSON.stringify(args) });
  }

  // --- streams --------------------------------------------------------------
  async createStream(stream, options) {
    u.checkName(stream, 'stream');
    return sql.run(this._q(), 'create_stream', [stream], sql.namedOptions(options, sql.STREAM_OPTIONS))
      .then(() => undefined);
  }
  async dropStream(stream, options) {
    return sql.run(this._q(), 'drop_stream', [stream], { if_exists: options && options.ifExists });
  }
  async createConsumerGroup(stream, group, options) {
    const start = options && options.start;
    return sql.run(this._q(), 'create_consumer_group', [stream, group],
      { start: start instanceof Date ? start.toISOString() : start }).then(() => undefined);
  }
  async dropConsumerGroup(stream, group) {
    return sql.run(this._q(), 'drop_consumer_group', [stream, group], {});
  }

  // --- messages -------------------------------------------------------------
  /** Sends one message; returns its msgId (a string: bigint ids exceed Number's range). */
  async send(queue, body, options) {
    const idempotent = this.idempotentSends;
    // the dedup key is chosen once, so that a retry cannot make a duplicate
    const o = { ...options };
    if (idempotent && o.dedupKey === undefined) o.dedupKey = sql.autoKey();
    const id = await (idempotent ? this._retry('send', () => sql.send(this._q(), queue, body, o, false))
      : sql.send(this._q(), queue, body, o, false));
    this.counters.sent++;
    return id;
  }
  async sendBatch(queue, bodies, options) {
    const o = { ...options };
    if (this.idempotentSends && !o.dedupKeys) o.dedupKeys = bodies.map(sql.autoKey);
    const ids = await (this.idempotentSends
      ? this._retry('sendBatch', () => sql.sendBatch(this._q(), queue, bodies, o, false))
      : sql.sendBatch(this._q(), queue, bodies, o, false));
    this.counters.sent += ids.length;
    return ids;
  }
  /** Publishes to an exchange; returns the number of queues it reached. */
  async publish(exchange, routingKey, body, options) {
    const o = { ...options };
    if (this.idempotentSends && o.dedupKey === undefined) o.dedupKey = sql.autoKey();
    const n = await (this.idempotentSends
      ? this._retry('publish', () => sql.publish(this._q(), exchange, routingKey, body, o, false))
      : sql.publish(this._q(), exchange, routingKey, body, o, false));
    this.counters.sent++;
    return n;
  }
  /** Appends a record to a stream (not retried: a stream has no dedup keys); returns { partition, position }. */
  async append(stream, body, options) { return sql.append(this._q(), stream, body, options); }
  async appendBatch(stream, bodies, options) { return sql.appendBatch(this._q(), stream, bodies, options); }
  async read(queue, options) { return sql.read(this._q(), queue, options); }
  async pop(queue, options) { return sql.pop(this._q(), queue, options); }
  async ack(queue, msgId) { return sql.ack(this._q(), queue, msgId); }
  async ackBatch(queue, msgIds) { return sql.ackBatch(this._q(), queue, msgIds); }
  async nack(queue, msgId, options) { return sql.nack(this._q(), queue, msgId, options); }
  async setVt(queue, msgId, visibilityTimeout) { return sql.setVt(this._q(), queue, msgId, visibilityTimeout); }
  async archive(queue, msgId) { return sql.archive(this._q(), queue, msgId); }

  // --- the long-running parts -------------------------------------------------
  work(queue, handler, options) {
    const { Worker } = require('./worker');
    return this._start(new Worker(this, queue, handler, options));
  }
  serve(queue, handler, options) {
    const { serve } = require('./reply');
    return serve(this, queue, handler, options);
  }
  async request(queue, body, options) {
    const { ReplyListener } = require('./reply');
    if (this._closed) return Promise.reject(new u.ClosedError());
    if (!this._replies) this._replies = this._start(new ReplyListener(this));
    return this._replies.request(queue, body, options);
  }
  consume(stream, group, handler, options) {
    const { StreamConsumer } = require('./stream');
    return this._start(new StreamConsumer(this, stream, group, handler, options));
  }
  producer(queue, options) {
    const { Producer } = require('./producer');
    return this._start(new Producer(this, queue, options));
  }

  _start(part) {
    if (this._closed) throw new u.ClosedError();
    this._running.add(part);
    if (part.options && part.options.handleSignals) this._watchSignals(part);
    part.done.finally(() => this._running.delete(part)).catch(() => {});
    part.start();
    return part;
  }

  // One SIGTERM/SIGINT listener pair per client, for every worker and
  // consumer started with handleSignals; removed when the last one stops.
  _watchSignals(part) {
    if (!this._signalParts) {
      this._signalParts = new Set();
      this._onSignal = (sig) => {
        this.emit('signal', sig);
        for (const p of this._signalParts) p.stop();
      };
    }
    if (this._signalParts.size === 0) {
      process.on('SIGTERM', this._onSignal);
      process.on('SIGINT', this._onSignal);
    }
    this._signalParts.add(part);
    part.done.then(() => {
      this._signalParts.delete(part);
      if (this._signalParts.size === 0) {
        process.removeListener('SIGTERM', this._onSignal);
        process.removeListener('SIGINT', this._onSignal);
      }
    });
  }
}

/** A transaction's calls, on its one connection. */
class Transaction {
  constructor(conn, client) {
    this.connection = conn;
    this._client = client;
    this._qf = client._prepared((text, values) => conn.query(text, values));
  }
  query(text, values) { return this.connection.query(text, values); }
  async send(queue, body, options) { return sql.send(this._qf, queue, body, options, false); }
  async sendBatch(queue, bodies, options) { return sql.sendBatch(this._qf, queue, bodies, options, false); }
  async publish(exchange, routingKey, body, options) {
    return sql.publish(this._qf, exchange, routingKey, body, options, false);
  }
  async append(stream, body, options) { return sql.append(this._qf, stream, body, options); }
  async appendBatch(stream, bodies, options) { return sql.appendBatch(this._qf, stream, bodies, options); }
  async read(queue, options) { return sql.read(this._qf, queue, options); }
  async ack(queue, msgId) { return sql.ack(this._qf, queue, msgId); }
  async nack(queue, msgId, options) { return sql.nack(this._qf, queue, msgId, options); }
}

module.exports = { Client, Transaction };
