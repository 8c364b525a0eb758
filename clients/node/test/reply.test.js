'use strict';
// Request and reply under concurrency; the timeout error.
const test = require('node:test');
const assert = require('node:assert');
const { client, freshQueue, until } = require('./helpers');
const { TimeoutError } = require('..');

test('100 requests, 4 responders: every reply matched to its request', async (t) => {
  const requester = await client();
  t.after(() => requester.end());
  await freshQueue(requester, 'nodec_rpc', { visibilityTimeout: 10 });
  const responders = [];
  for (let k = 0; k < 4; k++) {
    const r = await client();
    t.after(() => r.end());
    r.serve('nodec_rpc', async (req) => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
      return { i: req.body.i, square: req.body.i * req.body.i, by: k };
    }, { concurrency: 2, wait: 0.5, handleSignals: false });
    responders.push(r);
  }
  const replies = await Promise.all(Array.from({ length: 100 }, (_, i) =>
    requester.request('nodec_rpc', { i }, { timeout: 60 })));
  replies.forEach((reply, i) => {
    assert.strictEqual(reply.body.i, i, `reply ${i} matches its request`);
    assert.strictEqual(reply.body.square, i * i);
    assert.ok(reply.correlationId);
  });
  assert.strictEqual(requester.counters.replies, 100);
  // a responder acks after its reply is sent: wait for the last acks
  await until('the responders\' acks', () => responders.reduce((s, r) => s + r.counters.acked, 0) >= 100, 30);
  assert.strictEqual(responders.reduce((s, r) => s + r.counters.acked, 0), 100, 'each request handled once');
  assert.strictEqual(Number((await requester.metrics('nodec_rpc')).queue_length), 0);
});

test('a request nobody answers fails with a TimeoutError; end() drops the reply queue', async () => {
  const c = await client();
  await freshQueue(c, 'nodec_rpc_none');
  await assert.rejects(c.request('nodec_rpc_none', 'anyone?', { timeout: 0.5 }),
    (err) => err instanceof TimeoutError && err.message === 'no reply from queue "nodec_rpc_none" within 0.5 seconds');
  const [m] = await c.read('nodec_rpc_none');
  assert.strictEqual(m.text, 'anyone?');
  assert.match(m.replyTo, /^mq_reply_[0-9a-f]{32}$/);
  await c.end();
  const d = await client();
  const r = await d.query('SELECT count(*)::int AS n FROM mq.metrics_all() WHERE queue_name = $1', [m.replyTo]);
  assert.strictEqual(r.rows[0].n, 0, 'the reply queue is gone');
  await d.end();
});
