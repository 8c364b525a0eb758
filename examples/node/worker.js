// A producer and a worker for mq with the mq-client package (clients/node):
// the worker reads with a blocking wait, acks after the handler, nacks with
// backoff when it throws (the queue's max_receives dead-letters poison
// messages), extends leases of slow handlers and stops on SIGTERM/SIGINT.
//
//   node worker.js produce orders 10    # send 10 messages
//   node worker.js consume orders       # work until SIGTERM / Ctrl-C
//
// Connection settings come from the usual PG* environment variables.
'use strict';
const { Client } = require('mq-client');

// One transaction: all or nothing.
function produce(client, queue, bodies) {
  return client.transaction((tx) => tx.sendBatch(queue, bodies));
}

// Runs handle(body) for each message, `concurrency` at a time, until
// worker.stop() (or SIGTERM/SIGINT); returns the worker.
function consume(client, queue, handle, { concurrency = 4, wait = 1, retryDelay = 1 } = {}) {
  return client.work(queue, (message) => handle(message.body), {
    concurrency, wait, retry: { base: retryDelay, max: 60 * retryDelay },
  });
}

module.exports = { produce, consume };

if (require.main === module) {
  (async () => {
    const [command, queue, n] = process.argv.slice(2);
    const client = new Client();
    await client.connect();
    await client.createQueue(queue);
    if (command === 'produce') {
      console.log(await produce(client, queue, Array.from({ length: Number(n) }, (_, i) => ({ n: i }))));
    } else {
      const worker = consume(client, queue, async (body) => console.log('got', body));
      await worker.done;
    }
    await client.end();
  })().catch((err) => { console.error(err); process.exit(1); });
}
