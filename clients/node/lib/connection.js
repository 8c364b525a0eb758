'use strict';
// Connections: each one opened on the first host of the list that accepts
// it and is a primary (read-write), and a small bounded pool of them.
//
// node-postgres takes one host per client, so a multi-host connection string
// (postgres://u@h1:5432,h2:5432/db, as libpq writes it) becomes one config
// per host, tried in order, each connection checked with
// transaction_read_only like libpq's target_session_attrs=read-write.

const pg = require('pg');
const { isConnectionError, sleep, backoff, ClosedError, MqError } = require('./util');

function splitHosts(connectionString) {
  const m = /^(postgres(?:ql)?:\/\/(?:[^@/]*@)?)([^/?]*)(.*)$/.exec(connectionString);
  if (!m || !m[2].includes(',')) return [connectionString];
  return m[2].split(',').map((h) => m[1] + h + m[3]);
}

// The list of configs for pg.Client to try, in order.
function targets(config) {
  if (typeof config === 'string') return splitHosts(config).map((s) => ({ connectionString: s }));
  const { hosts, connectionString, ...base } = config;
  let list;
  if (connectionString) list = splitHosts(connectionString).map((s) => ({ ...base, connectionString: s }));
  else list = [{ ...base }];
  if (hosts && hosts.length) {
    list = hosts.map((h) => ({ ...list[0], ...(typeof h === 'string' ? parseHost(h) : h) }));
  }
  return list;
}

function parseHost(h) {
  const i = h.lastIndexOf(':');
  if (i > 0 && !h.startsWith('/')) return { host: h.slice(0, i), port: Number(h.slice(i + 1)) };
  return { host: h };
}

const PG_KEYS = ['user', 'database', 'password', 'port', 'host', 'connectionString', 'keepAlive', 'ssl',
  'statement_timeout', 'query_timeout', 'application_name', 'connectionTimeoutMillis', 'options',
  'keepAliveInitialDelayMillis', 'idle_in_transaction_session_timeout', 'client_encoding', 'types',
  'stream', 'lock_timeout', 'fallback_application_name', 'enableChannelBinding'];

function pgConfig(t) {
  const out = {};
  for (const k of PG_KEYS) if (t[k] !== undefined) out[k] = t[k];
  return out;
}

class Connector {
  constructor(config, hooks) {
    this.targets = targets(config);
    this.readWrite = (typeof config === 'object' && config.targetSessionAttrs) !== 'any';
    const r = (typeof config === 'object' && config.reconnect) || {};
    this.reconnect = { base: r.base ?? 0.1, factor: 2, max: r.max ?? 5, timeout: r.timeout ?? 30 };
    this.hooks = hooks;
    this.next = 0;
    this.closed = false;
  }

  // One connection to a primary, trying every host in turn, with backoff,
  // until reconnect.timeout seconds have passed.
  async connect() {
    const deadline = Date.now() + this.reconnect.timeout * 1000;
    let attempt = 0;
    let lastError;
    for (;;) {
      if (this.closed) throw new ClosedError();
      for (let i = 0; i < this.targets.length; i++) {
        const t = this.targets[(this.next + i) % this.targets.length];
        const conn = new pg.Client(pgConfig(t));
        conn._mqBroken = false;
        // an idle connection's error arrives as an event: without a
        // listener it would crash the process
        conn.on('error', (err) => { conn._mqBroken = true; this.hooks.connectionError(err); });
        conn.on('end', () => { conn._mqBroken = true; });
        try {
          await conn.connect();
          if (this.readWrite) {
            const r = await conn.query("SELECT pg_catalog.current_setting('transaction_read_only') = 'on' AS ro");
            if (r.rows[0].ro) {
              lastError = new MqError(`server ${t.host || t.connectionString || ''} is read-only`);
              conn.end().catch(() => {});
              continue;
            }
          }
          this.next = (this.next + i) % this.targets.length;
          if (attempt > 0 || i > 0) this.hooks.reconnected(t);
          return conn;
        } catch (err) {
          lastError = err;
          conn.end().catch(() => {});
        }
      }
      attempt++;
      if (Date.now() > deadline) {
        throw new MqError(`could not connect to a read-write server: ${lastError && lastError.message}`,
          { cause: lastError });
      }
      this.hooks.reconnecting(attempt, lastError);
      await sleep(backoff(attempt, this.reconnect) * 1000);
    }
  }
}

// A bounded pool: acquire() gives an idle connection, opens a new one while
// there are fewer than size, or waits.  release(conn, broken) puts it back,
// or closes it when broken (the next acquire opens a fresh one).
class Pool {
  constructor(connector, size) {
    this.connector = connector;
    this.size = size;
    this.idle = [];
    this.total = 0;
    this.waiters = [];
    this.closed = false;
  }

  async acquire() {
    if (this.closed) throw new ClosedError();
    while (this.idle.length) {
      const c = this.idle.pop();
      if (!c._mqBroken) return c;
      this.total--;
      c.end().catch(() => {});
    }
    if (this.total < this.size) {
      this.total++;
      try {
        return await this.connector.connect();
      } catch (err) {
        this.total--;
        this._wake();
        throw err;
      }
    }
    await new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    return this.acquire();
  }

  release(conn, broken) {
    if (broken || conn._mqBroken || this.closed) {
      this.total--;
      conn.end().catch(() => {});
    } else {
      this.idle.push(conn);
    }
    this._wake();
  }

  _wake() {
    const w = this.waiters.shift();
    if (w) w.resolve();
  }

  async query(text, values) {
    const conn = await this.acquire();
    try {
      const r = await conn.query(text, values);
      this.release(conn, false);
      return r;
    } catch (err) {
      this.release(conn, isConnectionError(err, conn));
      throw err;
    }
  }

  async end() {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new ClosedError());
    const idle = this.idle.splice(0);
    this.total -= idle.length;
    await Promise.all(idle.map((c) => c.end().catch(() => {})));
  }
}

module.exports = { Connector, Pool, targets, splitHosts };
