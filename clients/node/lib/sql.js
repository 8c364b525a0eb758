'use strict';
// The SQL of each call, as functions of a query function q(text, values):
// the same code runs on the pool (each call its own transaction) and inside
// a transaction (one connection).  Every mq function has one signature, so
// the parameters need no casts; options are passed by name.

const { randomUUID, createHash } = require('crypto');
const u = require('./util');

// SELECT ... FROM mq.fn($1, $2, name => $3, ...) for the given positional
// values and the named ones that are not undefined.
function call(fn, positional, named, columns) {
  const values = [...positional];
  const args = positional.map((_, i) => `$${i + 1}`);
  for (const [name, value] of Object.entries(named)) {
    if (value === undefined) continue;
    values.push(value);
    args.push(`${name === 'position' ? '"position"' : name} => $${values.length}`);
  }
  const f = `mq.${fn}(${args.join(', ')})`;
  return { text: columns ? `SELECT ${columns} FROM ${f} AS x` : `SELECT ${f} AS result`, values };
}

// With q.prepare set, each statement text is a named prepared statement
// (node-postgres prepares it once per connection): the server parses and
// plans a read or an ack once, not per call.
const names = new Map();
function statement(q, text, values) {
  if (!q.prepare) return q(text, values);
  let name = names.get(text);
  if (!name) {
    name = `mq_client_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return q({ name, text, values });
}

function run(q, fn, positional, named) {
  const { text, values } = call(fn, positional, named);
  return statement(q, text, values).then((r) => r.rows[0].result);
}

function rowsOf(q, fn, positional, named, columns) {
  const { text, values } = call(fn, positional, named, columns);
  return statement(q, text, values).then((r) => r.rows);
}

const seconds = (v, what) => (v === undefined ? undefined : u.interval(v, what));

// The named properties of a send, publish or append, from its options.
function properties(body, options, { dedup }) {
  const o = options || {};
  const enc = u.encodeBody(body, o);
  const named = {
    body: enc.body === null ? undefined : enc.body,
    headers: u.checkHeaders(o.headers) ?? undefined,
    payload: enc.payload === null ? undefined : enc.payload,
    content_type: enc.contentType ?? undefined,
    content_encoding: o.contentEncoding,
    correlation_id: o.correlationId,
    reply_to: o.replyTo,
  };
  if (dedup) {
    named.delay = seconds(o.delay, 'delay');
    named.dedup_key = o.dedupKey;
    named.group_key = o.groupKey;
    named.priority = o.priority;
    named.ttl = seconds(o.ttl, 'ttl');
  }
  return named;
}

const autoKey = () => `mq-client:${randomUUID()}`;

function send(q, queue, body, options, idempotent) {
  u.checkName(queue, 'queue');
  const named = properties(body, options, { dedup: true });
  if (idempotent && named.dedup_key === undefined) named.dedup_key = autoKey();
  return run(q, 'send', [queue], named);
}

// The arrays of a batch: per message body or payload, content type, and the
// per-message options given as arrays (dedupKeys, groupKeys, headers,
// correlationIds); the other options apply to every message.
function batchArrays(bodies, options, idempotent) {
  if (!Array.isArray(bodies) || bodies.length === 0) throw new TypeError('a batch is a non-empty array of bodies');
  const o = options || {};
  const per = (name) => {
    const a = o[name];
    if (a === undefined) return undefined;
    if (!Array.isArray(a) || a.length !== bodies.length) {
      throw new TypeError(`${name} must be an array with one entry per message`);
    }
    return a;
  };
  const enc = bodies.map((b) => u.encodeBody(b, { contentType: o.contentType }));
  const anyPayload = enc.some((e) => e.payload !== null);
  const anyBody = enc.some((e) => e.body !== null);
  const headers = per('headers');
  let dedupKeys = per('dedupKeys');
  if (idempotent && !dedupKeys) dedupKeys = bodies.map(autoKey);
  return {
    bodies: anyBody ? enc.map((e) => e.body) : undefined,
    payloads: anyPayload ? enc.map((e) => e.payload) : undefined,
    content_types: anyPayload ? enc.map((e) => e.contentType) : undefined,
    headers: headers ? headers.map(u.checkHeaders) : undefined,
    dedup_keys: dedupKeys,
    group_keys: per('groupKeys'),
    correlation_ids: per('correlationIds'),
    content_encoding: o.contentEncoding,
    reply_to: o.replyTo,
  };
}

async function sendBatch(q, queue, bodies, options, idempotent) {
  u.checkName(queue, 'queue');
  const o = options || {};
  const named = batchArrays(bodies, o, idempotent);
  named.delay = seconds(o.delay, 'delay');
  named.priority = o.priority;
  named.ttl = seconds(o.ttl, 'ttl');
  const rows = await rowsOf(q, 'send_batch', [queue], named, 'x AS id');
  return rows.map((r) => r.id);
}

function publish(q, exchange, routingKey, body, options, idempotent) {
  u.checkName(exchange, 'exchange');
  const named = properties(body, options, { dedup: true });
  named.mandatory = options && options.mandatory;
  if (idempotent && named.dedup_key === undefined) named.dedup_key = autoKey();
  return run(q, 'publish', [exchange, routingKey], named);
}

async function append(q, stream, body, options) {
  u.checkName(stream, 'stream');
  const named = properties(body, options, { dedup: false });
  named.key = options && options.key;
  const rows = await rowsOf(q, 'append', [stream], named, 'partition, position');
  return rows[0];
}

async function appendBatch(q, stream, bodies, options) {
  u.checkName(stream, 'stream');
  const o = options || {};
  const named = batchArrays(bodies, o, false);
  delete named.dedup_keys;
  delete named.group_keys;
  if (o.keys !== undefined) {
    if (!Array.isArray(o.keys) || o.keys.length !== bodies.length) {
      throw new TypeError('keys must be an array with one entry per record');
    }
    named.keys = o.keys;
  }
  return rowsOf(q, 'append_batch', [stream], named, 'partition, position');
}

async function read(q, queue, options) {
  u.checkName(queue, 'queue');
  const o = options || {};
  const rows = await rowsOf(q, 'read', [queue], {
    qty: o.qty,
    visibility_timeout: seconds(o.visibilityTimeout, 'visibilityTimeout'),
    wait: seconds(o.wait, 'wait'),
  }, u.MESSAGE_COLUMNS);
  return rows.map((r) => u.toMessage(r, queue));
}

async function pop(q, queue, options) {
  u.checkName(queue, 'queue');
  const rows = await rowsOf(q, 'pop', [queue], { qty: options && options.qty }, u.MESSAGE_COLUMNS);
  return rows.map((r) => u.toMessage(r, queue));
}

const id = (msgId) => {
  if (typeof msgId === 'bigint' || typeof msgId === 'number') return String(msgId);
  if (typeof msgId === 'string' && /^[0-9]+$/.test(msgId)) return msgId;
  if (msgId && typeof msgId === 'object' && 'msgId' in msgId) return id(msgId.msgId);
  throw new TypeError(`msgId must be a message id (string, number or bigint), got ${String(msgId)}`);
};

const ack = (q, queue, msgId) => run(q, 'ack', [queue, id(msgId)], {});
const nack = (q, queue, msgId, options) =>
  run(q, 'nack', [queue, id(msgId)], { delay: seconds(options && options.delay, 'delay') });
const setVt = (q, queue, msgId, vt) =>
  run(q, 'set_vt', [queue, id(msgId), u.interval(vt, 'visibilityTimeout')], {});
const archive = (q, queue, msgId) => run(q, 'archive', [queue, id(msgId)], {});
async function ackBatch(q, queue, msgIds) {
  const rows = await rowsOf(q, 'ack_batch', [queue, msgIds.map(id)], {}, 'x AS id');
  return rows.map((r) => r.id);
}

// Options of create_queue / alter_queue: camelCase names, durations in seconds.
const QUEUE_OPTIONS = {
  visibilityTimeout: ['visibility_timeout', 'interval'], maxReceives: ['max_receives'],
  deadLetterQueue: ['dead_letter_queue'], messageTtl: ['message_ttl', 'interval'], maxLength: ['max_length'],
  overflow: ['overflow'], fifo: ['fifo'], dedupWindow: ['dedup_window', 'interval'], archive: ['archive'],
  retention: ['retention', 'interval'], unlogged: ['unlogged'], notify: ['notify'], fair: ['fair'],
  groupConcurrency: ['group_concurrency'], rateLimit: ['rate_limit'], rateInterval: ['rate_interval', 'interval'],
  groupRateLimit: ['group_rate_limit'], durability: ['durability'], minReplicas: ['min_replicas'],
};
const STREAM_OPTIONS = {
  partitions: ['partitions'], retention: ['retention', 'interval'], retentionBytes: ['retention_bytes'],
  unlogged: ['unlogged'], durability: ['durability'], minReplicas: ['min_replicas'],
};

function namedOptions(options, table) {
  const named = {};
  for (const [k, v] of Object.entries(options || {})) {
    const spec = table[k];
    if (!spec) throw new TypeError(`unknown option "${k}" (known: ${Object.keys(table).join(', ')})`);
    named[spec[0]] = spec[1] === 'interval' ? seconds(v, k) : v;
  }
  return named;
}

module.exports = {
  call, run, rowsOf, send, sendBatch, publish, append, appendBatch, read, pop, ack, nack, setVt, archive,
  ackBatch, namedOptions, QUEUE_OPTIONS, STREAM_OPTIONS, batchArrays, autoKey, id, seconds,
};
