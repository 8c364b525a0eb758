// Payloads and properties from node-postgres, with no casts in the SQL: a
// Buffer goes in as bytea and comes back as a Buffer, byte for byte; a
// request and its reply travel with correlation_id and reply_to.
// Runs against a real server (PG* variables), like worker.test.js.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { randomUUID } = require('node:crypto');
const { Client } = require('pg');

async function connect() {
  const c = new Client();
  await c.connect();
  return c;
}

async function recreate(client, queues) {
  for (const q of queues) {
    await client.query('SELECT mq.drop_queue($1, if_exists => true)', [q]);
    await client.query('SELECT mq.create_queue($1)', [q]);
  }
}

async function drop(client, queues) {
  for (const q of queues) await client.query('SELECT mq.drop_queue($1, if_exists => true)', [q]);
}

test('Buffer payloads round-trip byte for byte', async () => {
  const c = await connect();
  try {
    await recreate(c, ['node_bytes']);
    const user = (await c.query('SELECT current_user AS u')).rows[0].u;
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const sent = [
      [all, 'application/octet-stream'], // every byte value
      [Buffer.alloc(0), 'application/x-empty'], // nothing at all
      [Buffer.concat(Array(64).fill(Buffer.from(all).reverse())), 'application/x-protobuf'], // 16 kB
      [Buffer.from('naïve café\n', 'utf8'), 'text/plain; charset=utf-8'],
    ];
    const ids = [];
    for (const [payload, contentType] of sent) {
      const r = await c.query('SELECT mq.send($1, payload => $2, content_type => $3) AS id',
        ['node_bytes', payload, contentType]);
      ids.push(r.rows[0].id);
    }
    // a batch of payloads: an array of Buffers is a bytea[]; no content
    // types given, so each gets application/octet-stream
    const batch = [Buffer.from([0]), Buffer.alloc(0), Buffer.from([255, 0, 255])];
    const b = await c.query('SELECT id FROM mq.send_batch($1, payloads => $2) AS id', ['node_bytes', batch]);
    assert.strictEqual(b.rows.length, 3);

    const { rows } = await c.query(
      'SELECT msg_id, body, payload, content_type, content_encoding, sent_by FROM mq.read($1, 100) ORDER BY msg_id',
      ['node_bytes']);
    assert.strictEqual(rows.length, 7);
    const got = new Map(rows.map((r) => [String(r.msg_id), r]));
    sent.forEach(([payload, contentType], i) => {
      const m = got.get(String(ids[i]));
      assert.ok(Buffer.isBuffer(m.payload), 'a bytea comes back as a Buffer');
      assert.ok(m.payload.equals(payload), `payload ${i} comes back byte for byte`);
      assert.strictEqual(m.body, null);
      assert.strictEqual(m.content_type, contentType);
      assert.strictEqual(m.content_encoding, null);
      assert.strictEqual(m.sent_by, user);
    });
    assert.strictEqual(got.get(String(ids[3])).payload.toString('utf8'), 'naïve café\n');
    b.rows.forEach((r, i) => {
      const m = got.get(String(r.id));
      assert.ok(m.payload.equals(batch[i]), `batch payload ${i} comes back byte for byte`);
      assert.strictEqual(m.content_type, 'application/octet-stream');
    });
    await drop(c, ['node_bytes']);
  } finally {
    await c.end();
  }
});

test('request and reply with correlation_id and reply_to', async () => {
  const requester = await connect();
  const responder = await connect();
  const queues = ['node_requests', 'node_replies'];
  try {
    await recreate(requester, queues);
    const user = (await requester.query('SELECT current_user AS u')).rows[0].u;

    // the requester asks twice, each with its own correlation_id, naming its
    // reply queue; the requests expire if nobody answers in a minute
    const asked = new Map();
    for (const sku of ['B-1001', 'B-2002']) {
      const correlationId = randomUUID();
      asked.set(correlationId, sku);
      await requester.query(
        'SELECT mq.send($1, $2, correlation_id => $3, reply_to => $4, ttl => $5)',
        ['node_requests', JSON.stringify({ sku }), correlationId, 'node_replies', '1 minute']);
    }

    // the responder answers each request where its reply_to says, with its
    // correlation_id (the price as text, a payload), and acks the request in
    // the same transaction
    const requests = await responder.query(
      'SELECT msg_id, body, correlation_id, reply_to, sent_by, expires_at, enqueued_at FROM mq.read($1, 10)',
      ['node_requests']);
    assert.strictEqual(requests.rows.length, 2);
    for (const m of requests.rows.slice().reverse()) {
      assert.strictEqual(m.reply_to, 'node_replies');
      assert.strictEqual(m.sent_by, user);
      assert.strictEqual(asked.get(m.correlation_id), m.body.sku);
      const ttl = m.expires_at - m.enqueued_at;
      assert.ok(ttl > 50000 && ttl <= 70000, `the request expires about a minute after its send: ${ttl} ms`);
      await responder.query('BEGIN');
      await responder.query(
        'SELECT mq.send($1, payload => $2, content_type => $3, correlation_id => $4)',
        [m.reply_to, Buffer.from(`${m.body.sku}: 12.50 EUR`, 'utf8'), 'text/plain; charset=utf-8', m.correlation_id]);
      await responder.query('SELECT mq.ack($1, $2)', ['node_requests', m.msg_id]);
      await responder.query('COMMIT');
    }

    // the requester matches each reply to its request by correlation_id
    const replies = await requester.query(
      'SELECT msg_id, correlation_id, reply_to, payload, content_type, sent_by, expires_at FROM mq.read($1, 10)',
      ['node_replies']);
    assert.strictEqual(replies.rows.length, 2);
    const answered = new Map();
    for (const m of replies.rows) {
      assert.ok(asked.has(m.correlation_id), 'a reply to a request that was made');
      assert.strictEqual(m.reply_to, null);
      assert.strictEqual(m.content_type, 'text/plain; charset=utf-8');
      assert.strictEqual(m.sent_by, user);
      assert.strictEqual(m.expires_at, null);
      answered.set(m.correlation_id, m.payload.toString('utf8'));
      await requester.query('SELECT mq.ack($1, $2)', ['node_replies', m.msg_id]);
    }
    assert.deepStrictEqual(answered, new Map([...asked].map(([c, sku]) => [c, `${sku}: 12.50 EUR`])));
    for (const q of queues) {
      const r = await requester.query('SELECT queue_length FROM mq.metrics($1)', [q]);
      assert.strictEqual(Number(r.rows[0].queue_length), 0);
    }
    await drop(requester, queues);
  } finally {
    await responder.end();
    await requester.end();
  }
});
