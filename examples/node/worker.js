// A producer and a consumer for mq with node-postgres (pg): the client is SQL.
//
//   node worker.js produce orders 10    # send 10 messages
//   node worker.js consume orders       # work until SIGTERM / Ctrl-C
//
// Connection settings come from the usual PG* environment variables.
'use strict';
const { Client } = require('pg');

async function produce(client, queue, bodies) {
  // one transaction: all or nothing
  await client.query('BEGIN');
  const ids = [];
  for (const body of bodies) {
    const r = await client.query('SELECT mq.send($1, $2::jsonb) AS id', [queue, JSON.stringify(body)]);
    ids.push(r.rows[0].id);
  }
  await client.query('COMMIT');
  return ids;
}

// Read with a blocking wait; ack what handle() accepts, nack the rest with a
// growing delay (the queue's max_receives dead-letters poison messages).
// Stops when signal.stopped becomes true, after the current batch.
async function consume(client, queue, handle, { batch = 10, wait = '1 second', retryDelay = 1, signal = { stopped: false } } = {}) {
  while (!signal.stopped) {
    const { rows } = await client.query(
      'SELECT msg_id, read_ct, body FROM mq.read($1, $2, wait => $3::interval)', [queue, batch, wait]);
    for (const m of rows) {
      try {
        await handle(m.body);
        await client.query('SELECT mq.ack($1, $2)', [queue, m.msg_id]);
      } catch (err) {
        await client.query('SELECT mq.nack($1, $2, $3)',
          [queue, m.msg_id, `${retryDelay * m.read_ct} seconds`]);
      }
    }
  }
}

module.exports = { produce, consume };

if (require.main === module) {
  (async () => {
    const [command, queue, n] = process.argv.slice(2);
    const client = new Client();
    await client.connect();
    await client.query('SELECT mq.create_queue($1)', [queue]);
    if (command === 'produce') {
      console.log(await produce(client, queue, Array.from({ length: Number(n) }, (_, i) => ({ n: i }))));
    } else {
      const signal = { stopped: false };
      process.on('SIGTERM', () => { signal.stopped = true; });
      process.on('SIGINT', () => { signal.stopped = true; });
      await consume(client, queue, async (body) => console.log('got', body), { signal });
    }
    await client.end();
  })().catch((err) => { console.error(err); process.exit(1); });
}
