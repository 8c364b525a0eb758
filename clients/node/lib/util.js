'use strict';
// Small shared pieces: errors, durations, message encoding and decoding,
// backoff.

const pg = require('pg');

class MqError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'MqError';
  }
}

/** request() got no reply in time. */
class TimeoutError extends MqError {
  constructor(message) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** The client was ended, or the worker stopped, while the call waited. */
class ClosedError extends MqError {
  constructor(message) {
    super(message || 'the mq client is closed');
    this.name = 'ClosedError';
  }
}

const TEXT_TYPE = 'text/plain; charset=utf-8';
const BYTES_TYPE = 'application/octet-stream';

// SQLSTATEs after which the connection (or the server behind it) is gone or
// is no longer a primary: reconnect, maybe to another host, and retry.
function isConnectionError(err, conn) {
  if (!err) return false;
  if (err instanceof pg.DatabaseError) {
    const code = err.code || '';
    return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' ||
      code === '25006' || code === '53300';
  }
  if (conn && conn._mqBroken) return true;
  if (typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) return true; // ECONNRESET ...
  return /Connection terminated|not queryable|connection error|Connection ended/i.test(String(err.message));
}

// A duration in seconds (a number) as an interval literal for a ::interval
// parameter; null stays null.
function interval(seconds, what) {
  if (seconds === undefined || seconds === null) return null;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw new TypeError(`${what} must be a number of seconds (>= 0), got ${String(seconds)}`);
  }
  return `${seconds} seconds`;
}

// A body given by the user as what send() passes: { body: JSON text } or
// { payload: Buffer, contentType }.
function encodeBody(body, options) {
  const contentType = options && options.contentType;
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
    return { body: null, payload: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
      contentType: contentType || BYTES_TYPE };
  }
  if (typeof body === 'string') {
    return { body: null, payload: Buffer.from(body, 'utf8'), contentType: contentType || TEXT_TYPE };
  }
  if (body === undefined) throw new TypeError('a message needs a body: a JSON value, a Buffer or a string');
  if (contentType) {
    throw new TypeError('contentType is for Buffer and string bodies (a JSON body is application/json)');
  }
  return { body: JSON.stringify(body), payload: null, contentType: null };
}

function checkHeaders(headers) {
  if (headers === undefined || headers === null) return null;
  if (typeof headers !== 'object' || Array.isArray(headers)) {
    throw new TypeError('headers must be an object');
  }
  return JSON.stringify(headers);
}

// A text/* payload decoded with its charset (UTF-8 when none is given);
// null for other content types and for a charset Node cannot decode.
function textOf(payload, contentType) {
  if (!payload || !contentType || !/^text\//i.test(contentType)) return null;
  const m = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType);
  if (!m) return payload.toString('utf8');
  try {
    return new TextDecoder(m[1]).decode(payload);
  } catch {
    return null;
  }
}

const MESSAGE_COLUMNS = 'msg_id, read_ct, enqueued_at, vt, priority, group_key, dedup_key, headers, body, ' +
  'payload, content_type, content_encoding, correlation_id, reply_to, expires_at, sent_by';

function toMessage(row, queue) {
  return {
    queue,
    msgId: row.msg_id,
    readCt: row.read_ct,
    enqueuedAt: row.enqueued_at,
    vt: row.vt,
    priority: row.priority,
    groupKey: row.group_key,
    dedupKey: row.dedup_key,
    headers: row.headers || {},
    body: row.payload === null ? row.body : null,
    payload: row.payload,
    text: textOf(row.payload, row.content_type),
    contentType: row.content_type,
    contentEncoding: row.content_encoding,
    correlationId: row.correlation_id,
    replyTo: row.reply_to,
    expiresAt: row.expires_at,
    sentBy: row.sent_by,
  };
}

const RECORD_COLUMNS = 'partition, position, key, headers, body, appended_at, payload, content_type, ' +
  'content_encoding, correlation_id, reply_to, sent_by';

function toRecord(row, stream) {
  return {
    stream,
    partition: row.partition,
    position: row.position,
    key: row.key,
    headers: row.headers || {},
    body: row.payload === null ? row.body : null,
    payload: row.payload,
    text: textOf(row.payload, row.content_type),
    contentType: row.content_type,
    contentEncoding: row.content_encoding,
    correlationId: row.correlation_id,
    replyTo: row.reply_to,
    appendedAt: row.appended_at,
    sentBy: row.sent_by,
  };
}

// Exponential backoff with jitter, in seconds: base * factor^(attempt-1),
// at most max, then a random point in its upper half ("equal jitter").
function backoff(attempt, { base = 1, factor = 2, max = 300, jitter = true } = {}) {
  const d = Math.min(max, base * Math.pow(factor, Math.max(0, attempt - 1)));
  return jitter ? d / 2 + Math.random() * d / 2 : d;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function checkName(name, what) {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError(`${what} must be a non-empty string`);
  return name;
}

module.exports = {
  MqError, TimeoutError, ClosedError, TEXT_TYPE, BYTES_TYPE, isConnectionError, interval, encodeBody,
  checkHeaders, MESSAGE_COLUMNS, toMessage, RECORD_COLUMNS, toRecord, backoff, sleep, checkName,
};
